"""A real API server process per test (`python -m skyhop.server`), spoken to over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_http import start_server, stop_server


@pytest.fixture
def api_server(isolated_home: Path):
    proc, server = start_server(isolated_home)
    yield server
    stop_server(proc)
