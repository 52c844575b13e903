"""The controller base: long-lived objects driven by one asyncio loop inside the API server.

Modelled on Prefect's worker: one loop per kind of object, hosted in the API
server's event loop (started and stopped with the app), whose tick

(a) renews this process's heartbeat, which renews every lease it holds
    (`skyhop.state.controller_leases`: one row per process, not per object);
(b) claims objects nobody validly holds (new, or whose owner expired or died);
(c) runs one asyncio task per held object: `drive(ctx)`, the kind's own logic,
    which returns when the object has ended (its lease row is then removed);
(d) passes on cancellation: a flag in the object's lease row that any server
    process may set; the owner sees it on its next tick and sets `ctx.cancelled`,
    and `drive` winds the object down in its own way;
(e) gives up objects another process took (after this one's heartbeat lapsed).

Nothing here knows what a managed job is: serving (issue 12) reuses it with
another `kind` and `drive`. Blocking work inside `drive` (launch, teardown,
agent calls) belongs in threads (`asyncio.to_thread`), never on the loop; the
loop itself touches the database only from threads too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from skyhop.state.controller_leases import ControllerLeases

log = logging.getLogger("skyhop.controllers")


@dataclass(frozen=True)
class ControllerSettings:
    """How often the loop looks (`tick_s`), how long a silent owner keeps its leases (`lease_ttl_s`),
    how long a `drive` that crashed waits before it runs again (`retry_s`)."""

    tick_s: float = 1.0
    lease_ttl_s: float = 30.0
    retry_s: float = 30.0
    claims_per_tick: int = 200


class ObjectContext:
    """What `drive` gets: the object's id, its cancel flag, and a sleep that the flag cuts short."""

    def __init__(self, object_id: str) -> None:
        self.object_id = object_id
        #: Set when cancellation was asked; a threading.Event so blocking work in threads can watch it too.
        self.cancelled = threading.Event()
        self._wake = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, or less if cancellation is asked meanwhile."""
        if self.cancelled.is_set():
            return
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    def _cancel(self) -> None:
        self.cancelled.set()
        self._wake.set()


Drive = Callable[[ObjectContext], Awaitable[None]]
T = TypeVar("T")


class Controller:
    """Drives every object of one `kind` this process holds a lease for (see the module doc)."""

    def __init__(
        self, store, kind: str, drive: Drive, settings: ControllerSettings | None = None, leases: ControllerLeases | None = None,
        accepts: Callable[[list[str]], list[str]] | None = None,
    ) -> None:
        self.kind = kind
        #: Which claimable objects this process may drive at all (e.g. only its own user's jobs: another user's
        #: server on a shared database must not take them over); None: every one.
        self._accepts = accepts
        self.settings = settings or ControllerSettings()
        self.leases = leases or ControllerLeases(store)
        self._drive = drive
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._contexts: dict[str, ObjectContext] = {}
        self._retry_at: dict[str, float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._last_beat = 0.0
        # The heartbeat and claims run on a thread of their own: on asyncio's default executor they would queue
        # behind the objects' own short database calls (hundreds of jobs at once), and a heartbeat that waits
        # longer than the lease lets the lease lapse, so this process would give up and restart every object.
        self._lease_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"controller-{kind}")

    def wake(self) -> None:
        """Tick now (e.g. a new object was just created here); callable from any thread."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """The loop, until `stop()`; a failing tick is logged and retried, never fatal."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        await self._leasing(self.leases.rejoin, self.settings.lease_ttl_s, self.kind)
        self._last_beat = time.monotonic()
        while not self._stopping:
            try:
                await self._tick()
            except Exception:  # the database may be briefly unreachable: try again next tick
                log.exception("controller %s: tick failed", self.kind)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._next_tick_in())
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    def _next_tick_in(self) -> float:
        """`tick_s` while this process drives something; five times that (at most a third of the lease, so the
        heartbeat stays in time) while it drives nothing. An idle server's loops were most of its idle CPU
        (1.3% of a core, mostly these queries); a new object made here wakes the loop at once, and one made by
        another process or left by a dead one is still taken within a few seconds."""
        if self._tasks or self._retry_at:
            return self.settings.tick_s
        return max(self.settings.tick_s, min(5 * self.settings.tick_s, self.settings.lease_ttl_s / 3))

    async def stop(self) -> None:
        """Stop driving (objects are not cancelled: the next owner continues them) and give the leases back."""
        self._stopping = True
        self.wake()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._leasing(self.leases.leave)
        self._lease_thread.shutdown(wait=False)

    async def _leasing(self, work: Callable[..., T], *args: object) -> T:
        """Run lease bookkeeping on the controller's own thread (see __init__)."""
        return await asyncio.get_running_loop().run_in_executor(self._lease_thread, work, *args)

    async def _tick(self) -> None:
        ttl = self.settings.lease_ttl_s
        if time.monotonic() - self._last_beat >= ttl / 3:
            if not await self._leasing(self.leases.heartbeat, ttl) and not self._stopping:
                # Our row had lapsed: another process may drive our objects now. Drop them all and start over.
                log.warning("controller %s: heartbeat lapsed; giving up %d object(s) and re-joining", self.kind, len(self._tasks))
                self._abandon(set(self._tasks))
                await self._leasing(self.leases.rejoin, ttl, self.kind)
            self._last_beat = time.monotonic()
        held = await self._leasing(self._claim_and_read)
        if self._stopping:
            # stop() ran while this tick waited on the lease thread: it has cancelled the objects and is giving
            # their leases back, so starting them again here would drive them past this process's leave().
            return
        self._abandon(set(self._tasks) - set(held))
        for gone in set(self._retry_at) - set(held):
            # Finished, or taken, by another process while it waited to retry here: it is no longer this
            # process's to retry, and an entry left behind would keep an idle loop at the busy tick for ever.
            del self._retry_at[gone]
        now = time.monotonic()
        for object_id, cancel in held.items():
            if object_id not in self._tasks and self._retry_at.get(object_id, 0.0) <= now:
                self._start(object_id)
            if cancel and object_id in self._contexts:
                self._contexts[object_id]._cancel()

    def _claim_and_read(self) -> dict[str, bool]:
        if self._stopping:
            # Queued behind stop()'s leave() (the tick waited on a heartbeat): claims now would take objects, the
            # ones just given back among them, for an owner that has left.
            return {}
        claimable = self.leases.claimable(self.kind, self.settings.claims_per_tick)
        for object_id in self._accepts(claimable) if self._accepts is not None and claimable else claimable:
            self.leases.claim(self.kind, object_id)
        return self.leases.held(self.kind)

    def _start(self, object_id: str) -> None:
        context = ObjectContext(object_id)
        self._contexts[object_id] = context
        task = asyncio.get_running_loop().create_task(self._run_one(context), name=f"{self.kind}:{object_id}")
        self._tasks[object_id] = task

    async def _run_one(self, context: ObjectContext) -> None:
        object_id = context.object_id
        try:
            await self._drive(context)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in drive: keep the lease, try again later
            log.exception("controller %s: driving %s failed; retrying in %.0f s", self.kind, object_id, self.settings.retry_s)
            self._retry_at[object_id] = time.monotonic() + self.settings.retry_s
        else:
            self._retry_at.pop(object_id, None)
            await asyncio.to_thread(self.leases.finish, self.kind, object_id)
        finally:
            if self._tasks.get(object_id) is asyncio.current_task():
                self._tasks.pop(object_id, None)
                self._contexts.pop(object_id, None)

    def _abandon(self, object_ids: set[str]) -> None:
        for object_id in object_ids:
            task = self._tasks.pop(object_id, None)
            self._contexts.pop(object_id, None)
            if task is not None:
                task.cancel()


async def host(controllers: list[Controller], stop: asyncio.Event) -> None:
    """Run `controllers` until `stop` is set, then stop each cleanly."""
    runs = [asyncio.create_task(c.run(), name=f"controller:{c.kind}") for c in controllers]
    await stop.wait()
    await asyncio.gather(*(c.stop() for c in controllers), return_exceptions=True)
    await asyncio.gather(*runs, return_exceptions=True)
