"""End-to-end fixtures: the real CLI in subprocesses, the real auto-started API server, local clusters.

Every test gets its own SKYHOP_HOME (so its own server and clusters); teardown
takes every cluster down, stops the server and fails the test if any process
started for one of its clusters is still alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_support import Sky, cluster_processes
from helpers import REPO


@pytest.fixture
def sky(isolated_home: Path, tmp_path: Path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    runner = Sky(isolated_home, workdir)
    yield runner
    try:
        runner("down", "--all", "-y", timeout=120)
    finally:
        subprocess.run([sys.executable, "-m", "skyhop.cli.main", "api", "stop"], env=runner.env, capture_output=True, timeout=60)
        leftovers = cluster_processes(runner.skyhop_home)
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert not leftovers, f"processes left behind after down --all: {leftovers}"


@pytest.fixture
def hello_yaml() -> str:
    return str(REPO / "examples" / "hello.yaml")
