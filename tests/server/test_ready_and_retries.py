"""Readiness vs liveness, idempotent submissions, and the client's one retry of a call nobody answered."""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import postgres_db
import pytest

from server.api_http import send, start_server, stop_server
from skyhop.client import http
from skyhop.client.server_process import Endpoint

KEY = "0123456789abcdef0123456789abcdef"


def test_ready_follows_the_database_health_does_not_and_a_resent_submission_is_the_same_request(isolated_home: Path) -> None:
    for url in postgres_db.fresh_database():
        proc, server = start_server(isolated_home, SKYHOP_DB_URL=url)
        try:
            ready = send(server, "GET", "/api/v1/ready", auth=False)
            assert (ready.status, ready.json["ready"]) == (200, True)

            submission = {"name": "down", "body": {"cluster": "nothing-here"}, "request_id": KEY}
            first = send(server, "POST", "/api/v1/requests", json_body=submission)
            again = send(server, "POST", "/api/v1/requests", json_body=submission)
            assert (first.status, first.json, again.status, again.json) == (200, {"request_id": KEY}, 200, {"request_id": KEY})
            other = send(server, "POST", "/api/v1/requests", json_body=dict(submission, body={"cluster": "another"}))
            assert (other.status, other.json["code"]) == (409, "conflict"), other.text
            assert KEY in other.json["detail"]
            short = send(server, "POST", "/api/v1/requests", json_body=dict(submission, request_id="abc"))
            assert short.status == 422
            listed = send(server, "GET", "/api/v1/requests").json
            assert [r["request_id"] for r in listed] == [KEY], "one request, however often it was sent"

            _drop(url)
            unready = send(server, "GET", "/api/v1/ready", auth=False)
            assert unready.status == 503 and unready.json["reason"].startswith("the database is unreachable"), unready.text
            assert url.split("/")[-1].split("?")[0] not in unready.text, "an open answer names no database"
            health = send(server, "GET", "/api/v1/health", auth=False)
            assert (health.status, health.json["ok"]) == (200, True), "liveness never asks the database"
        finally:
            stop_server(proc, server)


def _drop(url: str) -> None:
    from sqlalchemy.engine import make_url

    with postgres_db._admin_engine().connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)')


@pytest.fixture
def flaky_server() -> Iterator[tuple[Endpoint, list[str]]]:
    """A server that resets its first connection before answering (a process killed mid-accept), then answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[str] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                request = conn.recv(65536).decode(errors="replace")
                seen.append(request.split(" ", 2)[0] if request else "")
                if len(seen) == 1:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
                    continue
                body = json.dumps({"ok": True}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield Endpoint(f"http://127.0.0.1:{listener.getsockname()[1]}", "t"), seen
    listener.close()


def test_a_get_cut_off_before_any_answer_is_sent_again(flaky_server) -> None:
    endpoint, seen = flaky_server
    assert http.call(endpoint, "GET", "/x") == {"ok": True}
    assert seen == ["GET", "GET"]


def test_a_post_is_sent_again_only_with_an_idempotency_key(flaky_server) -> None:
    endpoint, seen = flaky_server
    with pytest.raises(http.ServerUnreachable):
        http.call(endpoint, "POST", "/x", body={})
    assert http.call(endpoint, "POST", "/x", body={"request_id": KEY}, retry=True) == {"ok": True}
    assert seen == ["POST", "POST"]


def test_a_follower_whose_stream_broke_off_re_attaches_and_shows_each_event_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process serving a log stream died (another one still answers): the client opens the stream again,
    which replays the log from its start, and skips what it showed already."""
    from skyhop.client import api

    events = [{"msg": f"event {n}"} for n in range(3)]
    done = {"done": {"request_id": "r", "status": "SUCCEEDED", "result": 7}}
    listener = socket.create_server(("127.0.0.1", 0))
    served: list[int] = []

    def serve() -> None:
        for lines in (events[:2], [*events, done]):  # the first stream breaks off after two events
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                served.append(len(lines))
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n")
                conn.sendall(b"".join(json.dumps(line).encode() + b"\n" for line in lines))

    threading.Thread(target=serve, daemon=True).start()
    monkeypatch.setenv("SKYHOP_API_SERVER_URL", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setenv("SKYHOP_API_TOKEN", "t")
    shown: list[dict] = []
    try:
        record = api.follow("r", shown.append)
    finally:
        listener.close()
    assert (record["result"], shown, served) == (7, events, [2, 4])
