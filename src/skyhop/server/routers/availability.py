"""`/api/v1/availability`: what clouds that report live capacity can launch now (needs the server's credentials)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

router = APIRouter(tags=["availability"])


@router.get("/api/v1/availability")
def availability() -> list[dict[str, Any]]:
    """One entry per cloud with live availability: `{cloud, available: [[instance_type, region]], error}`."""
    from skyhop.providers.availability import live_availability

    return [cloud.to_json() for cloud in live_availability()]
