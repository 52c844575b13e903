"""Replay one job through a policy on a stretch of a trace.

The model is the Can't Be Late paper's: the job needs `runtime` seconds of
work by `deadline`; each start on a market (after waiting, after a preemption,
or when switching between spot and on-demand) costs `changeover` seconds of
billed time before progress resumes; spot is taken away when the trace says
it is gone, on-demand never. The policy is asked at every step; a step is the
trace tick cut into equal parts no longer than the changeover, because the
policies' safety net leaves room for one changeover of delay between two
decisions (skyhop.jobs.policies). The job's last step is billed only up to the
moment the work is done.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from skyhop.jobs.policies import Market, Policy, Situation

#: Seconds of slack allowed on "done by the deadline" (floating point sums over many steps).
EPSILON = 1e-6


@dataclass(frozen=True)
class Job:
    runtime: float  # seconds of work
    deadline: float  # seconds from submission
    changeover: float  # seconds each start costs before progress


@dataclass(frozen=True)
class Window:
    """The stretch of a trace from the job's submission: per trace tick, spot availability and price ($/h)."""

    tick: float
    available: Sequence[bool]
    spot_price: Sequence[float]
    ondemand_price: float


@dataclass(frozen=True)
class Point:
    """One step of a run, for plots: at `time` the job (with `done` work done) ran on `market` until the next point."""

    time: float
    market: Market
    done: float


@dataclass(frozen=True)
class Outcome:
    cost: float
    spot_hours: float  # billed, changeovers included
    ondemand_hours: float
    starts: int
    finished_at: float | None  # seconds after submission; None: never finished
    met: bool  # finished by the deadline
    timeline: tuple[Point, ...] = ()


def steps_per_tick(tick: float, changeover: float) -> int:
    return max(1, math.ceil(tick / changeover)) if changeover > 0 else 1


def run(policy: Policy, job: Job, window: Window, *, record: bool = False) -> Outcome:
    """Drive `policy` over `window` until the work is done or the window ends."""
    parts = steps_per_tick(window.tick, job.changeover)
    step = window.tick / parts
    elapsed = done = cost = 0.0
    hours = {Market.SPOT: 0.0, Market.ON_DEMAND: 0.0}
    current, changeover_left, starts = Market.NONE, 0.0, 0
    timeline: list[Point] = []
    finished_at: float | None = None
    for index in range(len(window.available) * parts):
        tick = index // parts
        available = bool(window.available[tick])
        if current is Market.SPOT and not available:
            current = Market.NONE  # preempted
        market = policy.decide(Situation(elapsed, done, job.runtime, job.deadline, job.changeover, current, available))
        if market is Market.SPOT and not available:
            raise RuntimeError(f"policy {policy.name} chose spot while none is available (a bug in the policy)")
        if market is not current:
            current, changeover_left = market, (job.changeover if market is not Market.NONE else 0.0)
            starts += market is not Market.NONE
        if record:
            timeline.append(Point(elapsed, current, done))
        if current is not Market.NONE:
            paying = min(changeover_left, step)
            changeover_left -= paying
            work = min(step - paying, job.runtime - done)
            billed = paying + work if done + work >= job.runtime else step
            done = job.runtime if done + work >= job.runtime else done + work
            price = window.spot_price[tick] if current is Market.SPOT else window.ondemand_price
            cost += price * billed / 3600
            hours[current] += billed / 3600
            if done >= job.runtime:
                finished_at = elapsed + billed
                break
        elapsed += step
    if record:
        timeline.append(Point(finished_at if finished_at is not None else elapsed, Market.NONE, done))
    met = finished_at is not None and finished_at <= job.deadline + EPSILON
    return Outcome(cost, hours[Market.SPOT], hours[Market.ON_DEMAND], starts, finished_at, met, tuple(timeline))
