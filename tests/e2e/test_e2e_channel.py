"""The API server talks to a cluster's agent over its channel: no agent process per call or per follower."""

from __future__ import annotations

import os
from pathlib import Path

from e2e_support import wait_for


def _agent_verbs(base: Path) -> list[bytes]:
    """The verbs of the agent processes running for the cluster at `base` (daemon and drivers included)."""
    verbs = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"skyhop_agent" in argv and str(base).encode() in argv:
            verbs.append(argv[argv.index(str(base).encode()) + 1])
    return verbs


def _server_fds_and_children(pid: int) -> tuple[int, list[str]]:
    children = [c for task in os.listdir(f"/proc/{pid}/task") for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return len(os.listdir(f"/proc/{pid}/fd")), children


def test_followers_and_polls_start_no_agent_process(sky):
    sky("launch", "-y", "-d", "-c", "ch", "echo started; sleep 120", check=True)
    base = sky.node_dir("ch")
    followers = [sky.popen("logs", "ch", "1") for _ in range(3)]
    try:
        for follower in followers:
            assert follower.stdout is not None and follower.stdout.readline() == "started\n"
        verbs = _agent_verbs(base)
        assert b"logs" not in verbs and sorted(set(verbs)) == [b"daemon", b"run-job"], verbs
    finally:
        for follower in followers:
            follower.terminate()
            follower.wait()

    server = sky.server_pid()
    sky("queue", "ch", check=True)
    before = _server_fds_and_children(server)
    for _ in range(20):
        assert sky.jobs("ch")[1]["status"] == "RUNNING"
    # A poll leaves nothing behind: no agent child, and the open files come back to where they were
    # (a socket of the last request, or of a terminated follower, may take a moment to close under load).
    assert _server_fds_and_children(server)[1] == before[1] == []
    wait_for(lambda: _server_fds_and_children(server)[0] <= before[0], 30, "the server's open files back to before the polls")
    sky("cancel", "-y", "ch", "1", check=True)
    sky("down", "-y", "ch", check=True)
    assert not base.exists()
