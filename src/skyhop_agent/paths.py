"""Where everything lives under the head node's base directory.

Kept in one place so the daemon, the drivers and every CLI verb agree on the
layout without passing paths around.
"""

from __future__ import annotations

import json
import os


class Layout:
    """The files of one cluster under its head node's base directory `BASE`."""

    #: What skyhop keeps directly in a node's base directory (the agent, the job table and
    #: logs, the daemon's files). On a local node that directory is also the jobs' HOME, so
    #: a `file_mounts` destination there must not land on one of these.
    RESERVED = (
        "agent", "cluster.json", "cluster.init.json", "jobs", "jobs.db", "jobs.db-wal", "jobs.db-shm",
        "jobs.db-journal", "daemon.pid", "daemon.log", "daemon.lock", "stopped", "autostop.json", "followers.lock",
        "agent.sock", "functions",
    )

    def __init__(self, base: str) -> None:
        self.base = os.path.abspath(base)
        self.cluster_json = os.path.join(self.base, "cluster.json")
        self.jobs_db = os.path.join(self.base, "jobs.db")
        self.jobs_dir = os.path.join(self.base, "jobs")
        self.daemon_pid = os.path.join(self.base, "daemon.pid")
        self.daemon_log = os.path.join(self.base, "daemon.log")
        self.daemon_lock = os.path.join(self.base, "daemon.lock")
        self.stopped = os.path.join(self.base, "stopped")
        self.autostop = os.path.join(self.base, "autostop.json")
        # Held (shared flock) by every `logs --follow`: autostop waits while anyone still reads a log.
        self.followers_lock = os.path.join(self.base, "followers.lock")
        # The daemon's Unix socket (skyhop_agent.channel): verbs without a process per call.
        self.channel_socket = os.path.join(self.base, "agent.sock")
        # Functions sessions (skyhop_agent.fnrelay): their workers' scripts, and the time the last call ended.
        self.functions_dir = os.path.join(self.base, "functions")
        self.functions_activity = os.path.join(self.functions_dir, "activity")

    def job_dir(self, job_id: int) -> str:
        return os.path.join(self.jobs_dir, str(job_id))

    def run_log(self, job_id: int) -> str:
        """The combined log of every node of a job: what `logs` shows."""
        return os.path.join(self.job_dir(job_id), "run.log")

    def node_log(self, job_id: int, rank: int) -> str:
        return os.path.join(self.job_dir(job_id), f"node-{rank}.log")

    def pids_file(self, job_id: int) -> str:
        """Pids of a job's node processes, so cancel finds them even if the driver died."""
        return os.path.join(self.job_dir(job_id), "pids")

    def progress_file(self, job_id: int) -> str:
        """Where the job's rank 0 may write its progress, a fraction 0..1 (`SKYHOP_PROGRESS_FILE`)."""
        return os.path.join(self.job_dir(job_id), "progress")

    def driver_log(self, job_id: int) -> str:
        """The driver's own stdout/stderr: only ever holds agent bugs, never job output."""
        return os.path.join(self.job_dir(job_id), "driver.log")


def write_json_atomically(path: str, data: object) -> None:
    """Write a small JSON file so readers never see a half-written one."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)
