"""A real API server process per test (`python -m skyhop.server`), spoken to over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.api_http import start_server, stop_server


@pytest.fixture
def api_server(isolated_home: Path):
    proc, server = start_server(isolated_home)
    yield server
    stop_server(proc, server)


@pytest.fixture(scope="module")
def shared_api_server(tmp_path_factory: pytest.TempPathFactory):
    """One server for a module of tests that only read or get refused (starting one takes seconds)."""
    home = tmp_path_factory.mktemp("home")
    proc, server = start_server(home)
    yield server
    stop_server(proc, server)
