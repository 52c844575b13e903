"""Serve fixtures: the real API server and CLI, with no controller acting on the service rows (quiet_server.py)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from e2e.conftest import sky  # noqa: F401  (the real CLI and its own SKYHOP_HOME, per test)
from e2e_support import Sky

#: The server command the client starts (and `server.api_http.start_server` runs) instead of `python -m skyhop.server`.
QUIET_SERVER = shlex.join([sys.executable, str(Path(__file__).with_name("quiet_server.py"))])


@pytest.fixture
def quiet_sky(sky: Sky) -> Sky:  # noqa: F811
    """`sky` whose auto-started server (also the one its teardown uses) is the quiet one."""
    sky.env["SKYHOP_API_SERVER_COMMAND"] = QUIET_SERVER
    return sky
