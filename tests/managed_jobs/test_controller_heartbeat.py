"""The controller's heartbeat keeps its leases while the objects' own threads are all busy (seen at 200 managed
jobs: heartbeats queued behind the jobs' database calls, the lease lapsed, and every job was restarted while its
launch still ran)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from skyhop.server.controllers.base import Controller, ControllerSettings, ObjectContext, host
from skyhop.state.controller_leases import ControllerLeases
from skyhop.state.store import StateStore


def test_the_heartbeat_is_not_queued_behind_the_objects_blocking_calls(migrated_home):
    store = StateStore()
    leases = ControllerLeases(store)
    for index in range(3):
        leases.register("busy", str(index))
    # A lease of 5 s: above a loaded test machine's stalls (1.5 s lapsed under CI load, 3 s in one run in ten of
    # a busy -n 4 run), well below the 10 s that every default thread stays blocked, so a heartbeat queued
    # behind them must lapse.
    settings = ControllerSettings(tick_s=0.05, lease_ttl_s=5.0, retry_s=0.1)
    release = threading.Event()
    starts: list[str] = []
    # What the controller did, for the failure message: each heartbeat (when, how long, renewed?) and its warnings.
    t0 = time.monotonic()
    beats: list[str] = []
    said: list[str] = []
    heartbeat = ControllerLeases.heartbeat

    def timed_heartbeat(self: ControllerLeases, ttl_s: float) -> bool:
        began = time.monotonic()
        renewed = heartbeat(self, ttl_s)
        beats.append(f"{began - t0:.2f}+{time.monotonic() - began:.2f}s:{renewed}")
        return renewed

    class Kept(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(f"{time.monotonic() - t0:.2f}s {record.getMessage()}")

    async def drive(ctx: ObjectContext) -> None:
        starts.append(ctx.object_id)
        # Each object fills asyncio's default executor with blocking calls, as hundreds of jobs' store calls do.
        await asyncio.gather(*(asyncio.to_thread(release.wait, 30) for _ in range(64)))
        await ctx.sleep(60)  # then it goes on running: a restart would show as a second start

    async def scenario() -> None:
        controller = Controller(store, "busy", drive, settings)
        stop = asyncio.Event()
        hosting = asyncio.create_task(host([controller], stop))
        while len(starts) < 3:
            await asyncio.sleep(0.05)
        await asyncio.sleep(2 * settings.lease_ttl_s)  # two lease lifetimes with every default thread blocked
        release.set()
        await asyncio.sleep(settings.lease_ttl_s)  # time for a lapsed heartbeat to be noticed and acted on
        stop.set()
        await hosting

    controller_log = logging.getLogger("skyhop.controllers")
    kept = Kept(logging.WARNING)
    controller_log.addHandler(kept)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ControllerLeases, "heartbeat", timed_heartbeat)
            asyncio.run(scenario())
    finally:
        controller_log.removeHandler(kept)
    # Each object driven once: the lease never lapsed.
    assert sorted(starts) == ["0", "1", "2"], f"heartbeats {beats}; log {said}; log disabled: {controller_log.disabled}"
