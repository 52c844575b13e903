"""What routes get injected: the state store, the request executor of this app, and who calls."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from skyhop.server.auth.principal import Principal
from skyhop.server.executor import Executor


def _store(request: Request) -> Any:
    return request.app.state.store


def _executor(request: Request) -> Executor:
    return request.app.state.executor


Store = Annotated[Any, Depends(_store)]
RequestExecutor = Annotated[Executor, Depends(_executor)]


def _principal(request: Request) -> Principal:
    """Set by the authenticating middleware (server/middleware.py) from the bearer token."""
    return request.scope["state"]["principal"]


Caller = Annotated[Principal, Depends(_principal)]
