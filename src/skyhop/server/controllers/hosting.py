"""Starting the controllers with the API server and stopping them with it (the app's lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI


def install(app: FastAPI, store) -> None:
    """Host the managed-jobs and pool controllers in `app`'s event loop (`app.state.jobs_controller`, `.pools_controller`)."""
    from skyhop.config import load_config
    from skyhop.jobs.settings import from_config
    from skyhop.server.controllers.base import host
    from skyhop.server.controllers.jobs import JobsController
    from skyhop.server.controllers.pools import PoolsController

    settings = from_config(load_config().get("jobs"))
    jobs = JobsController(store, settings)
    pools = PoolsController(store, settings)
    app.state.jobs_controller = jobs
    app.state.pools_controller = pools

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        hosting = asyncio.create_task(host([jobs.controller, pools.controller], stop), name="controllers")
        try:
            yield
        finally:
            stop.set()
            await hosting
            jobs.shutdown()
            pools.shutdown()

    app.router.lifespan_context = lifespan
