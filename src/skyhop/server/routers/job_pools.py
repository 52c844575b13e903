"""`/api/v1/managed-jobs/pools`: worker pools for managed jobs (`skyhop jobs pool apply|status|down`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from skyhop.server import schemas
from skyhop.server.deps import Caller, Store
from skyhop.server.services import budgets, job_pools

router = APIRouter(prefix="/api/v1/managed-jobs/pools", tags=["managed-jobs"])


@router.post("")
def apply(store: Store, caller: Caller, request: Request, payload: schemas.PoolApplyBody) -> dict[str, Any]:
    budgets.check_budget(store, caller, what=payload.name)  # a pool's workers are clusters
    return job_pools.apply(store, getattr(request.app.state, "pools_controller", None), caller, payload)


@router.get("")
def status(store: Store, caller: Caller, name: str | None = None, all_users: bool = False) -> list[dict[str, Any]]:
    return job_pools.status(store, caller, name, all_users=all_users)


@router.post("/down")
def down(store: Store, caller: Caller, request: Request, payload: schemas.PoolDownBody) -> dict[str, Any]:
    return job_pools.down(store, getattr(request.app.state, "pools_controller", None), caller, None if payload.all else list(payload.names))
