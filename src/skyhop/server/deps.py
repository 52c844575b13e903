"""What routes get injected: the state store, the request executor of this app, and who calls."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, Request

from skyhop.client.http import WORKSPACE_HEADER
from skyhop.errors import ForbiddenError
from skyhop.server.auth.principal import Principal
from skyhop.server.executor import Executor


def _store(request: Request) -> Any:
    return request.app.state.store


def _executor(request: Request) -> Executor:
    return request.app.state.executor


Store = Annotated[Any, Depends(_store)]
RequestExecutor = Annotated[Executor, Depends(_executor)]


def _principal(request: Request) -> Principal:
    """Set by the authenticating middleware (server/middleware.py) from the bearer token; the client's
    `X-Skyhop-Workspace` picks which of the caller's workspaces new objects go to."""
    principal: Principal = request.scope["state"]["principal"]
    chosen = request.headers.get(WORKSPACE_HEADER)
    if chosen is None or chosen == principal.workspace:
        return principal
    if chosen not in principal.workspaces:
        yours = ", ".join(sorted(principal.workspaces)) or "none"
        raise ForbiddenError(f"You ({principal.user}) are not a member of workspace {chosen!r}; yours: {yours}. "
                             "Set SKYHOP_WORKSPACE or config.yaml's active_workspace to one of them.")
    return replace(principal, workspace=chosen)


Caller = Annotated[Principal, Depends(_principal)]
