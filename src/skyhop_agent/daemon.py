"""The head daemon: the background half of the job queue, and autostop.

Scheduling already happens inline on submit and when a driver finishes; the
daemon is the safety net that notices drivers that died without reporting
(SIGKILL, OOM killer), starts what a crash left queued, and stops the cluster
once it has been idle long enough. Starting, stopping and finding it is
daemonctl's: the verbs that do that do not import what the daemon runs on.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time

from skyhop_agent import DRIVER_VERB, autostop, cancel, channel, config, jobtable, proctree, scheduler
from skyhop_agent.daemonctl import forget_pid
from skyhop_agent.paths import Layout

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    from typing import Any

TICK_S = 0.5


def _log(message: str) -> None:
    """A line in daemon.log (the daemon's stdout)."""
    print(time.strftime("%Y-%m-%d %H:%M:%S ") + message, flush=True)


class _Daemon:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.conn: sqlite3.Connection = jobtable.connect(layout)
        # Idle time never counts from before the daemon ran (or last tried to stop).
        self.idle_floor = time.time()
        # Drivers we spawned (or a submit on our socket did); polled so they do not stay zombies.
        self.drivers: list[subprocess.Popen] = []
        self._adopted: list[subprocess.Popen] = []
        self._adopted_lock = threading.Lock()
        # When the last tick ended: `health` on the socket reports it, so a hung daemon
        # (its socket threads still answering) is told apart from a live one.
        self.tick_at = time.time()

    def adopt(self, drivers: list[subprocess.Popen]) -> None:
        """Drivers a socket thread started: reaped by the tick like our own."""
        with self._adopted_lock:
            self._adopted += drivers

    def health(self) -> dict[str, Any]:
        now = time.time()
        return {"channel": True, "tick_at": self.tick_at, "tick_age_s": round(now - self.tick_at, 3), "tick_s": TICK_S}

    def _fail_orphaned_jobs(self) -> None:
        for job in jobtable.in_states(self.conn, jobtable.ACTIVE):
            if proctree.is_agent_process(job.driver_pid, self.layout.base, DRIVER_VERB, str(job.job_id)):
                continue
            reason = "job driver exited unexpectedly"
            if jobtable.finish(self.conn, job.job_id, jobtable.FAILED, None, reason, only_from=jobtable.ACTIVE):
                _log(f"job {job.job_id}: {reason}; ending its processes")
                cancel.kill_job_processes(self.layout, [job])

    def tick(self) -> bool:
        """One round of upkeep; True when autostop stopped the cluster."""
        cluster = config.load(self.layout)
        with self._adopted_lock:
            self.drivers += self._adopted
            self._adopted = []
        self.drivers = [driver for driver in self.drivers if driver.poll() is None]
        self._fail_orphaned_jobs()
        self.drivers += scheduler.schedule(self.layout, cluster, self.conn)
        setting = autostop.read(self.layout)
        if setting is None:
            return False
        since = autostop.idle_since(self.layout, self.conn, self.idle_floor, setting)
        if since is None or time.time() - since < setting["idle_minutes"] * 60:
            return False
        action = "down" if setting["down"] else "stop"
        _log(f"autostop: idle for {setting['idle_minutes']:g} min; {action}")
        if autostop.act(self.layout, cluster, self.conn, setting):
            return True
        self.idle_floor = time.time()  # try again after another idle period
        return False


def serve(layout: Layout) -> None:
    """Run the daemon until SIGTERM, autostop, or the cluster's files vanish."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    daemon = _Daemon(layout)
    _log(f"daemon started (pid {os.getpid()})")
    server = _open_channel(layout, daemon)
    try:
        while not stopping.is_set():
            if not os.path.exists(layout.cluster_json):
                _log("cluster config is gone; exiting")
                return
            try:
                if daemon.tick():
                    return
            except Exception:
                import traceback  # an agent bug: not paid for by every daemon start

                traceback.print_exc()
            daemon.tick_at = time.time()
            stopping.wait(TICK_S)
        _log("daemon stopped by signal")
    finally:
        if server is not None:
            server.close()
        if os.path.isdir(layout.base):
            forget_pid(layout, os.getpid())


def _open_channel(layout: Layout, daemon: _Daemon) -> channel.Server | None:
    """The verbs' socket; without it (say a base where sockets cannot be made) clients use the CLI path."""
    try:
        server = channel.Server(layout, daemon.health, daemon.adopt)
    except OSError as error:
        _log(f"no agent socket ({error}); verbs run as processes")
        return None
    server.start()
    return server
