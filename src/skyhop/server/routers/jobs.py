"""`/api/v1/clusters/{name}/jobs` and `/logs`: a cluster's job queue and job output."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from skyhop.server import schemas
from skyhop.server.deps import Caller, Store
from skyhop.server.services import clusters as owned
from skyhop.server.services.log_pipe import pipe

router = APIRouter(prefix="/api/v1/clusters/{name}", tags=["jobs"])


@router.get("/jobs")
def queue(store: Store, caller: Caller, name: schemas.ClusterPath) -> list[dict[str, Any]]:
    from skyhop.execution import lifecycle

    owned.visible(store, caller, name)
    return [asdict(j) for j in lifecycle.queue(store, name)]


@router.get("/jobs/{job_id}")
def job(store: Store, caller: Caller, name: schemas.ClusterPath, job_id: schemas.JobIdPath) -> dict[str, Any]:
    from skyhop.execution import lifecycle

    owned.visible(store, caller, name)
    return asdict(lifecycle.job(store, name, job_id))


@router.get("/logs")
def logs(
    store: Store, caller: Caller, name: schemas.ClusterPath, job_id: schemas.JobIdQuery = None, follow: bool = True, tail: schemas.TailQuery = None, node: schemas.NodeQuery = None
) -> StreamingResponse:
    from skyhop.execution import lifecycle

    owned.visible(store, caller, name)
    job_id, stream = lifecycle.log_stream(store, name, job_id, follow=follow, tail=tail, node=node)
    return StreamingResponse(pipe(stream), media_type="text/plain", headers={"X-Skyhop-Job-Id": str(job_id)})
