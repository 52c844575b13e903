"""`skyhop chaos preempt` on local clusters: a node vanishes, skyhop notices."""

from __future__ import annotations

import time

from e2e_support import cluster_processes, wait_for


def _marked(sky, needle: str) -> list[int]:
    """Cluster processes whose command line contains `needle`."""
    found = []
    for pid in cluster_processes(sky.skyhop_home):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if needle.encode() in f.read().replace(b"\0", b" "):
                    found.append(pid)
        except OSError:
            pass
    return found


def test_preempting_a_worker_fails_the_gang_and_refresh_says_why(sky):
    sky("launch", "-y", "-c", "spot", "--num-nodes", "2", "--cpus", "0.5", "-d", "sleep $((500 + SKYPILOT_NODE_RANK))", check=True)
    wait_for(lambda: _marked(sky, "sleep 501") and _marked(sky, "sleep 500"), 30, "both ranks running")
    started = time.monotonic()
    out = sky("chaos", "preempt", "spot", "--node", "1", check=True).out
    assert "Node 1" in out and "preempted" in out
    row = sky.json("status", "spot", "--refresh")[0]
    assert time.monotonic() - started < 15
    assert row["status"] == "INIT" and row["status_reason"].startswith("node 1: preempted at")
    # The gang lost a member: the job fails and rank 0 is stopped.
    wait_for(lambda: not _marked(sky, "sleep 500"), 30, "rank 0 stopped")
    refused = sky("exec", "spot", "echo")
    assert refused.code != 0 and "INIT" in refused.err
    sky("down", "-y", "spot", check=True)
    assert sky.clusters() == {}


def test_preempt_needs_an_up_cluster_and_a_real_node(sky):
    missing = sky("chaos", "preempt", "nope")
    assert missing.code != 0 and "does not exist" in missing.err
    sky("launch", "-y", "-c", "one", "echo hi", check=True)
    bad = sky("chaos", "preempt", "one", "--node", "3")
    assert bad.code != 0 and "there is no node 3" in bad.err
    sky("chaos", "preempt", "one", check=True)  # the head: the whole cluster is gone
    assert not cluster_processes(sky.skyhop_home)
    row = sky.json("status", "one")[0]
    assert row["status"] == "INIT" and "node 0: preempted" in row["status_reason"]
