"""The market seam: which market a managed job's next attempt uses (spot, on-demand, or wait).

The controller asks a `MarketPolicy` before each launch (`choose`) and on each
poll of a running attempt (`on_poll`, which may ask to switch: the attempt then
ends as `switched` and the job relaunches in the new market, not counted as a
recovery). One policy object per task of a job, kept while its controller drives it. This increment
ships `TaskMarket` (the task's own `use_spot`, SkyPilot's behaviour); a
deadline policy (UNIFORM_PROGRESS, skyhop.jobs.policies) plugs in by returning
its object from `policy_for` for its strategy: nothing else changes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class Market(str, enum.Enum):
    SPOT = "spot"
    ON_DEMAND = "on_demand"
    #: Launch nothing now; ask again at the next poll (a policy waiting for spot to come back).
    WAIT = "wait"

    @property
    def label(self) -> str:
        return self.value.replace("_", "-")


@dataclass(frozen=True)
class MarketView:
    """What a policy may look at: the job's clock and its history so far (seconds)."""

    job_id: int
    now: float
    submitted_at: float
    #: Time this task's attempts spent on machines (launch to end), summed; the current one up to now.
    run_seconds: float
    recovery_count: int
    #: The market of the current attempt, None when none runs.
    current: Market | None
    #: Whether the task itself asks for spot (`use_spot`).
    task_spot: bool


class MarketPolicy(Protocol):
    def choose(self, view: MarketView) -> Market:
        """The market of the next attempt (called before each launch)."""

    def on_poll(self, view: MarketView) -> Market | None:
        """Called on each poll of a running attempt: a market to move to now, or None to stay."""


class TaskMarket:
    """The task's own choice: spot if it says `use_spot: true`, else on-demand; never switches mid-attempt."""

    def choose(self, view: MarketView) -> Market:
        return Market.SPOT if view.task_spot else Market.ON_DEMAND

    def on_poll(self, view: MarketView) -> Market | None:
        return None


def policy_for(strategy: str | None) -> tuple[MarketPolicy, str | None]:
    """The policy for a `job_recovery.strategy`, and a note for the controller log when it is not the one asked for."""
    if strategy == "UNIFORM_PROGRESS":
        note = ("UNIFORM_PROGRESS is accepted but this server runs it as FAILOVER on the task's own market "
                "(the deadline policy is not plugged into the controller yet).")
        return TaskMarket(), note
    return TaskMarket(), None
