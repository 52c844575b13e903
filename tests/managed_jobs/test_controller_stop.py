"""A controller that stops while one of its ticks waits on the database starts nothing more (a tick in flight
restarted every object that stop() had just cancelled, after which the leases were given back: a stopping server
went on driving jobs that another server was free to take)."""

from __future__ import annotations

import asyncio
import threading

from skyhop.server.controllers.base import Controller, ControllerSettings, ObjectContext, host
from skyhop.state.controller_leases import ControllerLeases
from skyhop.state.store import StateStore


class Gate:
    """Makes `leases.<method>` wait while the gate is closed, as a slow database would; `waiting` is set once a
    call waits behind it."""

    def __init__(self, leases: ControllerLeases, method: str) -> None:
        self.open = threading.Event()
        self.open.set()
        self.waiting = threading.Event()
        original = getattr(leases, method)

        def slow(*args: object) -> object:
            if not self.open.is_set():
                self.waiting.set()
                self.open.wait(30)
            return original(*args)

        setattr(leases, method, slow)


def _recording(starts: list[str]):
    """A drive that notes each object it starts, then holds it."""

    async def drive(ctx: ObjectContext) -> None:
        starts.append(ctx.object_id)
        await ctx.sleep(60)

    return drive


async def _hosted_until_gated(controller: Controller, gate: Gate, starts: list[str], none_came: str) -> tuple[asyncio.Event, asyncio.Task]:
    """Host `controller` until it has started an object, then close `gate` and wait until a call waits behind it;
    the event that stops the hosting, and the hosting task."""
    stop = asyncio.Event()
    hosting = asyncio.create_task(host([controller], stop))
    while not starts:
        await asyncio.sleep(0.02)
    gate.open.clear()
    assert await asyncio.to_thread(gate.waiting.wait, 30), none_came
    return stop, hosting


def test_a_tick_in_flight_when_the_controller_stops_restarts_nothing(migrated_home):
    store = StateStore()
    leases = ControllerLeases(store)
    leases.register("stopping", "0")
    starts: list[str] = []
    gate = Gate(leases, "held")  # closed: the next read of the held objects waits

    drive = _recording(starts)

    async def scenario() -> None:
        controller = Controller(store, "stopping", drive, ControllerSettings(tick_s=0.05, lease_ttl_s=30.0), leases=leases)
        stop, hosting = await _hosted_until_gated(controller, gate, starts, "no tick read the held objects")
        stop.set()  # stop() cancels the object while the tick still waits for its read
        while controller._tasks:
            await asyncio.sleep(0.02)
        gate.open.set()  # the tick goes on with a read that still lists the object
        await hosting
        await asyncio.sleep(0.2)  # a task started by that tick would have run its first step by now

    asyncio.run(scenario())
    assert starts == ["0"]
    assert leases.held("stopping") == {}, "the stopped controller kept its lease"


def test_an_object_that_failed_then_went_elsewhere_leaves_the_loop_idle(migrated_home):
    """A drive that failed waits to be retried; if meanwhile another process finishes or takes the object, this
    process forgets it: a retry entry kept for ever held an idle controller at the busy tick (and grew)."""
    store = StateStore()
    leases = ControllerLeases(store)
    leases.register("retrying", "0")
    failed = threading.Event()

    async def drive(ctx: ObjectContext) -> None:
        failed.set()
        raise RuntimeError("a bug in drive")

    async def scenario() -> float:
        settings = ControllerSettings(tick_s=0.05, lease_ttl_s=30.0, retry_s=3600.0)
        controller = Controller(store, "retrying", drive, settings, leases=leases)
        stop = asyncio.Event()
        hosting = asyncio.create_task(host([controller], stop))
        assert await asyncio.to_thread(failed.wait, 30), "drive never ran"
        while "0" not in controller._retry_at:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(leases.finish, "retrying", "0")  # another owner's end of it, as far as this one sees
        for _ in range(200):
            if not controller._retry_at:
                break
            await asyncio.sleep(0.05)
        idle = controller._next_tick_in()
        stop.set()
        await hosting
        return idle

    assert asyncio.run(scenario()) == 0.25  # five ticks: nothing left to drive or retry


def test_a_heartbeat_in_flight_when_the_controller_stops_claims_nothing_after_it_left(migrated_home):
    """stop() gives the leases back on the lease thread behind a heartbeat that waits on the database; the tick of
    that heartbeat then claimed every unowned object (the ones just given back among them) for an owner that had
    left, so a stopped server still showed as their holder."""
    store = StateStore()
    leases = ControllerLeases(store)
    leases.register("leaving", "0")
    starts: list[str] = []
    gate = Gate(leases, "heartbeat")  # closed: the next heartbeat waits

    drive = _recording(starts)

    async def scenario() -> None:
        controller = Controller(store, "leaving", drive, ControllerSettings(tick_s=0.05, lease_ttl_s=0.6), leases=leases)
        stop, hosting = await _hosted_until_gated(controller, gate, starts, "no heartbeat came")
        await asyncio.to_thread(leases.register, "leaving", "1")  # made meanwhile: nobody holds it yet
        stop.set()
        while controller._lease_thread._work_queue.qsize() < 1:  # stop()'s leave(), queued behind the heartbeat
            await asyncio.sleep(0.02)
        gate.open.set()
        await hosting

    asyncio.run(scenario())
    assert leases.held("leaving") == {}, "the stopped controller claimed objects after it left"
    assert sorted(leases.claimable("leaving")) == ["0", "1"]
