"""The serve controller's small parts on real sockets and files: the readiness probe, the load balancer's
files and process checks, and which versions a blue-green update routes to."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from skyhop.serve import lb_process
from skyhop.serve.autoscaler import Policy
from skyhop.serve.probe import probe
from skyhop.server.controllers.serve import _active_versions
from skyhop.state.services import ReplicaRecord


class _Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, bytes, str | None]] = []

    def log_message(self, *args) -> None:
        pass

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        _Handler.seen.append((self.command, self.path, body, self.headers.get("x-token")))
        if self.path == "/slow":
            threading.Event().wait(2)
        self.send_response(200 if self.path in ("/ok", "/slow") else 503)
        self.send_header("content-length", "0")
        self.end_headers()

    do_GET = do_POST = _answer


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.seen = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_probe_answers_ready_only_on_2xx_and_sends_the_spec_body_and_headers(server):
    assert probe(server, "/ok").ready
    down = probe(server, "/sick")
    assert not down.ready and down.detail == "HTTP 503"
    assert probe(server, "/ok", post_data={"prompt": "hi"}, headers={"X-Token": "t"}).ready
    assert _Handler.seen[-1] == ("POST", "/ok", json.dumps({"prompt": "hi"}).encode(), "t")
    slow = probe(server, "/slow", timeout=0.3)
    assert not slow.ready and slow.detail == "timed out after 0.3 s"


def test_probe_of_nothing_listening_says_refused():
    port = lb_process.free_port("127.0.0.1")
    result = probe(f"http://127.0.0.1:{port}", "/")
    assert not result.ready and result.detail == "connection refused"


def test_routes_and_stats_files(tmp_path, monkeypatch):
    monkeypatch.setenv("SKYHOP_HOME", str(tmp_path / "home"))
    lb_process.write_routes("web", [lb_process.RouteEntry(1, "http://10.0.0.2:8080", "H100")], {"H100": 10})
    folder = tmp_path / "home" / "services" / "web"
    routes = json.loads((folder / "routes.json").read_text())
    assert routes["routes"][0]["replica_id"] == 1 and routes["target_qps_per_replica"] == {"H100": 10}
    assert (folder / "routes.json").stat().st_mode & 0o777 == 0o600 and folder.stat().st_mode & 0o777 == 0o700
    assert lb_process.read_stats("web") == lb_process.Stats()  # nothing written yet
    (folder / "lb-stats.json").write_text('{"time": 5, "recent": [[4, 3]], "waiting": 1, "in_flight": {"2": 7}}')
    stats = lb_process.read_stats("web")
    assert (stats.time, stats.requests, stats.waiting, stats.in_flight_of(2), stats.in_flight_of(9)) == (5.0, ((4.0, 3),), 1, 7, 0)
    (folder / "lb-stats.json").write_text('{"time": 5, "rec')  # torn: as if nothing was written
    assert lb_process.read_stats("web") == lb_process.Stats()


def test_alive_only_for_this_services_load_balancer(tmp_path, monkeypatch):
    monkeypatch.setenv("SKYHOP_HOME", str(tmp_path / "home"))
    import os

    assert not lb_process.alive(os.getpid(), "web")  # a live pid that is something else
    assert not lb_process.alive(None, "web")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    assert lb_process.accepting("127.0.0.1", port, 0.0)
    listener.close()
    assert not lb_process.accepting("127.0.0.1", port, 0.1)


def _replica(rid: int, version: int, status: str = "READY") -> ReplicaRecord:
    return ReplicaRecord("web", rid, f"web-{rid}", version, status, None, False, None, None, None, f"http://h:{rid}", 0.0, None, 0.0)


def test_blue_green_routes_to_the_newest_version_with_enough_ready_replicas():
    policy = Policy(min_replicas=2, max_replicas=2)
    old = [_replica(1, 1), _replica(2, 1)]
    assert _active_versions(policy, old, "blue_green") == [1]
    # One READY replica of version 2 is not enough to switch: all traffic stays on version 1.
    assert _active_versions(policy, [*old, _replica(3, 2), _replica(4, 2, "STARTING")], "blue_green") == [1]
    assert _active_versions(policy, [*old, _replica(3, 2), _replica(4, 2)], "blue_green") == [2]
    assert _active_versions(policy, [_replica(1, 1, "NOT_READY")], "blue_green") == []  # nothing ready: no filter
    # A rolling update serves whatever is READY, old and new side by side.
    assert _active_versions(policy, [*old, _replica(3, 2)], "rolling") == []
