"""`/api/v1/whoami`: who the server takes the caller for (what `skyhop api login` and `api info` show).

`async`: it does no I/O, so it answers on the event loop without a hop to a worker thread.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from skyhop import __version__
from skyhop.server.auth.tokens import mode_of
from skyhop.server.deps import Caller

router = APIRouter(tags=["auth"])


@router.get("/api/v1/whoami")
async def whoami(caller: Caller, request: Request) -> dict[str, Any]:
    return {
        "user": caller.user, "role": caller.role.value, "workspace": caller.workspace, "workspaces": sorted(caller.workspaces),
        "token_id": caller.token_id, "acts_for": caller.acts_for, "mode": mode_of(request), "version": __version__,
    }
