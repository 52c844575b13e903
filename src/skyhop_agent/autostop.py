"""Autostop: the stored setting, how long the cluster has been idle, and the action.

The setting lives in a file (`BASE/autostop.json`) rather than in the daemon's
memory so it survives daemon restarts and any CLI call can change it.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import sys
import time

from skyhop_agent import jobtable
from skyhop_agent.errors import AgentError
from skyhop_agent.paths import Layout, write_json_atomically

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    import sqlite3
    from typing import Any

    from skyhop_agent.config import Cluster

OFF = {"idle_minutes": None, "down": False, "set_at": None}


def read(layout: Layout) -> dict[str, Any] | None:
    try:
        with open(layout.autostop) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def enable(layout: Layout, idle_minutes: float, down: bool) -> dict[str, Any]:
    if not (math.isfinite(idle_minutes) and idle_minutes >= 0):
        raise AgentError(f"--idle-minutes must be a number >= 0, got {idle_minutes:g}.")
    setting = {"idle_minutes": idle_minutes, "down": down, "set_at": time.time()}
    write_json_atomically(layout.autostop, setting)
    return setting


def disable(layout: Layout) -> dict[str, Any]:
    try:
        os.remove(layout.autostop)
    except FileNotFoundError:
        pass
    return OFF


def idle_since(layout: Layout, conn: sqlite3.Connection, floor: float, setting: dict[str, Any]) -> float | None:
    """When the cluster became idle, or None while a job is queued or running or a log is followed.

    Idle time counts from the latest of `floor` (the daemon's start, or its
    last failed attempt), the setting's time, any job's submission or end, and
    the end of the last call of a functions session.
    A follower still copying a finished job's log counts as activity: taking
    the cluster down under it would lose the output it has not read yet (that
    is how `launch --down` lost short jobs' output).
    """
    if followed(layout) or jobtable.in_states(conn, (jobtable.PENDING, jobtable.SETTING_UP, jobtable.RUNNING)):
        return None
    return max(t for t in (floor, setting["set_at"], jobtable.last_activity(conn), _last_call(layout)) if t is not None)


def touch_activity(layout: Layout) -> None:
    """A functions session's last call in flight just ended: idle time counts from now.

    (While calls run, the session holds the followers lock, so no time counts at all.)
    """
    try:
        os.utime(layout.functions_activity)  # once per call: one syscall when the file is there (the usual case)
    except FileNotFoundError:
        os.makedirs(layout.functions_dir, mode=0o700, exist_ok=True)
        with open(layout.functions_activity, "a"):
            pass


def _last_call(layout: Layout) -> float | None:
    try:
        return os.stat(layout.functions_activity).st_mtime
    except OSError:
        return None


def hold_while_following(layout: Layout):
    """Open and share-lock the followers lock; the lock lasts as long as the returned file stays open."""
    lock = open(layout.followers_lock, "a")
    fcntl.flock(lock, fcntl.LOCK_SH)
    return lock


def followed(layout: Layout) -> bool:
    """True while some `logs --follow` holds the followers lock."""
    try:
        lock = open(layout.followers_lock, "a")
    except FileNotFoundError:
        return False  # the directory is gone: nothing left to follow
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def act(layout: Layout, cluster: Cluster, conn: sqlite3.Connection, setting: dict[str, Any]) -> bool:
    """Stop or take down the cluster; True when done (the daemon then exits).

    A cluster config with `autostop_hooks` gets its hook command instead of the
    built-in action, which only fits the local provider; for a cloud node the
    hook asks the cloud to stop or delete this very machine. (Imports here: only the
    daemon acts; `init`, `logs --follow` and `autostop` import this module too.)
    """
    import subprocess

    from skyhop_agent import lifecycle

    action = "down" if setting["down"] else "stop"
    hook = (cluster.autostop_hooks or {}).get(action)
    if hook is None:
        lifecycle.halt(layout, cluster, conn, reason="autostop")
        if setting["down"]:
            lifecycle.remove_dirs(cluster)
        return True
    sys.stdout.flush()
    try:
        code = subprocess.run(hook, stdin=subprocess.DEVNULL, stdout=sys.stdout, stderr=sys.stderr).returncode
    except OSError as e:
        code, why = None, str(e)
    else:
        why = f"exit code {code}"
    if code != 0:
        print(f"autostop: the {action} hook {hook} failed ({why})", flush=True)
        return False
    write_json_atomically(layout.stopped, {"reason": "autostop", "at": time.time()})
    return True
