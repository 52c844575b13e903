"""The simulator on synthetic windows whose outcome is known, and the deadline guarantee on arbitrary ones."""

from __future__ import annotations

import pytest
from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st

import skyhop.jobs.policies as policies
from skyhop.jobs.policies import Greedy, Market, UniformProgress
from skyhop.sim import experiment, omniscient, simulate
from skyhop.sim.simulate import Job, Window
from skyhop.sim.trace import Trace

H = 3600.0
TICK = 600.0


def window(pattern: str, spot: float = 1.0, ondemand: float = 3.0) -> Window:
    """'#' = spot available for one 10-minute tick, '.' = not."""
    return Window(TICK, [c == "#" for c in pattern], [spot] * len(pattern), ondemand)


def hours(n: float, c: str) -> str:
    return c * round(n * H / TICK)


@pytest.mark.parametrize("p", [Greedy(), UniformProgress()], ids=lambda p: p.name)
def test_spot_all_along_costs_the_work_plus_one_changeover_on_spot(p):
    job = Job(10 * H, 14 * H, 0.2 * H)
    out = simulate.run(p, job, window(hours(14, "#")))
    assert out.met and out.starts == 1 and out.ondemand_hours == 0
    assert out.finished_at == pytest.approx(10.2 * H)
    assert out.cost == pytest.approx(10.2) and out.spot_hours == pytest.approx(10.2)
    assert omniscient.solve(job, window(hours(14, "#"))).cost == pytest.approx(10.2, rel=1e-3)


def test_without_spot_greedy_waits_for_the_safety_net_then_runs_on_demand_once():
    job = Job(10 * H, 14 * H, 0.2 * H)
    out = simulate.run(Greedy(), job, window(hours(14, "."), ondemand=3.0), record=True)
    assert out.met and out.starts == 1 and out.spot_hours == 0
    assert out.cost == pytest.approx(3 * 10.2)
    first_on_demand = next(point.time for point in out.timeline if point.market is Market.ON_DEMAND)
    # The net: remaining time < remaining work + 2d, i.e. after 14 - 10 - 0.4 = 3.6 h; checked every tick.
    assert 3.6 * H < first_on_demand <= 3.6 * H + TICK
    assert out.finished_at is not None and out.finished_at <= job.deadline


def test_without_spot_uniform_progress_goes_on_demand_as_soon_as_it_falls_behind():
    job = Job(10 * H, 14 * H, 0.2 * H)
    out = simulate.run(UniformProgress(), job, window(hours(14, ".")), record=True)
    assert out.met and out.starts == 1 and out.cost == pytest.approx(3 * 10.2)
    assert [p.market for p in out.timeline[:2]] == [Market.NONE, Market.ON_DEMAND]  # on track at 0, behind one tick later


def test_a_trace_with_a_known_optimum():
    """Spot for 10 h, none for 10 h, spot for 20 h; 20 h of work due at 40 h, changeover 0.2 h.

    The optimum runs only on spot, in two runs: 10 h + 10.4 h = 20.4 spot-hours. Greedy waits out
    the hole and finds it; Uniform Progress falls behind its line in the hole and pays for on-demand.
    """
    job = Job(20 * H, 40 * H, 0.2 * H)
    win = window(hours(10, "#") + hours(10, ".") + hours(20, "#"))
    best = omniscient.solve(job, win)
    assert best.cost == pytest.approx(20.4, rel=1e-3) and best.ondemand_hours == pytest.approx(0, abs=1e-6) and best.starts == 2
    greedy = simulate.run(Greedy(), job, win)
    assert greedy.met and greedy.cost == pytest.approx(20.4) and greedy.finished_at == pytest.approx(30.4 * H)
    up = simulate.run(UniformProgress(), job, win)
    assert up.met and up.ondemand_hours > 0 and up.cost > greedy.cost


def test_the_last_step_is_billed_only_up_to_the_end_of_the_work():
    job = Job(1000.0, 3 * H, 0.0)
    out = simulate.run(Greedy(), job, window("#" * 18))
    assert out.finished_at == pytest.approx(1000.0) and out.cost == pytest.approx(1000.0 / H)


def test_a_step_is_never_longer_than_the_changeover():
    """The safety net leaves one changeover of room between decisions: hour-long ticks are cut into 0.2 h steps."""
    assert simulate.steps_per_tick(3600.0, 720.0) == 5
    assert simulate.steps_per_tick(600.0, 720.0) == 1
    assert simulate.steps_per_tick(600.0, 0.0) == 1


def test_a_policy_that_asks_for_missing_spot_is_a_bug():
    class Broken:
        name = "broken"

        def decide(self, s):
            return Market.SPOT

    with pytest.raises(RuntimeError, match="broken chose spot"):
        simulate.run(Broken(), Job(H, 2 * H, 60.0), window("." * 12))


@settings(max_examples=examples(200), deadline=None)
@given(
    runs=st.lists(st.tuples(st.booleans(), st.integers(1, 40)), min_size=1, max_size=30),
    runtime_ticks=st.integers(1, 60),
    slack_ticks=st.integers(0, 40),
    changeover=st.sampled_from([1.0, 60.0, 300.0, 600.0, 720.0, 1800.0]),
    tick=st.sampled_from([30.0, 195.0, 600.0, 3600.0]),
)
def test_the_online_policies_always_meet_a_meetable_deadline(runs, runtime_ticks, slack_ticks, changeover, tick):
    """Any availability, any job whose deadline allows runtime + one changeover: both policies finish in time.

    (A zero changeover leaves the safety net no margin for the time between two decisions; Setup refuses it.)
    """
    runtime = runtime_ticks * tick
    deadline = runtime + changeover + slack_ticks * tick
    pattern = [up for up, n in runs for _ in range(n)]
    need = experiment.window_ticks(Trace("t.json", tick, (0,)), Job(runtime, deadline, changeover))
    pattern = (pattern * (need // len(pattern) + 1))[:need]
    win = Window(tick, pattern, [1.0] * need, 3.0)
    for p in (Greedy(), UniformProgress()):
        out = simulate.run(p, Job(runtime, deadline, changeover), win)
        assert out.met, (p.name, out)
        assert out.spot_hours * H <= sum(pattern) * tick + 1e-6


def test_the_simulator_runs_the_controllers_policy_objects(monkeypatch):
    """Not a copy: a change to the policy class the controller imports changes what the simulator does."""
    calls = []
    original = policies.UniformProgress.decide

    def spy(self, s):
        calls.append(s)
        return original(self, s)

    monkeypatch.setattr(policies.UniformProgress, "decide", spy)
    trace = Trace("t.json", TICK, tuple([1, 0] * 50))
    setup = experiment.Setup(Job(2 * H, 4 * H, 0.1 * H), starts=2)
    experiment.evaluate(trace, ["uniform_progress"], setup)
    assert calls and all(isinstance(s, policies.Situation) for s in calls)
