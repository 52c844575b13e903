"""FIFO scheduling by CPUs and GPUs, and jobs that can never fit."""

from __future__ import annotations

import json
from pathlib import Path

from agent_harness import Agent, MakeCluster

HOLD = "echo cuda=$CUDA_VISIBLE_DEVICES; while [ ! -f $D/release-$NAME ]; do sleep 0.02; done"


def _held(agent: Agent, tmp_path: Path, name: str, **demand: object) -> int:
    """A job that runs until the test creates its release file."""
    return agent.submit(name=name, run=HOLD, envs={"D": str(tmp_path), "NAME": name}, **demand)


def test_fifo_by_cpus_and_a_blocked_head_blocks_the_queue(cluster: Agent, tmp_path: Path) -> None:
    a = _held(cluster, tmp_path, "a", cpus=1.5)
    b = _held(cluster, tmp_path, "b", cpus=2)
    c = _held(cluster, tmp_path, "c", cpus=0.5)  # would fit beside a, but b is first in line
    assert cluster.record(a)["status"] == "RUNNING"
    assert [cluster.record(j)["status"] for j in (b, c)] == ["PENDING", "PENDING"]

    (tmp_path / "release-a").touch()
    assert cluster.wait(a)["status"] == "SUCCEEDED"
    cluster.wait_status(b, "RUNNING")
    assert cluster.record(c)["status"] == "PENDING"  # b holds both CPUs

    (tmp_path / "release-b").touch()
    cluster.wait_status(c, "RUNNING")
    (tmp_path / "release-c").touch()
    assert cluster.wait(c)["status"] == "SUCCEEDED"


def test_gpus_get_concrete_indices_and_wait_for_a_free_one(make_cluster: MakeCluster, tmp_path: Path) -> None:
    agent = make_cluster(gpu_ids={"H100": [2, 5]})
    a = _held(agent, tmp_path, "a", gpus={"H100": 1})
    b = _held(agent, tmp_path, "b", gpus={"H100": 1})
    c = _held(agent, tmp_path, "c", gpus={"H100": 1})
    assert [agent.record(j)["status"] for j in (a, b, c)] == ["RUNNING", "RUNNING", "PENDING"]
    assert agent.record(a)["gpus"] == {"H100": 1}

    (tmp_path / "release-a").touch()
    agent.wait(a)
    agent.wait_status(c, "RUNNING")
    for name in "bc":
        (tmp_path / f"release-{name}").touch()
    agent.wait(b)
    agent.wait(c)
    assert [agent.log(j).splitlines()[0] for j in (a, b, c)] == ["cuda=2", "cuda=5", "cuda=2"]


def test_gpu_count_reaches_the_job(make_cluster: MakeCluster) -> None:
    agent = make_cluster(gpu_ids={"H100": [0, 1, 2, 3]})
    job_id = agent.submit(run="echo $SKYPILOT_NUM_GPUS_PER_NODE $CUDA_VISIBLE_DEVICES", gpus={"H100": 3})
    agent.wait(job_id)
    assert agent.log(job_id) == "3 0,1,2\n"


def test_demand_that_can_never_fit_is_rejected(make_cluster: MakeCluster) -> None:
    agent = make_cluster(num_nodes=2, gpu_ids={"H100": [0]})
    spec = '{"run": "true", "cpus": 64}'
    message = agent.error("submit", "--spec", "-", input=spec)
    assert "64 CPUs" in message and "has 2" in message
    message = agent.error("submit", "--spec", "-", input='{"run": "true", "gpus": {"A100": 1}}')
    assert "1 A100" in message and "1 H100" in message
    message = agent.error("submit", "--spec", "-", input='{"run": "true", "gpus": {"H100": 2}}')
    assert "2 H100" in message and "1 H100" in message
    message = agent.error("submit", "--spec", "-", input='{"run": "true", "num_nodes": 3}')
    assert "3 nodes" in message and "has 2" in message
    assert agent.ok("queue") == {"jobs": []}


def test_jobs_use_the_first_nodes_with_room(make_cluster: MakeCluster, tmp_path: Path) -> None:
    agent = make_cluster(num_nodes=2, cpus=1)
    a = _held(agent, tmp_path, "a", num_nodes=1, cpus=1)
    b = agent.submit(run="pwd", num_nodes=1, cpus=1)
    agent.wait(b)
    assert agent.log(b) == f"{agent.nodes[1]}\n"  # node 0 is busy with a
    (tmp_path / "release-a").touch()
    agent.wait(a)


def test_concurrent_submitters_never_overbook(cluster: Agent, tmp_path: Path) -> None:
    spec = json.dumps({"run": "while [ ! -f $D/release ]; do sleep 0.02; done", "cpus": 1, "envs": {"D": str(tmp_path)}})
    submitters = [cluster.popen("submit", "--spec", "-") for _ in range(6)]
    for submitter in submitters:  # all of them get their spec before any is waited for
        assert submitter.stdin is not None
        submitter.stdin.write(spec.encode())
        submitter.stdin.close()
    for submitter in submitters:
        assert submitter.wait(timeout=60) == 0, submitter.stderr.read() if submitter.stderr else ""
    statuses = [job["status"] for job in cluster.ok("queue")["jobs"]]
    assert sorted(statuses) == ["PENDING"] * 4 + ["RUNNING"] * 2
    (tmp_path / "release").touch()
    assert {cluster.wait(job_id)["status"] for job_id in range(1, 7)} == {"SUCCEEDED"}
