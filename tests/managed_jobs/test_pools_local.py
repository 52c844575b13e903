"""Pools of workers for managed jobs end to end on the local provider: the real CLI and API server,
the pool controller launching real worker clusters, jobs placed on them, a worker preempted with chaos."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from e2e_support import wait_for
from pty_terminal import Terminal

pytestmark = pytest.mark.slow

POOL = """\
name: wp
resources:
  cpus: 0.5
setup: |
  echo "setup on $SKYPILOT_CLUSTER_INFO" >> {d}/setups
pool:
  workers: 2
"""

JOB = """\
name: ranked
resources:
  cpus: 0.5
run: |
  echo "rank=$SKYPILOT_JOB_RANK of=$SKYPILOT_NUM_JOBS" >> {d}/runs
  sleep {sleep}
"""


@pytest.fixture
def sky(pools_cli):
    return pools_cli


def _pools(sky) -> dict[str, dict]:
    return {p["name"]: p for p in sky.json("jobs", "pool", "status")}


def _queue(sky) -> dict[int, dict]:
    return {r["id"]: r for r in sky.json("jobs", "queue")}


def _apply(sky, tmp_path, workers_dir) -> None:
    pool = sky.task("pool.yaml", POOL.format(d=workers_dir))
    applied = sky("jobs", "pool", "apply", "-y", "-p", "wp", pool, check=True)
    assert "Pool 'wp' created: 2 worker(s)" in applied.err
    wait_for(lambda: _pools(sky)["wp"]["ready"] == 2, 180, "both workers READY")


def test_six_jobs_run_once_each_on_a_two_worker_pool_then_down_leaves_nothing(sky, tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    _apply(sky, tmp_path, d)
    assert len((d / "setups").read_text().splitlines()) == 2  # setup once per worker
    job = sky.task("job.yaml", JOB.format(d=d, sleep=1))
    submitted = sky("jobs", "launch", "-y", "-d", "--pool", "wp", "--num-jobs", "6", "--output", "json", job, check=True)
    ids = json.loads(submitted.out)["job_ids"]
    assert len(ids) == 6
    busy = set()

    def all_done() -> bool:
        for worker in _pools(sky)["wp"]["worker_details"]:
            if worker["job_id"] is not None:
                busy.add(worker["job_id"])
        return all(_queue(sky)[i]["status"] == "SUCCEEDED" for i in ids)

    wait_for(all_done, 240, "all six jobs SUCCEEDED")
    runs = Counter((d / "runs").read_text().splitlines())
    assert runs == Counter(f"rank={r} of=6" for r in range(6))  # each rank exactly once
    assert len((d / "setups").read_text().splitlines()) == 2  # jobs ran no setup
    rows = _queue(sky)
    workers = {w["cluster"] for w in _pools(sky)["wp"]["worker_details"]}
    assert {rows[i]["cluster"] for i in ids} <= workers and busy  # the jobs ran on the pool's workers
    pool = _pools(sky)["wp"]
    assert pool["ready"] == 2 and all(w["job_id"] is None and w["infra"] for w in pool["worker_details"])
    limited = sky("jobs", "queue", "-l", "2", check=True)  # the table's limit: the newest jobs, and a hint
    assert f"\n{max(ids)} " in limited.out and f"\n{min(ids)} " not in limited.out and "--limit N shows more" in limited.err
    assert set(sky.clusters()) == workers  # no cluster of a job's own
    sky("jobs", "pool", "down", "-y", "wp", check=True)
    wait_for(lambda: _pools(sky) == {}, 120, "the pool gone")
    assert sky.clusters() == {} and not sky.anything_up()


def test_a_preempted_workers_job_goes_pending_then_succeeds_on_another_and_the_pool_is_whole_again(sky, tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    _apply(sky, tmp_path, d)
    job = sky.task("job.yaml", JOB.format(d=d, sleep=6))
    submitted = sky("jobs", "launch", "-y", "-d", "--pool", "wp", "--output", "json", job, check=True)
    (job_id,) = json.loads(submitted.out)["job_ids"]
    wait_for(lambda: _queue(sky)[job_id]["status"] == "RUNNING", 120, "the job running")
    victim = _queue(sky)[job_id]["cluster"]
    sky("chaos", "preempt", victim, check=True)
    wait_for(lambda: _queue(sky)[job_id]["recovery_count"] == 1, 30, "the preemption noticed")
    wait_for(lambda: _queue(sky)[job_id]["status"] == "SUCCEEDED", 180, "the job finished on another worker")
    row = _queue(sky)[job_id]
    assert [a["outcome"] for a in row["attempts"]] == ["preempted", "succeeded"]
    assert row["attempts"][1]["cluster"] != victim and row["restarts_on_errors"] == 0
    events = sky("jobs", "logs", str(job_id), "--controller", "--no-follow", check=True).out
    assert "Back to PENDING" in events
    wait_for(lambda: _pools(sky)["wp"]["ready"] == 2, 180, "the pool back to two READY workers")
    clusters = {w["cluster"] for w in _pools(sky)["wp"]["worker_details"]}
    assert victim not in clusters and set(sky.clusters()) == clusters
    assert len((d / "runs").read_text().splitlines()) == 2  # the preempted run and the one that finished


def test_pool_down_asks_at_a_terminal_and_cancels_the_pools_jobs(sky, tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    _apply(sky, tmp_path, d)
    job = sky.task("job.yaml", JOB.format(d=d, sleep=600))
    submitted = sky("jobs", "launch", "-y", "-d", "--pool", "wp", "--num-jobs", "3", "--output", "json", job, check=True)
    ids = json.loads(submitted.out)["job_ids"]
    wait_for(lambda: sum(_queue(sky)[i]["status"] == "RUNNING" for i in ids) == 2, 120, "two jobs running, one waiting")
    assert sum(_queue(sky)[i]["status"] == "PENDING" for i in ids) == 1  # one job per worker
    refused = Terminal(sky.env, sky.cwd, "jobs", "pool", "down", "wp")
    refused.expect("Take down pool(s) wp?")
    refused.type("n\n")
    assert refused.finish() == 1 and _pools(sky)["wp"]["status"] == "READY"
    accepted = Terminal(sky.env, sky.cwd, "jobs", "pool", "down", "wp")
    accepted.expect("Take down pool(s) wp?")
    accepted.type("y\n")
    assert accepted.finish() == 0 and "Taking down pool(s) wp" in accepted.screen
    wait_for(lambda: _pools(sky) == {}, 120, "the pool gone")
    wait_for(lambda: all(_queue(sky)[i]["status"] == "CANCELLED" for i in ids), 60, "the pool's jobs cancelled")
    assert sky.clusters() == {} and not sky.anything_up()


def test_hostile_pool_input_gets_one_paragraph_errors(sky, tmp_path):
    job = sky.task("job.yaml", JOB.format(d=tmp_path, sleep=0))
    unknown = sky("jobs", "launch", "-y", "-d", "--pool", "nope", job)
    assert unknown.code != 0 and "No pool named 'nope'" in unknown.err
    zero = sky("jobs", "launch", "-y", "-d", "--num-jobs", "0", job)
    assert zero.code != 0 and "--num-jobs" in zero.err
    huge = sky("jobs", "launch", "-y", "-d", "--num-jobs", "100000000", job)
    assert huge.code != 0 and "--num-jobs" in huge.err
    no_pool = sky.task("nopool.yaml", "resources:\n  cpus: 0.5\nsetup: echo hi\n")
    missing = sky("jobs", "pool", "apply", "-y", "-p", "wp", no_pool)
    assert missing.code != 0 and "pool" in missing.err and "workers" in missing.err
    zero_workers = sky.task("zero.yaml", "pool:\n  workers: 0\n")
    bad = sky("jobs", "pool", "apply", "-y", "-p", "wp", zero_workers)
    assert bad.code != 0 and "pool.workers" in bad.err
    typo = sky.task("typo.yaml", "pool:\n  wrokers: 2\n")
    assert "wrokers" in sky("jobs", "pool", "apply", "-y", "-p", "wp", typo).err
    bad_name = sky("jobs", "pool", "apply", "-y", "-p", "Bad Name!", sky.task("ok.yaml", POOL.format(d=tmp_path)))
    assert bad_name.code != 0 and "Pool name 'Bad Name!' is not valid" in bad_name.err
    gone = sky("jobs", "pool", "down", "-y", "nope")
    assert gone.code != 0 and "No pool(s) named 'nope'" in gone.err
    assert sky("jobs", "pool", "status", "nope").code != 0
    assert _pools(sky) == {} and sky.clusters() == {}


def test_applying_a_changed_size_resizes_the_pool_and_down_cuts_a_setup_short(sky, tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    _apply(sky, tmp_path, d)
    before = {w["slot"]: w["cluster"] for w in _pools(sky)["wp"]["worker_details"]}
    smaller = sky.task("one.yaml", POOL.format(d=d).replace("workers: 2", "workers: 1"))
    assert "Pool 'wp' updated: 1 worker(s)" in sky("jobs", "pool", "apply", "-y", "-p", "wp", smaller, check=True).err
    wait_for(lambda: len(_pools(sky)["wp"]["worker_details"]) == 1, 120, "the extra worker removed")
    assert {w["slot"]: w["cluster"] for w in _pools(sky)["wp"]["worker_details"]} == {0: before[0]}  # worker 0 kept as it is
    assert set(sky.clusters()) == {before[0]}
    slow = sky.task("slow.yaml", POOL.format(d=d).replace("workers: 2", "workers: 2").replace("setup: |\n", "setup: |\n  sleep 600\n"))
    sky("jobs", "pool", "apply", "-y", "-p", "wp", slow, check=True)
    wait_for(lambda: len(_pools(sky)["wp"]["worker_details"]) == 2 and len(sky.clusters()) == 2, 120, "a second worker launching")
    assert _pools(sky)["wp"]["worker_details"][1]["status"] == "STARTING"
    sky("jobs", "pool", "down", "-y", "wp", check=True)
    wait_for(lambda: _pools(sky) == {}, 60, "the pool gone without waiting for the setup")
    assert sky.clusters() == {} and not sky.anything_up()
