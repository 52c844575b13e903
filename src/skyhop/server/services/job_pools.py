"""Worker pools of managed jobs behind the API: apply, status, down (`skyhop jobs pool ...`).

The API only writes what is wanted (the pool's task and size, or SHUTTING_DOWN);
the pool controller (server/controllers/pools.py) makes the clusters follow.
"""

from __future__ import annotations

import re
from typing import Any

from skyhop.errors import NotFoundError, SkyhopError
from skyhop.server import schemas

#: Pool names become part of worker cluster names (`<pool>-w<slot>-<stamp>`), so they are kept short and plain.
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise SkyhopError(
            f"Pool name {name!r} is not valid: use 1-40 lowercase letters, digits and '-', starting with a letter (e.g. -p my-pool)."
        )
    return name


def apply(store, controller, body: schemas.PoolApplyBody) -> dict[str, Any]:
    """Create or update the pool from a task mapping with a `pool:` section (a 400 naming the field if it is wrong)."""
    from dataclasses import replace

    from skyhop.execution.unsupported import check_supported
    from skyhop.spec.errors import SpecError
    from skyhop.spec.task import Task
    from skyhop.state.errors import StateError
    from skyhop.state.job_pools import JobPools

    name = check_name(body.name)
    task = Task.from_dict(body.task)
    if task.pool is None:
        raise SpecError("pool", "is missing: a pool file needs a pool section", expected="pool: {workers: 2}")
    if task.pool.workers is None:
        raise SpecError(
            "pool.workers", "is required in this version (autoscaling with min_workers/max_workers is not supported yet)",
            expected="pool: {workers: 2}",
        )
    if task.pool.workers < 1 or task.pool.workers > schemas.MAX_POOL_WORKERS:
        raise SpecError("pool.workers", "is out of range", value=task.pool.workers, expected=f"1..{schemas.MAX_POOL_WORKERS}")
    check_supported(replace(task, pool=None))
    task.require_envs()
    try:
        pool, created = JobPools(store).apply(name, task.to_dict(redact_secrets=True), task.pool.workers)
    except StateError as error:
        raise SkyhopError(str(error)) from None
    if controller is not None:
        controller.wake()
    return {"name": pool.name, "workers": pool.workers, "created": created}


def status(store, name: str | None = None) -> list[dict[str, Any]]:
    """`jobs pool status`: each pool with its workers (docs/json-output.md)."""
    from skyhop.state.job_pools import JobPools

    pools = JobPools(store)
    selected = pools.all()
    if name is not None:
        selected = [p for p in selected if p.name == name]
        if not selected:
            raise NotFoundError(f"No pool named {name!r}; `skyhop jobs pool status` lists them.")
    workers = pools.workers()
    clusters = {c.name: c for c in store.list_clusters()}
    out = []
    for pool in selected:
        rows = []
        for worker in (w for w in workers if w.pool == pool.name):
            cluster = clusters.get(worker.cluster)
            infra = "/".join(p for p in (cluster.provider, cluster.region, cluster.zone) if p) if cluster is not None else None
            rows.append({
                "slot": worker.slot, "cluster": worker.cluster, "status": worker.status, "job_id": worker.job_id,
                "infra": infra, "hourly_price": cluster.hourly_price if cluster is not None else None,
            })
        out.append({"name": pool.name, "status": pool.status, "workers": pool.workers, "ready": sum(r["status"] == "READY" for r in rows),
                    "created_at": pool.created_at, "worker_details": rows})
    return out


def down(store, controller, names: list[str]) -> dict[str, Any]:
    """Ask each pool's controller to take it down (its unfinished jobs are cancelled, its workers removed)."""
    from skyhop.state.controller_leases import ControllerLeases
    from skyhop.state.job_pools import KIND, JobPools

    pools = JobPools(store)
    missing = [n for n in names if pools.get(n) is None]
    if missing:
        raise NotFoundError(f"No pool(s) named {', '.join(map(repr, missing))}; `skyhop jobs pool status` lists them.")
    leases = ControllerLeases(store)
    for name in names:
        pools.mark_down(name)
        leases.request_cancel(KIND, name)  # cuts a worker launch or setup in progress short
    if controller is not None:
        controller.wake()
    return {"shutting_down": names}


def require_usable(store, name: str) -> None:
    """`jobs launch --pool NAME`: the pool exists and is not being taken down (a 404 otherwise)."""
    from skyhop.state.job_pools import SHUTTING_DOWN, JobPools

    check_name(name)
    pool = JobPools(store).get(name)
    if pool is None or pool.status == SHUTTING_DOWN:
        raise NotFoundError(f"No pool named {name!r} to run on; create it with `skyhop jobs pool apply -p {name} POOL.yaml`.")
