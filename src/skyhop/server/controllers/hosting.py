"""Starting the controllers with the API server and stopping them with it (the app's lifespan)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import FastAPI

if TYPE_CHECKING:
    from skyhop.server.job_access import JobAccess


def install(app: FastAPI, store, *, only_user: str | None, job_access: JobAccess | None = None) -> None:
    """Host the managed-jobs, pool, serve and budget controllers in `app`'s event loop (`app.state.jobs_controller`,
    `.pools_controller`, `.serve_controller`, `.budgets_controller`); `only_user`: a local server's user, whose jobs alone it takes;
    `job_access`: what managed jobs with `api_server_access` are given."""
    from skyhop.config import load_config
    from skyhop.jobs.settings import from_config
    from skyhop.serve.settings import from_config as serve_settings
    from skyhop.server.controllers.base import host
    from skyhop.server.controllers.budgets import BudgetsController
    from skyhop.server.controllers.jobs import JobsController
    from skyhop.server.controllers.pools import PoolsController
    from skyhop.server.controllers.serve import ServeController

    config = load_config()
    settings = from_config(config.get("jobs"))
    jobs = JobsController(store, settings, only_user=only_user, job_access=job_access)
    pools = PoolsController(store, settings)
    serve = ServeController(store, serve_settings(config.get("serve")), settings)
    from skyhop.server.services.budgets import settings_from_config

    budgets = BudgetsController(store, settings_from_config(config.get("budgets")), loop_tick_s=settings.tick_s, lease_s=settings.lease_s)
    app.state.budgets_controller = budgets
    app.state.jobs_controller = jobs
    app.state.pools_controller = pools
    app.state.serve_controller = serve

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        # A draining server (server/drain.py) stops its controllers at the signal, not after its calls in flight.
        app.state.stop_controllers = functools.partial(asyncio.get_running_loop().call_soon_threadsafe, stop.set)
        hosting = asyncio.create_task(host([jobs.controller, pools.controller, serve.controller, budgets.controller], stop), name="controllers")
        try:
            yield
        finally:
            stop.set()
            await hosting
            jobs.shutdown()
            pools.shutdown()
            serve.shutdown()

    app.router.lifespan_context = lifespan
