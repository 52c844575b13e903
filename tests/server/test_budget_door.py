"""The budget door, the notices and who may do what with budgets and cost reports (services, a real SQLite store)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from skyhop.errors import BudgetExceeded, ConfigError, ForbiddenError
from skyhop.server.auth.principal import Principal, Role
from skyhop.server.error_codes import code_of, status_of
from skyhop.server.services import budgets, cost_report
from skyhop.state.budgets import EXCEEDED, REFUSED_LAUNCH, Budgets
from skyhop.state.cost import month_bounds, month_label, month_name
from skyhop.state.records import ClusterRecord
from skyhop.state.store import StateStore

ADMIN = Principal("root", Role.ADMIN)
ALICE = Principal("alice", Role.USER, workspace="team-a", workspaces=frozenset({"team-a"}))
VIEWER = Principal("finance", Role.VIEWER)


@pytest.fixture
def store(tmp_path):
    budgets.forget_memo()
    with StateStore(f"sqlite:///{tmp_path / 'state.db'}") as opened:
        yield opened
    budgets.forget_memo()


def _spend(store, name: str, dollars: float, user: str = "alice", workspace: str | None = "team-a") -> None:
    """A cluster of `user` up since long enough this month to have cost `dollars` at $3,600/h, then stopped."""
    now = time.time()
    start = now - dollars
    assert start >= month_bounds(month_name(now))[0], "the test needs the month to be older than its spend in seconds"
    store.add_cluster(ClusterRecord(name=name, provider="local", region="local", hourly_price=3600.0, user=user, workspace=workspace))
    store.set_cluster_status(name, "UP", at=start, hourly_price=3600.0)
    store.set_cluster_status(name, "STOPPED", at=now)


def _body(**fields):
    values = dict(scope="user", subject="alice", monthly_limit=5.0, warn_fraction=0.8, action="refuse", webhook_url=None)
    values.update(fields)
    return SimpleNamespace(**values)


def test_the_door_refuses_with_the_budgets_name_and_numbers_until_the_limit_is_raised(store):
    budgets.set_budget(store, ADMIN, _body(monthly_limit=5.0))
    budgets.check_budget(store, ALICE, what="dev")  # nothing spent yet
    _spend(store, "dev", 6.0)
    budgets.check_budget(store, ALICE, what="dev")  # the memo (30 s) still says $0: cheap, not yet refused
    with pytest.raises(BudgetExceeded) as refused:
        budgets.check_budget(store, ALICE, what="dev2", fresh=True)
    month = month_name(time.time())
    text = str(refused.value)
    assert text.startswith(f"Budget for user alice ({month_label(month)}): $6.0") and "of $5.00 spent; new launches are refused until " in text
    assert "skyhop budgets set --user alice --monthly AMOUNT" in text
    assert (code_of(refused.value), status_of("budget_exceeded")) == ("budget_exceeded", 402)
    (budget,) = Budgets(store).all()
    assert [(e.kind, e.object) for e in Budgets(store).events(budget.id, month)] == [(REFUSED_LAUNCH, "dev2")]
    budgets.check_submission(store, ALICE, "exec", "dev")  # exec bills nothing new
    with pytest.raises(BudgetExceeded):
        budgets.check_submission(store, ALICE, "start", "dev")
    budgets.set_budget(store, ADMIN, _body(monthly_limit=50.0))  # raised: launches again
    budgets.check_budget(store, ALICE, fresh=True)
    budgets.check_budget(store, Principal("bob", Role.USER))  # not covered


def test_an_exceeded_event_refuses_at_once_whatever_the_memo_says(store):
    budgets.set_budget(store, ADMIN, _body(scope="workspace", subject="team-a", monthly_limit=5.0))
    budgets.check_budget(store, ALICE)  # memoized: $0
    (budget,) = Budgets(store).all()
    Budgets(store).record(budget.id, month_name(time.time()), EXCEEDED, 7.5)  # another process's enforcer saw it
    with pytest.raises(BudgetExceeded, match=r"Budget for workspace team-a .*\$7\.50 of \$5\.00 spent"):
        budgets.check_budget(store, ALICE)


def test_notices_name_the_callers_budgets_only(store):
    budgets.set_budget(store, ADMIN, _body(monthly_limit=10.0))
    budgets.set_budget(store, ADMIN, _body(subject="bob", monthly_limit=1.0))
    month = month_name(time.time())
    alice_budget, bob_budget = sorted(Budgets(store).all(), key=lambda b: b.subject)
    Budgets(store).record(alice_budget.id, month, "warned", 8.5)
    Budgets(store).record(bob_budget.id, month, EXCEEDED, 2.0)
    (notice,) = budgets.notices(store, ALICE)
    assert (notice["kind"], notice["spent"], notice["limit"]) == ("warned", 8.5, 10.0) and "$8.50 of $10.00 spent (85%)" in notice["text"]
    assert [n["kind"] for n in budgets.notices(store, Principal("bob", Role.USER))] == [EXCEEDED]
    budgets.set_budget(store, ADMIN, _body(monthly_limit=100.0))  # raised past the warning: no notice any more
    assert budgets.notices(store, ALICE) == []


def test_only_admins_set_and_delete_and_users_list_their_own(store):
    for principal in (ALICE, VIEWER):
        with pytest.raises(ForbiddenError, match="needs the admin role"):
            budgets.set_budget(store, principal, _body())
    secret = "https://hooks.example.com/services/T000/B000/s3cr3t"
    answer = budgets.set_budget(store, ADMIN, _body(webhook_url=secret))
    assert answer["webhook_url"] == "https://hooks.example.com/..." and "s3cr3t" not in str(budgets.list_budgets(store, ADMIN))
    assert Budgets(store).find("user", "alice").webhook_url == secret  # kept for the enforcer
    budgets.set_budget(store, ADMIN, _body(subject="bob"))
    budgets.set_budget(store, ADMIN, _body(scope="workspace", subject="team-a"))
    assert {b["subject"] for b in budgets.list_budgets(store, ALICE)} == {"alice", "team-a"}
    assert len(budgets.list_budgets(store, VIEWER)) == 3
    with pytest.raises(ForbiddenError):
        budgets.delete_budget(store, ALICE, "user", "alice")
    assert budgets.delete_budget(store, ADMIN, "user", "bob") == {"deleted": "user bob"}


@pytest.mark.parametrize("url, ok", [
    ("https://hooks.slack.com/services/x", True), ("http://127.0.0.1:8080/hook", True), ("http://localhost/h", True),
    ("http://[::1]:9/h", True), ("http://hooks.example.com/x", False), ("ftp://127.0.0.1/x", False), ("https://", False),
])
def test_webhooks_are_https_except_on_loopback(url, ok):
    if ok:
        budgets.check_webhook_url(url)
    else:
        with pytest.raises(ConfigError, match="must be https://"):
            budgets.check_webhook_url(url)


def test_cost_report_shows_a_user_their_own_and_others_only_to_admins_and_viewers():
    assert cost_report.visible(ALICE, None, None) == ["alice"]
    assert cost_report.visible(ALICE, "alice", "team-a") == ["alice"]
    assert cost_report.visible(ADMIN, None, None) is None and cost_report.visible(VIEWER, "bob", None) == ["bob"]
    with pytest.raises(ForbiddenError, match="--user bob"):
        cost_report.visible(ALICE, "bob", None)
    with pytest.raises(ForbiddenError, match="Workspace other"):
        cost_report.visible(ALICE, None, "other")
    with pytest.raises(ConfigError, match="YYYY-MM"):
        cost_report.period("2026-13", None, None)
