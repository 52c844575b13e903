"""`kill -9` of the API server while a pool replaces a worker (its launch held in a file_mounts sync) and jobs
run on it: the next server continues the same worker launch (no second cluster), follows the running jobs, and
every job runs exactly once more than it was preempted; `pool down` then leaves no cluster and no process."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter

import pytest
from e2e_support import cluster_processes, pid_gone, wait_for

pytestmark = pytest.mark.slow

POOL = """\
name: wp
resources:
  cpus: 0.25
file_mounts:
  ~/data.txt: {url}
pool:
  workers: 2
"""

JOB = """\
name: held
resources:
  cpus: 0.25
run: |
  echo "rank=$SKYPILOT_JOB_RANK" >> {bucket}/markers
  until [ -e {bucket}/finish ]; do sleep 0.2; done
"""


@pytest.fixture
def sky(pools_cli):
    return pools_cli


def _queue(sky) -> dict[int, dict]:
    return {r["id"]: r for r in sky.json("jobs", "queue")}


def _workers(sky) -> list[dict]:
    (pool,) = sky.json("jobs", "pool", "status")
    return pool["worker_details"]


def test_kill_9_while_a_worker_is_replaced_and_jobs_run_then_all_finish_once(sky, tmp_path, gate):
    url, is_open = gate
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    sky("jobs", "pool", "apply", "-y", "-p", "wp", sky.task("pool.yaml", POOL.format(url=url)), check=True)
    wait_for(lambda: [w["status"] for w in _workers(sky)] == ["READY", "READY"], 180, "two READY workers")
    job = sky.task("job.yaml", JOB.format(bucket=bucket))
    ids = json.loads(sky("jobs", "launch", "-y", "-d", "--pool", "wp", "--num-jobs", "3", "--output", "json", job, check=True).out)["job_ids"]
    wait_for(lambda: sorted(_queue(sky)[i]["status"] for i in ids) == ["PENDING", "RUNNING", "RUNNING"], 120, "two running, one waiting")
    is_open.clear()  # the replacement worker's launch hangs in its file_mounts sync
    victim_job = next(i for i in ids if _queue(sky)[i]["status"] == "RUNNING")
    victim = _queue(sky)[victim_job]["cluster"]
    sky("chaos", "preempt", victim, check=True)
    wait_for(lambda: any(w["status"] == "STARTING" for w in _workers(sky)), 60, "the replacement worker launching")
    wait_for(lambda: _queue(sky)[victim_job]["status"] == "PENDING", 60, "the preempted job back to PENDING")
    time.sleep(1.0)  # the replacement's launch is inside its (hanging) sync now
    replacement = next(w["cluster"] for w in _workers(sky) if w["status"] == "STARTING")

    pid = sky.server_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(pid), 30, "the killed server gone")
    is_open.set()
    wait_for(lambda: [w["status"] for w in _workers(sky)] == ["READY", "READY"], 180, "the pool whole again under the new server")
    assert sky.server_pid() != pid
    assert replacement in {w["cluster"] for w in _workers(sky)}  # the same launch continued, not a second one
    assert set(sky.clusters()) == {w["cluster"] for w in _workers(sky)}
    (bucket / "finish").touch()
    wait_for(lambda: all(_queue(sky)[i]["status"] == "SUCCEEDED" for i in ids), 180, "all three succeeded")
    runs = Counter((bucket / "markers").read_text().splitlines())
    victim_rank = ids.index(victim_job)
    assert runs == Counter({f"rank={r}": 2 if r == victim_rank else 1 for r in range(3)}), runs
    sky("jobs", "pool", "down", "-y", "wp", check=True)
    wait_for(lambda: sky.json("jobs", "pool", "status") == [], 120, "the pool gone")
    assert sky.clusters() == {}
    wait_for(lambda: not cluster_processes(sky.skyhop_home), 30, "no cluster process left")


@pytest.mark.parametrize("agent_started", [False, True])
def test_a_worker_whose_launch_died_mid_provision_is_launched_again_under_its_name(sky, gate, agent_started):
    """What a server killed while a worker's cluster was still being made leaves: the worker STARTING and its
    cluster INIT (no lost node). The next server removes that half-made cluster and launches the worker again
    under the same name (it used to retry for ever, each time refused: "its launch did not finish"); a cluster
    whose agent had already started is found UP by a refresh and kept, not made again."""
    from skyhop.state import job_pools
    from skyhop.state.store import StateStore

    url, _ = gate
    sky("jobs", "pool", "apply", "-y", "-p", "wp", sky.task("pool.yaml", POOL.format(url=url).replace("workers: 2", "workers: 1")), check=True)
    wait_for(lambda: [w["status"] for w in _workers(sky)] == ["READY"], 180, "a READY worker")
    (worker,) = _workers(sky)
    pid = sky.server_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: pid_gone(pid), 30, "the killed server gone")
    with StateStore(f"sqlite:///{sky.skyhop_home / 'state.db'}") as store:
        store.set_cluster_status(worker["cluster"], "INIT")
        job_pools.JobPools(store).set_worker("wp", worker["slot"], worker["cluster"], job_pools.STARTING)
    # Mid-provision: the machine there but its agent not started yet, and no setup submitted.
    if not agent_started:
        for process in cluster_processes(sky.skyhop_home):
            os.kill(process, signal.SIGKILL)
        wait_for(lambda: not cluster_processes(sky.skyhop_home), 30, "the worker's agent gone")
    (sky.skyhop_home / "pools" / "wp" / f"launch-{worker['cluster']}.log").unlink()
    wait_for(lambda: [w["status"] for w in _workers(sky)] == ["READY"], 180, "the worker READY again under the new server")
    assert [w["cluster"] for w in _workers(sky)] == [worker["cluster"]]
    assert sky.clusters()[worker["cluster"]]["status"] == "UP"
    log = (sky.skyhop_home / "pools" / "wp" / "controller.log").read_text()
    assert ("removing what an interrupted launch left" in log) is not agent_started, log
