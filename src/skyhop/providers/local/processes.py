"""Find and end every process that belongs to a local cluster.

A local "machine" is a directory plus the processes started for it. Each one
is started with `SKYHOP_LOCAL_CLUSTER=<cluster dir>` in its environment, and
children inherit it, including ones that detach into their own session, so
powering a cluster off is: signal every process carrying that marker.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from skyhop.processes import alive

MARKER = "SKYHOP_LOCAL_CLUSTER"


def _environ_has(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def cluster_pids(root: str, marker: str = MARKER) -> list[int]:
    """Live processes started for the cluster at `root` (Linux /proc), or with `marker=root`."""
    needle = f"{marker}={root}".encode()
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            pid = int(entry.name)
            if pid != me and _environ_has(pid, needle) and alive(pid):
                found.append(pid)
    return found


def kill_cluster_processes(root: str, grace: float = 3.0, marker: str = MARKER) -> list[int]:
    """SIGTERM everything of the cluster (or carrying `marker=root`), then SIGKILL what is left after `grace` seconds."""
    pids = cluster_pids(root, marker)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = [p for p in pids if alive(p)]
    for pid in cluster_pids(root, marker):
        _signal(pid, signal.SIGKILL)
    return pids


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
