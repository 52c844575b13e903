"""Managed jobs on SSH node pools (namespace hosts with real sshd): preemption of the head or of a worker,
recovery on another pool with EAGER_NEXT_REGION, checkpoint resume, nothing left on the hosts.

Pool `a` is host 0 alone (cheaper, tried first); pool `b` is hosts 1 and 2. For
existing-machine pools the pool is the region, so EAGER_NEXT_REGION's blocked
region is the preempted pool. The checkpoint "bucket" is a directory every host
sees (the hosts share /tmp; each has its own home). The job stops after its second step
until the test has seen the preemption, so a loaded machine cannot let it finish first.
"""

from __future__ import annotations

import json
import time

import pytest
from e2e_support import Sky, wait_for
from ssh.conftest import ssh_hosts  # noqa: F401  (module-scoped namespace hosts)
from ssh.test_ssh_pools import assert_clean, pools_config

from managed_jobs.conftest import FAST, end_all_jobs

pytestmark = pytest.mark.slow

TASK = """\
name: ssh-ckpt
resources:
  job_recovery: {strategy}
envs:
  CKPT_DIR: {ckpt}
run: |
  start=$(cat $CKPT_DIR/step 2>/dev/null || echo 0)
  echo "rank=$SKYPILOT_NODE_RANK recoveries=$SKYPILOT_NUM_RECOVERIES start=$start host=$(hostname -I)" >> $CKPT_DIR/markers
  if [ "$SKYPILOT_NODE_RANK" != 0 ]; then until [ "$(cat $CKPT_DIR/step 2>/dev/null)" = 8 ]; do sleep 0.2; done; exit 0; fi
  for i in $(seq $((start + 1)) 8); do
    sleep 0.4
    if [ $i -gt 2 ]; then until [ -e $CKPT_DIR/go ]; do sleep 0.2; done; fi
    echo $i > $CKPT_DIR/step; echo step $i
  done
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
        end_all_jobs(runner)
    finally:
        runner.teardown()


def _row(sky, job_id: int) -> dict:
    return next(r for r in sky.json("jobs", "queue") if r["id"] == job_id)


def _run_and_preempt(sky, tmp_path, strategy: str, nodes: int, victim: int) -> tuple[dict, list[str]]:
    ckpt = tmp_path / "bucket"
    ckpt.mkdir(mode=0o777)
    task = sky.task("ckpt.yaml", TASK.format(strategy=strategy, ckpt=ckpt))
    submitted = sky("jobs", "launch", "-y", "-d", "--output", "json", "--num-nodes", str(nodes), task, check=True)
    job_id = json.loads(submitted.out)["job_ids"][0]
    wait_for(lambda: (ckpt / "step").exists() and int((ckpt / "step").read_text() or 0) >= 2, 120, "two checkpointed steps")
    preempted_at = time.time()  # the node is gone once chaos returns
    sky("chaos", "preempt", _row(sky, job_id)["cluster"], "--node", str(victim), check=True)
    wait_for(lambda: _row(sky, job_id)["recovery_count"] == 1, 30, "the preemption noticed")
    (ckpt / "go").touch()  # past step 2 only now: on a slow machine the job would otherwise end before chaos hits it
    # Detected within 15 s: the controller's own record of the attempt's end, not this test's (slower) polling.
    assert _row(sky, job_id)["attempts"][0]["ended_at"] - preempted_at < 15
    wait_for(lambda: _row(sky, job_id)["status"] == "SUCCEEDED", 180, "the recovered job finished")
    runs = [line for line in (ckpt / "markers").read_text().splitlines() if line.startswith("rank=0")]
    assert len(runs) == 2 and "recoveries=1" in runs[1] and int(runs[1].split("start=")[1].split()[0]) >= 2, runs
    wait_for(lambda: sky.clusters() == {}, 60, "the job's clusters taken down")
    return _row(sky, job_id), runs


def test_eager_next_region_moves_a_preempted_head_to_another_pool(sky, ssh_hosts, tmp_path):  # noqa: F811
    row, runs = _run_and_preempt(sky, tmp_path, "EAGER_NEXT_REGION", nodes=1, victim=0)
    first, second = row["attempts"]
    assert (first["provider"], first["region"], first["outcome"]) == ("ssh", "a", "preempted")
    assert (second["provider"], second["outcome"]) == ("ssh", "succeeded") and second["region"] != "a"
    assert ssh_hosts[0].ip in runs[0] and ssh_hosts[0].ip not in runs[1]
    events = sky("jobs", "logs", str(row["id"]), "--controller", "--no-follow", check=True).out
    assert "EAGER_NEXT_REGION: the next attempt avoids ssh/a" in events
    for host in ssh_hosts[:3]:
        assert_clean(host)


def test_failover_recovers_a_two_node_job_whose_worker_was_preempted(sky, ssh_hosts, tmp_path):  # noqa: F811
    row, _ = _run_and_preempt(sky, tmp_path, "FAILOVER", nodes=2, victim=1)
    assert [(a["region"], a["outcome"]) for a in row["attempts"]] == [("b", "preempted"), ("b", "succeeded")]
    assert "node 1" in row["attempts"][0]["failure_reason"]
    for host in ssh_hosts[:3]:
        assert_clean(host)
