"""The omniscient integer program against brute force, and its merged periods against one period a tick."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys

import pytest
from helpers import REPO

from skyhop.sim import omniscient
from skyhop.sim.simulate import Job, Window
from skyhop.sim.trace import load

TICK = 600.0
MARKETS = ("idle", "spot", "od")


def brute_force(job: Job, win: Window, ticks: int) -> float:
    """Cheapest schedule by enumeration: a market (or idle) per tick; each run of one market pays a
    changeover and may stop early in its last tick (surplus work trimmed where that tick is dearest;
    stopping a whole tick earlier is another assignment)."""
    best = float("inf")
    for assignment in itertools.product(MARKETS, repeat=ticks):
        if any(m == "spot" and not win.available[i] for i, m in enumerate(assignment)):
            continue
        runs = []  # (cost of its whole ticks, price per second of its last tick, length)
        for market, group in itertools.groupby(enumerate(assignment), key=lambda item: item[1]):
            if market == "idle":
                continue
            prices = [(win.spot_price[i] if market == "spot" else win.ondemand_price) / 3600 for i, _ in group]
            runs.append((sum(prices) * TICK, prices[-1], TICK * len(prices)))
        surplus = sum(length - job.changeover for _, _, length in runs) - job.runtime
        if surplus < 0:
            continue
        cost = sum(whole for whole, _, _ in runs)
        for _, last, length in sorted(runs, key=lambda run: -run[1]):
            cut = min(surplus, TICK, length - job.changeover)
            cost -= last * cut
            surplus -= cut
        if surplus <= 1e-9:
            best = min(best, cost)
    return best


@pytest.mark.parametrize("seed", range(12))
def test_the_program_finds_the_brute_force_optimum(seed):
    rng = random.Random(seed)
    ticks = 7
    available = [rng.random() < 0.6 for _ in range(ticks)]
    prices = [rng.choice([1.0, 1.0, 1.5]) for _ in range(ticks)]
    win = Window(TICK, available, prices, 3.0)
    job = Job(runtime=rng.choice([600.0, 1500.0, 2400.0]), deadline=ticks * TICK, changeover=rng.choice([60.0, 300.0]))
    expected = brute_force(job, win, ticks)
    got = omniscient.solve(job, win).cost
    assert expected - 1e-9 <= got <= expected * (1 + omniscient.MIP_REL_GAP) + 1e-9, (available, prices, job)


def test_periods_merge_only_ticks_that_do_not_differ():
    win = Window(TICK, [True, True, False, False, False, True], [1.0, 2.0, 1.0, 1.0, 1.0, 1.0], 3.0)
    cut = omniscient.periods(win, horizon=5.5 * TICK, longest=float("inf"))
    assert cut.length == (TICK, TICK, 3 * TICK, 0.5 * TICK)
    assert cut.available == (True, True, False, True) and cut.spot_price == (1.0, 2.0, 1.0, 1.0)
    assert omniscient.periods(win, horizon=6 * TICK, longest=2 * TICK).length == (TICK, TICK, 2 * TICK, TICK, TICK)


@pytest.mark.parametrize("offset", [0, 700, 1900])
def test_merged_periods_cost_what_one_period_a_tick_costs(offset):
    """On a real trace: cutting time only where availability changes loses nothing against the tick-level program."""
    trace = load(REPO.parent / "shared" / "traces" / "spot-traces" / "availability" / "1-node" / "aws-10-26-2022" / "us-west-2b_v100_1.json")
    job = Job(10 * 3600.0, 14 * 3600.0, 720.0)
    ticks = int(job.deadline // trace.tick)
    win = Window(trace.tick, trace.available()[offset : offset + ticks], [1.0] * ticks, 3.0)
    merged = omniscient.solve(job, win)
    fine = omniscient.solve(job, win, longest=trace.tick)
    assert merged.cost == pytest.approx(fine.cost, rel=2 * omniscient.MIP_REL_GAP)


def test_the_solution_is_a_real_schedule(tmp_path):
    """Starts, spot hours only where spot was, finish by the deadline, and a timeline that reaches the runtime."""
    win = Window(TICK, [True] * 6 + [False] * 6 + [True] * 12, [1.0] * 24, 3.0)
    job = Job(3 * 3600.0, 4 * 3600.0, 360.0)
    out = omniscient.solve(job, win, record=True)
    assert out.met and out.finished_at is not None and out.finished_at <= job.deadline + 1e-6
    assert out.spot_hours + out.ondemand_hours == pytest.approx(3 + 0.1 * out.starts, rel=1e-6)
    assert out.timeline[-1].done == pytest.approx(job.runtime)


def test_the_baseline_solves_in_a_process_where_another_solve_ran_first():
    """HiGHS sets up its thread pool once per process; a later model asking another thread count did not run
    ("Not Set"). A pipeline placement solving first in the same process broke every baseline after it."""
    script = (
        "from skyhop.solver import highs_model\n"
        "first = highs_model(time_limit_s=5, mip_rel_gap=0.0)\n"
        "first.addVar(0, 1); first.changeColCost(0, 1.0); first.run()\n"
        "from skyhop.sim import omniscient\n"
        "from skyhop.sim.simulate import Job, Window\n"
        "win = Window(3600.0, [True, False, True], [1.0, 1.0, 1.0], 3.0)\n"
        "print(omniscient.solve(Job(runtime=3600.0, deadline=3 * 3600.0, changeover=60.0), win).cost)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip().splitlines()[-1]) > 0
