"""The market seam: which market a managed job's next attempt uses (spot, on-demand, or wait).

The controller asks a `MarketPolicy` before each launch (`choose`) and on each
poll of a running attempt (`on_poll`, which may ask to switch: the attempt then
ends as `switched` and the job relaunches in the new market, not counted as a
recovery). One policy object per task of a job, kept while its controller drives it.

`TaskMarket` is the task's own `use_spot` (SkyPilot's behaviour, every strategy
but the deadline ones). `DeadlineMarket` runs a deadline policy of
`skyhop.jobs.policies` (UNIFORM_PROGRESS): the very objects `skyhop sim spot`
replays traces through. The controller cannot see spot capacity the way a
trace does; it learns it by trying: a spot launch that finds no capacity is
remembered (`spot_refused_at`) and spot counts as unavailable for
`spot_retry_s`, after which the policy may try it again. Progress is what the
job last reported itself (a fraction of its work, written to
`SKYHOP_PROGRESS_FILE`), else the time each attempt ran less one changeover per
attempt (the restart overhead the policy plans with).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from skyhop.jobs.policies import Market as Decided
from skyhop.jobs.policies import Policy, Situation, policy
from skyhop.spec.quantities import DEADLINE_STRATEGIES, JobRecovery


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
    #: Seconds each launched attempt of this task ran on its machine (the current one up to now).
    runs: tuple[float, ...] = ()
    #: When a spot launch of this task last found no capacity (None: never).
    spot_refused_at: float | None = None
    #: The progress (0..1) the job last reported itself (`SKYHOP_PROGRESS_FILE`); None: it never did.
    progress: float | None = None


class MarketPolicy(Protocol):
    waits_for_spot: bool

    def choose(self, view: MarketView) -> Market:
        """The market of the next attempt (called before each launch)."""

    def on_poll(self, view: MarketView) -> Market | None:
        """Called on each poll of a running attempt: a market to move to now, or None to stay."""


class TaskMarket:
    """The task's own choice: spot if it says `use_spot: true`, else on-demand; never switches mid-attempt."""

    #: A spot launch that finds no capacity ends the job (FAILED_NO_RESOURCE), as in SkyPilot.
    waits_for_spot = False

    def choose(self, view: MarketView) -> Market:
        return Market.SPOT if view.task_spot else Market.ON_DEMAND

    def on_poll(self, view: MarketView) -> Market | None:
        return None


class DeadlineMarket:
    """A `skyhop.jobs.policies` policy driving a job's market to finish `runtime` of work within `deadline`."""

    #: A spot launch that finds no capacity is a fact for the policy (spot is unavailable now), not the job's end.
    waits_for_spot = True

    def __init__(self, policy: Policy, recovery: JobRecovery, spot_retry_s: float) -> None:
        assert recovery.deadline_seconds is not None and recovery.runtime_seconds is not None
        self.policy = policy
        self.deadline = float(recovery.deadline_seconds)
        self.runtime = float(recovery.runtime_seconds)
        self.changeover = float(recovery.changeover_seconds)
        self.spot_retry_s = spot_retry_s

    def situation(self, view: MarketView, current: Market | None) -> Situation:
        spot_known_gone = view.spot_refused_at is not None and view.now - view.spot_refused_at < self.spot_retry_s
        estimated = self.runtime * view.progress if view.progress is not None else sum(max(0.0, run - self.changeover) for run in view.runs)
        return Situation(
            elapsed=view.now - view.submitted_at,
            # A job the controller asks about has not ended, so its work is not done, whatever the estimate says
            # (time on machines overstates progress when a start takes longer than a changeover): counted as
            # finished, the policy would answer "run nowhere" and the job would wait for ever.
            done=min(estimated, self.runtime * _NOT_DONE),
            runtime=self.runtime,
            deadline=self.deadline,
            changeover=self.changeover,
            current=_DECIDED[current] if current is not None else Decided.NONE,
            spot_available=current is Market.SPOT or not spot_known_gone,
        )

    def choose(self, view: MarketView) -> Market:
        decided = self.policy.decide(self.situation(view, None))
        return _MARKET[decided]

    def on_poll(self, view: MarketView) -> Market | None:
        decided = _MARKET[self.policy.decide(self.situation(view, view.current))]
        return None if decided is view.current else decided


#: The largest share of its work a job that still runs is taken to have done (see `situation`).
_NOT_DONE = 0.999
_DECIDED = {Market.SPOT: Decided.SPOT, Market.ON_DEMAND: Decided.ON_DEMAND, Market.WAIT: Decided.NONE}
_MARKET = {decided: market for market, decided in _DECIDED.items()}


def policy_for(recovery: JobRecovery | None, spot_retry_s: float) -> MarketPolicy:
    """The market policy of a task with this `job_recovery`."""
    if recovery is not None and recovery.strategy in DEADLINE_STRATEGIES:
        return DeadlineMarket(policy(recovery.strategy), recovery, spot_retry_s)
    return TaskMarket()
