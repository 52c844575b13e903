"""Worker pools of managed jobs behind the API: apply, status, down (`skyhop jobs pool ...`).

The API only writes what is wanted (the pool's task and size, or SHUTTING_DOWN);
the pool controller (server/controllers/pools.py) makes the clusters follow:
it sizes an autoscaled pool and rolls workers over to a changed task.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from skyhop.errors import NotFoundError, SkyhopError
from skyhop.server import schemas
from skyhop.server.auth import policy
from skyhop.server.auth.principal import Principal

if TYPE_CHECKING:
    from skyhop.jobs.pool_sizing import Scaling
    from skyhop.spec.pool import PoolSpec

#: Pool names become part of worker cluster names (`<pool>-w<slot>-<stamp>`), so they are kept short and plain.
_NAME = re.compile(schemas.PLAIN_NAME_PATTERN)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise SkyhopError(
            f"Pool name {name!r} is not valid: use 1-40 lowercase letters, digits and '-', starting with a letter (e.g. -p my-pool)."
        )
    return name


def apply(store, controller, caller: Principal, body: schemas.PoolApplyBody) -> dict[str, Any]:
    """Create or update the pool from a task mapping with a `pool:` section (a 400 naming the field if it is wrong).
    The pool is its creator's: another user neither sees nor changes it (an admin may change it)."""
    from dataclasses import replace

    from skyhop.execution.unsupported import check_supported
    from skyhop.spec.errors import SpecError
    from skyhop.spec.task import Task
    from skyhop.state.errors import StateError
    from skyhop.state.job_pools import JobPools, version_of

    policy.require_writer(caller)
    name = check_name(body.name)
    pools = JobPools(store)
    before = pools.get(name)
    if before is not None:
        _owned(caller, name, before, write=True)
    task = Task.from_dict(body.task)
    if task.pool is None:
        raise SpecError("pool", "is missing: a pool file needs a pool section", expected="pool: {workers: 2}")
    scaling = _check_size(task.pool)
    check_supported(replace(task, pool=None), hosted="pools")
    task.require_envs()
    bounds = None if scaling is None else (scaling.min_workers, scaling.max_workers)
    workers = task.pool.workers if scaling is None else scaling.min_workers
    try:
        pool, created = pools.apply(
            name, task.to_dict(redact_secrets=True), workers or 0, bounds=bounds, user=caller.user, workspace=caller.workspace
        )
    except StateError as error:
        raise SkyhopError(str(error)) from None
    if controller is not None:
        controller.wake()
    rolling = before is not None and version_of(pool) > version_of(before)
    return {
        "name": pool.name, "workers": pool.workers, "created": created, "version": version_of(pool), "rolling": rolling,
        "min_workers": None if scaling is None else scaling.min_workers, "max_workers": None if scaling is None else scaling.max_workers,
    }


def _check_size(spec: PoolSpec) -> Scaling | None:
    """A fixed pool's `workers` or an autoscaled one's bounds, in range (a 400 naming the field otherwise)."""
    from skyhop.jobs.pool_sizing import Scaling
    from skyhop.spec.errors import SpecError

    top = schemas.MAX_POOL_WORKERS
    scaling = Scaling.of(spec)
    if scaling is None:
        autoscale_only = [k for k in ("min_workers", "queue_length_threshold", "upscale_delay_seconds", "downscale_delay_seconds") if getattr(spec, k) is not None]
        if autoscale_only:
            raise SpecError(f"pool.{autoscale_only[0]}", "needs max_workers (it is about autoscaling)", expected="pool: {min_workers: 0, max_workers: 4}")
        if spec.workers is None:
            raise SpecError("pool.workers", "is missing: give workers, or min_workers and max_workers", expected="pool: {workers: 2}")
        if not 1 <= spec.workers <= top:
            raise SpecError("pool.workers", "is out of range", value=spec.workers, expected=f"1..{top}")
        return None
    if not 1 <= scaling.max_workers <= top:
        raise SpecError("pool.max_workers", "is out of range", value=scaling.max_workers, expected=f"1..{top}")
    return scaling


def _owned(caller: Principal, name: str, pool, *, write: bool = False):
    """The pool if the caller may see it (and change it: `write`); another user's is as missing as none.
    A pool made before owners were recorded (revision 0009) is everyone's."""
    if pool is None or (pool.user is not None and not policy.can_read(caller, pool.user)):
        raise NotFoundError(f"No pool named {name!r}; `skyhop jobs pool status` lists them.")
    if write and pool.user is not None:
        policy.require_write(caller, pool.user, f"Pool {name!r}")
    return pool


def status(store, caller: Principal, name: str | None = None, *, all_users: bool = False) -> list[dict[str, Any]]:
    """`jobs pool status`: each pool (the caller's, or every user's with `all_users`) with its target and current
    size and its workers (docs/json-output.md)."""
    from skyhop.jobs.pool_sizing import Scaling
    from skyhop.spec.pool import PoolSpec
    from skyhop.state.job_pools import RETIRING, JobPools, version_of

    pools = JobPools(store)
    if name is not None:
        selected = [_owned(caller, name, pools.get(name))]
    else:
        owners = policy.owners(caller, all_users)
        selected = [p for p in pools.all() if p.user is None or owners is None or p.user in owners]
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
                "infra": infra, "hourly_price": cluster.hourly_price if cluster is not None else None, "version": version_of(worker),
            })
        scaling = Scaling.of(PoolSpec.from_dict(pool.task.get("pool") or {}))
        out.append({
            "name": pool.name, "status": pool.status, "workers": pool.workers, "target": pool.workers,
            "current": sum(r["status"] != RETIRING for r in rows), "ready": sum(r["status"] == "READY" for r in rows),
            "min_workers": None if scaling is None else scaling.min_workers, "max_workers": None if scaling is None else scaling.max_workers,
            "pending_jobs": pools.pending_jobs(pool.name), "version": version_of(pool), "created_at": pool.created_at, "worker_details": rows,
        })
    return out


def down(store, controller, caller: Principal, names: list[str] | None) -> dict[str, Any]:
    """Ask each pool's controller (of the named pools, or every pool of the caller: `names` None) to take it
    down (its unfinished jobs are cancelled, its workers removed)."""
    from skyhop.state.controller_leases import ControllerLeases
    from skyhop.state.job_pools import KIND, JobPools

    pools = JobPools(store)
    if names is None:
        names = [p.name for p in pools.all() if p.user in (None, caller.user)]
    records = {name: pools.get(name) for name in names}
    missing = [n for n, p in records.items() if p is None or (p.user is not None and not policy.can_read(caller, p.user))]
    if missing:
        raise NotFoundError(f"No pool(s) named {', '.join(map(repr, missing))}; `skyhop jobs pool status` lists them.")
    for name, pool in records.items():
        _owned(caller, name, pool, write=True)
    leases = ControllerLeases(store)
    for name in names:
        pools.mark_down(name)
        leases.request_cancel(KIND, name)  # cuts a worker launch or setup in progress short
    if controller is not None:
        controller.wake()
    return {"shutting_down": names}


def require_usable(store, caller: Principal, name: str) -> None:
    """`jobs launch --pool NAME`: the pool exists, is the caller's to use, and is not being taken down (a 404 otherwise)."""
    from skyhop.state.job_pools import SHUTTING_DOWN, JobPools

    check_name(name)
    pool = JobPools(store).get(name)
    if pool is None or pool.status == SHUTTING_DOWN or not policy.can_write(caller, pool.user or caller.user):
        raise NotFoundError(f"No pool named {name!r} to run on; create it with `skyhop jobs pool apply -p {name} POOL.yaml`.")
