"""`/api/v1/ready`: whether this server process should get traffic (open to all, like health).

`/api/v1/health` says the process answers (liveness: it never touches the
database, so a slow database never gets a live process restarted).
`/api/v1/ready` is what a proxy or an orchestrator routes on: 200 only while
the database answers a `SELECT 1` within a second, its schema is at this
version's head (checked until it once is, then cached) and the process is not
draining (SIGTERM: server/drain.py); else 503 with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])
log = logging.getLogger("skyhop.server")

#: How long the database may take to answer before the process counts as not ready.
DB_TIMEOUT_S = 1.0
# One thread for the checks: a database that hangs holds this one thread, never the pool every route shares;
# checks that come meanwhile answer 503 at once instead of queueing more threads behind it.
_CHECKS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ready")
_state: dict[str, Any] = {"at_head": False, "pending": None}


@router.get("/api/v1/ready", responses={503: {"description": "not ready: draining, database unreachable or slow, schema not at head"}})
async def ready(request: Request) -> JSONResponse:
    reason = await _not_ready(request.app.state)
    body = {"ready": reason is None, "pid": os.getpid(), **({"reason": reason} if reason else {})}
    return JSONResponse(body, status_code=200 if reason is None else 503)


async def _not_ready(state: Any) -> str | None:
    if getattr(state, "draining", False):
        return "draining: this server process is shutting down"
    pending = _state["pending"]
    if pending is not None and not pending.done():
        return f"the database has not answered for over {DB_TIMEOUT_S:g} s"
    future = asyncio.get_running_loop().run_in_executor(_CHECKS, _check, state.store)
    _state["pending"] = future
    try:
        return await asyncio.wait_for(asyncio.shield(future), DB_TIMEOUT_S)
    except asyncio.TimeoutError:
        return f"the database did not answer within {DB_TIMEOUT_S:g} s"
    except Exception as error:  # the answer is open to all: the error's kind only, never its text (addresses, names)
        return f"the database is unreachable ({type(error).__name__}; the server's log has the details)"


def _check(store: Any) -> str | None:
    try:
        store.ping()
    except Exception:
        log.warning("readiness: the database did not answer", exc_info=True)
        raise
    if not _state["at_head"]:
        from skyhop.state.migrations import HEAD

        revision = store.schema_revision()
        if revision != HEAD:
            return f"the database schema is at {revision!r}, not at this version's {HEAD!r}"
        _state["at_head"] = True
    return None
