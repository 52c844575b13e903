"""`--retry-until-up`: when every candidate fails to provision, wait and try again.

SkyPilot's `-r` keeps a launch (or start) alive through a capacity shortage:
the server re-plans and re-tries every candidate with a growing pause
(capped), until one comes up or the request is cancelled. Errors that a retry
cannot fix (an invalid or infeasible task, a missing cluster, a cancel) end
the request at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from skyhop.errors import (
    CatalogError,
    ConfigError,
    InfeasibleError,
    NotFoundError,
    SkyhopError,
)
from skyhop.execution.progress import Progress, RequestCancelled

T = TypeVar("T")
FIRST_PAUSE_S = 10.0
MAX_PAUSE_S = 300.0
_FINAL = (InfeasibleError, NotFoundError, ConfigError, CatalogError, RequestCancelled)


def until_up(attempt: Callable[[], T], progress: Progress, *, retry: bool, first_pause_s: float = FIRST_PAUSE_S) -> T:
    """`attempt()`, repeated after a failed provisioning while `retry` is set."""
    from skyhop.spec.errors import SpecError

    pause = first_pause_s
    tries = 1
    while True:
        try:
            return attempt()
        except (*_FINAL, SpecError):
            raise
        except SkyhopError as error:
            if not retry:
                raise
            progress.info(f"Attempt {tries} failed: {error} Retrying in {pause:g}s (--retry-until-up; cancel the request to stop).")
        _wait(progress, pause)
        pause = min(pause * 2, MAX_PAUSE_S)
        tries += 1


def _wait(progress: Progress, seconds: float) -> None:
    """Sleep, waking at once when the request is cancelled."""
    if progress.cancel_event.wait(seconds):
        progress.check_cancelled()
