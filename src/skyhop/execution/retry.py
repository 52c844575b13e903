"""`--retry-until-up`: when every candidate fails to provision, wait and try again.

SkyPilot's `-r` keeps a launch (or start) alive through a capacity shortage:
the server re-plans and re-tries every candidate with a growing pause
(capped), until one comes up or the request is cancelled. Errors that a retry
cannot fix (an invalid or infeasible task, a missing cluster, a cancel) end
the request at once. The pause is a visible countdown: a `countdown` event
every few seconds, so a client shows how long until the next pass rather
than a spinner that looks stuck.
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
COUNTDOWN_STEP_S = 5.0  # how often the countdown is refreshed: often enough to see it move, few log lines
_WAITING = "retrying (--retry-until-up)"
_FINAL = (InfeasibleError, NotFoundError, ConfigError, CatalogError, RequestCancelled)


def until_up(attempt: Callable[[], T], progress: Progress, *, retry: bool, first_pause_s: float | None = None) -> T:
    """`attempt()`, repeated after a failed provisioning while `retry` is set (first pause: FIRST_PAUSE_S)."""
    from skyhop.spec.errors import SpecError

    pause = FIRST_PAUSE_S if first_pause_s is None else first_pause_s
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
    """Count down `seconds` in `countdown` events, waking at once when the request is cancelled."""
    left = seconds
    while left > 0:
        progress.countdown(left, _WAITING)
        nap = min(COUNTDOWN_STEP_S, left)
        if progress.cancel_event.wait(nap):
            progress.check_cancelled()
        left = round(left - nap, 6)  # no float dust left over to count down
