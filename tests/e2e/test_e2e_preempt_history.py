"""A node lost mid-job (`skyhop chaos preempt`): the streaming launch says which node and why, and the
job's history and logs stay reachable (they are not "a launch that did not finish")."""

from __future__ import annotations

import pytest
from e2e_support import wait_for


@pytest.mark.parametrize("node", [1, 0])
def test_streaming_launch_names_the_lost_node_and_history_stays(sky, node):
    client = sky.popen("launch", "-y", "-c", "pre", "--num-nodes", "2", "--cpus", "0.5", "echo start-$SKYPILOT_NODE_RANK; sleep 300")
    wait_for(lambda: sky("logs", "pre", "1", "--no-follow").out.count("start-") == 2, 60, "both ranks to start")
    sky("chaos", "preempt", "pre", "--node", str(node), check=True)
    out, err = client.communicate(timeout=120)
    assert client.returncode != 0 and "Traceback" not in err
    ending = err.strip().splitlines()[-1]
    assert f"node {node}: preempted at" in ending, err
    assert "exit code 255: \n" not in err and not ending.endswith(": .")
    job = sky.jobs("pre")[1]
    assert job["status"] == "FAILED" and f"node {node}: preempted" in job["failure_reason"]
    logs = sky("logs", "pre", "1", timeout=60)
    assert logs.code == 0 and "start-0" in logs.out and "start-1" in logs.out
    refused = sky("exec", "pre", "echo")
    assert refused.code != 0 and "lost nodes" in refused.err and "did not finish" not in refused.err
