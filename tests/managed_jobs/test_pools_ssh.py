"""Pools of workers on SSH node pools (namespace hosts with real sshd): a 2-worker pool takes two hosts, six
ranked jobs run once each, a preempted worker's job goes back to PENDING and finishes on the other worker,
the pool replaces the worker on a free host, and `pool down` leaves nothing on any host.

SSH pool `a` is host 0 alone (cheaper, tried first); pool `b` is hosts 1 and 2; the hosts share /tmp.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from e2e_support import Sky, wait_for
from ssh.conftest import ssh_hosts  # noqa: F401  (module-scoped namespace hosts)
from ssh.test_ssh_pools import assert_clean, pools_config

from managed_jobs.conftest import FAST, end_all_jobs

pytestmark = pytest.mark.slow

POOL = """\
name: wp
resources:
  infra: ssh
setup: |
  echo "setup $(hostname -I)" >> {d}/setups
pool:
  workers: 2
"""

JOB = """\
name: ranked
run: |
  echo "rank=$SKYPILOT_JOB_RANK of=$SKYPILOT_NUM_JOBS" >> {d}/runs
  sleep {sleep}
"""


@pytest.fixture
def sky(ssh_hosts, isolated_home, tmp_path, migrated_state_db):  # noqa: F811
    work = tmp_path / "work"
    work.mkdir()
    runner = Sky(isolated_home, work)
    runner.seed_state(migrated_state_db)
    (runner.skyhop_home / "config.yaml").write_text(pools_config(ssh_hosts) + FAST)
    yield runner
    try:
        if (runner.skyhop_home / "api" / "server.json").exists():
            runner("jobs", "pool", "down", "-a", "-y", timeout=60)
            wait_for(lambda: runner.json("jobs", "pool", "status") == [], 120, "every pool gone")
        end_all_jobs(runner)
    finally:
        runner.teardown()


def _pools(sky) -> dict[str, dict]:
    return {p["name"]: p for p in sky.json("jobs", "pool", "status")}


def _queue(sky) -> dict[int, dict]:
    return {r["id"]: r for r in sky.json("jobs", "queue")}


def test_a_pool_on_ssh_hosts_runs_ranked_jobs_survives_a_preempted_worker_and_leaves_nothing(sky, ssh_hosts, tmp_path):  # noqa: F811
    d = tmp_path / "out"
    d.mkdir(mode=0o777)
    sky("jobs", "pool", "apply", "-y", "-p", "wp", sky.task("pool.yaml", POOL.format(d=d)), check=True)
    wait_for(lambda: _pools(sky)["wp"]["ready"] == 2, 240, "both workers READY")
    infra = sorted(w["infra"] for w in _pools(sky)["wp"]["worker_details"])
    assert infra[0].startswith("ssh/a") and infra[1].startswith("ssh/b"), infra
    assert len((d / "setups").read_text().splitlines()) == 2

    job = sky.task("job.yaml", JOB.format(d=d, sleep=1))
    ids = json.loads(sky("jobs", "launch", "-y", "-d", "--pool", "wp", "--num-jobs", "6", "--output", "json", job, check=True).out)["job_ids"]
    wait_for(lambda: all(_queue(sky)[i]["status"] == "SUCCEEDED" for i in ids), 240, "all six jobs SUCCEEDED")
    assert Counter((d / "runs").read_text().splitlines()) == Counter(f"rank={r} of=6" for r in range(6))

    (d / "runs").unlink()
    long = sky.task("long.yaml", JOB.format(d=d, sleep=8))
    (job_id,) = json.loads(sky("jobs", "launch", "-y", "-d", "--pool", "wp", "--output", "json", long, check=True).out)["job_ids"]
    wait_for(lambda: _queue(sky)[job_id]["status"] == "RUNNING", 120, "the job running")
    victim = _queue(sky)[job_id]["cluster"]
    sky("chaos", "preempt", victim, check=True)
    wait_for(lambda: _queue(sky)[job_id]["status"] == "SUCCEEDED", 240, "the job finished on another worker")
    row = _queue(sky)[job_id]
    assert [a["outcome"] for a in row["attempts"]] == ["preempted", "succeeded"] and row["restarts_on_errors"] == 0
    assert row["attempts"][1]["cluster"] != victim
    wait_for(lambda: _pools(sky)["wp"]["ready"] == 2, 240, "the pool back to two READY workers")
    assert victim not in {w["cluster"] for w in _pools(sky)["wp"]["worker_details"]}

    sky("jobs", "pool", "down", "-y", "wp", check=True)
    wait_for(lambda: _pools(sky) == {}, 180, "the pool gone")
    assert sky.clusters() == {}
    for host in ssh_hosts[:3]:
        assert_clean(host)
