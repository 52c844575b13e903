"""Cancel ends a job's whole process tree, on every node, and leaves finished jobs alone."""

from __future__ import annotations

from pathlib import Path

from agent_harness import Agent, MakeCluster, gone, poll

TREE = (
    "sleep 300 & echo $! > $D/bg-$SKYPILOT_NODE_RANK; "
    "setsid sleep 300 & echo $! > $D/setsid-$SKYPILOT_NODE_RANK; "
    "(sleep 300 & echo $! > $D/nested-$SKYPILOT_NODE_RANK; wait) & "
    "touch $D/ready-$SKYPILOT_NODE_RANK; wait"
)


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def test_cancel_kills_the_whole_tree_on_every_node(make_cluster: MakeCluster, tmp_path: Path) -> None:
    agent = make_cluster(num_nodes=2)
    job_id = agent.submit(run=TREE, envs={"D": str(tmp_path)})
    ready = [tmp_path / f"ready-{rank}" for rank in (0, 1)]
    nested = [tmp_path / f"nested-{rank}" for rank in (0, 1)]
    # Written, not just created: `echo $! > file` in a background subshell may still be on its way.
    poll(lambda: all(p.exists() for p in ready) and all(p.exists() and p.stat().st_size for p in nested), what="the job's process tree")
    node_pids = agent.recorded_pids(job_id)
    assert len(node_pids) == 2
    pids = set(node_pids) | {_parent(node_pids[0])}  # the driver
    for kind in ("bg", "setsid", "nested"):
        pids |= {int((tmp_path / f"{kind}-{rank}").read_text()) for rank in (0, 1)}
    assert not any(gone(pid) for pid in pids)

    assert agent.ok("cancel", str(job_id)) == {"cancelled": [job_id], "already_done": []}
    record = agent.record(job_id)
    assert record["status"] == "CANCELLED" and record["ended_at"] is not None
    poll(lambda: all(gone(pid) for pid in pids), what="every process of the job to end")
    assert agent.record(job_id)["status"] == "CANCELLED"  # the dying driver did not overwrite it


def test_cancel_of_finished_and_pending_jobs(cluster: Agent, tmp_path: Path) -> None:
    done = cluster.submit(run="true")
    cluster.wait(done)
    hold = cluster.submit(run="sleep 300", cpus=2)
    pending = cluster.submit(run="true", cpus=2)
    assert cluster.record(pending)["status"] == "PENDING"

    assert cluster.ok("cancel", str(done), str(pending)) == {"cancelled": [pending], "already_done": [done]}
    assert cluster.record(done)["status"] == "SUCCEEDED"
    assert cluster.record(pending)["status"] == "CANCELLED"
    assert cluster.record(hold)["status"] == "RUNNING"

    after = cluster.submit(run="echo next", cpus=2)
    assert cluster.ok("cancel", str(hold)) == {"cancelled": [hold], "already_done": []}
    assert cluster.wait(after)["status"] == "SUCCEEDED"  # the freed CPUs go to the next job


def test_cancel_all_and_stop_jobs_cancel_everything_not_ended(cluster: Agent) -> None:
    jobs = [cluster.submit(run="sleep 300", cpus=2) for _ in range(2)]
    assert cluster.ok("cancel", "--all") == {"cancelled": jobs, "already_done": []}
    more = [cluster.submit(run="sleep 300", cpus=2) for _ in range(2)]
    assert cluster.ok("stop-jobs") == {"cancelled": more}
    assert {cluster.record(j)["status"] for j in jobs + more} == {"CANCELLED"}
    assert cluster.ok("stop-jobs") == {"cancelled": []}
