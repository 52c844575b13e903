"""`launch --down` as a new user runs it: every short job's output arrives and the command succeeds.

The agent's autodown (the backstop if the server dies) once raced the server's
own follow-then-teardown: a third of short jobs exited 1 with "No cluster
config" and lost their output.
"""

from __future__ import annotations

import time

import pytest

#: Each run is a whole launch (a new cluster, its agent and daemon, the job, the teardown): about 0.6 s of
#: mostly process starts, 1 s or more on a loaded CI box. The race this hunts failed a third of the runs:
#: 25 runs miss it with probability (2/3)^25, about 4e-5, and a race ten times rarer still shows in most
#: suite runs (1 - 0.967^25 = 57%; 50 runs: 81%, for another 15-30 s of every suite run).
LOOPS = 25


@pytest.mark.slow
def test_many_launch_down_runs_all_succeed_with_their_output(sky):
    started = time.monotonic()
    for i in range(LOOPS):
        result = sky("launch", "-y", "--down", "echo bye")
        assert result.code == 0, f"run {i} exited {result.code}:\n{result.out}\n{result.err}"
        assert "bye" in result.out, f"run {i} lost its output:\n{result.out}\n{result.err}"
    assert sky.clusters() == {}
    print(f"{LOOPS} launch --down runs took {time.monotonic() - started:.1f} s")
