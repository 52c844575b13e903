"""A real HTTP server on 127.0.0.1 that serves a catalog tree, for the download path.

Each test gets its own copy of the shared catalogs (made in tmp_path at test
time), so a test may change "upstream" without touching ../shared.
"""

from __future__ import annotations

import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import SHARED_CATALOG

PREFIX = "/catalogs/v8"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # skyhop fetches 8 files at once; the default backlog of 5 drops SYNs (1 s retries)


class CatalogServer:
    """Serves `root/<cloud>/vms.csv` under PREFIX; records every GET path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        self.fail: dict[str, int] = {}  # cloud -> HTTP status to answer instead
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with server._lock:
                    server.requests.append(self.path)
                status, body = server.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.running = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{PREFIX}"

    def answer(self, path: str) -> tuple[int, bytes]:
        if not path.startswith(PREFIX + "/"):
            return 404, b"not found"
        parts = path[len(PREFIX) + 1 :].split("/")
        if len(parts) != 2 or parts[1] != "vms.csv" or parts[0] in ("", ".", ".."):
            return 404, b"not found"
        if parts[0] in self.fail:
            return self.fail[parts[0]], b"server error"
        target = self.root / parts[0] / "vms.csv"
        if not target.is_file():
            return 404, b"not found"
        return 200, target.read_bytes()

    def clouds_requested(self) -> list[str]:
        with self._lock:
            return sorted(p[len(PREFIX) + 1 :].split("/")[0] for p in self.requests)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def stop(self) -> None:
        """Shut down and close the socket: the port then refuses connections."""
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=5)
            self.running = False


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """A fresh copy of the shared catalog tree that a test may edit."""
    root = tmp_path / "upstream"
    shutil.copytree(SHARED_CATALOG, root)
    return root


@pytest.fixture
def catalog_server(upstream: Path, monkeypatch: pytest.MonkeyPatch):
    """The server, with the environment pointing skyhop at it (and nowhere else)."""
    server = CatalogServer(upstream)
    monkeypatch.delenv("SKYHOP_CATALOG_DIR", raising=False)
    monkeypatch.setenv("SKYHOP_CATALOG_URL", server.url)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    yield server
    server.stop()
