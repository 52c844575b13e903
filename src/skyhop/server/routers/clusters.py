"""`/api/v1/clusters`: cluster status and the small cluster writes (autostop, job cancel, chaos)."""

from __future__ import annotations

import functools
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from skyhop.server import schemas
from skyhop.server.auth import policy
from skyhop.server.auth.principal import Principal
from skyhop.server.deps import Caller, Store
from skyhop.server.openapi import errors
from skyhop.server.services import clusters as owned

router = APIRouter(prefix="/api/v1/clusters", tags=["clusters"])


def cluster_json(record) -> dict[str, Any]:
    from dataclasses import fields

    from skyhop.execution.handles import describe_resources

    # The record's JSON fields are its own copies already (store._record): a shallow dict is enough, where
    # `asdict` deep-copied every cluster's resources and handle again (half of a 100-cluster status call).
    data = {f.name: getattr(record, f.name) for f in fields(record)}
    data["head_ip"] = next((n.get("ip") for n in (record.handle or {}).get("nodes", []) if n.get("rank") == 0), None)
    data.pop("handle", None)
    data.pop("setup_hash", None)  # a digest over setup and secret values: not for display
    data["infra"] = "/".join(p for p in (record.provider, record.region, record.zone) if p)
    data["resources_str"] = describe_resources(record.resources or {}, record.num_nodes)
    return data


#: Plain status calls computed at once: more threads only fight over the GIL (50 concurrent clients got 97
#: calls/s through the 40 default threads, 120 through 2, with half the p99; benchmarks/status_load.py).
_STATUS_THREADS = anyio.CapacityLimiter(2)


@router.get("", response_class=Response, responses={200: {"content": {"application/json": {}}}, **errors(400, 502)})
async def clusters(
    store: Store, caller: Caller, refresh: bool = False, name: Annotated[list[str] | None, Query(max_length=1000)] = None,
    all_users: bool = False,
) -> Response:
    """The rows as JSON text, written straight out: FastAPI's validation and encoding of a returned list cost
    as much as building it (the most frequent call of all; see benchmarks/status_load.py).

    The caller's clusters, or every user's with `all_users` (a role that sees all); named clusters are
    shown when the caller may see them, whoever owns them."""
    owners = None if name else policy.owners(caller, all_users)
    # A refresh waits on clouds (seconds): it must not hold one of the two threads plain calls share.
    limiter = None if refresh else _STATUS_THREADS
    body = await anyio.to_thread.run_sync(functools.partial(_status_json, store, caller, name or None, owners, refresh), limiter=limiter)
    return Response(body, media_type="application/json")


def _status_json(store, caller: Principal, names: list[str] | None, owners: list[str] | None, refresh: bool) -> str:
    import json

    from skyhop.execution import lifecycle

    records = lifecycle.status(store, names, refresh_all=refresh, owners=owners)
    rows = [cluster_json(r) for r in records if names is None or policy.can_read(caller, r.user)]
    return json.dumps(rows, separators=(",", ":"), allow_nan=False)


@router.post("/{name}/cancel", responses=errors(400, 404, 409, 502))
def cancel(
    store: Store, caller: Caller, name: schemas.ClusterPath, payload: Annotated[schemas.CancelJobsBody | None, Body()] = None
) -> dict[str, Any]:
    from skyhop.execution import lifecycle

    owned.visible(store, caller, name, write=True)
    payload = payload or schemas.CancelJobsBody()
    return lifecycle.cancel(store, name, list(payload.job_ids), all_jobs=payload.all)


@router.post("/{name}/autostop", responses=errors(400, 404, 409, 501, 502))
def autostop(store: Store, caller: Caller, name: schemas.ClusterPath, payload: schemas.AutostopBody) -> dict[str, Any]:
    from skyhop.execution import lifecycle

    owned.visible(store, caller, name, write=True)
    return lifecycle.autostop(store, name, None if payload.cancel else payload.idle_minutes, payload.down)


@router.post("/{name}/chaos/preempt", responses=errors(400, 404, 409, 501, 502))
def chaos_preempt(
    store: Store, caller: Caller, name: schemas.ClusterPath, payload: Annotated[schemas.ChaosPreemptBody | None, Body()] = None
) -> dict[str, Any]:
    from skyhop.execution import chaos

    owned.visible(store, caller, name, write=True)
    return chaos.preempt(store, name, (payload or schemas.ChaosPreemptBody()).node)


@router.post("/{name}/functions", response_model=schemas.FunctionsAnswer, responses=errors(400, 404, 409, 502))
def functions(
    store: Store, caller: Caller, name: schemas.ClusterPath, payload: Annotated[schemas.FunctionsBody | None, Body()] = None
) -> dict[str, Any]:
    """The local path of the cluster's agent socket, for a functions session (`skyhop.Pool`) to connect to.

    The calls of a session do not pass through the server: the caller connects to the socket itself.
    """
    from skyhop.server.services import functions

    return functions.socket_for(store, caller, name, renew=(payload or schemas.FunctionsBody()).renew)
