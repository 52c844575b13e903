"""Each rule of the deadline policies, on hand-made situations (skyhop.jobs.policies' docstring lists them)."""

from __future__ import annotations

import dataclasses

import pytest

from skyhop.jobs.policies import Greedy, Market, Situation, UniformProgress, policy

H = 3600.0
D = 0.2 * H  # changeover
# A 48 h job due in 60 h: the uniform line asks for 0.8 h of work per hour.
BASE = Situation(elapsed=10 * H, done=8 * H, runtime=48 * H, deadline=60 * H, changeover=D, current=Market.NONE, spot_available=False)


def at(**changes: object) -> Situation:
    return dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]


def on_the_net_edge(extra: float) -> Situation:
    """Remaining time = remaining work + 2 changeovers + `extra`."""
    done = 30 * H
    return at(done=done, elapsed=60 * H - (48 * H - done) - 2 * D - extra)


BOTH = [Greedy(), UniformProgress()]


@pytest.mark.parametrize("p", BOTH, ids=lambda p: p.name)
def test_a_finished_job_runs_nowhere(p):
    assert p.decide(at(done=48 * H, current=Market.ON_DEMAND, spot_available=True)) is Market.NONE


@pytest.mark.parametrize("p", BOTH, ids=lambda p: p.name)
@pytest.mark.parametrize("current", list(Market))
def test_the_safety_net_forces_on_demand_even_with_spot_at_hand(p, current):
    """Remaining time < remaining work + 2 changeovers: on-demand, whatever spot does."""
    assert p.decide(dataclasses.replace(on_the_net_edge(-1.0), current=current, spot_available=True)) is Market.ON_DEMAND


@pytest.mark.parametrize("p", BOTH, ids=lambda p: p.name)
def test_the_safety_net_margin_is_two_changeovers_exactly(p):
    """At exactly remaining work + 2d the net does not hold yet: a job on spot stays there; a second later it leaves."""
    edge = dataclasses.replace(on_the_net_edge(0.0), current=Market.SPOT, spot_available=True)
    assert p.decide(edge) is Market.SPOT
    assert p.decide(dataclasses.replace(edge, elapsed=edge.elapsed + 1.0)) is Market.ON_DEMAND
    assert Greedy().decide(on_the_net_edge(0.0)) is Market.NONE  # idle, no spot: greedy still waits at the edge


@pytest.mark.parametrize("p", BOTH, ids=lambda p: p.name)
def test_the_safety_net_holds_for_good_on_demand(p):
    """Once on on-demand past the net, the slack stays constant, so the answer stays on-demand to the end."""
    s = dataclasses.replace(on_the_net_edge(-60.0), current=Market.ON_DEMAND)
    for _ in range(100):
        assert p.decide(dataclasses.replace(s, spot_available=True)) is Market.ON_DEMAND
        s = dataclasses.replace(s, elapsed=s.elapsed + 0.1 * H, done=s.done + 0.1 * H)


def test_greedy_takes_spot_whenever_there_is_some():
    assert Greedy().decide(at(spot_available=True)) is Market.SPOT
    assert Greedy().decide(at(spot_available=True, current=Market.SPOT, done=0.0)) is Market.SPOT


def test_greedy_waits_when_spot_is_gone_even_far_behind():
    """Greedy burns slack: 2 h done after 10 h (8 h expected) and still no on-demand while the net is off."""
    s = at(done=2 * H)
    assert not s.safety_net and s.behind
    assert Greedy().decide(s) is Market.NONE


def test_uniform_progress_goes_on_demand_when_idle_and_behind():
    s = at(done=7.9 * H)  # expected 8 h at 10 h
    assert s.behind
    assert UniformProgress().decide(s) is Market.ON_DEMAND
    assert UniformProgress().decide(dataclasses.replace(s, current=Market.SPOT)) is Market.ON_DEMAND  # just preempted


def test_uniform_progress_waits_when_idle_and_on_track():
    assert not at(done=8 * H).behind
    assert UniformProgress().decide(at(done=8 * H)) is Market.NONE


def test_uniform_progress_takes_spot_when_available_even_behind():
    assert UniformProgress().decide(at(done=2 * H, spot_available=True)) is Market.SPOT


def test_uniform_progress_keeps_spot_until_preempted_even_behind():
    assert UniformProgress().decide(at(done=2 * H, spot_available=True, current=Market.SPOT)) is Market.SPOT


def test_uniform_progress_stays_on_demand_until_ahead_by_two_changeovers():
    """Expected 8 h: with spot back, on-demand is left at 8 h + 2d of work, not before."""
    almost = at(current=Market.ON_DEMAND, spot_available=True, done=8 * H + 2 * D - 1.0)
    assert not almost.behind
    assert UniformProgress().decide(almost) is Market.ON_DEMAND
    assert UniformProgress().decide(at(current=Market.ON_DEMAND, spot_available=True, done=8 * H + 2 * D)) is Market.SPOT


def test_uniform_progress_does_not_leave_on_demand_to_wait():
    """Far ahead but no spot: stopping would only pay another changeover later."""
    assert UniformProgress().decide(at(current=Market.ON_DEMAND, spot_available=False, done=20 * H)) is Market.ON_DEMAND


def test_policies_by_name():
    assert isinstance(policy("greedy"), Greedy)
    assert isinstance(policy(" Uniform_Progress "), UniformProgress)
    assert policy("GREEDY").name == "greedy"
    with pytest.raises(ValueError, match="greedy, uniform_progress"):
        policy("omniscient")


def test_a_decision_depends_only_on_the_situation():
    """No state between calls: a fresh object (a restarted controller) answers the same."""
    situations = [at(done=d * H, current=c, spot_available=a) for d in (0, 7.9, 8.5, 30) for c in Market for a in (False, True)]
    first = UniformProgress()
    answers = [first.decide(s) for s in situations]
    assert [UniformProgress().decide(s) for s in reversed(situations)] == list(reversed(answers))
