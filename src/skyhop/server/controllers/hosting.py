"""Starting the controllers with the API server and stopping them with it (the app's lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI


def install(app: FastAPI, store) -> None:
    """Host the managed-jobs controller in `app`'s event loop; `app.state.jobs_controller` is it."""
    from skyhop.config import load_config
    from skyhop.jobs.settings import from_config
    from skyhop.server.controllers.base import host
    from skyhop.server.controllers.jobs import JobsController

    jobs = JobsController(store, from_config(load_config().get("jobs")))
    app.state.jobs_controller = jobs

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        hosting = asyncio.create_task(host([jobs.controller], stop), name="controllers")
        try:
            yield
        finally:
            stop.set()
            await hosting
            jobs.shutdown()

    app.router.lifespan_context = lifespan
