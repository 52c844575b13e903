"""The jobs controller run in the test process on a real state store and the local provider, until a job ends."""

from __future__ import annotations

import asyncio
import time

from skyhop.jobs.settings import JobsSettings
from skyhop.jobs.states import TERMINAL_NAMES
from skyhop.server.controllers.base import host
from skyhop.server.controllers.jobs import JobsController
from skyhop.state.managed import ManagedJobs

FAST = JobsSettings(poll_s=0.2, tick_s=0.1, lease_s=30)


def drive_until_ended(store, job_id: int, timeout: float = 120) -> str:
    """Host a jobs controller until job `job_id` is driven to its end: a terminal status (returned) and no
    lease left (its controller finished with it, teardown included), or until `timeout` passes."""

    async def scenario() -> str:
        controller = JobsController(store, FAST)
        stop = asyncio.Event()
        hosting = asyncio.create_task(host([controller.controller], stop))
        deadline = time.monotonic() + timeout
        try:
            while True:
                record = await asyncio.to_thread(ManagedJobs(store).get, job_id)
                assert record is not None
                if (record.status in TERMINAL_NAMES and not await asyncio.to_thread(_leased, store, job_id)) or time.monotonic() > deadline:
                    return record.status
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await hosting
            controller.shutdown()

    return asyncio.run(scenario())


def _leased(store, job_id: int) -> bool:
    from sqlalchemy import select

    from skyhop.state.managed import KIND
    from skyhop.state.models import ControllerLease

    with store._read() as session:
        query = select(ControllerLease.object_id).where(ControllerLease.kind == KIND, ControllerLease.object_id == str(job_id))
        return session.scalars(query).first() is not None
