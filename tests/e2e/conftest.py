"""End-to-end fixtures: the real CLI in subprocesses, the real auto-started API server, local clusters.

Every test gets its own SKYHOP_HOME (so its own server and clusters), holding a
copy of a migrated state database unless the test is marked `fresh_home` (it checks
what a first run creates); teardown takes every cluster down, stops the server and
fails the test if any process started for one of its clusters is still alive.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import Sky
from helpers import REPO


@pytest.fixture
def sky(isolated_home: Path, tmp_path: Path, request: pytest.FixtureRequest):
    workdir = tmp_path / "work"
    workdir.mkdir()
    runner = Sky(isolated_home, workdir)
    if request.node.get_closest_marker("fresh_home") is None:
        runner.seed_state(request.getfixturevalue("migrated_state_db"))
    else:  # a first run as a user makes it: the server starts as `python -m skyhop.server`, not from the suite's zygote
        runner.env.pop("SKYHOP_API_SERVER_COMMAND", None)
    yield runner
    runner.teardown_leaving_nothing()


@pytest.fixture
def hello_yaml() -> str:
    return str(REPO / "examples" / "hello.yaml")
