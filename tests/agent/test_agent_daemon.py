"""The head daemon: start/stop, restarts, dead drivers, autostop."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

from agent_harness import Agent, MakeCluster, gone, poll

TICK_S = 0.5  # the daemon's period


def test_daemon_start_is_idempotent_and_stop_stops_it(cluster: Agent) -> None:
    pid = cluster.ok("daemon-start")["pid"]
    assert cluster.ok("daemon-start") == {"ok": True, "pid": pid}
    health = cluster.ok("health")
    assert (health["daemon_pid"], health["daemon_alive"]) == (pid, True)
    assert cluster.ok("daemon-stop") == {"ok": True}
    poll(lambda: gone(pid), what="daemon to exit")
    health = cluster.ok("health")
    assert (health["daemon_pid"], health["daemon_alive"]) == (None, False)
    assert cluster.ok("daemon-stop") == {"ok": True}  # stopping a stopped daemon is fine


def test_job_ids_survive_daemon_restart_and_self_stop(cluster: Agent) -> None:
    cluster.ok("daemon-start")
    first = cluster.submit(run="true")
    running = cluster.submit(run="sleep 300")
    cluster.ok("daemon-stop")
    cluster.ok("daemon-start")
    after_restart = cluster.submit(run="true")
    assert after_restart == running + 1
    assert cluster.record(running)["status"] == "RUNNING"  # a daemon restart leaves jobs alone
    cluster.wait(after_restart)  # else self-stop may catch it still running and cancel it too

    result = cluster.ok("self-stop")
    assert result == {"ok": True, "cancelled": [running]}
    health = cluster.ok("health")
    assert (health["stopped"], health["daemon_alive"]) == (True, False)
    assert "is stopped" in cluster.error("submit", "--spec", "-", input='{"run": "true"}')

    cluster.ok("daemon-start")
    assert cluster.ok("health")["stopped"] is False
    assert cluster.submit(run="true") == running + 2
    assert cluster.record(first)["status"] == "SUCCEEDED"


def test_daemon_fails_a_job_whose_driver_was_killed(cluster: Agent, tmp_path: Path) -> None:
    cluster.ok("daemon-start")
    job_id = cluster.submit(run="echo $$ > $D/node.pid; exec sleep 300", envs={"D": str(tmp_path)})
    node_pid = int(poll(lambda: (tmp_path / "node.pid").exists() and (tmp_path / "node.pid").read_text()))
    stat = Path(f"/proc/{node_pid}/stat").read_text()
    driver = int(stat[stat.rindex(")") + 2 :].split()[1])
    os.kill(driver, signal.SIGKILL)
    record = cluster.wait_status(job_id, "FAILED")
    assert record["failure_reason"] == "job driver exited unexpectedly"
    poll(lambda: gone(node_pid), what="the orphaned node process to be killed")


def test_daemon_starts_jobs_a_crash_left_queued(cluster: Agent) -> None:
    """A job left PENDING with free resources (its submitter died) is started by the daemon."""
    db = sqlite3.connect(str(cluster.base / "jobs.db"))
    with db:
        db.execute(
            "INSERT INTO jobs (user, status, submitted_at, num_nodes, cpus, gpus, spec) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("alice", "PENDING", time.time(), 1, 0.5, "{}", '{"setup": null, "run": "echo late", "envs": {}, "task_id": null}'),
        )
    db.close()
    cluster.ok("daemon-start")
    assert cluster.wait(1)["status"] == "SUCCEEDED"
    assert cluster.log(1) == "late\n"


def test_autostop_stops_an_idle_cluster(cluster: Agent) -> None:
    pid = cluster.ok("daemon-start")["pid"]
    job_id = cluster.submit(run="true")
    cluster.wait(job_id)
    cluster.ok("autostop", "--idle-minutes", "0.01")
    poll(lambda: (cluster.base / "stopped").exists() and gone(pid), what="autostop to stop the cluster")
    health = cluster.ok("health")
    assert (health["stopped"], health["daemon_alive"]) == (True, False)
    assert "autostop" in (cluster.base / "daemon.log").read_text()
    assert cluster.nodes[0].exists()  # stop keeps the cluster's files
    cluster.ok("daemon-start")
    assert cluster.submit(run="true") == job_id + 1


def test_autostop_waits_for_running_jobs(cluster: Agent, tmp_path: Path) -> None:
    pid = cluster.ok("daemon-start")["pid"]
    job_id = cluster.submit(run="while [ ! -f $D/go ]; do sleep 0.02; done", envs={"D": str(tmp_path)})
    cluster.wait_status(job_id, "RUNNING")
    cluster.ok("autostop", "--idle-minutes", "0")
    time.sleep(3 * TICK_S)  # let the daemon look a few times (a slow machine only makes this weaker)
    assert not gone(pid) and cluster.record(job_id)["status"] == "RUNNING"
    (tmp_path / "go").touch()
    assert cluster.wait(job_id)["status"] == "SUCCEEDED"
    poll(lambda: gone(pid), what="autostop once the job ended")
    assert cluster.ok("health")["stopped"] is True


def test_autostop_down_removes_the_cluster(cluster: Agent) -> None:
    pid = cluster.ok("daemon-start")["pid"]
    cluster.ok("autostop", "--idle-minutes", "0.01", "--down")
    poll(lambda: not cluster.cluster_dir.exists() and gone(pid), what="autostop --down")


def test_self_down_removes_the_cluster(cluster: Agent) -> None:
    cluster.ok("daemon-start")
    result = cluster.ok("self-down")
    assert result["removed"] == [str(cluster.cluster_dir)]
    assert not cluster.cluster_dir.exists()


def test_autostop_hook_replaces_the_builtin_action(make_cluster: MakeCluster, tmp_path: Path) -> None:
    marker = tmp_path / "hook-ran"
    agent = make_cluster(hooks={"stop": ["touch", str(marker)], "down": ["false"]})
    pid = agent.ok("daemon-start")["pid"]
    agent.ok("autostop", "--idle-minutes", "0.005")
    poll(lambda: marker.exists() and gone(pid), what="the stop hook")
    assert agent.ok("health")["stopped"] is True


def test_autodown_waits_for_a_follower_still_reading_the_log(cluster: Agent) -> None:
    """`launch --down` lost short jobs' output when autodown removed the cluster under its follower."""
    pid = cluster.ok("daemon-start")["pid"]
    # More output than a pipe holds: the follower blocks writing until we read, holding its lock.
    job_id = cluster.submit(run="head -c 1000000 /dev/zero | tr '\\0' x; echo; echo END")
    cluster.wait(job_id)
    follower = cluster.popen("logs", str(job_id), "--follow", "--record")
    poll(lambda: (cluster.base / "followers.lock").exists(), what="the follower to take its lock")
    cluster.ok("autostop", "--idle-minutes", "0", "--down")
    time.sleep(4 * TICK_S)  # the daemon looks a few times (a slow machine only makes this weaker)
    assert cluster.cluster_dir.exists() and not gone(pid)
    out, err = follower.communicate(timeout=60)
    assert out.decode().endswith("END\n") and b'"SUCCEEDED"' in err
    poll(lambda: not cluster.cluster_dir.exists() and gone(pid), what="autodown once the follower finished")
