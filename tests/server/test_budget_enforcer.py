"""The budget enforcer's one look (`BudgetsController.enforce`) on a real SQLite store: each action once a month,
a failing webhook recorded, a cluster its provider cannot stop reported and left alone."""

from __future__ import annotations

import socket
import time

import pytest

from skyhop.providers import registry
from skyhop.server.controllers.budgets import BudgetsController
from skyhop.server.services import budgets
from skyhop.state.budgets import Budgets
from skyhop.state.cost import month_bounds, month_name
from skyhop.state.records import ClusterRecord
from skyhop.state.store import StateStore


@pytest.fixture
def store(tmp_path):
    budgets.forget_memo()
    with StateStore(f"sqlite:///{tmp_path / 'state.db'}") as opened:
        yield opened


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on leaving: a connection is refused at once


def _up(store, name: str, provider: str, dollars: float, *, stop: bool) -> None:
    now = time.time()
    assert now - dollars >= month_bounds(month_name(now))[0]
    store.add_cluster(ClusterRecord(name=name, provider=provider, region="r", hourly_price=3600.0, user="alice"))
    store.set_cluster_status(name, "UP", at=now - dollars, hourly_price=3600.0)
    if stop:
        store.set_cluster_status(name, "STOPPED", at=now)


def test_warned_and_exceeded_happen_once_and_a_failing_webhook_is_recorded(store):
    _up(store, "a", "local", 6.0, stop=True)
    budget, _ = Budgets(store).set("user", "alice", 5.0, webhook_url=f"http://127.0.0.1:{_closed_port()}/hook")
    enforcer = BudgetsController(store, budgets.BudgetSettings(tick_s=0.1, memo_s=0))
    first = enforcer.enforce(budget)
    assert first["warned"] and first["exceeded"] and first["spent"] == pytest.approx(6.0, abs=0.5)
    again = enforcer.enforce(budget)
    assert "warned" not in again and "exceeded" not in again
    kinds = [(e.kind, e.object) for e in Budgets(store).events(budget.id)]
    assert kinds == [("warned", ""), ("webhook_failed", "warned"), ("exceeded", ""), ("webhook_failed", "exceeded")]


def test_a_cluster_its_provider_cannot_stop_is_reported_never_removed(store):
    cannot = next((n for n in registry.names() if not registry.capabilities(n).can_stop), None)
    if cannot is None:
        pytest.skip("every provider here can stop its machines")
    _up(store, "keep", cannot, 10.0, stop=False)
    budget, _ = Budgets(store).set("user", "alice", 5.0, action="refuse_and_stop")
    done = BudgetsController(store, budgets.BudgetSettings(tick_s=0.1, memo_s=0)).enforce(budget)
    assert done["stopped"] == [] and done["not_stoppable"] == ["keep"] and done["paused"] == []
    record = store.get_cluster("keep")
    assert record is not None and record.status == "UP"
    assert ("not_stoppable", "keep") in [(e.kind, e.object) for e in Budgets(store).events(budget.id)]
