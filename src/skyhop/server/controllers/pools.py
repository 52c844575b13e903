"""The pool controller: keeps each worker pool's clusters up, on the controller base (kind `pool`).

One asyncio task per pool (`PoolRun`), resumable like a managed job's. Every
`poll_seconds` it re-reads the pool and its workers and:

- sizes an autoscaled pool (`pool: {min_workers, max_workers, ...}`): the rule
  of `skyhop.jobs.pool_sizing` on the pool's PENDING jobs and busy workers,
  its new target written to the pool row (so a restart does not start over);
- replaces READY workers whose cluster was preempted or lost: the old cluster
  is torn down, the slot gets a new name (which frees it of its job: that job
  sees its cluster gone and goes back to PENDING);
- retires idle workers the pool no longer wants: those of an older version
  (`apply` changed the task: a rolling update, a busy worker is replaced once
  its job ended) and, above the target, idle ones (never one running a job).
  `JobPools.retire` marks the worker RETIRING with a conditional UPDATE first,
  so no job claims it during the teardown, and a server killed mid-teardown
  leaves a RETIRING row the next owner finishes;
- gives each missing slot a fresh cluster name, written as STARTING *before*
  the launch, so a server killed mid-launch leaves a name the next owner
  launches again (the launch path reuses a cluster that got up, and follows
  the setup it submitted) instead of a second cluster;
- launches STARTING workers in the background through the normal launch path
  (optimizer, failover) with the pool's task minus `run`: the setup runs once,
  followed to its end; then READY, and managed jobs may claim it. A worker
  whose launch or setup is in flight is left alone: it is neither lost nor
  launched a second time, and the loop goes on sizing and healing meanwhile.
- `pool down` (status SHUTTING_DOWN, or the lease's cancel flag) cuts launches
  short, cancels the pool's unfinished jobs, tears every worker down, then
  deletes the pool.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from dataclasses import replace
from pathlib import Path

from skyhop import paths
from skyhop.errors import SkyhopError
from skyhop.jobs import pool_sizing
from skyhop.jobs.settings import JobsSettings
from skyhop.server.controllers import cluster_ops
from skyhop.server.controllers.base import Controller, ControllerSettings, ObjectContext
from skyhop.spec.pool import PoolSpec
from skyhop.state import job_pools
from skyhop.state.job_pools import JobPools, PoolRecord, WorkerRecord

log = logging.getLogger("skyhop.controllers.pools")

#: How long a worker whose launch or setup failed waits before the pool tries again.
RETRY_S = 30.0


def pool_dir(name: str) -> Path:
    return paths.private_dir(paths.home() / "pools" / name)


def worker_cluster(pool: str, slot: int) -> str:
    """A new cluster name for a slot: `<pool>-w<slot>-<stamp>`, different from every earlier one of the slot."""
    return f"{pool}-w{slot}-{time.time_ns() // 1_000_000:x}"[:63]


class PoolsController(cluster_ops.ClusterWork):
    """Hosts every pool of this server process (see the module doc)."""

    def __init__(self, store, settings: JobsSettings | None = None) -> None:
        super().__init__("pools", check_workers=4)
        self.store = store
        self.settings = settings or JobsSettings()
        self.pools = JobPools(store)
        base = ControllerSettings(tick_s=self.settings.tick_s, lease_ttl_s=self.settings.lease_s)
        self.controller = Controller(store, job_pools.KIND, self._drive, base)

    async def _drive(self, ctx: ObjectContext) -> None:
        await PoolRun(self, ctx.object_id, ctx).run()


class PoolRun:
    """One pool being kept; every step re-reads the pool and its workers from the store."""

    def __init__(self, owner: PoolsController, name: str, ctx: ObjectContext) -> None:
        self.owner = owner
        self.pools = owner.pools
        self.store = owner.store
        self.name = name
        self.ctx = ctx
        self._retry_at: dict[int, float] = {}
        #: Launches in flight, by slot: such a worker is never checked for loss nor launched again.
        self._launches: dict[int, asyncio.Task[None]] = {}
        self._trend = pool_sizing.Trend()

    async def run(self) -> None:
        try:
            while True:
                pool = await asyncio.to_thread(self.pools.get, self.name)
                if pool is None:
                    return
                if self.ctx.cancelled.is_set() or pool.status == job_pools.SHUTTING_DOWN:
                    await self._down()
                    return
                try:
                    await self._reconcile(await self._size(pool))
                except Exception:  # the database may be briefly unreachable: keep this run (and its launches in flight)
                    log.exception("pool %s: a step failed; trying again at the next poll", self.name)
                await self.ctx.sleep(self.owner.settings.poll_s)
        finally:
            for launch in self._launches.values():
                launch.cancel()

    async def _size(self, pool: PoolRecord) -> PoolRecord:
        """An autoscaled pool's target for now (module pool_sizing); a fixed pool's is its `workers`."""
        scaling = pool_sizing.Scaling.of(PoolSpec.from_dict(pool.task.get("pool") or {}))
        if scaling is None:
            return pool
        workers = await asyncio.to_thread(self.pools.workers, self.name)
        busy = sum(w.job_id is not None for w in workers)
        pending = await asyncio.to_thread(self.pools.pending_jobs, self.name)
        target, self._trend = pool_sizing.step(scaling, pool.workers, scaling.wanted(busy, pending), self._trend, time.monotonic())
        if target == pool.workers:
            return pool
        self._note(f"Scaling from {pool.workers} to {target} worker(s): {busy} busy, {pending} job(s) waiting.")
        await asyncio.to_thread(self.pools.set_target, self.name, target)
        return replace(pool, workers=target)

    async def _reconcile(self, pool: PoolRecord) -> None:
        version = job_pools.version_of(pool)
        live: list[WorkerRecord] = []
        for worker in await asyncio.to_thread(self.pools.workers, self.name):
            if worker.status == job_pools.RETIRING:  # a teardown cut short (server restart): finish it
                await self._remove(worker)
            elif worker.slot in self._launches or worker.status == job_pools.STARTING:
                live.append(worker)
            else:
                live.append(await self._heal(worker, version))
        stale = [w for w in live if job_pools.version_of(w) < version and self._idle(w)]
        for worker in stale:
            self._note(f"Worker {worker.slot} ('{worker.cluster}') runs version {job_pools.version_of(worker)}; replacing it with version {version}.")
        extra = sorted((w for w in live if w not in stale and self._idle(w)), key=_retire_order)[: max(0, len(live) - len(stale) - pool.workers)]
        for worker in extra:
            self._note(f"Worker {worker.slot} ('{worker.cluster}') is idle and beyond the pool's {pool.workers} worker(s); removing it.")
        for worker in stale + extra:
            if await asyncio.to_thread(self.pools.retire, self.name, worker.slot, worker.cluster):
                await self._remove(worker)
                live.remove(worker)
        used = {w.slot for w in live}
        free = (slot for slot in itertools.count() if slot not in used)
        for slot in itertools.islice(free, max(0, pool.workers - len(live))):
            worker = await asyncio.to_thread(self.pools.set_worker, self.name, slot, worker_cluster(self.name, slot), job_pools.STARTING, version=version)
            self._note(f"Worker {slot}: launching '{worker.cluster}' (version {version}).")
            live.append(worker)
        now = time.monotonic()
        for worker in live:
            if worker.status == job_pools.STARTING and worker.slot not in self._launches and self._retry_at.get(worker.slot, 0.0) <= now:
                self._launches[worker.slot] = asyncio.get_running_loop().create_task(self._start(pool, worker))

    def _idle(self, worker: WorkerRecord) -> bool:
        """Runs no job and launches nothing now: may be retired."""
        return worker.job_id is None and worker.slot not in self._launches

    async def _heal(self, worker: WorkerRecord, version: int) -> WorkerRecord:
        """The worker, or the STARTING replacement of one whose cluster was lost."""
        lost = await self._why_lost(worker)
        if lost is None:
            return worker
        self._note(f"Worker {worker.slot} ('{worker.cluster}') was lost ({lost}); replacing it.")
        await self.owner.checking(functools.partial(cluster_ops.teardown, self.store, worker.cluster))
        return await asyncio.to_thread(self.pools.set_worker, self.name, worker.slot, worker_cluster(self.name, worker.slot), job_pools.STARTING, version=version)

    async def _remove(self, worker: WorkerRecord) -> None:
        await self.owner.checking(functools.partial(cluster_ops.teardown, self.store, worker.cluster))
        await asyncio.to_thread(self.pools.remove_worker, self.name, worker.slot)

    async def _why_lost(self, worker: WorkerRecord) -> str | None:
        if worker.status == job_pools.LOST:
            return "its job saw the cluster go"
        return await self.owner.checking(functools.partial(cluster_ops.why_lost, self.store, worker.cluster))

    async def _start(self, pool: PoolRecord, worker: WorkerRecord) -> None:
        """Launch the worker's cluster and run the pool's setup on it; READY once that succeeded."""
        try:
            await self._launch_and_set_up(pool, worker)
        finally:
            if self._launches.get(worker.slot) is asyncio.current_task():
                del self._launches[worker.slot]

    async def _launch_and_set_up(self, pool: PoolRecord, worker: WorkerRecord) -> None:
        version = job_pools.version_of(worker)
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
            await self.owner.checking(functools.partial(cluster_ops.teardown, self.store, worker.cluster))
            await asyncio.to_thread(self.pools.set_worker, self.name, worker.slot, worker_cluster(self.name, worker.slot), job_pools.STARTING, version=version)
            self._retry_at[worker.slot] = time.monotonic() + RETRY_S
            return
        await asyncio.to_thread(self.pools.set_worker, self.name, worker.slot, worker.cluster, job_pools.READY)
        self._note(f"Worker {worker.slot} ('{worker.cluster}') is READY (version {version}).")

    def _launch(self, pool: PoolRecord, worker: WorkerRecord) -> dict:
        from skyhop.execution import launch as launching
        from skyhop.execution.progress import Progress
        from skyhop.spec.task import Task

        task = replace(Task.from_dict(pool.task), pool=None, run=None)
        # One log per cluster name: a resumed launch follows its own submitted setup, a replacement starts afresh.
        log_path = pool_dir(self.name) / f"launch-{worker.cluster}.log"
        if cluster_ops.remove_interrupted_launch(self.store, worker.cluster):
            # A launch of this worker cut short mid-provision by a server that died (a failed launch removes what
            # it made): launching over it would only be refused ("its launch did not finish"), so what it made
            # went first and the launch starts afresh.
            self._note(f"Worker {worker.slot} ('{worker.cluster}'): removing what an interrupted launch left, then launching again.")
            log_path.unlink(missing_ok=True)
        progress = Progress(log_path)
        progress.cancel_event = self.ctx.cancelled
        try:
            return launching.launch(task, launching.LaunchOptions(cluster_name=worker.cluster, owner=pool.user or "unknown", workspace=pool.workspace), progress, self.store)
        finally:
            progress.close()

    async def _down(self) -> None:
        """Cut launches short, cancel the pool's unfinished jobs, remove every worker, then the pool itself."""
        from skyhop.jobs.states import TERMINAL_NAMES
        from skyhop.state.controller_leases import ControllerLeases
        from skyhop.state.managed import KIND, ManagedJobs

        # SHUTTING_DOWN may be seen before the lease's cancel flag reaches this process: cut the launches short now.
        self.ctx.cancelled.set()
        await asyncio.to_thread(self.pools.mark_down, self.name)
        jobs = await asyncio.to_thread(ManagedJobs(self.store).find, pool=self.name)
        leases = ControllerLeases(self.store)
        for job in jobs:
            if job.status not in TERMINAL_NAMES:
                await asyncio.to_thread(leases.request_cancel, KIND, str(job.id))
        await asyncio.gather(*self._launches.values(), return_exceptions=True)
        for worker in await asyncio.to_thread(self.pools.workers, self.name):
            self._note(f"Pool down: tearing down worker {worker.slot} ('{worker.cluster}').")
            await self.owner.checking(functools.partial(cluster_ops.teardown, self.store, worker.cluster))
        await asyncio.to_thread(self.pools.delete, self.name)
        self._note("Pool down: every worker is gone.")

    def _note(self, text: str) -> None:
        log.info("pool %s: %s", self.name, text)
        try:
            with (pool_dir(self.name) / "controller.log").open("a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")
        except OSError:
            log.warning("pool %s: cannot write the controller log", self.name)


def _retire_order(worker: WorkerRecord) -> tuple[int, int]:
    """Which idle workers go first when the pool shrinks: not yet set up, then lost, then READY; the highest slot first."""
    rank = {job_pools.STARTING: 0, job_pools.LOST: 1}.get(worker.status, 2)
    return rank, -worker.slot
