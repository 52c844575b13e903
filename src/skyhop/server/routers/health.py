"""`/api/v1/health`: open to all (no token), so clients can tell a live server from a dead one."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter

from skyhop import __version__

router = APIRouter(tags=["health"])


@router.get("/api/v1/health")
def health() -> dict[str, Any]:
    return {"ok": True, "version": __version__, "pid": os.getpid()}
