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

MARKER = "SKYHOP_LOCAL_CLUSTER"


def _environ_has(pid: int, needle: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return True


def cluster_pids(root: str) -> list[int]:
    """Live processes started for the cluster at `root` (Linux /proc)."""
    needle = f"{MARKER}={root}".encode()
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            pid = int(entry.name)
            if pid != me and _environ_has(pid, needle) and not _is_zombie(pid):
                found.append(pid)
    return found


def kill_cluster_processes(root: str, grace: float = 3.0) -> list[int]:
    """SIGTERM everything of the cluster, then SIGKILL what is left after `grace` seconds."""
    pids = cluster_pids(root)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = [p for p in pids if not _is_zombie(p) and _alive(p)]
    for pid in cluster_pids(root):
        _signal(pid, signal.SIGKILL)
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
