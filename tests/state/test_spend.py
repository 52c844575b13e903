"""Spend per user/workspace per period (budgets, `cost-report --daily`): the billed intervals clipped to a month or a day."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyhop.state.cost import cost_lines, daily_spend, month_bounds, month_label, month_name, spend
from skyhop.state.records import ClusterEvent

HOUR = 3600.0
NOV_START, DEC_START = month_bounds("2026-11")


def ev(i: int, name: str, kind: str, at: float, price: float = 2.0, user: str | None = "alice", workspace: str | None = None) -> ClusterEvent:
    return ClusterEvent(
        id=i, cluster=name, event=kind, at=at, hourly_price=price, provider="aws", region="us-east-1", num_nodes=1,
        resources={}, user=user, workspace=workspace,
    )


def test_month_bounds_are_utc_calendar_months():
    start, end = month_bounds("2026-02")
    assert (end - start) == 28 * 24 * HOUR
    assert month_name(start) == "2026-02" and month_name(end) == "2026-03" and month_name(end - 1) == "2026-02"
    assert month_label("2026-11") == "November 2026"
    for bad in ("2026-13", "2026-1", "nov", "1900-01"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            month_bounds(bad)


def test_an_interval_across_the_month_boundary_is_split_and_open_ones_count_up_to_now():
    events = [
        ev(1, "a", "LAUNCH", NOV_START - 2 * HOUR, price=1.0),  # two hours in October, then running into November
        ev(2, "b", "LAUNCH", DEC_START - HOUR, price=10.0, user="bob", workspace="team-a"),  # open: counted up to now
    ]
    now = DEC_START + 3 * HOUR
    november = spend(events, now, start=NOV_START, end=DEC_START, by="user")
    assert november == {"alice": pytest.approx((DEC_START - NOV_START) / HOUR), "bob": pytest.approx(10.0)}
    december = spend(events, now, start=DEC_START, end=DEC_START + 31 * 24 * HOUR, by="user")
    assert december == {"alice": pytest.approx(3.0), "bob": pytest.approx(30.0)}
    by_workspace = spend(events, now, start=DEC_START, end=now, by="workspace")
    assert by_workspace == {"default": pytest.approx(3.0), "team-a": pytest.approx(30.0)}  # NULL workspace is "default"


def test_stopped_time_is_not_spent_and_a_restart_is_billed_to_whoever_started_it():
    events = [
        ev(1, "a", "LAUNCH", NOV_START, price=2.0),
        ev(2, "a", "STOP", NOV_START + HOUR),
        ev(3, "a", "START", NOV_START + 5 * HOUR, price=4.0, user="bob"),
        ev(4, "a", "TERMINATE", NOV_START + 6 * HOUR),
    ]
    assert spend(events, DEC_START, start=NOV_START, end=DEC_START, by="user") == {"alice": pytest.approx(2.0), "bob": pytest.approx(4.0)}
    days = daily_spend(events, DEC_START, start=NOV_START, end=DEC_START, by="user")
    assert days == {("2026-11-01", "alice"): pytest.approx(2.0), ("2026-11-01", "bob"): pytest.approx(4.0)}


# A random history of a few clusters: each step is (cluster, kind, seconds after the previous event, price, owner).
_steps = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]), st.sampled_from(["LAUNCH", "STOP", "START", "TERMINATE"]),
        st.floats(min_value=0, max_value=20 * 24 * HOUR), st.sampled_from([0.0, 0.5, 3.0, 3600.0]),
        st.sampled_from([("alice", None), ("bob", "team-a"), ("carol", "default")]),
    ),
    max_size=25,
)


def _history(steps, start: float) -> list[ClusterEvent]:
    at, events = start, []
    for i, (cluster, kind, gap, price, (user, workspace)) in enumerate(steps):
        at += gap
        events.append(ev(i, cluster, kind, at, price=price, user=user, workspace=workspace))
    return events


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_steps, offset=st.floats(min_value=-40 * 24 * HOUR, max_value=20 * 24 * HOUR), by=st.sampled_from(["user", "workspace"]))
def test_days_sum_to_the_month_and_clipping_never_adds_money(steps, offset, by):
    events = _history(steps, NOV_START + offset)
    now = max([e.at for e in events], default=NOV_START) + 5 * 24 * HOUR
    month = spend(events, now, start=NOV_START, end=DEC_START, by=by)
    days = daily_spend(events, now, start=NOV_START, end=DEC_START, by=by)
    summed: dict[str, float] = {}
    for (day, subject), money in days.items():
        assert day.startswith("2026-11-")
        summed[subject] = summed.get(subject, 0.0) + money
    assert summed.keys() == month.keys()
    for subject, money in month.items():
        assert summed[subject] == pytest.approx(money, rel=1e-9, abs=1e-6)
    # Clipping never adds money: a month is at most everything ever spent, and all time is the cost report's total.
    everything = spend(events, now, start=float("-inf"), end=float("inf"), by=by)
    for subject, money in month.items():
        assert money <= everything[subject] + 1e-6
    assert sum(everything.values()) == pytest.approx(sum(line.cost for line in cost_lines(events, now)), rel=1e-9, abs=1e-6)
    # Two halves of the month add up to the month.
    middle = NOV_START + 13.3 * 24 * HOUR
    first = spend(events, now, start=NOV_START, end=middle, by=by)
    second = spend(events, now, start=middle, end=DEC_START, by=by)
    for subject, money in month.items():
        assert first.get(subject, 0.0) + second.get(subject, 0.0) == pytest.approx(money, rel=1e-9, abs=1e-6)
