"""The REST API (FastAPI): `create_app` wires routers, middleware and error handlers.

Routes live in `server/routers/` (one module per area), request and answer
models in `server/schemas.py`, logic in `server/services/` and
`skyhop.execution`. Every route but `/api/v1/health` and the OpenAPI pages
needs a bearer token: the one in the server's info file (local mode) or
a user's token (team mode); the middleware resolves it to the caller's
`Principal`, which routes pass to the services. The dashboard (`/dashboard/`,
server/dashboard/) is served by the same app, behind a session cookie. Every error answer is `{"code", "detail"}`
(see `server/errors.py`); the client raises the matching exception.
"""

from __future__ import annotations

from fastapi import FastAPI

from skyhop import __version__, paths
from skyhop.server import errors, middleware, routers
from skyhop.server.dashboard.sessions import Sessions
from skyhop.server.executor import Executor
from skyhop.server.job_access import for_authenticator
from skyhop.server.middleware import Authenticator
from skyhop.server.operations import make_operations
from skyhop.server.settings import ServerSettings


def create_app(store, authenticator: Authenticator, settings: ServerSettings | None = None, *, controllers: bool = False) -> FastAPI:
    """The app; with `controllers` it also hosts the controllers (managed jobs) in its event loop.

    `authenticator` turns each request's bearer token into its caller (`middleware.LocalToken` for a
    local server)."""
    settings = settings or ServerSettings()
    app = FastAPI(title="skyhop API", version=__version__, description="The single door to skyhop's clusters, jobs and requests.")
    app.state.store = store
    app.state.settings = settings
    app.state.authenticator = authenticator  # the dashboard's login checks a pasted token with it
    # What jobs with `api_server_access` get; the server's address is added once it is bound (`JobAccess.bind`).
    app.state.job_access = job_access = for_authenticator(authenticator, settings.public_url)
    app.state.executor = Executor(store, make_operations(store, job_access), log_max_bytes=settings.request_log_max_bytes)
    app.state.jobs_controller = None
    if controllers:
        from skyhop.server.controllers import hosting

        hosting.install(app, store, only_user=authenticator.local_user, job_access=job_access)
    from skyhop.server.budget_notices import NoticeHeader

    app.add_middleware(NoticeHeader)  # inside the token check: it reads the caller the check resolved
    app.state.dashboard_sessions = Sessions(paths.api_dir())
    middleware.install(app, authenticator=authenticator, sessions=app.state.dashboard_sessions, max_body_bytes=settings.max_body_bytes)
    errors.install(app)
    for router in routers.ALL:
        app.include_router(router)
    from skyhop.server.dashboard.router import router as dashboard

    app.include_router(dashboard)
    return app
