"""The API's routes, one module per area; `ALL` is what `create_app` mounts.

Adding an area is one module here plus one import and one entry below.
"""

from __future__ import annotations

from skyhop.server.routers import (
    availability,
    budgets,
    check,
    clusters,
    cost,
    health,
    job_pools,
    jobs,
    managed_jobs,
    optimize,
    orphans,
    pools,
    ready,
    requests,
    serve,
    tokens,
    users,
    whoami,
    workspaces,
)

ALL = (
    health.router,
    ready.router,
    requests.router,
    clusters.router,
    jobs.router,
    cost.router,
    pools.router,
    check.router,
    optimize.router,
    availability.router,
    orphans.router,
    job_pools.router,
    managed_jobs.router,
    serve.router,
    whoami.router,
    users.router,
    tokens.router,
    workspaces.router,
    budgets.router,
)
