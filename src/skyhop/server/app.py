"""The REST API (FastAPI). Routes are thin: parse, call `skyhop.execution`, return JSON.

Every route but `/api/v1/health` and the OpenAPI pages needs the bearer token
from the server's info file (local mode) or the configured token (team mode).
User mistakes come back as 4xx with `{"detail": message}`; the client shows
the message as is.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, AsyncIterator

from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from skyhop import __version__
from skyhop.errors import NotFoundError, SkyhopError
from skyhop.server.executor import Executor
from skyhop.server.operations import make_operations

log = logging.getLogger("skyhop.server")

OPEN_PATHS = ("/api/v1/health", "/docs", "/openapi.json", "/docs/oauth2-redirect")
POLL_S = 0.015


def cluster_json(record) -> dict[str, Any]:
    from skyhop.execution.handles import describe_resources

    data = asdict(record)
    data["head_ip"] = next((n.get("ip") for n in (record.handle or {}).get("nodes", []) if n.get("rank") == 0), None)
    data.pop("handle", None)
    data.pop("setup_hash", None)  # a digest over setup and secret values: not for display
    data["infra"] = "/".join(p for p in (record.provider, record.region, record.zone) if p)
    data["resources_str"] = describe_resources(record.resources or {}, record.num_nodes)
    return data


def create_app(store, token: str | None) -> FastAPI:
    app = FastAPI(title="skyhop API", version=__version__, description="The single door to skyhop's clusters, jobs and requests.")
    executor = Executor(store, make_operations(store))
    app.state.executor = executor

    @app.middleware("http")
    async def authenticate(request: Request, call_next):
        if token and request.url.path not in OPEN_PATHS:
            sent = request.headers.get("authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
                return JSONResponse({"detail": "Not authenticated: a valid API token is required."}, status_code=401)
        return await call_next(request)

    @app.exception_handler(SkyhopError)
    async def user_error(request: Request, error: SkyhopError):
        status = 404 if isinstance(error, NotFoundError) else 400
        return JSONResponse({"detail": str(error)}, status_code=status)

    @app.get("/api/v1/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "version": __version__, "pid": os.getpid()}

    # -- requests (long operations) ---------------------------------------
    @app.post("/api/v1/requests")
    def submit(payload: dict[str, Any] = Body(...)) -> dict[str, Any]:
        name = str(payload.get("name"))
        body = payload.get("body") or {}
        request_id = executor.submit(name, body, stored_body=_redacted(body), cluster=body.get("cluster"), user=payload.get("user"))
        return {"request_id": request_id}

    @app.get("/api/v1/requests")
    def list_requests(active: bool = False, limit: int = 50) -> list[dict[str, Any]]:
        return [asdict(r) for r in store.list_requests(limit=limit, active_only=active)]

    @app.get("/api/v1/requests/{request_id}")
    def get_request(request_id: str) -> dict[str, Any]:
        return asdict(_request(request_id))

    @app.post("/api/v1/requests/{request_id}/cancel")
    def cancel_request(request_id: str) -> dict[str, Any]:
        record = _request(request_id)
        if record.status not in ("PENDING", "RUNNING"):
            return {"request_id": request_id, "cancelled": False, "message": f"Request {request_id} already ended ({record.status})."}
        cancelled = executor.cancel(request_id)
        return {"request_id": request_id, "cancelled": cancelled, "message": "Cancelling; what the request created is being removed." if cancelled else "The request is not running in this server."}

    @app.get("/api/v1/requests/{request_id}/events")
    def request_events(request_id: str, follow: bool = True) -> StreamingResponse:
        record = _request(request_id)
        return StreamingResponse(_follow_request(record, follow), media_type="application/x-ndjson")

    def _request(request_id: str):
        record = store.get_request(request_id)
        if record is None:
            raise NotFoundError(f"Request {request_id} does not exist. See `skyhop api status`.")
        return record

    async def _follow_request(record, follow: bool) -> AsyncIterator[bytes]:
        """The request's event log as it grows, then its final record.

        Async, sleeping between polls: a follower costs the server nothing
        while it waits (a blocking generator would hold a worker thread per
        follower, and enough followers would starve every other route).
        """
        path = Path(record.log_path)
        with path.open("rb") as f:
            while True:
                chunk = f.read()
                if chunk:
                    yield chunk
                    continue
                current = store.get_request(record.request_id)
                if not follow or current.status not in ("PENDING", "RUNNING"):
                    rest = f.read()
                    if rest:
                        yield rest
                    yield (json.dumps({"done": asdict(current)}) + "\n").encode()
                    return
                await asyncio.sleep(POLL_S)

    # -- clusters and jobs (quick reads and small writes) ------------------
    from skyhop.execution import jobs, lifecycle

    @app.get("/api/v1/clusters")
    def clusters(refresh: bool = False, name: list[str] = Query(default=[])) -> list[dict[str, Any]]:
        return [cluster_json(r) for r in lifecycle.status(store, name or None, refresh_all=refresh)]

    @app.get("/api/v1/clusters/{name}/jobs")
    def queue(name: str) -> list[dict[str, Any]]:
        return [asdict(j) for j in lifecycle.queue(store, name)]

    @app.get("/api/v1/clusters/{name}/jobs/{job_id}")
    def job(name: str, job_id: int) -> dict[str, Any]:
        return asdict(lifecycle.job(store, name, job_id))

    @app.get("/api/v1/clusters/{name}/logs")
    def logs(name: str, job_id: int | None = None, follow: bool = True, tail: int | None = None, node: int | None = None) -> StreamingResponse:
        job_id, stream = lifecycle.log_stream(store, name, job_id, follow=follow, tail=tail, node=node)
        return StreamingResponse(_pipe(stream), media_type="text/plain", headers={"X-Skyhop-Job-Id": str(job_id)})

    @app.post("/api/v1/clusters/{name}/cancel")
    def cancel(name: str, payload: dict[str, Any] = Body(default={})) -> dict[str, Any]:
        ids = jobs.require_job_ids([str(j) for j in payload.get("job_ids") or []])
        return lifecycle.cancel(store, name, ids, all_jobs=bool(payload.get("all")))

    @app.post("/api/v1/clusters/{name}/autostop")
    def autostop(name: str, payload: dict[str, Any] = Body(...)) -> dict[str, Any]:
        minutes = payload.get("idle_minutes")
        return lifecycle.autostop(store, name, None if payload.get("cancel") else float(minutes), bool(payload.get("down")))

    @app.post("/api/v1/clusters/{name}/chaos/preempt")
    def chaos_preempt(name: str, payload: dict[str, Any] = Body(default={})) -> dict[str, Any]:
        from skyhop.execution import chaos

        node = payload.get("node", 0)
        if not isinstance(node, int) or isinstance(node, bool):
            raise SkyhopError(f"'node' must be a node index, got {node!r}.")
        return chaos.preempt(store, name, node)

    @app.get("/api/v1/cost-report")
    def cost_report() -> list[dict[str, Any]]:
        lifecycle.status(store)  # reconcile local clusters first (an autostop is a STOP)
        return [asdict(line) for line in store.cost_report()]

    return app


async def _pipe(stream) -> AsyncIterator[bytes]:
    """A subprocess's stdout, read without blocking a thread; the process ends with the stream.

    Starlette closes this generator when the client disconnects, which
    terminates the agent process that was following the log for it.
    """
    assert stream.stdout is not None
    fd = stream.stdout.fileno()
    os.set_blocking(fd, False)
    try:
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                await asyncio.sleep(POLL_S)
                continue
            if not data:
                return
            yield data
    finally:
        if stream.poll() is None:
            stream.terminate()
        stream.wait()


def _redacted(body: dict[str, Any]) -> dict[str, Any]:
    """What is stored with a request: the task without secret values, no --env values."""
    out = dict(body)
    task = out.get("task")
    if isinstance(task, dict) and isinstance(task.get("secrets"), dict):
        out["task"] = dict(task, secrets={k: "<redacted>" for k in task["secrets"]})
    if isinstance(out.get("envs"), dict):
        out["envs"] = {k: "<redacted>" for k in out["envs"]}
    return out
