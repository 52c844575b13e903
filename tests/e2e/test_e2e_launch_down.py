"""`launch --down` as a new user runs it: every short job's output arrives and the command succeeds.

The agent's autodown (the backstop if the server dies) once raced the server's
own follow-then-teardown: a third of short jobs exited 1 with "No cluster
config" and lost their output.
"""

from __future__ import annotations

import time

import pytest

LOOPS = 50


@pytest.mark.slow
def test_fifty_launch_down_runs_all_succeed_with_their_output(sky):
    started = time.monotonic()
    for i in range(LOOPS):
        result = sky("launch", "-y", "--down", "echo bye")
        assert result.code == 0, f"run {i} exited {result.code}:\n{result.out}\n{result.err}"
        assert "bye" in result.out, f"run {i} lost its output:\n{result.out}\n{result.err}"
    assert sky.clusters() == {}
    print(f"{LOOPS} launch --down runs took {time.monotonic() - started:.1f} s")
