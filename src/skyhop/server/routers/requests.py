"""`/api/v1/requests`: long operations (launch, exec, stop, start, down) run in the background."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from skyhop.errors import NotFoundError
from skyhop.server import schemas
from skyhop.server.auth import policy
from skyhop.server.auth.principal import Principal
from skyhop.server.deps import Caller, RequestExecutor, Store
from skyhop.server.services import budgets, request_events, submissions

router = APIRouter(prefix="/api/v1/requests", tags=["requests"])


@router.post("")
def submit(store: Store, executor: RequestExecutor, caller: Caller, payload: schemas.SubmitRequest) -> schemas.Submitted:
    budgets.check_submission(store, caller, payload.name, getattr(payload.body, "cluster", None))
    return schemas.Submitted(request_id=submissions.submit(executor, caller, payload))


@router.get("")
def list_requests(store: Store, caller: Caller, active: bool = False, limit: schemas.LimitQuery = 50, all_users: bool = False) -> list[dict[str, Any]]:
    return [asdict(r) for r in store.list_requests(limit=limit, active_only=active, owners=policy.owners(caller, all_users))]


@router.get("/{request_id}")
def get_request(store: Store, caller: Caller, request_id: schemas.RequestIdPath) -> dict[str, Any]:
    return asdict(_request(store, caller, request_id))


@router.post("/{request_id}/cancel")
def cancel_request(store: Store, caller: Caller, executor: RequestExecutor, request_id: schemas.RequestIdPath) -> schemas.RequestCancelAnswer:
    record = _request(store, caller, request_id)
    policy.require_write(caller, record.user, f"Request {request_id}")
    if record.status not in ("PENDING", "RUNNING"):
        return schemas.RequestCancelAnswer(request_id=request_id, cancelled=False, message=f"Request {request_id} already ended ({record.status}).")
    cancelled = executor.cancel(request_id)
    message = "Cancelling; what the request created is being removed." if cancelled else "The request is not running in this server."
    return schemas.RequestCancelAnswer(request_id=request_id, cancelled=cancelled, message=message)


@router.get("/{request_id}/events")
def request_events_stream(
    store: Store, caller: Caller, executor: RequestExecutor, request_id: schemas.RequestIdPath, follow: bool = True
) -> StreamingResponse:
    record = _request(store, caller, request_id)
    return StreamingResponse(request_events.follow(store, executor, record, follow), media_type="application/x-ndjson")


def _request(store, caller: Principal, request_id: str):
    """The request if the caller may see it; another user's is as unknown as a missing one."""
    record = store.get_request(request_id)
    if record is None or not policy.can_read(caller, record.user):
        raise NotFoundError(f"Request {request_id} does not exist. See `skyhop api status`.")
    return record
