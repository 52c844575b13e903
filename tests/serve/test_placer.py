"""SpotHedge's `dynamic_fallback` placer: the paper's rules as cases, then the invariant as a property."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skyhop.serve.placer import DynamicFallback, Zone

ZONES = (("c", 1.0), ("a", 2.0), ("b", 1.0), ("d", 1.5))


def test_zones_are_kept_cheapest_first_then_by_name() -> None:
    placer = DynamicFallback.of(ZONES)
    assert placer.zones == (Zone("b", 1.0), Zone("c", 1.0), Zone("d", 1.5), Zone("a", 2.0))
    assert placer.active == ("b", "c", "d", "a") and placer.preempting == frozenset()


@pytest.mark.parametrize(
    ("zones", "message"),
    [((), "at least one zone"), ((("a", 1.0), ("a", 2.0)), "unique"), ((("a", float("nan")),), "finite"), ((("a", -1.0),), "finite")],
)
def test_bad_zones_are_refused(zones, message) -> None:
    with pytest.raises(ValueError, match=message):
        DynamicFallback.of(zones)


def test_select_fewest_replicas_then_cheapest_then_name() -> None:
    placer = DynamicFallback.of(ZONES)
    assert placer.select({}) == "b"  # all empty: cheapest, and b before c at the same price
    assert placer.select({"b": 1}) == "c"
    assert placer.select({"b": 1, "c": 1}) == "d"  # d costs more than b and c but holds fewer
    assert placer.select({"b": 1, "c": 1, "d": 1}) == "a"
    assert placer.select({"b": 2, "c": 1, "d": 1, "a": 1}) == "c"
    assert placer.select({"elsewhere": 0, "b": 1, "c": 1, "d": 1, "a": 1}) == "b"  # unknown names are ignored


def test_preempted_zone_is_avoided_until_a_replica_there_is_ready() -> None:
    placer = DynamicFallback.of(ZONES).preempted("b")
    assert placer.preempting == {"b"} and placer.active == ("c", "d", "a")
    assert placer.select({}) == "c"
    assert placer.select({"c": 3, "d": 3, "a": 3}) == "c"  # b holds none, but it just preempted
    back = placer.ready("b")
    assert back.preempting == frozenset() and back.select({}) == "b"
    assert placer.ready("c") is placer  # a READY replica in an active zone changes nothing


def test_fewer_than_two_active_zones_bring_all_back() -> None:
    placer = DynamicFallback.of(ZONES).preempted("b").preempted("c")
    assert placer.active == ("d", "a")
    everything = placer.preempted("d")  # only a would stay active
    assert everything.preempting == frozenset() and everything.active == ("b", "c", "d", "a")
    assert placer.preempted("b") == placer  # a second preemption in a preempting zone changes nothing


def test_two_zones_never_hold_a_preempting_one_and_one_zone_is_always_chosen() -> None:
    pair = DynamicFallback.of((("x", 1.0), ("y", 1.0)))
    assert pair.preempted("x").preempting == frozenset()
    single = DynamicFallback.of((("only", 1.0),)).preempted("only")
    assert single.select({"only": 7}) == "only"


def test_unknown_zone_is_an_error() -> None:
    placer = DynamicFallback.of(ZONES)
    with pytest.raises(ValueError, match="unknown zone 'z'"):
        placer.preempted("z")
    with pytest.raises(ValueError, match="unknown zone 'z'"):
        placer.ready("z")


NAMES = ("z0", "z1", "z2", "z3", "z4", "z5")


@st.composite
def histories(draw):
    count = draw(st.integers(2, len(NAMES)))
    zones = [(name, draw(st.sampled_from((0.5, 1.0, 2.0)))) for name in NAMES[:count]]
    events = draw(st.lists(st.tuples(st.sampled_from(("preempted", "ready")), st.sampled_from(NAMES[:count])), max_size=30))
    current = draw(st.dictionaries(st.sampled_from(NAMES[:count]), st.integers(0, 4)))
    return zones, events, current


@settings(max_examples=50, deadline=None)
@given(histories())
def test_never_selects_a_preempting_zone_and_keeps_two_active(history) -> None:
    zones, events, current = history
    placer = DynamicFallback.of(zones)
    for event, zone in events:
        placer = getattr(placer, event)(zone)
        assert len(placer.active) >= 2
        chosen = placer.select(current)
        assert chosen not in placer.preempting and chosen in placer.active
        assert current.get(chosen, 0) == min(current.get(z, 0) for z in placer.active)
