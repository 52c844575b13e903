"""The API version: the server says which it speaks, refuses clients too old for it, and the client says what to
upgrade (or replaces an older local server when nothing runs in it). Real server processes, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from server.api_http import send
from skyhop.client import http, server_process
from skyhop.errors import SkyhopError
from skyhop.server import api_version

HEADER = api_version.SERVER_HEADER.lower()


def test_every_answer_says_the_api_version_and_health_says_the_range(shared_api_server):
    health = send(shared_api_server, "GET", "/api/v1/health", auth=False)
    assert health.json["api_version"] == api_version.API_VERSION and health.json["min_client_api_version"] == api_version.MIN_CLIENT_API_VERSION
    for answer in (
        health,
        send(shared_api_server, "GET", "/api/v1/clusters"),  # 200
        send(shared_api_server, "GET", "/api/v1/clusters", auth=False),  # 401
        send(shared_api_server, "GET", "/api/v1/requests/nope"),  # 404
        send(shared_api_server, "GET", "/api/v1/managed-jobs?limit=0"),  # 422
    ):
        assert answer.headers.get(HEADER) == str(api_version.API_VERSION), (answer.status, answer.headers)


def test_a_client_too_old_is_refused_with_426_naming_what_to_install(shared_api_server):
    old = {api_version.CLIENT_HEADER: "0"}
    refused = send(shared_api_server, "GET", "/api/v1/clusters", headers=old)
    assert refused.status == 426 and refused.json["code"] == "client_too_old"
    assert "pip install -U 'skyhop>=" in refused.json["detail"] and "API 0" in refused.json["detail"]
    # Health stays open to it (that is how it learns what to install), and a caller that says nothing is served.
    assert send(shared_api_server, "GET", "/api/v1/health", auth=False, headers=old).status == 200
    assert send(shared_api_server, "GET", "/api/v1/clusters").status == 200


def test_the_client_prints_the_426_as_one_paragraph(shared_api_server, monkeypatch):
    monkeypatch.setattr(api_version, "API_VERSION", 0)
    endpoint = server_process.Endpoint(shared_api_server.url, shared_api_server.token)
    with pytest.raises(SkyhopError) as refused:
        http.call(endpoint, "GET", "/api/v1/clusters")
    assert "upgrade the client" in str(refused.value) and "\n" not in str(refused.value)


def test_a_remote_server_is_checked_once_per_process(shared_api_server, monkeypatch):
    monkeypatch.setattr(server_process, "_checked_remote", set())
    monkeypatch.setenv("SKYHOP_API_SERVER_URL", shared_api_server.url)
    monkeypatch.setenv("SKYHOP_API_TOKEN", shared_api_server.token)
    asked = []
    real = http.health
    monkeypatch.setattr(http, "health", lambda endpoint, timeout=2.0: asked.append(endpoint.url) or real(endpoint, timeout))
    for _ in range(3):
        assert server_process.endpoint().url == shared_api_server.url
    assert asked == [shared_api_server.url]
    # A client that needs a newer server than this one says so, naming the server and what to do there.
    monkeypatch.setattr(server_process, "_checked_remote", set())
    monkeypatch.setattr(api_version, "MIN_SERVER_API_VERSION", api_version.API_VERSION + 1)
    with pytest.raises(SkyhopError) as refused:
        server_process.endpoint()
    message = str(refused.value)
    assert message.startswith(f"The API server at {shared_api_server.url} speaks API {api_version.API_VERSION}; this client needs >= ")
    assert "upgrade the server (pip install -U skyhop where it runs" in message


#: A local server of an older skyhop, before the API was versioned: its health names no API; `BUSY` says whether
#: a request runs in it. It publishes server.json as the real one does.
OLD_SERVER = textwrap.dedent('''
    import json, os, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    busy = sys.argv[2] == "busy"

    class Old(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/api/v1/health"):
                body = {"ok": True, "version": "0.0.1", "pid": os.getpid()}
            elif self.path.startswith("/api/v1/requests"):
                body = [{"request_id": "r1", "status": "RUNNING"}] if busy else []
            else:
                body = {"code": "not_found", "detail": "old"}
            raw = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Old)
    info = {"url": f"http://127.0.0.1:{server.server_port}", "pid": os.getpid(), "token": "t", "version": "0.0.1"}
    path = sys.argv[1]
    with open(os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(info, f)
    os.replace(path + ".tmp", path)
    server.serve_forever()
''')


def _old_local_server(state: str) -> subprocess.Popen:
    from skyhop import paths

    paths.private_dir(paths.home())
    paths.private_dir(paths.api_dir())
    info = paths.server_info_file()
    old = subprocess.Popen([sys.executable, "-c", OLD_SERVER, str(info), state], start_new_session=True)
    deadline = time.monotonic() + 30
    while not info.exists():
        assert old.poll() is None and time.monotonic() < deadline, "the old server did not start"
        time.sleep(0.02)
    return old


def _ended(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_an_older_idle_local_server_is_replaced(isolated_home: Path):
    old = _old_local_server("idle")
    try:
        found = server_process.endpoint()
        assert found is not None and found.pid != old.pid
        assert old.wait(timeout=20) is not None  # stopped, as `skyhop api stop` stops it
        assert http.health(found)["api_version"] == api_version.API_VERSION
        assert json.loads((isolated_home / ".skyhop" / "api" / "server.json").read_text())["api_version"] == api_version.API_VERSION
    finally:
        _ended(old)


def test_an_older_busy_local_server_is_kept_and_the_paragraph_says_what_to_do(isolated_home: Path):
    old = _old_local_server("busy")
    try:
        with pytest.raises(SkyhopError) as refused:
            server_process.endpoint()
        message = str(refused.value)
        assert "speaks API 0; this client needs >= 1: upgrade the server" in message
        assert "not restarted because requests are running in it" in message and "skyhop api stop" in message
        assert old.poll() is None  # still serving its request
    finally:
        _ended(old)
