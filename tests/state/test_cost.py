"""Cost reports from cluster history: pure replay rules and end-to-end through the store."""

from __future__ import annotations

import pytest
from conftest import cluster

from skyhop.state.cost import cost_lines
from skyhop.state.records import ClusterEvent

HOUR = 3600.0


def ev(i: int, name: str, kind: str, at: float, price: float = 2.0, **fields) -> ClusterEvent:
    values = dict(provider="aws", region="us-east-1", num_nodes=1, resources={"instance_type": "p5"})
    values.update(fields)
    return ClusterEvent(id=i, cluster=name, event=kind, at=at, hourly_price=price, **values)


def test_billed_intervals_exclude_stopped_time_and_use_the_price_they_started_with():
    events = [
        ev(1, "a", "LAUNCH", 0.0, price=2.0),
        ev(2, "a", "STOP", 1 * HOUR),
        ev(3, "a", "START", 3 * HOUR, price=5.0, num_nodes=2),
        ev(4, "a", "TERMINATE", 4 * HOUR, price=5.0, num_nodes=2),
    ]
    (line,) = cost_lines(events, now=100 * HOUR)
    assert line.duration_s == 2 * HOUR
    assert line.cost == pytest.approx(2.0 + 5.0)
    assert (line.status, line.hourly_price, line.num_nodes, line.launched_at, line.ended_at) == ("TERMINATED", 5.0, 2, 0.0, 4 * HOUR)


def test_running_and_stopped_clusters_are_costed_up_to_now():
    events = [
        ev(1, "up", "LAUNCH", 0.0, price=1.0),
        ev(2, "stopped", "LAUNCH", 0.0, price=1.0),
        ev(3, "stopped", "STOP", HOUR),
    ]
    lines = {line.cluster: line for line in cost_lines(events, now=10 * HOUR)}
    assert (lines["up"].status, lines["up"].cost) == ("UP", pytest.approx(10.0))
    assert (lines["stopped"].status, lines["stopped"].cost) == ("STOPPED", pytest.approx(1.0))
    assert lines["up"].ended_at is None


def test_a_reused_name_gets_one_line_per_lifetime():
    events = [
        ev(1, "a", "LAUNCH", 0.0, price=1.0, provider="lambda"),
        ev(2, "a", "TERMINATE", HOUR, price=1.0, provider="lambda"),
        ev(3, "a", "LAUNCH", 2 * HOUR, price=3.0),
    ]
    first, second = cost_lines(events, now=4 * HOUR)
    assert (first.provider, first.status, first.cost) == ("lambda", "TERMINATED", pytest.approx(1.0))
    assert (second.provider, second.status, second.cost) == ("aws", "UP", pytest.approx(6.0))


def test_odd_histories_do_not_break_the_report():
    events = [
        ev(1, "x", "STOP", 0.0),  # nothing open: ignored
        ev(2, "x", "START", HOUR, price=1.0),  # opens a lifetime
        ev(3, "x", "LAUNCH", 2 * HOUR, price=1.0),  # closes the previous one first
        ev(4, "x", "START", 3 * HOUR, price=9.0),  # already billed: keeps the running interval
        ev(5, "x", "TERMINATE", 4 * HOUR),
        ev(6, "x", "TERMINATE", 5 * HOUR),  # nothing open: ignored
    ]
    lines = cost_lines(events, now=10 * HOUR)
    assert [(line.launched_at, line.cost) for line in lines] == [(HOUR, pytest.approx(1.0)), (2 * HOUR, pytest.approx(2.0))]
    assert cost_lines([ev(1, "y", "LAUNCH", 5.0)], now=1.0)[0].cost == 0.0, "a clock going backwards costs nothing"


def test_store_cost_report_covers_live_and_terminated_clusters(store):
    store.add_cluster(cluster("gone", hourly_price=2.0))
    store.set_cluster_status("gone", "UP", at=0.0)
    store.remove_cluster("gone", at=HOUR)
    store.add_cluster(cluster("live", hourly_price=1.0))
    store.set_cluster_status("live", "UP", at=HOUR, hourly_price=4.0)
    store.set_cluster_status("live", "STOPPED", at=2 * HOUR)
    store.set_cluster_status("live", "UP", at=3 * HOUR)
    store.add_cluster(cluster("never-up"))
    report = store.cost_report(now=5 * HOUR)
    assert [(line.cluster, line.status) for line in report] == [("gone", "TERMINATED"), ("live", "UP")]
    gone, live = report
    assert gone.cost == pytest.approx(2.0) and gone.duration_s == HOUR
    assert live.cost == pytest.approx(4.0 * 3) and live.duration_s == 3 * HOUR
    assert (live.provider, live.region, live.num_nodes, live.user) == ("local", "local", 2, "alice")
    assert live.resources["accelerators"] == {"H100": 1}


def test_store_cost_report_for_a_reused_name(store):
    store.add_cluster(cluster("a", hourly_price=1.0))
    store.set_cluster_status("a", "UP", at=0.0)
    store.remove_cluster("a", at=HOUR)
    store.add_cluster(cluster("a", hourly_price=10.0))
    store.set_cluster_status("a", "UP", at=2 * HOUR)
    store.remove_cluster("a", at=3 * HOUR)
    assert [line.cost for line in store.cost_report(now=9 * HOUR)] == [pytest.approx(1.0), pytest.approx(10.0)]
