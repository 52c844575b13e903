"""`/api/v1/managed-jobs`: managed jobs (`skyhop jobs launch|queue|logs|cancel`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse

from skyhop.server import schemas
from skyhop.server.deps import Caller, Store
from skyhop.server.services import budgets, managed_jobs

router = APIRouter(prefix="/api/v1/managed-jobs", tags=["managed-jobs"])


@router.post("")
def launch(store: Store, caller: Caller, request: Request, payload: schemas.ManagedJobsLaunchBody) -> schemas.ManagedJobsSubmitted:
    budgets.check_budget(store, caller, what=payload.name or "")
    controller = getattr(request.app.state, "jobs_controller", None)
    return schemas.ManagedJobsSubmitted(job_ids=managed_jobs.submit(store, controller, caller, payload))


@router.get("", response_class=Response, responses={200: {"content": {"application/json": {}}}})
def queue(
    store: Store, caller: Caller, skip_finished: bool = False, all_users: bool = False, job_id: Annotated[list[int] | None, Query(max_length=10_000)] = None,
    limit: Annotated[int | None, Query(ge=1, le=schemas.MAX_ID)] = None,
) -> Response:
    """The rows as JSON text, written straight out: FastAPI's validation and encoding of a returned list cost
    as much as building it (tens of ms per thousand jobs), for rows the service already made of plain values."""
    if any(not 1 <= i <= schemas.MAX_ID for i in job_id or ()):
        raise HTTPException(422, f"job_id: each id must be between 1 and {schemas.MAX_ID}.")
    rows = managed_jobs.rows(store, caller, ids=job_id or None, skip_finished=skip_finished, all_users=all_users, limit=limit)
    return Response(json.dumps(rows, separators=(",", ":"), allow_nan=False), media_type="application/json")


@router.post("/cancel")
def cancel(store: Store, caller: Caller, payload: schemas.ManagedJobsCancelBody) -> dict[str, Any]:
    return managed_jobs.cancel(store, caller, payload)


@router.post("/{job_id}/resume")
def resume(store: Store, caller: Caller, request: Request, job_id: schemas.ManagedJobIdPath) -> dict[str, Any]:
    """A PAUSED job (its budget was reached) back to PENDING when the budget allows it (402 otherwise)."""
    return managed_jobs.resume(store, getattr(request.app.state, "jobs_controller", None), caller, job_id)


@router.get("/{job_id}/logs")
def logs(store: Store, caller: Caller, job_id: schemas.ManagedJobIdPath, follow: bool = True, controller: bool = False) -> StreamingResponse:
    managed_jobs.get(store, caller, job_id)  # an unknown id is a 404 before streaming starts
    stream = (managed_jobs.follow_controller_log if controller else managed_jobs.follow_logs)(store, job_id, follow=follow)
    return StreamingResponse(stream, media_type="text/plain")
