"""Running jobs: environment per node, setup then run, outcomes, logs."""

from __future__ import annotations

import json
import select
import sys
from pathlib import Path

from agent_harness import Agent, MakeCluster, gone, poll

# Saves the node's environment and working directory as env-RANK in $D.
DUMP_ENV = """import json, os
env = dict(os.environ, PWD=os.getcwd())
json.dump(env, open(os.path.join(env["D"], "env-" + env["SKYPILOT_NODE_RANK"]), "w"))
"""


def test_two_node_job_sees_its_rank_ips_and_twins(make_cluster: MakeCluster, tmp_path: Path) -> None:
    agent = make_cluster(num_nodes=2, ips=["10.0.0.1", "10.0.0.2"])
    (tmp_path / "dump_env.py").write_text(DUMP_ENV)
    run = f"{sys.executable} {tmp_path / 'dump_env.py'} && echo hello from $SKYPILOT_NODE_RANK"
    job_id = agent.submit(name="envs", run=run, envs={"D": str(tmp_path), "FOO": 3})
    record = agent.wait(job_id)
    assert record["status"] == "SUCCEEDED" and record["exit_code"] == 0 and record["num_nodes"] == 2

    envs = [json.loads((tmp_path / f"env-{rank}").read_text()) for rank in (0, 1)]
    for rank, env in enumerate(envs):
        expected = {
            "NODE_RANK": str(rank),
            "NODE_IPS": "10.0.0.1\n10.0.0.2",
            "NUM_NODES": "2",
            "NUM_GPUS_PER_NODE": "0",
            "USER": "alice",
            "CLUSTER_NAME": "c",
            "JOB_ID": str(job_id),
        }
        for key, value in expected.items():
            assert env["SKYPILOT_" + key] == value and env["SKYHOP_" + key] == value, key
        assert env["SKYPILOT_TASK_ID"] == env["SKYHOP_TASK_ID"] == envs[0]["SKYPILOT_TASK_ID"]
        assert env["SKYPILOT_TASK_ID"].startswith(f"skyhop-c-{job_id}-")
        info = json.loads(env["SKYPILOT_CLUSTER_INFO"])
        assert info == {"cluster_name": "c", "num_nodes": 2, "provider": "local", "user": "alice"}
        assert env["SKYHOP_CLUSTER_INFO"] == env["SKYPILOT_CLUSTER_INFO"]
        assert env["FOO"] == "3"
    assert envs[0]["PWD"] == str(agent.nodes[0] / "workdir")  # workdir synced
    assert envs[1]["PWD"] == str(agent.nodes[1])  # no workdir: the node's base

    log = agent.log(job_id)
    assert "(node-0) hello from 0\n" in log and "(node-1) hello from 1\n" in log
    assert (agent.job_dir(job_id) / "node-1.log").read_text() == "hello from 1\n"


def test_setup_runs_once_per_node_before_run(make_cluster: MakeCluster, tmp_path: Path) -> None:
    agent = make_cluster(num_nodes=2)
    rank = "$SKYPILOT_SETUP_NODE_RANK"
    setup = f'echo "setup {rank} of $SKYPILOT_NUM_NODES ips=$SKYHOP_SETUP_NODE_IPS" >> $D/setup-{rank}'
    run = "test -f $D/setup-$SKYPILOT_NODE_RANK && echo ran"
    job_id = agent.submit(setup=setup, run=run, envs={"D": str(tmp_path)})
    record = agent.wait(job_id)
    assert record["status"] == "SUCCEEDED", agent.log(job_id)
    for rank in (0, 1):
        assert (tmp_path / f"setup-{rank}").read_text() == f"setup {rank} of 2 ips=127.0.0.1\n127.0.0.1\n"
    assert agent.log(job_id).count("ran") == 2
    assert record["started_at"] >= record["submitted_at"] and record["ended_at"] >= record["started_at"]


def test_single_node_output_is_raw_and_setup_comes_first(cluster: Agent) -> None:
    job_id = cluster.submit(setup="echo one", run="echo two; printf 'no newline'")
    assert cluster.wait(job_id)["status"] == "SUCCEEDED"
    assert cluster.log(job_id) == "one\ntwo\nno newline"


def test_failed_run_records_the_exit_code(cluster: Agent) -> None:
    job_id = cluster.submit(run="echo before; exit 7")
    record = cluster.wait(job_id)
    assert (record["status"], record["exit_code"]) == ("FAILED", 7)
    assert "exit code 7" in record["failure_reason"]


def test_one_failing_node_fails_the_job_and_stops_the_other(make_cluster: MakeCluster, tmp_path: Path) -> None:
    agent = make_cluster(num_nodes=2)
    run = 'if [ "$SKYPILOT_NODE_RANK" = 1 ]; then exit 3; fi; echo $$ > $D/rank0.pid; exec sleep 300'
    job_id = agent.submit(run=run, envs={"D": str(tmp_path)})
    record = agent.wait(job_id)
    assert (record["status"], record["exit_code"]) == ("FAILED", 3)
    assert "node 1" in record["failure_reason"]
    if (tmp_path / "rank0.pid").exists():
        assert gone(int((tmp_path / "rank0.pid").read_text()))


def test_failed_setup_skips_run(cluster: Agent, tmp_path: Path) -> None:
    job_id = cluster.submit(setup="exit 4", run="touch $D/ran", envs={"D": str(tmp_path)})
    record = cluster.wait(job_id)
    assert (record["status"], record["exit_code"]) == ("FAILED_SETUP", 4)
    assert record["started_at"] is None
    assert not (tmp_path / "ran").exists()


def test_job_without_run_succeeds_after_setup(cluster: Agent) -> None:
    job_id = cluster.submit(setup="echo only setup")
    record = cluster.wait(job_id)
    assert (record["status"], record["exit_code"]) == ("SUCCEEDED", 0)
    assert cluster.log(job_id) == "only setup\n"


def test_background_processes_end_with_the_job(cluster: Agent, tmp_path: Path) -> None:
    job_id = cluster.submit(run="sleep 300 & echo $! > $D/bg.pid; echo done", envs={"D": str(tmp_path)})
    assert cluster.wait(job_id)["status"] == "SUCCEEDED"
    assert poll(lambda: gone(int((tmp_path / "bg.pid").read_text())), what="leftover sleep to end")


def test_logs_follow_streams_until_the_job_ends(cluster: Agent, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    job_id = cluster.submit(run=f"echo first; while [ ! -f {gate} ]; do sleep 0.02; done; echo second")
    follower = cluster.popen("logs", str(job_id), "--follow")
    try:
        assert follower.stdout is not None
        ready, _, _ = select.select([follower.stdout], [], [], 20)
        assert ready, "no output streamed while the job runs"
        assert follower.stdout.readline() == b"first\n"
        assert follower.poll() is None  # still following: the job has not ended
        gate.touch()
        out, err = follower.communicate(timeout=20)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    assert out == b"second\n"
    assert cluster.record(job_id)["status"] == "SUCCEEDED"


def test_logs_tail_and_undecodable_bytes(cluster: Agent) -> None:
    job_id = cluster.submit(run="seq 1 10; printf 'bad \\377 byte\\n'")
    cluster.wait(job_id)
    assert cluster.run("logs", str(job_id), "--tail", "3").stdout == "9\n10\nbad \ufffd byte\n"
    assert cluster.run("logs", str(job_id), "--tail", "50").stdout.startswith("1\n2\n")
    assert cluster.run("logs", str(job_id), "--tail", "0").stdout == ""


def test_wait_and_queue_records(cluster: Agent) -> None:
    first = cluster.submit(name="a", run="true", cpus=1)
    second = cluster.submit(name="b", run="true", user="bob")
    cluster.wait(first)
    record = cluster.wait(second)
    assert record["name"] == "b" and record["user"] == "bob" and record["cpus"] == 0.5 and record["gpus"] is None
    assert record["log_path"] == str(cluster.job_dir(second) / "run.log")
    jobs = cluster.ok("queue")["jobs"]
    assert [job["job_id"] for job in jobs] == [second, first]
    assert cluster.ok("queue", "--active") == {"jobs": []}


def test_rank_0_reports_progress_through_its_progress_file(make_cluster: MakeCluster) -> None:
    """`SKYHOP_PROGRESS_FILE` (rank 0's run only) is how a job tells deadline policies how far it is;
    the job record shows what it wrote, and nothing for junk, out-of-range values or no file."""
    cluster = make_cluster(num_nodes=2)
    script = 'if [ -n "$SKYHOP_PROGRESS_FILE" ]; then echo "rank $SKYPILOT_NODE_RANK"; echo "$VALUE" > "$SKYHOP_PROGRESS_FILE"; fi'
    for value, expected in (("0.25", 0.25), ("1", 1.0), ("1.5", None), ("nan", None), ("half", None)):
        job_id = cluster.submit(run=script, envs={"VALUE": value}, num_nodes=2)
        record = cluster.wait(job_id)
        assert record["status"] == "SUCCEEDED" and record["progress"] == expected, (value, record)
        assert (cluster.job_dir(job_id) / "run.log").read_text().count("rank ") == 1  # rank 0 alone has the variable
    silent = cluster.wait(cluster.submit(run="true"))
    assert silent["progress"] is None
