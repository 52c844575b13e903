"""`/api/v1/check`: which providers are usable where the server runs, and its machines reached now.

The server is what launches, so its credentials and its view of the pools are
what count (a remote team server has other credentials than the laptop asking).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from skyhop.server.openapi import errors

router = APIRouter(tags=["check"])


@router.get("/api/v1/check", responses=errors(400))
def check(reach: bool = True) -> list[dict[str, Any]]:
    """Every provider with `enabled` and the reason; `reach` also reaches every existing machine (slow when one is down)."""
    from skyhop import sdk

    return [result.to_json() for result in sdk.check(reach_machines=reach)]
