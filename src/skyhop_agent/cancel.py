"""Cancelling jobs: mark them CANCELLED, then end every process they have.

The status is written first, so a driver that is just finishing cannot
overwrite it. The processes are found three ways, because any one alone can
miss some: the driver's process group, the node pids the driver recorded
(their group survives the driver), and a walk down the parent links from all
of them (for processes that left the group with `setsid`).
"""

from __future__ import annotations

import os

from skyhop_agent import DRIVER_VERB, jobtable, proctree, scheduler

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    import sqlite3

    from skyhop_agent.config import Cluster
    from skyhop_agent.jobtable import Job
    from skyhop_agent.paths import Layout


def _recorded_pids(layout: Layout, job_id: int) -> list[int]:
    try:
        with open(layout.pids_file(job_id)) as f:
            return [int(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def kill_job_processes(layout: Layout, jobs: list[Job]) -> None:
    """End the whole process tree of each job, on every node (all local for now)."""
    roots: set[int] = set()
    pgids: set[int] = set()
    for job in jobs:
        driver = job.driver_pid
        if driver is not None and proctree.is_agent_process(driver, layout.base, DRIVER_VERB, str(job.job_id)):
            roots.add(driver)
            pgids.add(driver)  # the driver leads its own session and group
        for pid in _recorded_pids(layout, job.job_id):
            if proctree.pid_alive(pid):
                roots.add(pid)
                try:
                    pgids.add(os.getpgid(pid))
                except OSError:
                    pass
    if not roots:
        return
    ours = {job.driver_pid for job in jobs}

    def next_jobs_driver(pid: int) -> bool:
        """A driver ending a job starts the next job's driver as its child: that one is not ours to end."""
        return pid not in ours and proctree.is_agent_process(pid, layout.base, DRIVER_VERB)

    proctree.kill_tree(roots, pgids, spare=next_jobs_driver)


def cancel_jobs(
    layout: Layout, cluster: Cluster, conn: sqlite3.Connection, job_ids: list[int], reason: str | None = None
) -> tuple[list[int], list[int]]:
    """Cancel the given jobs; `(cancelled ids, ids that had already ended)`."""
    cancelled, already_done = [], []
    for job_id in job_ids:
        if jobtable.finish(conn, job_id, jobtable.CANCELLED, None, reason, only_from=jobtable.NOT_TERMINAL):
            cancelled.append(job_id)
        else:
            already_done.append(job_id)
    # Read back after marking: a job that was PENDING a moment ago may have got a driver since.
    kill_job_processes(layout, jobtable.get_many(conn, cancelled, cluster.name))
    if cancelled:
        scheduler.schedule(layout, cluster, conn)
    return cancelled, already_done


def cancel_all(layout: Layout, cluster: Cluster, conn: sqlite3.Connection, reason: str | None = None) -> list[int]:
    """Cancel every job that has not ended; the ids cancelled, oldest first."""
    job_ids = [job.job_id for job in jobtable.in_states(conn, jobtable.NOT_TERMINAL)]
    return cancel_jobs(layout, cluster, conn, job_ids, reason)[0]
