"""The pool controller: keeps each worker pool's clusters up, on the controller base (kind `pool`).

One asyncio task per pool (`PoolRun`), resumable like a managed job's:

- Each slot 0..workers-1 has a row naming its cluster. A slot without one gets
  a fresh cluster name written as STARTING *before* the launch, so a server
  killed mid-launch leaves a name the next owner launches again (the launch
  path reuses a cluster that got up) instead of a second cluster.
- A STARTING worker is launched through the normal launch path (optimizer,
  failover) with the pool's task minus `run`: its setup runs once, followed to
  its end; then READY, and managed jobs may claim it (`JobPools.claim`).
- Every `poll_seconds`, READY workers whose cluster was preempted or lost are
  replaced: the old cluster is torn down, the slot gets a new name (which
  frees it of its job: that job sees its cluster gone and goes back to PENDING).
- Slots at or above `workers` (the pool was applied smaller) are removed once idle.
- `pool down` (status SHUTTING_DOWN, or the lease's cancel flag) cancels the
  pool's unfinished jobs, tears every worker down, then deletes the pool.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Callable, TypeVar

from skyhop import paths
from skyhop.errors import SkyhopError
from skyhop.jobs.settings import JobsSettings
from skyhop.server.controllers.base import Controller, ControllerSettings, ObjectContext
from skyhop.state import job_pools
from skyhop.state.job_pools import JobPools, PoolRecord, WorkerRecord

log = logging.getLogger("skyhop.controllers.pools")
T = TypeVar("T")

#: How long a worker whose launch or setup failed waits before the pool tries again.
RETRY_S = 30.0


def pool_dir(name: str) -> Path:
    return paths.private_dir(paths.home() / "pools" / name)


def worker_cluster(pool: str, slot: int) -> str:
    """A new cluster name for a slot: `<pool>-w<slot>-<stamp>`, different from every earlier one of the slot."""
    return f"{pool}-w{slot}-{time.time_ns() // 1_000_000:x}"[:63]


class PoolsController:
    """Hosts every pool of this server process (see the module doc)."""

    def __init__(self, store, settings: JobsSettings | None = None) -> None:
        self.store = store
        self.settings = settings or JobsSettings()
        self.pools = JobPools(store)
        base = ControllerSettings(tick_s=self.settings.tick_s, lease_ttl_s=self.settings.lease_s)
        self.controller = Controller(store, job_pools.KIND, self._drive, base)
        self._launch_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="pools-launch")

    def wake(self) -> None:
        self.controller.wake()

    async def _drive(self, ctx: ObjectContext) -> None:
        await PoolRun(self, ctx.object_id, ctx).run()

    async def launching(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._launch_pool, work)

    def shutdown(self) -> None:
        self._launch_pool.shutdown(wait=False, cancel_futures=True)


class PoolRun:
    """One pool being kept; every step re-reads the pool and its workers from the store."""

    def __init__(self, owner: PoolsController, name: str, ctx: ObjectContext) -> None:
        self.owner = owner
        self.pools = owner.pools
        self.store = owner.store
        self.name = name
        self.ctx = ctx
        self._retry_at: dict[int, float] = {}

    async def run(self) -> None:
        while True:
            pool = await asyncio.to_thread(self.pools.get, self.name)
            if pool is None:
                return
            if self.ctx.cancelled.is_set() or pool.status == job_pools.SHUTTING_DOWN:
                await self._down()
                return
            await self._reconcile(pool)
            await self.ctx.sleep(self.owner.settings.poll_s)

    async def _reconcile(self, pool: PoolRecord) -> None:
        workers = {w.slot: w for w in await asyncio.to_thread(self.pools.workers, self.name)}
        for slot, worker in sorted(workers.items()):
            if slot >= pool.workers and worker.job_id is None:
                self._note(f"Worker {slot} ('{worker.cluster}') is beyond the pool's {pool.workers} worker(s); removing it.")
                await self.owner.launching(functools.partial(_teardown, self.store, worker.cluster))
                await asyncio.to_thread(self.pools.remove_worker, self.name, slot)
        starting: list[WorkerRecord] = []
        for slot in range(pool.workers):
            found = workers.get(slot)
            if found is None:
                worker = await asyncio.to_thread(self.pools.set_worker, self.name, slot, worker_cluster(self.name, slot), job_pools.STARTING)
                self._note(f"Worker {slot}: launching '{worker.cluster}'.")
            elif found.status != job_pools.STARTING:
                lost = await self._why_lost(found)
                if lost is None:
                    continue
                self._note(f"Worker {slot} ('{found.cluster}') was lost ({lost}); replacing it.")
                await self.owner.launching(functools.partial(_teardown, self.store, found.cluster))
                worker = await asyncio.to_thread(self.pools.set_worker, self.name, slot, worker_cluster(self.name, slot), job_pools.STARTING)
            else:  # a launch cut short (server restart) or retried after a failure
                worker = found
            if self._retry_at.get(slot, 0.0) <= time.monotonic():
                starting.append(worker)
        await asyncio.gather(*(self._start(pool, w) for w in starting))

    async def _why_lost(self, worker: WorkerRecord) -> str | None:
        if worker.status == job_pools.LOST:
            return "its job saw the cluster go"
        return await self.owner.launching(functools.partial(_lost, self.store, worker.cluster))

    async def _start(self, pool: PoolRecord, worker: WorkerRecord) -> None:
        """Launch the worker's cluster and run the pool's setup on it; READY once that succeeded."""
        try:
            result = await self.owner.launching(functools.partial(self._launch, pool, worker))
        except Exception as error:  # noqa: BLE001 - a failed worker is retried, it must not stop the pool
            if self.ctx.cancelled.is_set():
                return  # `pool down` cut the launch short (it removed what it made); the run loop takes the pool down
            if not isinstance(error, SkyhopError):
                log.exception("pool %s: launching worker %d failed unexpectedly", self.name, worker.slot)
            self._note(f"Worker {worker.slot} ('{worker.cluster}'): launch failed ({error}); retrying in {RETRY_S:g} s.")
            self._retry_at[worker.slot] = time.monotonic() + RETRY_S
            return
        if result.get("status") not in (None, "SUCCEEDED"):
            self._note(f"Worker {worker.slot} ('{worker.cluster}'): setup ended {result.get('status')}; replacing it in {RETRY_S:g} s.")
            await self.owner.launching(functools.partial(_teardown, self.store, worker.cluster))
            await asyncio.to_thread(self.pools.set_worker, self.name, worker.slot, worker_cluster(self.name, worker.slot), job_pools.STARTING)
            self._retry_at[worker.slot] = time.monotonic() + RETRY_S
            return
        await asyncio.to_thread(self.pools.set_worker, self.name, worker.slot, worker.cluster, job_pools.READY)
        self._note(f"Worker {worker.slot} ('{worker.cluster}') is READY.")

    def _launch(self, pool: PoolRecord, worker: WorkerRecord) -> dict:
        from skyhop.execution import launch as launching
        from skyhop.execution.progress import Progress
        from skyhop.spec.task import Task

        task = replace(Task.from_dict(pool.task), pool=None, run=None)
        # One log per cluster name: a resumed launch follows its own submitted setup, a replacement starts afresh.
        progress = Progress(pool_dir(self.name) / f"launch-{worker.cluster}.log")
        progress.cancel_event = self.ctx.cancelled
        try:
            return launching.launch(task, launching.LaunchOptions(cluster_name=worker.cluster), progress, self.store)
        finally:
            progress.close()

    async def _down(self) -> None:
        """Cancel the pool's unfinished jobs, remove every worker, then the pool itself."""
        from skyhop.jobs.states import TERMINAL_NAMES
        from skyhop.state.controller_leases import ControllerLeases
        from skyhop.state.managed import KIND, ManagedJobs

        await asyncio.to_thread(self.pools.mark_down, self.name)
        jobs = await asyncio.to_thread(ManagedJobs(self.store).find, pool=self.name)
        leases = ControllerLeases(self.store)
        for job in jobs:
            if job.status not in TERMINAL_NAMES:
                await asyncio.to_thread(leases.request_cancel, KIND, str(job.id))
        for worker in await asyncio.to_thread(self.pools.workers, self.name):
            self._note(f"Pool down: tearing down worker {worker.slot} ('{worker.cluster}').")
            await self.owner.launching(functools.partial(_teardown, self.store, worker.cluster))
        await asyncio.to_thread(self.pools.delete, self.name)
        self._note("Pool down: every worker is gone.")

    def _note(self, text: str) -> None:
        log.info("pool %s: %s", self.name, text)
        try:
            with (pool_dir(self.name) / "controller.log").open("a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")
        except OSError:
            log.warning("pool %s: cannot write the controller log", self.name)


def _lost(store, cluster: str) -> str | None:
    """Why the worker's cluster can no longer run jobs (preempted, stopped, gone), or None while it is fine."""
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


def _teardown(store, name: str) -> None:
    from skyhop.execution import lifecycle
    from skyhop.execution.locks import cluster_lock

    if store.get_cluster(name) is None:
        return
    with cluster_lock(name):
        lifecycle.teardown(store, name, purge=False)
