"""FIFO placement of PENDING pool jobs: one claim pass per pool per tick, whatever the queue's length.

Each PENDING job of a pool used to claim a worker itself on every poll: with a
thousand jobs waiting for a few workers that is hundreds of reads and writes a
second on the state store for nothing. Here the jobs of this server process
wait on an in-memory queue per pool instead, and one pass per pool (every tick,
or at once when a job of this process frees a worker) reads the pool's workers
once and hands the free ones to the waiting jobs with the lowest ids: the
submission order. A pass costs two reads plus one conditional write per worker
handed out, so the cost follows the workers, not the queue.

Nothing lives only in memory: the hand-out is `JobPools.take` (the same
conditional UPDATE two servers cannot both win), and a job that already holds a
worker (claimed just before a server restart) gets that worker back first. With
several server processes each orders its own jobs; workers go to whichever pass
takes them first.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from skyhop.server.controllers.base import ObjectContext
from skyhop.state import job_pools
from skyhop.state.job_pools import JobPools, WorkerRecord

log = logging.getLogger("skyhop.controllers.pools")


@dataclass(frozen=True, slots=True)
class Placement:
    """A waiting job's answer: the worker it now holds, or `gone` (its pool is being taken down)."""

    worker: WorkerRecord | None
    gone: bool = False


class PoolDispatcher:
    """The waiting jobs of this process, per pool, and one dispatching task per pool that has any."""

    def __init__(self, store, interval_s: float) -> None:
        self._pools = JobPools(store)
        self._interval_s = interval_s
        self._waiting: dict[str, dict[int, asyncio.Future[Placement]]] = {}
        self._kicks: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def wait(self, pool: str, job_id: int, ctx: ObjectContext, timeout_s: float) -> Placement | None:
        """Queue the job for a worker of `pool`; its placement, or None after `timeout_s` or a cancel (still PENDING)."""
        future: asyncio.Future[Placement] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(pool, {})[job_id] = future
        self.kick(pool)
        nap = asyncio.ensure_future(ctx.sleep(timeout_s))  # a cancel cuts it short
        either: list[asyncio.Future[Any]] = [future, nap]
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            return future.result() if future.done() else None
        finally:
            nap.cancel()
            waiting = self._waiting.get(pool, {})
            if waiting.get(job_id) is future:
                del waiting[job_id]

    def kick(self, pool: str) -> None:
        """Dispatch `pool` now (a worker was freed, or a job started waiting); starts its task if needed."""
        self._kicks.setdefault(pool, asyncio.Event()).set()
        task = self._tasks.get(pool)
        if task is None or task.done():
            self._tasks[pool] = asyncio.get_running_loop().create_task(self._dispatch(pool), name=f"pool-dispatch:{pool}")

    async def _dispatch(self, pool: str) -> None:
        kick = self._kicks[pool]
        while self._waiting.get(pool):
            kick.clear()
            try:
                await self._pass(pool)
            except Exception:  # e.g. SQLite busy under load: the jobs keep waiting, the next pass tries again
                log.exception("pool %s: dispatching its waiting jobs failed; trying again", pool)
            try:
                await asyncio.wait_for(kick.wait(), self._interval_s)
            except asyncio.TimeoutError:
                pass
        self._tasks.pop(pool, None)

    async def _pass(self, pool: str) -> None:
        """Hand the free workers to the waiting jobs, lowest id first."""
        record, workers = await asyncio.to_thread(lambda: (self._pools.get(pool), self._pools.workers(pool)))
        waiting = self._waiting.get(pool, {})
        if record is None or record.status == job_pools.SHUTTING_DOWN:
            for future in waiting.values():
                _answer(future, Placement(None, gone=True))
            return
        for worker in workers:  # a job that holds a worker already (claimed before a restart) keeps it
            if worker.job_id in waiting:
                _answer(waiting[worker.job_id], Placement(worker))
        free = [w for w in workers if w.status == job_pools.READY and w.job_id is None]
        queue = sorted(job_id for job_id, future in waiting.items() if not future.done())
        for worker, job_id in zip(free, queue):
            taken = await asyncio.to_thread(self._pools.take, worker, job_id)
            if taken is not None and job_id in waiting:  # else it stopped waiting: it finds the worker held next time
                _answer(waiting[job_id], Placement(taken))


def _answer(future: asyncio.Future[Placement], placement: Placement) -> None:
    if not future.done():
        future.set_result(placement)
