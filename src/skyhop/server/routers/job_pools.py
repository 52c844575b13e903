"""`/api/v1/managed-jobs/pools`: worker pools for managed jobs (`skyhop jobs pool apply|status|down`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from skyhop.server import schemas
from skyhop.server.deps import Store
from skyhop.server.openapi import errors
from skyhop.server.services import job_pools

router = APIRouter(prefix="/api/v1/managed-jobs/pools", tags=["managed-jobs"])


@router.post("", responses=errors(400, 409))
def apply(store: Store, request: Request, payload: schemas.PoolApplyBody) -> dict[str, Any]:
    return job_pools.apply(store, getattr(request.app.state, "pools_controller", None), payload)


@router.get("", responses=errors(404))
def status(store: Store, name: Annotated[str | None, Query(max_length=40, pattern=schemas.PLAIN_NAME_PATTERN)] = None) -> list[dict[str, Any]]:
    return job_pools.status(store, name)


@router.post("/down", responses=errors(404))
def down(store: Store, request: Request, payload: schemas.PoolDownBody) -> dict[str, Any]:
    names = [p["name"] for p in job_pools.status(store)] if payload.all else list(payload.names)
    return job_pools.down(store, getattr(request.app.state, "pools_controller", None), names)
