"""The part every replay server shares: a threaded JSON-over-HTTP server on loopback with a call log.

A cloud's replay server (lambda_api.py, runpod_api.py) subclasses `ReplayServer`
and answers `route(method, path, body, headers)` with `(status, body)`; this
base decodes requests, encodes answers, logs each call (without its
Authorization header: tests assert the token never travels elsewhere) and
stops cleanly.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Mapping

from cloudsim.http_stub import read_body, send_json, serve, url_of


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any
    status: int


class ReplayServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.lock = threading.RLock()
        self._calls: list[Call] = []
        self.httpd, _ = serve(self._handle, host)
        self.url = url_of(self.httpd)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        raw = read_body(request)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = request.path.split("?", 1)[0]
        status, answer = self.route(request.command, path, body, request.headers)
        with self.lock:
            self._calls.append(Call(request.command, path, body, status))
        send_json(request, status, answer)

    def route(self, method: str, path: str, body: Any, headers: Mapping[str, str]) -> tuple[int, Any]:
        raise NotImplementedError

    def calls(self, method: str | None = None, path: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self._calls if (method is None or c.method == method) and (path is None or c.path == path)]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def configure_cloud(skyhop_home, cloud: str, endpoint: str) -> None:
    """Point `cloud` at a replay server in SKYHOP_HOME/config.yaml, reached as the tests' hosts are:
    by private address, as root."""
    from pathlib import Path

    import yaml

    path = Path(skyhop_home) / "config.yaml"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    config[cloud] = {"api_endpoint": endpoint, "use_internal_ips": True, "ssh_user": "root"}
    path.write_text(yaml.safe_dump(config))


def assert_secret_nowhere(skyhop_home, secret: str) -> None:
    """The cloud's API key appears in no file skyhop wrote (state, request logs, agent files, config)."""
    from pathlib import Path

    leaked = [str(p) for p in Path(skyhop_home).rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaked == [], f"the API key was written to {leaked}"
