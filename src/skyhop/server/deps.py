"""What routes get injected: the state store and the request executor of this app."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from skyhop.server.executor import Executor


def _store(request: Request) -> Any:
    return request.app.state.store


def _executor(request: Request) -> Executor:
    return request.app.state.executor


Store = Annotated[Any, Depends(_store)]
RequestExecutor = Annotated[Executor, Depends(_executor)]
