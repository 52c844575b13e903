"""Serve fixtures: the real API server and CLI, with no controller acting on the service rows (quiet_server.py)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.conftest import sky  # noqa: F401  (the real CLI and its own SKYHOP_HOME, per test)
from e2e_support import Sky
from server.api_http import Server, start_server, stop_server

#: The server command the client starts (and `start_server` runs) instead of `python -m skyhop.server`.
QUIET_SERVER = shlex.join([sys.executable, str(Path(__file__).with_name("quiet_server.py"))])


@pytest.fixture
def quiet_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """This process (the SDK's auto-started server, `start_server`) starts the quiet server."""
    monkeypatch.setenv("SKYHOP_API_SERVER_COMMAND", QUIET_SERVER)
    return QUIET_SERVER


@pytest.fixture
def server(migrated_home: Path, quiet_env: str) -> Iterator[Server]:
    proc, info = start_server(migrated_home)
    yield info
    stop_server(proc, info)


@pytest.fixture
def quiet_sky(sky: Sky) -> Sky:  # noqa: F811
    """`sky` whose auto-started server (also the one its teardown uses) is the quiet one."""
    sky.env["SKYHOP_API_SERVER_COMMAND"] = QUIET_SERVER
    return sky
