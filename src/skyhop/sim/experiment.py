"""The paper's experiment: one job submitted at many random points of each trace, run by each policy.

Per trace, `starts` submission ticks are drawn (seeded, so runs repeat) from
those that leave a whole deadline of trace after them. Each policy runs the
job from each of them; the omniscient baseline solves the same window. Costs
are normalised to running the whole job on on-demand (one start: runtime plus
one changeover, at the on-demand price), the gap to omniscient is
cost / omniscient cost - 1 averaged over the starts, and the spot share is the
policy's spot hours over the omniscient schedule's (the paper's "spot hours
used relative to the optimum").
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, Sequence

from skyhop.jobs.policies import POLICIES, policy
from skyhop.sim import omniscient, simulate
from skyhop.sim.errors import SimError
from skyhop.sim.simulate import Job, Outcome, Window
from skyhop.sim.trace import Trace

OMNISCIENT = "omniscient"
ALL_POLICIES = (*POLICIES, OMNISCIENT)
DEFAULT_SPOT_PRICE = 1.0
DEFAULT_ONDEMAND_PRICE = 3.0  # about V100's on-demand / spot ratio in the paper


@dataclass(frozen=True)
class Setup:
    job: Job
    starts: int = 300
    seed: int = 0
    spot_price: float | None = None  # None (both): the trace's prices, else the defaults
    ondemand_price: float | None = None
    nodes: int = 1  # spot is available when the trace counts at least this many instances

    def check(self) -> None:
        job = self.job
        if job.runtime <= 0 or job.changeover <= 0:
            raise SimError(
                "The job needs a runtime and a changeover above zero: the policies' safety net is two changeovers, "
                "which is also the room they leave for the time between two decisions (give at least --changeover 1s)."
            )
        if job.deadline < job.runtime + job.changeover:
            raise SimError(
                f"The deadline ({job.deadline / 3600:g} h) is shorter than the runtime plus one changeover "
                f"({(job.runtime + job.changeover) / 3600:g} h): no policy can meet it. Give a later --deadline, more --slack, or a smaller --job-fraction."
            )
        if self.starts < 1 or self.nodes < 1:
            raise SimError("--starts and --nodes must be at least 1.")
        for name, price in (("--spot-price", self.spot_price), ("--ondemand-price", self.ondemand_price)):
            if price is not None and not (math.isfinite(price) and price > 0):
                raise SimError(f"{name} must be a price above zero, got {price:g}.")


@dataclass(frozen=True)
class Prices:
    spot: tuple[float, ...]  # $/h per trace tick
    ondemand: float
    source: str  # "trace" or "flags"


@dataclass(frozen=True)
class PolicyRuns:
    """One policy's runs on one trace (or pooled over traces), one entry per start."""

    policy: str
    normalized: tuple[float, ...]
    met: tuple[bool, ...]
    spot_hours: tuple[float, ...]
    gaps: tuple[float, ...] | None  # cost / omniscient - 1; None without omniscient

    @property
    def mean_normalized(self) -> float:
        return sum(self.normalized) / len(self.normalized)

    @property
    def met_share(self) -> float:
        return sum(self.met) / len(self.met)

    @property
    def mean_gap(self) -> float | None:
        return None if self.gaps is None else sum(self.gaps) / len(self.gaps)


@dataclass(frozen=True)
class TraceResult:
    trace: Trace
    prices: Prices
    runs: tuple[PolicyRuns, ...]


def prices(trace: Trace, setup: Setup) -> Prices:
    if setup.spot_price is None and setup.ondemand_price is None and trace.spot_prices is not None and trace.ondemand_price is not None:
        return Prices(trace.spot_prices, trace.ondemand_price, "trace")
    spot = setup.spot_price if setup.spot_price is not None else DEFAULT_SPOT_PRICE
    ondemand = setup.ondemand_price if setup.ondemand_price is not None else DEFAULT_ONDEMAND_PRICE
    return Prices(tuple([spot] * len(trace.counts)), ondemand, "flags")


def window_ticks(trace: Trace, job: Job) -> int:
    return math.ceil(job.deadline / trace.tick - 1e-9)


def offsets(trace: Trace, setup: Setup) -> tuple[int, ...]:
    """The submission ticks: `starts` of them, drawn with `seed` among those a whole deadline before the end."""
    last = len(trace.counts) - window_ticks(trace, setup.job)
    if last < 0:
        raise SimError(
            f"The trace {trace.path} covers {trace.duration / 3600:g} h, less than the {setup.job.deadline / 3600:g} h deadline: "
            "use a longer trace or a shorter --deadline."
        )
    rng = random.Random(setup.seed)
    return tuple(rng.randint(0, last) for _ in range(setup.starts))


def window(trace: Trace, offset: int, setup: Setup, price: Prices) -> Window:
    end = offset + window_ticks(trace, setup.job)
    available = trace.available(setup.nodes)[offset:end]
    return Window(trace.tick, available, price.spot[offset:end], price.ondemand)


def run_one(name: str, setup: Setup, win: Window, *, record: bool = False) -> Outcome:
    if name == OMNISCIENT:
        return omniscient.solve(setup.job, win, record=record)
    return simulate.run(policy(name), setup.job, win, record=record)


def evaluate(trace: Trace, names: Sequence[str], setup: Setup, progress: Callable[[int], None] | None = None) -> TraceResult:
    """Every policy in `names` from every start on `trace`; `progress(done_starts)` after each start."""
    price = prices(trace, setup)
    starts = offsets(trace, setup)
    baseline = price.ondemand * (setup.job.runtime + setup.job.changeover) / 3600
    outcomes: dict[str, list[Outcome]] = {name: [] for name in names}
    for count, offset in enumerate(starts, 1):
        win = window(trace, offset, setup, price)
        for name in names:
            outcomes[name].append(run_one(name, setup, win))
        if progress:
            progress(count)
    best = outcomes.get(OMNISCIENT)
    runs = tuple(
        PolicyRuns(
            name,
            tuple(o.cost / baseline for o in found),
            tuple(o.met for o in found),
            tuple(o.spot_hours for o in found),
            None if best is None else tuple(o.cost / b.cost - 1 for o, b in zip(found, best)),
        )
        for name, found in outcomes.items()
    )
    return TraceResult(trace, price, runs)


def pooled(results: Sequence[TraceResult]) -> tuple[PolicyRuns, ...]:
    """Each policy's runs over every trace together."""
    names = [r.policy for r in results[0].runs]
    out = []
    for index, name in enumerate(names):
        parts = [r.runs[index] for r in results]
        gaps = None if parts[0].gaps is None else tuple(g for p in parts for g in p.gaps or ())
        out.append(PolicyRuns(name, tuple(x for p in parts for x in p.normalized), tuple(x for p in parts for x in p.met), tuple(x for p in parts for x in p.spot_hours), gaps))
    return tuple(out)


def spot_share(runs: PolicyRuns, all_runs: Sequence[PolicyRuns]) -> float | None:
    """Spot hours used relative to the omniscient schedule's (None without omniscient)."""
    best = next((r for r in all_runs if r.policy == OMNISCIENT), None)
    if best is None or sum(best.spot_hours) == 0:
        return None
    return sum(runs.spot_hours) / sum(best.spot_hours)
