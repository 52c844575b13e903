"""`/api/v1/managed-jobs/pools`: worker pools for managed jobs (`skyhop jobs pool apply|status|down`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from skyhop.server import schemas
from skyhop.server.deps import Caller, Store
from skyhop.server.openapi import errors
from skyhop.server.services import budgets, job_pools

router = APIRouter(prefix="/api/v1/managed-jobs/pools", tags=["managed-jobs"])


@router.post("", responses=errors(400, 402, 409))
def apply(store: Store, caller: Caller, request: Request, payload: schemas.PoolApplyBody) -> dict[str, Any]:
    budgets.check_budget(store, caller, what=payload.name)  # a pool's workers are clusters
    return job_pools.apply(store, getattr(request.app.state, "pools_controller", None), caller, payload)


@router.get("", responses=errors(404))
def status(store: Store, caller: Caller, name: Annotated[str | None, Query(max_length=40, pattern=schemas.PLAIN_NAME_PATTERN)] = None, all_users: bool = False) -> list[dict[str, Any]]:
    return job_pools.status(store, caller, name, all_users=all_users)


@router.post("/down", responses=errors(404))
def down(store: Store, caller: Caller, request: Request, payload: schemas.PoolDownBody) -> dict[str, Any]:
    return job_pools.down(store, getattr(request.app.state, "pools_controller", None), caller, None if payload.all else list(payload.names))
