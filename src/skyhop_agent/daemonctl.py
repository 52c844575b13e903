"""Starting, stopping and finding a cluster's head daemon (skyhop_agent.daemon), from the CLI verbs.

Apart from the daemon itself so that `health`, `daemon-start` and `daemon-stop`,
each a process of its own, import none of what the daemon runs on (sqlite3,
threads, the socket server).
"""

from __future__ import annotations

import fcntl
import os
import time

from skyhop_agent import DAEMON_VERB, proctree, selfexec
from skyhop_agent.paths import Layout

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    import subprocess

#: How long `daemon-start` waits for a new daemon's socket.
SOCKET_WAIT_S = 5.0


def recorded_pid(layout: Layout) -> int | None:
    """The pid in `daemon.pid`, alive or not."""
    try:
        with open(layout.daemon_pid) as f:
            return int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None


def running_pid(layout: Layout) -> int | None:
    """The pid of this cluster's daemon if it is running (not merely a reused pid)."""
    pid = recorded_pid(layout)
    return pid if proctree.is_agent_process(pid, layout.base, DAEMON_VERB) else None


def start(layout: Layout) -> int:
    """Start the daemon unless it runs already; clears the `stopped` marker. Returns its pid."""
    with open(layout.daemon_lock, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two concurrent starts must not make two daemons
        pid = running_pid(layout)
        if pid is None:
            stale = _socket_inode(layout)  # a killed daemon's, if any
            process = selfexec.spawn(layout, [DAEMON_VERB], layout.daemon_log)
            pid = process.pid
            with open(layout.daemon_pid + ".tmp", "w") as f:
                f.write(str(pid))
            os.replace(layout.daemon_pid + ".tmp", layout.daemon_pid)
            _await_socket(layout, process, stale)
        try:
            os.remove(layout.stopped)
        except FileNotFoundError:
            pass
        return pid


def _socket_inode(layout: Layout) -> int | None:
    try:
        return os.stat(layout.channel_socket).st_ino
    except FileNotFoundError:
        return None


def _await_socket(layout: Layout, process: subprocess.Popen, stale: int | None) -> None:
    """Return once the new daemon listens on its socket (or died, or took too long).

    The broker's next call (a submit right after launch) then goes over the
    socket instead of finding nothing there and falling back to a process.
    """
    deadline = time.monotonic() + SOCKET_WAIT_S
    while time.monotonic() < deadline and process.poll() is None:
        if _socket_inode(layout) not in (None, stale):
            return
        time.sleep(0.01)


def stop(layout: Layout) -> None:
    """Stop the daemon (SIGTERM, then SIGKILL after a grace period); running jobs are left alone."""
    pid = recorded_pid(layout)
    if pid is not None and proctree.is_agent_process(pid, layout.base, DAEMON_VERB):
        proctree.terminate(pid)
    forget_pid(layout, pid)


def forget_pid(layout: Layout, pid: int | None) -> None:
    """Remove `daemon.pid` if it still names `pid` (a newer daemon may have replaced it)."""
    if recorded_pid(layout) == pid:
        try:
            os.remove(layout.daemon_pid)
        except FileNotFoundError:
            pass
