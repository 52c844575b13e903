"""`kill -9` of the API server while an autoscaled pool on SSH namespace hosts scales up (both new workers in
their setup): the next server continues both launches under the names written before them, so the pool
reaches its size with no extra cluster, and every job runs exactly once; `pool down` leaves the hosts clean."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter

import pytest
from e2e_support import pid_gone, wait_for
from ssh.conftest import ssh_hosts  # noqa: F401  (module-scoped namespace hosts)
from ssh.test_ssh_pools import assert_clean

from managed_jobs.test_pools_ssh import sky  # noqa: F401  (the CLI on the SSH hosts, pools and jobs ended after)

pytestmark = pytest.mark.slow

POOL = """\
name: ap
resources:
  infra: ssh
setup: |
  echo "setup $(hostname -I)" >> {d}/setups
  until [ -e {d}/go ]; do sleep 0.2; done
pool:
  min_workers: 0
  max_workers: 2
"""

JOB = """\
name: queued
run: |
  echo "rank=$SKYPILOT_JOB_RANK" >> {d}/runs
"""


def _pool(sky) -> dict:  # noqa: F811
    (pool,) = sky.json("jobs", "pool", "status", "ap")
    return pool


def test_kill_9_while_an_autoscaled_ssh_pool_scales_up_then_it_reaches_its_size_once(sky, ssh_hosts, tmp_path):  # noqa: F811
    d = tmp_path / "out"
    d.mkdir(mode=0o777)
    sky("jobs", "pool", "apply", "-y", "-p", "ap", sky.task("pool.yaml", POOL.format(d=d)), check=True)
    assert _pool(sky)["current"] == 0 and sky.clusters() == {}
    job = sky.task("job.yaml", JOB.format(d=d))
    ids = json.loads(sky("jobs", "launch", "-y", "-d", "--pool", "ap", "--num-jobs", "3", "--output", "json", job, check=True).out)["job_ids"]
    wait_for(lambda: (d / "setups").exists() and len((d / "setups").read_text().splitlines()) == 2, 240, "two workers in setup")
    launching = {w["cluster"] for w in _pool(sky)["worker_details"]}
    assert len(launching) == 2 and _pool(sky)["target"] == 2

    pid = sky.server_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(pid), 30, "the killed server gone")
    (d / "go").touch()
    wait_for(lambda: _pool(sky)["ready"] == 2, 240, "both workers READY under the next server")
    assert sky.server_pid() != pid
    assert {w["cluster"] for w in _pool(sky)["worker_details"]} == launching == set(sky.clusters())  # no extra cluster
    wait_for(lambda: all(r["status"] == "SUCCEEDED" for r in sky.json("jobs", "queue") if r["id"] in ids), 240, "all three jobs SUCCEEDED")
    assert Counter((d / "runs").read_text().splitlines()) == Counter(f"rank={r}" for r in range(3))  # none twice
    assert len((d / "setups").read_text().splitlines()) == 2  # each worker set up once, none relaunched
    sky("jobs", "pool", "down", "-y", "ap", check=True)
    wait_for(lambda: sky.json("jobs", "pool", "status") == [], 180, "the pool gone")
    assert sky.clusters() == {}
    for host in ssh_hosts[:3]:
        assert_clean(host)
