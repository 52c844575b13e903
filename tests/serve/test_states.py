"""Replica/service states and the rules read off them (SkyPilot `sky/serve/serve_state.py`)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from skyhop.serve.states import (
    ALIVE_STATUSES,
    FAILED_STATUSES,
    TERMINAL_STATUSES,
    is_alive,
    is_terminal,
    pick_to_remove,
    service_status,
)
from skyhop.serve.states import ReplicaStatus as R
from skyhop.serve.states import ServiceStatus as S


@dataclass(frozen=True)
class Rep:
    replica_id: int
    version: int
    status: R


def test_names_match_skyserve() -> None:
    # serve_state.ReplicaStatus / ServiceStatus member names: `sky serve status` prints these.
    assert [s.value for s in R] == [
        "PENDING", "PROVISIONING", "STARTING", "READY", "NOT_READY", "SHUTTING_DOWN", "FAILED",
        "FAILED_INITIAL_DELAY", "FAILED_PROBING", "FAILED_PROVISION", "FAILED_CLEANUP", "PREEMPTED", "UNKNOWN",
    ]
    assert {s.value for s in S} == {
        "CONTROLLER_INIT", "REPLICA_INIT", "CONTROLLER_FAILED", "READY", "SHUTTING_DOWN", "FAILED",
        "FAILED_CLEANUP", "NO_REPLICA",
    }


def test_groupings() -> None:
    # failed_statuses() and terminal_statuses() = failed + SHUTTING_DOWN + PREEMPTED.
    assert FAILED_STATUSES == {R.FAILED, R.FAILED_CLEANUP, R.FAILED_INITIAL_DELAY, R.FAILED_PROBING, R.FAILED_PROVISION, R.UNKNOWN}
    assert TERMINAL_STATUSES == FAILED_STATUSES | {R.SHUTTING_DOWN, R.PREEMPTED}
    assert ALIVE_STATUSES == {R.PENDING, R.PROVISIONING, R.STARTING, R.READY, R.NOT_READY}
    assert all(is_alive(s) != is_terminal(s) for s in R)


@pytest.mark.parametrize(("statuses", "expected"), [
    # ServiceStatus.from_replica_statuses: any READY wins, then any failed, then none -> NO_REPLICA.
    ([R.READY, R.FAILED], S.READY),
    ([R.STARTING, R.FAILED_PROVISION], S.FAILED),
    ([R.PREEMPTED, R.STARTING], S.REPLICA_INIT),
    ([R.NOT_READY], S.REPLICA_INIT),
    ([R.UNKNOWN], S.FAILED),
    ([], S.NO_REPLICA),
])
def test_service_status(statuses: list[R], expected: S) -> None:
    assert service_status(statuses) is expected


def test_scale_down_order() -> None:
    # _select_nonterminal_replicas_to_scale_down: status order PENDING, PROVISIONING, STARTING,
    # NOT_READY, READY; then version ascending; then replica_id descending. Terminal ones never picked.
    reps = [
        Rep(1, 1, R.READY), Rep(2, 2, R.READY), Rep(3, 1, R.READY), Rep(4, 2, R.STARTING),
        Rep(5, 2, R.PENDING), Rep(6, 2, R.NOT_READY), Rep(7, 1, R.PREEMPTED), Rep(8, 2, R.PROVISIONING),
    ]
    assert pick_to_remove(reps, 10) == [5, 8, 4, 6, 3, 1, 2]
    assert pick_to_remove(reps, 2) == [5, 8]
    assert pick_to_remove(reps, 0) == []
