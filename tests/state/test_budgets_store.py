"""The budgets store on SQLite and PostgreSQL: one budget per subject with its lease, each action recorded once,
the spend of a user or a workspace from the cluster history."""

from __future__ import annotations

import time

import pytest
from state.conftest import cluster

from skyhop.state.budgets import EXCEEDED, KIND, STOPPED_CLUSTER, WARNED, Budgets
from skyhop.state.controller_leases import ControllerLeases
from skyhop.state.cost import month_bounds, month_name


def _billed(store, name: str, *, seconds: float, price: float, user: str, workspace: str | None) -> float:
    """A cluster up for the last `seconds` (within this month) at `price` an hour; what it cost."""
    now = time.time()
    start = max(now - seconds, month_bounds(month_name(now))[0])
    store.add_cluster(cluster(name, user=user, workspace=workspace, hourly_price=price))
    store.set_cluster_status(name, "UP", at=start, hourly_price=price)
    store.set_cluster_status(name, "STOPPED", at=now)
    return (now - start) / 3600 * price


def test_one_budget_per_subject_with_its_lease_and_each_action_once(store):
    budgets = Budgets(store)
    first, created = budgets.set("user", "alice", 5.0, webhook_url="https://hooks.example/x", created_by="root")
    again, created_again = budgets.set("user", "alice", 50.0, warn_fraction=0.9, action="refuse_and_stop")
    assert created and not created_again and again.id == first.id
    assert (again.monthly_limit, again.warn_fraction, again.action, again.webhook_url, again.created_by) == (50.0, 0.9, "refuse_and_stop", None, "root")
    assert str(first.id) in ControllerLeases(store).claimable(KIND)
    assert budgets.record(first.id, "2026-11", WARNED, 4.5) and not budgets.record(first.id, "2026-11", WARNED, 4.9)
    assert budgets.record(first.id, "2026-12", WARNED, 4.5)  # a new month warns again
    assert budgets.record(first.id, "2026-11", STOPPED_CLUSTER, 6, object="a") and budgets.record(first.id, "2026-11", STOPPED_CLUSTER, 6, object="b")
    assert [e.kind for e in budgets.events(first.id, "2026-11")] == [WARNED, STOPPED_CLUSTER, STOPPED_CLUSTER]
    assert budgets.delete("user", "alice") and not budgets.delete("user", "alice")
    assert budgets.events(first.id) == [] and str(first.id) not in ControllerLeases(store).claimable(KIND)


def test_spend_of_a_user_and_of_a_workspace_where_no_workspace_is_default(store):
    budgets = Budgets(store)
    alice = _billed(store, "a1", seconds=600, price=36.0, user="alice", workspace=None)
    bob = _billed(store, "b1", seconds=300, price=72.0, user="bob", workspace="team-a")
    carol = _billed(store, "c1", seconds=60, price=3600.0, user="carol", workspace="default")
    month = month_name(time.time())
    by_user, _ = budgets.set("user", "alice", 100.0)
    team, _ = budgets.set("workspace", "team-a", 100.0)
    default, _ = budgets.set("workspace", "default", 100.0)
    assert budgets.spent(by_user, month) == pytest.approx(alice)
    assert budgets.spent(team, month) == pytest.approx(bob)
    assert budgets.spent(default, month) == pytest.approx(alice + carol)
    assert budgets.spent(by_user, "2020-01") == 0.0
    assert {b.name for b in budgets.covering("alice", None)} == {"user alice", "workspace default"}
    assert {b.name for b in budgets.covering("bob", "team-a")} == {"workspace team-a"}
    budgets.record(team.id, month, EXCEEDED, 1.0)
    assert [e.kind for e in budgets.events(team.id)] == [EXCEEDED]


def test_paused_is_sticky_against_the_controllers_moves_and_only_a_paused_job_resumes(store):
    from skyhop.state.managed import ManagedJobs

    jobs = ManagedJobs(store)
    (job,) = jobs.create([{"name": "j", "user": "alice", "tasks": [{"run": "true"}]}])
    assert not jobs.resume(job.id)  # PENDING: nothing to resume
    assert jobs.pause(job.id, "budget reached") and not jobs.pause(job.id, "again")
    moved = jobs.update(job.id, status="RUNNING", cluster="j-1", agent_job_id=3)  # a launch that was finishing
    assert (moved.status, moved.cluster, moved.agent_job_id, moved.failure_reason) == ("PAUSED", "j-1", 3, "budget reached")
    assert jobs.resume(job.id) and jobs.get(job.id).status == "PENDING" and jobs.get(job.id).failure_reason is None
    jobs.pause(job.id, "budget reached")
    assert jobs.update(job.id, status="CANCELLING").status == "CANCELLING"  # a cancel moves it on
    assert not jobs.pause(job.id, "budget reached")
