"""`/api/v1/clusters`: cluster status and the small cluster writes (autostop, job cancel, chaos)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from skyhop.server import schemas
from skyhop.server.deps import Store

router = APIRouter(prefix="/api/v1/clusters", tags=["clusters"])


def cluster_json(record) -> dict[str, Any]:
    from dataclasses import asdict

    from skyhop.execution.handles import describe_resources

    data = asdict(record)
    data["head_ip"] = next((n.get("ip") for n in (record.handle or {}).get("nodes", []) if n.get("rank") == 0), None)
    data.pop("handle", None)
    data.pop("setup_hash", None)  # a digest over setup and secret values: not for display
    data["infra"] = "/".join(p for p in (record.provider, record.region, record.zone) if p)
    data["resources_str"] = describe_resources(record.resources or {}, record.num_nodes)
    return data


@router.get("")
def clusters(store: Store, refresh: bool = False, name: Annotated[list[str] | None, Query(max_length=1000)] = None) -> list[dict[str, Any]]:
    from skyhop.execution import lifecycle

    return [cluster_json(r) for r in lifecycle.status(store, name or None, refresh_all=refresh)]


@router.post("/{name}/cancel")
def cancel(store: Store, name: schemas.ClusterPath, payload: Annotated[schemas.CancelJobsBody | None, Body()] = None) -> dict[str, Any]:
    from skyhop.execution import lifecycle

    payload = payload or schemas.CancelJobsBody()
    return lifecycle.cancel(store, name, list(payload.job_ids), all_jobs=payload.all)


@router.post("/{name}/autostop")
def autostop(store: Store, name: schemas.ClusterPath, payload: schemas.AutostopBody) -> dict[str, Any]:
    from skyhop.execution import lifecycle

    return lifecycle.autostop(store, name, None if payload.cancel else payload.idle_minutes, payload.down)


@router.post("/{name}/chaos/preempt")
def chaos_preempt(store: Store, name: schemas.ClusterPath, payload: Annotated[schemas.ChaosPreemptBody | None, Body()] = None) -> dict[str, Any]:
    from skyhop.execution import chaos

    return chaos.preempt(store, name, (payload or schemas.ChaosPreemptBody()).node)
