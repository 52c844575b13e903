"""Strict FIFO scheduling of PENDING jobs onto the nodes' free CPUs and GPUs.

Anyone may call `schedule` at any time (a submit, a driver that just
finished, the daemon's tick): it runs inside one `BEGIN IMMEDIATE`
transaction, so concurrent callers take turns and never hand the same
resources out twice. The oldest PENDING job that does not fit blocks every
later one, which keeps the start order predictable and big jobs from starving.
"""

from __future__ import annotations

import contextlib
import os
from _thread import _local  # threading.local itself, without importing threading (see cli.py)

from skyhop_agent import DRIVER_VERB, jobtable, selfexec

TYPE_CHECKING = False  # typing's constant without importing typing (see cli.py)
if TYPE_CHECKING:
    import sqlite3
    import subprocess
    from typing import Any, Iterator

    from skyhop_agent.config import Cluster
    from skyhop_agent.jobtable import Job
    from skyhop_agent.paths import Layout

# Slack for sums of fractional CPU demands.
_EPSILON = 1e-9

_collecting = _local()


class NodeFree:
    """What is still free on one node: CPUs and the indices of idle GPUs by type."""

    def __init__(self, cpus: float, gpu_ids: dict[str, list[int]]) -> None:
        self.cpus = cpus
        self.gpu_ids = {kind: list(ids) for kind, ids in gpu_ids.items()}

    def fits(self, job: Job) -> bool:
        return job.cpus <= self.cpus + _EPSILON and all(
            count <= len(self.gpu_ids.get(kind, ())) for kind, count in job.gpus.items()
        )

    def take(self, cpus: float, gpu_ids: dict[str, list[int]]) -> None:
        self.cpus -= cpus
        for kind, ids in gpu_ids.items():
            self.gpu_ids[kind] = [i for i in self.gpu_ids.get(kind, ()) if i not in ids]


def free_capacity(cluster: Cluster, active: list[Job]) -> list[NodeFree]:
    """Per node, its capacity minus what the SETTING_UP/RUNNING jobs hold."""
    free = [NodeFree(cluster.cpus, cluster.gpu_ids) for _ in cluster.nodes]
    for job in active:
        for slot in job.placement or ():
            free[slot["node"]].take(job.cpus, slot["gpu_ids"])
    return free


def place(job: Job, free: list[NodeFree]) -> list[dict[str, Any]] | None:
    """The first `num_nodes` nodes (by rank) that fit the job, with concrete GPU indices; takes them from `free`."""
    chosen = [rank for rank, node in enumerate(free) if node.fits(job)][: job.num_nodes]
    if len(chosen) < job.num_nodes:
        return None
    placement = []
    for rank in chosen:
        gpu_ids = {kind: sorted(free[rank].gpu_ids[kind])[:count] for kind, count in sorted(job.gpus.items())}
        free[rank].take(job.cpus, gpu_ids)
        placement.append({"node": rank, "gpu_ids": gpu_ids})
    return placement


@contextlib.contextmanager
def drivers_started() -> Iterator[list[subprocess.Popen]]:
    """Every driver that `schedule` starts in this thread meanwhile, whoever called it.

    For a long-lived process that must reap them (the daemon's socket threads): a verb
    reaches `schedule` by way of a submit, a cancel or stop-jobs, and answers with its
    reply, not with the drivers it happened to start. A driver nobody reaps stays a
    zombie until the process next starts a child.
    """
    drivers: list[subprocess.Popen] = []
    _collecting.drivers = drivers
    try:
        yield drivers
    finally:
        _collecting.drivers = None


def schedule(layout: Layout, cluster: Cluster, conn: sqlite3.Connection) -> list[subprocess.Popen]:
    """Start every PENDING job that may start now; returns their drivers.

    A driver is spawned inside the transaction, so a job is never seen
    SETTING_UP/RUNNING without the driver pid that the daemon checks.
    """
    drivers = []
    with jobtable.transaction(conn):
        free = free_capacity(cluster, jobtable.in_states(conn, jobtable.ACTIVE))
        for job in jobtable.in_states(conn, (jobtable.PENDING,)):
            placement = place(job, free)
            if placement is None:
                break
            os.makedirs(layout.job_dir(job.job_id), exist_ok=True)
            driver = selfexec.spawn(layout, [DRIVER_VERB, str(job.job_id)], layout.driver_log(job.job_id))
            status = jobtable.SETTING_UP if job.spec["setup"] else jobtable.RUNNING
            jobtable.start(conn, job.job_id, status, placement, driver.pid)
            drivers.append(driver)
    collected = getattr(_collecting, "drivers", None)
    if collected is not None:
        collected += drivers
    return drivers
