"""The omniscient baseline: the cheapest schedule for one job, knowing the whole trace ahead.

The Can't Be Late paper's integer program over discretized time, solved with
HiGHS. The time line is cut into periods at every change of spot
availability or price in the trace (and nowhere else): a 60 h window of the
2-week AWS traces has about 25 of them instead of 360 ten-minute ticks, and
solves in tens of milliseconds instead of seconds. The merge loses nothing:
inside a period nothing changes, so a run may be moved to start at the
period's start, and two runs in one period (spot then on-demand, or two of
the same market) are never cheaper than one. Per period i and market m
(spot, on-demand):

- u[m,i] in {0, 1}: the job holds a machine on m during period i (spot only
  where the trace has spot, at most one market a period);
- x[m,i] in [0, u[m,i]]: the share of the period it is billed for, whole
  (x[m,i] >= u[m,i] + u[m,i+1] - 1) unless the run ends in it: a run starts
  at a period's start and may stop anywhere (starting later instead would
  only move the same work, at the same price, since prices are constant
  within a run of equal periods);
- y[m,i] >= u[m,i] - u[m,i-1]: a start on m at period i (u[m,-1] = 0).

Minimise sum(price[m,i] * length[i] * x[m,i]) subject to
sum(length[i] * x[m,i]) - changeover * sum(y[m,i]) >= runtime, over the
periods up to the deadline. A start pays the changeover before any progress,
exactly as in the simulator. HiGHS stops within 0.1% of the optimum
(MIP_REL_GAP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from skyhop.jobs.policies import Market
from skyhop.sim.errors import SimError
from skyhop.sim.simulate import Job, Outcome, Point, Window
from skyhop.solver import highs_model

#: Bound on one solve; a solve that stops on it is an error, not a number.
SOLVE_TIME_LIMIT_S = 60.0
#: Proving the last 0.1% takes HiGHS most of its time on these programs (the LP bound sits just under
#: the optimum); 0.1% of the cost is far below what the comparison with the online policies can tell.
MIP_REL_GAP = 1e-3
_PER_PERIOD = 6  # u_spot, u_od, x_spot, x_od, y_spot, y_od


@dataclass(frozen=True)
class Periods:
    """The window cut into the program's periods: spot availability and price are constant within each."""

    length: tuple[float, ...]  # seconds
    available: tuple[bool, ...]
    spot_price: tuple[float, ...]
    ondemand_price: float


def periods(window: Window, horizon: float, longest: float) -> Periods:
    """Cut `window` up to `horizon` seconds at every change of availability or price, and every `longest` seconds."""
    length: list[float] = []
    available: list[bool] = []
    price: list[float] = []
    run = 0.0  # seconds into the current period
    for i in range(len(window.available)):
        begin = i * window.tick
        if begin >= horizon - 1e-9:
            break
        size = min(window.tick, horizon - begin)
        same = bool(available) and available[-1] == bool(window.available[i]) and price[-1] == window.spot_price[i]
        if same and run + size <= longest + 1e-9:
            length[-1] += size
            run += size
            continue
        length.append(size)
        available.append(bool(window.available[i]))
        price.append(window.spot_price[i])
        run = size
    return Periods(tuple(length), tuple(available), tuple(price), window.ondemand_price)


def solve(job: Job, window: Window, longest: float = math.inf, *, record: bool = False) -> Outcome:
    """The cheapest schedule that finishes `job` by its deadline on `window`.

    `longest` also cuts periods every so many seconds (the tests compare the merged program with one period a tick).
    """
    cut = periods(window, job.deadline, longest)
    values = _solve(job, cut)
    return _outcome(job, cut, values, record)


def _solve(job: Job, cut: Periods) -> Sequence[float]:
    import highspy

    n = len(cut.available)
    lp = highspy.HighsLp()
    lp.num_col_ = _PER_PERIOD * n
    cost: list[float] = []
    lower: list[float] = []
    upper: list[float] = []
    for i in range(n):
        hours = cut.length[i] / 3600
        cost += [0.0, 0.0, cut.spot_price[i] * hours, cut.ondemand_price * hours, 0.0, 0.0]
        lower += [0.0] * _PER_PERIOD
        upper += [1.0 if cut.available[i] else 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lower, upper
    lp.integrality_ = [highspy.HighsVarType.kInteger, highspy.HighsVarType.kInteger] + [highspy.HighsVarType.kContinuous] * 4
    lp.integrality_ = lp.integrality_ * n
    starts: list[int] = []
    index: list[int] = []
    value: list[float] = []
    row_upper: list[float] = []

    def row(entries: list[tuple[int, float]], bound: float) -> None:
        starts.append(len(index))
        index.extend(col for col, _ in entries)
        value.extend(coef for _, coef in entries)
        row_upper.append(bound)

    for i in range(n):
        us, uo, xs, xo, ys, yo = range(_PER_PERIOD * i, _PER_PERIOD * (i + 1))
        row([(us, -1.0), (xs, 1.0)], 0.0)  # x <= u
        row([(uo, -1.0), (xo, 1.0)], 0.0)
        row([(us, 1.0), (uo, 1.0)], 1.0)  # one market a tick
        for u, x, y in ((us, xs, ys), (uo, xo, yo)):
            previous = [(u - _PER_PERIOD, -1.0)] if i else []
            row(sorted(previous + [(u, 1.0), (y, -1.0)]), 0.0)  # a start where u goes 0 -> 1
            if i + 1 < n:  # a run that goes on into the next period uses this one whole
                row([(u, 1.0), (x, -1.0), (u + _PER_PERIOD, 1.0)], 1.0)
    progress = []
    for i in range(n):
        base = _PER_PERIOD * i
        hours = cut.length[i] / 3600
        progress += [(base + 2, hours), (base + 3, hours), (base + 4, -job.changeover / 3600), (base + 5, -job.changeover / 3600)]
    row_lower = [-highspy.kHighsInf] * len(row_upper) + [job.runtime / 3600]
    row(progress, highspy.kHighsInf)
    lp.num_row_ = len(row_upper)
    lp.row_lower_, lp.row_upper_ = row_lower, row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = starts + [len(index)]
    lp.a_matrix_.index_, lp.a_matrix_.value_ = index, value
    model = highs_model(time_limit_s=SOLVE_TIME_LIMIT_S, mip_rel_gap=MIP_REL_GAP)
    model.passModel(lp)
    model.run()
    status = model.modelStatusToString(model.getModelStatus())
    if status == "Infeasible":
        raise SimError(
            f"No schedule finishes {job.runtime / 3600:g} h of work by the {job.deadline / 3600:g} h deadline "
            "(each start costs the changeover): give a later deadline."
        )
    if status != "Optimal":
        raise SimError(f"The omniscient baseline did not solve ({status}); it is bounded to {SOLVE_TIME_LIMIT_S:g} s a window.")
    return list(model.getSolution().col_value)



def _outcome(job: Job, cut: Periods, values: Sequence[float], record: bool) -> Outcome:
    cost = spot = ondemand = 0.0
    starts = 0
    done = begin = finished_at = changeover_left = 0.0
    previous = Market.NONE
    timeline = []
    for i, length in enumerate(cut.length):
        us, uo, xs, xo = (values[_PER_PERIOD * i + k] for k in range(4))
        market = Market.SPOT if us > 0.5 else Market.ON_DEMAND if uo > 0.5 else Market.NONE
        used = (xs if market is Market.SPOT else xo if market is Market.ON_DEMAND else 0.0) * length
        if market is not Market.NONE and market is not previous:
            starts += 1
            changeover_left = job.changeover
        if record:
            timeline.append(Point(begin, market, done))
        if used > 1e-6:
            paying = min(changeover_left, used)
            changeover_left -= paying
            done = min(job.runtime, done + used - paying)
            finished_at = begin + used
        spot += xs * length / 3600
        ondemand += xo * length / 3600
        cost += (xs * cut.spot_price[i] + xo * cut.ondemand_price) * length / 3600
        previous = market
        begin += length
    if record:
        timeline.append(Point(finished_at, Market.NONE, job.runtime))
    return Outcome(cost, spot, ondemand, starts, finished_at, True, tuple(timeline))
