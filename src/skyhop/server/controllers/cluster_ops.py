"""What the controllers (managed jobs, pools, services) do to the clusters they own, in one place.

Each runs in a worker thread: it takes the cluster's lock and may call the provider.
`ClusterWork` is the pair of thread pools a controller host runs that work on.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:
    from skyhop.server.controllers.base import Controller

T = TypeVar("T")


class ClusterWork:
    """The thread pools of a controller host whose objects keep clusters (pools, services): long launches on
    one, short work (loss checks, probes, teardowns) on another, so eight long launches never stall the
    checks of every object. `self.controller` (the host's `Controller`) is set by the subclass."""

    controller: "Controller"

    def __init__(self, prefix: str, *, check_workers: int) -> None:
        self._launch_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"{prefix}-launch")
        self._check_pool = ThreadPoolExecutor(max_workers=check_workers, thread_name_prefix=f"{prefix}-check")

    def wake(self) -> None:
        self.controller.wake()

    async def launching(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._launch_pool, work)

    async def checking(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._check_pool, work)

    def shutdown(self) -> None:
        self._launch_pool.shutdown(wait=False, cancel_futures=True)
        self._check_pool.shutdown(wait=False, cancel_futures=True)


def why_lost(store, cluster: str) -> str | None:
    """Why the cluster (a pool worker's, a replica's) can no longer run jobs (preempted, stopped, gone), or None while it is fine."""
    from skyhop.execution import lifecycle

    record = store.get_cluster(cluster)
    if record is not None:
        record = lifecycle.refresh(store, record, have_lock=False)
    if record is None:
        return "the cluster is gone"
    if record.status == "INIT" and record.status_reason:
        return record.status_reason
    if record.status == "STOPPED":
        return "the cluster was stopped"
    return None


def remove_interrupted_launch(store, name: str) -> bool:
    """Tear down `name` if it is what a launch cut short left (INIT, still after a refresh, no lost node); whether it did.

    Decided under the cluster's lock: a launch still running holds that lock until its cluster is UP (another
    server whose lease lapsed, or this one's launch thread of a pool run it gave up), and a check made before
    waiting for the lock would tear down the cluster that launch had just finished.
    """
    from skyhop.execution import lifecycle
    from skyhop.execution.locks import cluster_lock

    with cluster_lock(name):
        record = store.get_cluster(name)
        if record is None or record.status != "INIT" or record.status_reason:
            return False
        record = lifecycle.refresh(store, record, have_lock=True)  # the machines and the agent all there after all: UP, kept
        if record is None:
            return True  # nothing of it had been made: the refresh removed the record
        if record.status != "INIT" or record.status_reason:
            return False
        lifecycle.teardown(store, name, purge=False)
        return True


def teardown(store, name: str) -> None:
    """Remove the cluster (a no-op when it is already gone)."""
    from skyhop.execution import lifecycle
    from skyhop.execution.locks import cluster_lock

    if store.get_cluster(name) is None:
        return
    with cluster_lock(name):
        lifecycle.teardown(store, name, purge=False)
