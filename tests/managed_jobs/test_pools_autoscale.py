"""Autoscaled and updated pools end to end on the local provider (the real CLI, API server and pool controller):
a pool grows with its queue and shrinks back once idle, `apply` of a changed setup rolls the workers over
without killing a running job, `jobs cancel --pool` cancels the pool's jobs, and a worker whose setup is
still running is neither replaced nor launched twice while the pool keeps working."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from e2e_support import wait_for
from pty_terminal import Terminal

pytestmark = pytest.mark.slow

AUTOSCALED = """\
name: ap
resources:
  cpus: 0.25
setup: |
  echo "setup" >> {d}/setups
pool:
  min_workers: 0
  max_workers: 3
  downscale_delay_seconds: 3
"""

FIXED = """\
name: rp
resources:
  cpus: 0.25
setup: |
  {setup}
pool:
  workers: {workers}
"""

JOB = """\
name: queued
resources:
  cpus: 0.25
run: |
  echo "rank=$SKYPILOT_JOB_RANK" >> {d}/runs
  {wait}
"""


@pytest.fixture
def sky(pools_cli):
    return pools_cli


def _pool(sky, name: str) -> dict:
    (pool,) = sky.json("jobs", "pool", "status", name)
    return pool


def _queue(sky) -> dict[int, dict]:
    return {r["id"]: r for r in sky.json("jobs", "queue")}


def test_an_autoscaled_pool_grows_with_its_queue_runs_every_job_once_and_shrinks_to_zero_when_idle(sky, tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    applied = Terminal(sky.env, sky.cwd, "jobs", "pool", "apply", "-p", "ap", sky.task("pool.yaml", AUTOSCALED.format(d=d)))
    applied.expect("Apply pool 'ap' with 0-3 worker(s), autoscaled?")
    applied.type("y\n")
    assert applied.finish() == 0 and "Pool 'ap' created: autoscaling 0-3 worker(s), now 0" in applied.screen
    pool = _pool(sky, "ap")
    assert (pool["target"], pool["current"], pool["min_workers"], pool["max_workers"]) == (0, 0, 0, 3)
    assert sky.clusters() == {}  # min_workers 0: nothing up before there is work
    job = sky.task("job.yaml", JOB.format(d=d, wait="sleep 3"))
    ids = json.loads(sky("jobs", "launch", "-y", "-d", "--pool", "ap", "--num-jobs", "4", "--output", "json", job, check=True).out)["job_ids"]
    wait_for(lambda: _pool(sky, "ap")["target"] == 3, 60, "the target at max_workers (4 jobs waiting)")
    seen: set[str] = set()

    def all_done() -> bool:
        seen.update(w["cluster"] for w in _pool(sky, "ap")["worker_details"])
        return all(_queue(sky)[i]["status"] == "SUCCEEDED" for i in ids)

    wait_for(all_done, 300, "all four jobs SUCCEEDED")
    assert len(seen) == 3  # grew to three workers, never a fourth (max_workers)
    assert Counter((d / "runs").read_text().splitlines()) == Counter(f"rank={r}" for r in range(4))
    assert len((d / "setups").read_text().splitlines()) == 3
    # `current` leaves out RETIRING workers, whose clusters are still being torn down: wait for them to go too.
    wait_for(lambda: _pool(sky, "ap")["worker_details"] == [], 120, "the idle pool shrunk to min_workers, its workers removed")
    assert (_pool(sky, "ap")["target"], _pool(sky, "ap")["current"]) == (0, 0) and sky.clusters() == {}
    log = (sky.skyhop_home / "pools" / "ap" / "controller.log").read_text()
    assert "Scaling from 0 to 3 worker(s)" in log and "to 0 worker(s): 0 busy, 0 job(s) waiting" in log


def test_apply_of_a_new_setup_rolls_idle_workers_keeps_the_running_job_and_cancel_pool_frees_it(sky, tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    v1 = sky.task("v1.yaml", FIXED.format(setup=f"echo v1 >> {d}/setups", workers=2))
    sky("jobs", "pool", "apply", "-y", "-p", "rp", v1, check=True)
    wait_for(lambda: _pool(sky, "rp")["ready"] == 2, 180, "two READY workers")
    job = sky.task("job.yaml", JOB.format(d=d, wait="sleep 600"))
    (job_id,) = json.loads(sky("jobs", "launch", "-y", "-d", "--pool", "rp", "--output", "json", job, check=True).out)["job_ids"]
    wait_for(lambda: _queue(sky)[job_id]["status"] == "RUNNING", 120, "the job running")
    busy = _queue(sky)[job_id]["cluster"]
    v2 = sky.task("v2.yaml", FIXED.format(setup=f"echo v2 >> {d}/setups", workers=2))
    applied = sky("jobs", "pool", "apply", "-y", "-p", "rp", v2, check=True)
    assert "replaced by one of version 2 once it is idle" in applied.err

    def versions() -> dict[str, int]:
        return {w["cluster"]: w["version"] for w in _pool(sky, "rp")["worker_details"] if w["status"] == "READY"}

    wait_for(lambda: sorted(versions().values()) == [1, 2], 180, "the idle worker replaced by version 2")
    assert versions()[busy] == 1 and _queue(sky)[job_id]["status"] == "RUNNING"  # the running job was not touched
    assert _pool(sky, "rp")["version"] == 2
    asked = Terminal(sky.env, sky.cwd, "jobs", "cancel", "-p", "rp")
    asked.expect("Cancel your unfinished managed jobs on pool 'rp'?")
    asked.type("y\n")
    assert asked.finish() == 0 and f"Cancelling managed job(s) {job_id}" in asked.screen
    wait_for(lambda: _queue(sky)[job_id]["status"] == "CANCELLED", 60, "the pool's job cancelled")
    wait_for(lambda: sorted(versions().values()) == [2, 2], 180, "the freed worker rolled over too")
    assert busy not in versions() and set(sky.clusters()) == set(versions())  # old clusters gone, no extra one
    assert Counter((d / "setups").read_text().splitlines()) == Counter({"v1": 2, "v2": 2})
    assert _pool(sky, "rp")["status"] == "READY"  # cancel --pool leaves the pool up
    assert "No pool named 'nope'" in sky("jobs", "cancel", "-y", "-p", "nope").err


def test_a_worker_in_setup_is_not_launched_twice_while_the_pool_keeps_sizing(sky, tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    held = f"echo start >> {d}/setups; until [ -e {d}/go ]; do sleep 0.2; done"
    sky("jobs", "pool", "apply", "-y", "-p", "rp", sky.task("one.yaml", FIXED.format(setup=held, workers=1)), check=True)
    wait_for(lambda: (d / "setups").exists(), 120, "the first worker's setup running")
    (first,) = _pool(sky, "rp")["worker_details"]
    sky("jobs", "pool", "apply", "-y", "-p", "rp", sky.task("two.yaml", FIXED.format(setup=held, workers=2)), check=True)
    wait_for(lambda: len((d / "setups").read_text().splitlines()) == 2, 120, "a second worker in setup beside the first")
    workers = _pool(sky, "rp")["worker_details"]
    assert [w["status"] for w in workers] == ["STARTING", "STARTING"]
    assert workers[0]["cluster"] == first["cluster"] and len(sky.clusters()) == 2
    (d / "go").touch()
    wait_for(lambda: _pool(sky, "rp")["ready"] == 2, 120, "both workers READY")
    assert _pool(sky, "rp")["worker_details"][0]["cluster"] == first["cluster"]
    assert len((d / "setups").read_text().splitlines()) == 2 and len(sky.clusters()) == 2  # each set up once, no extra launch
