"""Managed-jobs fixtures: the state tests' two backends (real SQLite file, real PostgreSQL database)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.conftest import sky  # noqa: F401  (the real CLI and its auto-started server, per test)
from e2e_support import wait_for
from state.conftest import db_url  # noqa: F401  (the state tests' two backends)

FAST = "jobs:\n  poll_seconds: 0.5\n  controller_tick_seconds: 0.2\n  lease_seconds: 30\n"


@pytest.fixture
def fast_jobs(isolated_home: Path) -> Path:
    """A config.yaml with short controller timings (the defaults are seconds; tests need fractions)."""
    home = isolated_home / ".skyhop"
    home.mkdir(mode=0o700, exist_ok=True)
    config = home / "config.yaml"
    config.write_text(FAST)
    return config


def end_all_jobs(sky) -> None:
    """Cancel every managed job and wait until each ended, so no controller relaunches behind a teardown."""
    if (sky.skyhop_home / "api" / "server.json").exists():
        sky("jobs", "cancel", "-a", "-y", timeout=60)
        wait_for(lambda: not sky.json("jobs", "queue", "-u", "-s"), 120, "every managed job ended")


@pytest.fixture
def jobs_cli(sky, fast_jobs):  # noqa: F811
    """`sky` (the real CLI) with short controller timings; managed jobs end before `sky` takes the clusters down."""
    yield sky
    end_all_jobs(sky)


@pytest.fixture
def gate() -> Iterator[tuple[str, threading.Event]]:
    """A file server whose answers wait while the gate (an Event) is clear."""
    is_open = threading.Event()
    is_open.set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            is_open.wait(120)
            body = b"data\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/data", is_open
    finally:
        is_open.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def pools_cli(jobs_cli):
    """`jobs_cli`, with every pool taken down (and gone) before the managed jobs and clusters are cleaned up."""
    yield jobs_cli
    if (jobs_cli.skyhop_home / "api" / "server.json").exists():
        jobs_cli("jobs", "pool", "down", "-a", "-y", timeout=60)
        wait_for(lambda: jobs_cli.json("jobs", "pool", "status") == [], 120, "every pool gone")
