"""`/api/v1/serve`: services (`skyhop serve up|status|update|down|logs`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from skyhop.server import schemas
from skyhop.server.deps import Caller, Store
from skyhop.server.services import budgets, serve

router = APIRouter(prefix="/api/v1/serve", tags=["serve"])


def _controller(request: Request):
    """This server's serve controller (None in an app that hosts no controllers)."""
    return getattr(request.app.state, "serve_controller", None)


@router.post("/up")
def up(store: Store, caller: Caller, request: Request, payload: schemas.ServeUpBody) -> dict[str, Any]:
    budgets.check_budget(store, caller, what=payload.service_name or "")
    return serve.up(store, _controller(request), caller, payload.task, payload.service_name)


@router.get("")
def status(
    store: Store, caller: Caller, name: Annotated[list[str] | None, Query(max_length=1000)] = None, all_users: bool = False
) -> list[dict[str, Any]]:
    return serve.status(store, caller, name or None, all_users=all_users)


@router.post("/update")
def update(store: Store, caller: Caller, request: Request, payload: schemas.ServeUpdateBody) -> dict[str, Any]:
    budgets.check_budget(store, caller, what=payload.name)  # an update launches new replicas
    return serve.update(store, _controller(request), caller, payload.name, payload.task, payload.mode)


@router.post("/down")
def down(store: Store, caller: Caller, request: Request, payload: schemas.ServeDownBody) -> dict[str, Any]:
    return serve.down(store, _controller(request), caller, None if payload.all else list(payload.names), purge=payload.purge)


@router.get("/{name}/logs")
def logs(
    store: Store, caller: Caller, name: schemas.ServiceNamePath, target: Literal["controller", "load_balancer", "replica"] = "replica",
    replica_id: schemas.ReplicaIdQuery = None, follow: bool = True,
) -> StreamingResponse:
    return StreamingResponse(serve.logs(store, caller, name, target, replica_id, follow=follow), media_type="text/plain")
