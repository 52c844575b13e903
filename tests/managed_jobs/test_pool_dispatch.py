"""FIFO placement of PENDING pool jobs (controllers/pool_dispatch.py) on a real state store, workers written as
rows (no clusters): free workers go to the lowest job ids, a pass costs per worker (not per waiting job),
a job that holds a worker already gets it back, a cancel and a pool taken down end the wait."""

from __future__ import annotations

import asyncio

from skyhop.server.controllers.base import ObjectContext
from skyhop.server.controllers.pool_dispatch import PoolDispatcher
from skyhop.state import job_pools
from skyhop.state.job_pools import JobPools
from skyhop.state.store import StateStore


def _pool(store: StateStore, ready: int, busy: dict[int, int] | None = None) -> JobPools:
    pools = JobPools(store)
    pools.apply("wp", {"pool": {"workers": ready}}, ready)
    for slot in range(ready):
        pools.set_worker("wp", slot, f"wp-w{slot}", job_pools.READY)
    for slot, job_id in (busy or {}).items():
        assert pools.take(pools.workers("wp")[slot], job_id) is not None
    return pools


class _CountingPools(JobPools):
    """The store's own methods, counted: how many reads and hand-outs one placement round costs."""

    calls: dict[str, int]

    def workers(self, pool=None):
        self.calls["workers"] = self.calls.get("workers", 0) + 1
        return super().workers(pool)

    def take(self, worker, job_id):
        self.calls["take"] = self.calls.get("take", 0) + 1
        return super().take(worker, job_id)


def test_free_workers_go_to_the_lowest_waiting_ids_in_one_pass_that_costs_per_worker(db_url):
    with StateStore(db_url) as store:
        _pool(store, ready=2)
        dispatcher = PoolDispatcher(store, interval_s=1.0)
        counting = _CountingPools(store)
        counting.calls = {}
        dispatcher._pools = counting

        async def main() -> dict[int, str | None]:
            ids = [7, 3, 9, 5, 11, 4] + list(range(100, 300))  # 206 jobs waiting, submitted out of order
            waits = [dispatcher.wait("wp", i, ObjectContext(str(i)), 5.0) for i in ids]  # the rest wait in vain
            placed = await asyncio.gather(*waits)
            return {i: (p.worker.cluster if p and p.worker else None) for i, p in zip(ids, placed)}

        placed = asyncio.run(main())
        assert {i: c for i, c in placed.items() if c} == {3: "wp-w0", 4: "wp-w1"}  # the two oldest, nobody else
        assert counting.calls["take"] == 2  # one hand-out per free worker, none per waiting job
        assert counting.calls["workers"] < 20  # one read per pass (a tick, or a kick), not one per waiting job (206)
        assert {w.job_id for w in JobPools(store).workers("wp")} == {3, 4}


def test_a_job_holding_a_worker_gets_it_back_before_anyone_else_and_a_freed_worker_goes_to_the_next(db_url):
    with StateStore(db_url) as store:
        pools = _pool(store, ready=2, busy={1: 8})  # job 8 took worker 1 before a server restart
        dispatcher = PoolDispatcher(store, interval_s=30.0)  # only kicks dispatch here

        async def main() -> tuple:
            early = asyncio.ensure_future(dispatcher.wait("wp", 2, ObjectContext("2"), 5))
            held = asyncio.ensure_future(dispatcher.wait("wp", 8, ObjectContext("8"), 5))
            later = asyncio.ensure_future(dispatcher.wait("wp", 6, ObjectContext("6"), 5))
            first = await asyncio.gather(early, held)
            assert not later.done()
            await asyncio.to_thread(pools.release, "wp", 2)
            dispatcher.kick("wp")  # the job that freed the worker says so: no wait for the next tick
            return (*first, await later)

        early, held, later = asyncio.run(main())
        assert held.worker.slot == 1 and early.worker.slot == 0 and later.worker.slot == 0


def test_a_cancel_ends_the_wait_and_a_pool_taken_down_answers_gone(db_url):
    with StateStore(db_url) as store:
        pools = _pool(store, ready=1, busy={0: 1})
        dispatcher = PoolDispatcher(store, interval_s=0.05)

        async def main() -> tuple:
            ctx = ObjectContext("2")
            waiting = asyncio.ensure_future(dispatcher.wait("wp", 2, ctx, 30))
            await asyncio.sleep(0.2)
            ctx._cancel()
            cancelled = await asyncio.wait_for(waiting, 5)
            await asyncio.to_thread(pools.mark_down, "wp")
            gone = await asyncio.wait_for(dispatcher.wait("wp", 3, ObjectContext("3"), 30), 5)
            return cancelled, gone

        cancelled, gone = asyncio.run(main())
        assert cancelled is None and gone is not None and gone.gone and gone.worker is None


def test_a_failing_pass_does_not_stop_the_dispatch(db_url):
    """A pass that fails (SQLite busy under load) is retried at the next tick; it once ended the pool's dispatching
    task, and its jobs waited out the whole wait before anyone looked again."""
    from sqlalchemy.exc import OperationalError

    class _BusyOnce(JobPools):
        failed = False

        def workers(self, pool=None):
            if not self.failed:
                self.failed = True
                raise OperationalError("SELECT", {}, Exception("database is locked"))
            return super().workers(pool)

    with StateStore(db_url) as store:
        _pool(store, ready=1)
        dispatcher = PoolDispatcher(store, interval_s=0.1)
        dispatcher._pools = _BusyOnce(store)
        placed = asyncio.run(dispatcher.wait("wp", 1, ObjectContext("1"), 30))
        assert dispatcher._pools.failed and placed is not None and placed.worker.slot == 0
