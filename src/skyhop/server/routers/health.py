"""`/api/v1/health`: open to all (no token), so clients can tell a live server from a dead one, and which API it speaks."""

from __future__ import annotations

import os

from fastapi import APIRouter
from pydantic import BaseModel, Field

from skyhop import __version__
from skyhop.server import api_version

router = APIRouter(tags=["health"])


class Health(BaseModel):
    ok: bool
    version: str = Field(description="the server's skyhop package version")
    api_version: int = Field(description="the API it speaks (server/api_version.py; bumped on breaking changes only)")
    min_client_api_version: int = Field(description="the oldest client API it answers; older clients get 426 client_too_old")
    pid: int


@router.get("/api/v1/health")
def health() -> Health:
    return Health(ok=True, version=__version__, api_version=api_version.API_VERSION, min_client_api_version=api_version.MIN_CLIENT_API_VERSION, pid=os.getpid())
