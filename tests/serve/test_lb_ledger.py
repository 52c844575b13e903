"""The load balancer's in-flight ledger: per-policy cases, and a state machine that churns replicas under open requests.

The churn cases are the ones SkyPilot issue #10444 hit: counters leaking on failures, a removed
replica's counter recreated at -1 by a late completion, a returning replica inheriting phantom load,
and ties always going to the first replica.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Generator

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from skyhop.serve.lb.ledger import Ledger, Route, Slot, qps_weight


def _routes(*ids: int, **qps: float) -> list[Route]:
    return [Route(i, f"http://10.0.0.{i}:8080", qps=qps.get(f"r{i}", 1.0)) for i in ids]


def _picks(ledger: Ledger, n: int, release: bool = True) -> list[int]:
    out = []
    for _ in range(n):
        slot = ledger.acquire()
        assert slot is not None
        out.append(slot.replica_id)
        if release:
            ledger.release(slot)
    return out


def test_round_robin_cycles_in_id_order_whatever_the_load() -> None:
    ledger = Ledger("round_robin")
    ledger.set_routes(_routes(3, 1, 2))
    assert _picks(ledger, 7, release=False) == [1, 2, 3, 1, 2, 3, 1]


def test_round_robin_continues_after_the_set_changes() -> None:
    ledger = Ledger("round_robin")
    ledger.set_routes(_routes(1, 2, 3))
    assert _picks(ledger, 2) == [1, 2]
    ledger.set_routes(_routes(1, 3, 4))
    assert _picks(ledger, 4) == [3, 4, 1, 3]


def test_least_load_picks_the_idlest_replica() -> None:
    ledger = Ledger("least_load")
    ledger.set_routes(_routes(1, 2, 3))
    held = [ledger.acquire() for _ in range(3)]
    assert sorted(s.replica_id for s in held if s) == [1, 2, 3]
    slot_two = next(s for s in held if s and s.replica_id == 2)
    ledger.release(slot_two)
    nxt = ledger.acquire()
    assert nxt is not None and nxt.replica_id == 2


def test_least_load_ties_rotate_so_equal_replicas_share_short_requests() -> None:
    # Before #10445 SkyPilot sent every sequential request to the first replica.
    ledger = Ledger("least_load")
    ledger.set_routes(_routes(1, 2, 3))
    assert Counter(_picks(ledger, 9)) == {1: 3, 2: 3, 3: 3}


def test_default_policy_is_least_load_and_names_are_case_insensitive() -> None:
    assert Ledger().policy == "least_load"
    assert Ledger("Round_Robin").policy == "round_robin"
    with pytest.raises(ValueError, match="load_balancing_policy"):
        Ledger("random")


def test_instance_aware_weighs_in_flight_by_accelerator_qps() -> None:
    ledger = Ledger("instance_aware_least_load")
    ledger.set_routes(_routes(1, 2, r1=4.0, r2=1.0))
    # A replica rated 4 QPS holds four times the open requests of one rated 1 QPS.
    assert Counter(_picks(ledger, 10, release=False)) == {1: 8, 2: 2}
    assert ledger.load(1) == ledger.load(2) == 2.0


def test_least_load_ignores_qps_weights() -> None:
    ledger = Ledger("least_load")
    ledger.set_routes(_routes(1, 2, r1=4.0, r2=1.0))
    assert Counter(_picks(ledger, 10, release=False)) == {1: 5, 2: 5}


def test_qps_weight_from_the_per_accelerator_map() -> None:
    table = {"A100": 4.0, "L4:2": 2.0}
    assert qps_weight("A100", table) == 4.0
    assert qps_weight("A100:8", table) == 4.0
    assert qps_weight("L4:2", table) == 2.0
    # A replica records its accelerator by name (`L4`): it matches a key with a count, as in the autoscaler.
    assert qps_weight("L4", table) == 2.0
    assert qps_weight("T4", table) == 1.0
    assert qps_weight(None, table) == 1.0
    assert qps_weight("A100", 3.0) == 1.0
    assert qps_weight("A100", None) == 1.0


@pytest.mark.parametrize("qps", [0.0, -1.0, float("nan"), float("inf")])
def test_a_route_without_a_usable_qps_is_refused(qps: float) -> None:
    with pytest.raises(ValueError, match="qps of replica 7"):
        Route(7, "http://x", qps=qps)


def test_duplicate_ids_in_one_push_are_refused_and_the_old_set_stays() -> None:
    ledger = Ledger()
    ledger.set_routes(_routes(1))
    with pytest.raises(ValueError, match="replica_id 2 appears twice"):
        ledger.set_routes(_routes(1, 2, 2))
    assert [r.replica_id for r in ledger.routes()] == [1]


@pytest.mark.parametrize("policy", ["round_robin", "least_load", "instance_aware_least_load"])
def test_nothing_routable_gives_none(policy: str) -> None:
    ledger = Ledger(policy)
    assert ledger.acquire() is None
    ledger.set_routes([Route(1, "http://a", draining=True), Route(2, "http://b")])
    assert ledger.acquire(exclude={2}) is None
    slot = ledger.acquire(exclude={1})
    assert slot is not None and slot.replica_id == 2


def test_release_twice_or_a_foreign_slot_changes_nothing() -> None:
    ledger, other = Ledger(), Ledger()
    ledger.set_routes(_routes(1))
    other.set_routes(_routes(1))
    slot = ledger.acquire()
    foreign = other.acquire()
    assert slot is not None and foreign is not None
    ledger.release(foreign)
    assert ledger.in_flight() == {1: 1}
    ledger.release(slot)
    ledger.release(slot)
    assert ledger.in_flight() == {1: 0} and ledger.open_count() == 0
    assert other.in_flight() == {1: 1}


def test_draining_replica_keeps_its_count_and_gets_nothing_new() -> None:
    ledger = Ledger()
    ledger.set_routes(_routes(1, 2))
    slot = ledger.acquire()
    assert slot is not None and slot.replica_id == 1
    ledger.set_routes([Route(1, "http://10.0.0.1:8080", draining=True), _routes(2)[0]])
    assert {_picks(ledger, 1)[0] for _ in range(3)} == {2}
    assert ledger.in_flight() == {1: 1, 2: 0}
    ledger.release(slot)
    assert ledger.in_flight() == {1: 0, 2: 0}


def test_removed_replica_vanishes_at_zero_and_a_re_added_id_starts_fresh() -> None:
    # The #10444 leak: a late completion of a removed replica recreated its counter at -1,
    # and a returning replica inherited the stale count.
    ledger = Ledger()
    ledger.set_routes(_routes(1, 2))
    old = [ledger.acquire(exclude={2}) for _ in range(2)]
    ledger.set_routes(_routes(2))
    assert ledger.in_flight() == {1: 2, 2: 0}
    ledger.set_routes(_routes(1, 2))
    assert ledger.load(1) == 0.0
    fresh = ledger.acquire(exclude={2})
    assert fresh is not None and fresh.replica_id == 1 and ledger.load(1) == 1.0
    for slot in old:
        assert slot is not None
        ledger.release(slot)
        ledger.release(slot)
    assert ledger.load(1) == 1.0 and ledger.in_flight() == {1: 1, 2: 0}
    ledger.set_routes(_routes(2))
    ledger.release(fresh)
    assert ledger.in_flight() == {2: 0}


def _request(ledger: Ledger, exclude: frozenset[int]) -> Generator[Slot | None, None, None]:
    """A proxied request's shape: acquire, then one try/finally over connect, headers and the body stream."""
    slot = ledger.acquire(exclude)
    try:
        yield slot
        yield slot  # headers sent; the body streams until the next step
    finally:
        if slot is not None:
            ledger.release(slot)


IDS = st.integers(min_value=1, max_value=6)


class LedgerMachine(RuleBasedStateMachine):
    """Random churn of replicas and requests; the model counts open requests per (id, generation)."""

    def __init__(self) -> None:
        super().__init__()
        self.ledger: Ledger
        self.routes: dict[int, Route] = {}
        self.generation: dict[int, int] = {}
        self.open: list[tuple[Generator[Slot | None, None, None], Slot, int]] = []
        self.released: list[Slot] = []

    @initialize(policy=st.sampled_from(["round_robin", "least_load", "instance_aware_least_load"]))
    def start(self, policy: str) -> None:
        self.ledger = Ledger(policy)

    def _push(self) -> None:
        self.ledger.set_routes(list(self.routes.values()))

    @rule(replica_id=IDS, qps=st.sampled_from([0.5, 1.0, 2.0, 4.0]))
    def add(self, replica_id: int, qps: float) -> None:
        fresh = replica_id not in self.routes
        self.routes[replica_id] = Route(replica_id, f"http://10.0.0.{replica_id}:80", qps=qps)
        if fresh:
            self.generation[replica_id] = self.generation.get(replica_id, 0) + 1
        self._push()
        if fresh:
            assert self.ledger.load(replica_id) == 0.0

    @rule(replica_id=IDS)
    def remove(self, replica_id: int) -> None:
        self.routes.pop(replica_id, None)
        self._push()

    @rule(replica_id=IDS, draining=st.booleans())
    def drain(self, replica_id: int, draining: bool) -> None:
        route = self.routes.get(replica_id)
        if route is not None:
            self.routes[replica_id] = Route(route.replica_id, route.url, qps=route.qps, draining=draining)
            self._push()

    def _live_count(self, replica_id: int) -> int:
        gen = self.generation[replica_id]
        return sum(1 for _, slot, g in self.open if slot.replica_id == replica_id and g == gen)

    @rule(exclude=st.frozensets(IDS, max_size=3))
    def acquire(self, exclude: frozenset[int]) -> None:
        candidates = [i for i, r in self.routes.items() if not r.draining and i not in exclude]
        loads = {i: self._live_count(i) / (self.routes[i].qps if self.ledger.policy == "instance_aware_least_load" else 1.0)
                 for i in candidates}
        for i, load in loads.items():
            assert self.ledger.load(i) == load
        request = _request(self.ledger, exclude)
        slot = next(request)
        if not candidates:
            assert slot is None
            request.close()
            return
        assert slot is not None and slot.replica_id in candidates
        if self.ledger.policy != "round_robin":
            assert loads[slot.replica_id] == min(loads.values())
        self.open.append((request, slot, self.generation[slot.replica_id]))

    @precondition(lambda self: bool(self.open))
    @rule(index=st.integers(min_value=0), outcome=st.sampled_from(
        ["complete", "connect_refused", "timeout_before_headers", "reset_mid_stream", "client_gone", "cancelled"]))
    def finish(self, index: int, outcome: str) -> None:
        request, slot, _ = self.open.pop(index % len(self.open))
        if outcome == "complete":
            next(request)
            with pytest.raises(StopIteration):
                next(request)
        elif outcome == "reset_mid_stream":
            next(request)
            with pytest.raises(ConnectionResetError):
                request.throw(ConnectionResetError())
        elif outcome == "client_gone":
            next(request)
            request.close()
        else:
            exc: BaseException = {"connect_refused": ConnectionRefusedError(), "timeout_before_headers": TimeoutError(),
                                  "cancelled": asyncio.CancelledError()}[outcome]
            with pytest.raises(type(exc)):
                request.throw(exc)
        self.released.append(slot)

    @precondition(lambda self: bool(self.released))
    @rule(index=st.integers(min_value=0))
    def release_again(self, index: int) -> None:
        self.ledger.release(self.released[index % len(self.released)])

    @invariant()
    def counts_match_open_requests(self) -> None:
        counts = self.ledger.in_flight()
        assert all(c >= 0 for c in counts.values())
        assert sum(counts.values()) == self.ledger.open_count() == len(self.open)
        expected = Counter(slot.replica_id for _, slot, _ in self.open)
        for replica_id in self.routes:
            expected.setdefault(replica_id, 0)
        # Removed replicas appear only while they still serve; none lingers at 0.
        assert counts == dict(expected)
        assert [r.replica_id for r in self.ledger.routes()] == sorted(self.routes)

    def teardown(self) -> None:
        for request, _, _ in self.open:
            request.close()
        assert self.ledger.open_count() == 0
        assert set(self.ledger.in_flight()) == set(self.routes)


LedgerMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
test_ledger_state_machine = LedgerMachine.TestCase
