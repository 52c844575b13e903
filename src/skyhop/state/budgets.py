"""Budgets in the state store (tables of revision 0009): monthly limits per user or workspace, and what they did.

A budget row is created together with its controller lease (kind `budget`),
as a pool is, so exactly one server process enforces each budget (see
server/controllers/budgets.py). What a budget did is a `budget_events` row
whose unique key (budget, month, kind, object) makes each action happen once
across every server process: the INSERT that wins acts (warns, fires the
webhook, stops that cluster); the others hit the key and do nothing.

The spend itself is never stored: `spent` computes it from the cluster
history (`skyhop.state.cost.spend`), so a late event or a corrected price
is counted the next time it is asked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from skyhop.state.cost import DEFAULT_WORKSPACE, By, month_bounds, spend
from skyhop.state.models import Budget, BudgetEvent, ControllerLease
from skyhop.state.store import StateStore, _record

#: The controller kind of budgets (controller_leases.kind).
KIND = "budget"
USER = "user"
WORKSPACE = "workspace"
SCOPES = (USER, WORKSPACE)
REFUSE = "refuse"
REFUSE_AND_STOP = "refuse_and_stop"
ACTIONS = (REFUSE, REFUSE_AND_STOP)
# Event kinds (budget_events.kind).
WARNED = "warned"
EXCEEDED = "exceeded"
STOPPED_CLUSTER = "stopped_cluster"
PAUSED_JOB = "paused_job"
REFUSED_LAUNCH = "refused_launch"
WEBHOOK_FAILED = "webhook_failed"
#: A cluster that could not be stopped (its provider only removes machines): reported, never downed.
NOT_STOPPABLE = "not_stoppable"


@dataclass(frozen=True, slots=True)
class BudgetRecord:
    id: int
    scope: str
    subject: str
    monthly_limit: float
    warn_fraction: float
    action: str
    webhook_url: str | None
    created_by: str | None
    created_at: float

    @property
    def name(self) -> str:
        """How messages name it: `user alice`, `workspace team-a`."""
        return f"{self.scope} {self.subject}"

    @property
    def by(self) -> By:
        return "workspace" if self.scope == WORKSPACE else "user"


@dataclass(frozen=True, slots=True)
class BudgetEventRecord:
    id: int
    budget_id: int
    month: str
    kind: str
    object: str
    spent: float
    detail: str | None
    at: float


class Budgets:
    """Reads and writes of budgets and their events (see the module doc)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def set(
        self, scope: str, subject: str, monthly_limit: float, *, warn_fraction: float = 0.8, action: str = REFUSE,
        webhook_url: str | None = None, created_by: str | None = None,
    ) -> tuple[BudgetRecord, bool]:
        """Create the budget of (scope, subject) with its lease, or replace its numbers; (record, created).

        Changing a budget keeps this month's events: a raised limit does not warn again for the
        same month unless the new numbers are reached too (the events say what already happened)."""
        now = time.time()
        for attempt in range(2):
            try:
                with self._store._write() as session:
                    query = select(Budget).where(Budget.scope == scope, Budget.subject == subject).with_for_update()
                    row = session.scalars(query).one_or_none()
                    created = row is None
                    if row is None:
                        row = Budget(scope=scope, subject=subject, created_at=now, created_by=created_by)
                        session.add(row)
                    row.monthly_limit, row.warn_fraction, row.action, row.webhook_url = monthly_limit, warn_fraction, action, webhook_url
                    session.flush()
                    if session.get(ControllerLease, (KIND, str(row.id))) is None:
                        session.add(ControllerLease(kind=KIND, object_id=str(row.id), owner=None, cancel_requested=False, claimed_at=None))
                    return _record(row, BudgetRecord), created
            except IntegrityError:  # created concurrently by another process: update that one
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get(self, budget_id: int) -> BudgetRecord | None:
        with self._store._read() as session:
            row = session.get(Budget, budget_id)
            return None if row is None else _record(row, BudgetRecord)

    def find(self, scope: str, subject: str) -> BudgetRecord | None:
        with self._store._read() as session:
            row = session.scalars(select(Budget).where(Budget.scope == scope, Budget.subject == subject)).one_or_none()
            return None if row is None else _record(row, BudgetRecord)

    def all(self) -> list[BudgetRecord]:
        with self._store._read() as session:
            return [_record(r, BudgetRecord) for r in session.scalars(select(Budget).order_by(Budget.scope, Budget.subject))]

    def covering(self, user: str | None, workspace: str | None) -> list[BudgetRecord]:
        """The budgets that apply to a launch by `user` in `workspace` (NULL: default): the user's and the workspace's."""
        wanted = [(USER, user or ""), (WORKSPACE, workspace or DEFAULT_WORKSPACE)]
        return [b for b in self.all() if (b.scope, b.subject) in wanted]

    def delete(self, scope: str, subject: str) -> bool:
        """Remove the budget, its events and its lease; False when there was none."""
        with self._store._write() as session:
            row = session.scalars(select(Budget).where(Budget.scope == scope, Budget.subject == subject)).one_or_none()
            if row is None:
                return False
            session.execute(delete(BudgetEvent).where(BudgetEvent.budget_id == row.id))
            session.execute(delete(ControllerLease).where(ControllerLease.kind == KIND, ControllerLease.object_id == str(row.id)))
            session.delete(row)
            return True

    def record(self, budget_id: int, month: str, kind: str, spent: float, *, object: str = "", detail: str | None = None) -> bool:
        """Record that the budget did `kind` (to `object`) this month; False when it already had: only the winner acts."""
        try:
            with self._store._write() as session:
                session.add(BudgetEvent(budget_id=budget_id, month=month, kind=kind, object=object, spent=spent, detail=detail, at=time.time()))
            return True
        except IntegrityError:
            return False

    def events(self, budget_id: int, month: str | None = None) -> list[BudgetEventRecord]:
        query = select(BudgetEvent).where(BudgetEvent.budget_id == budget_id).order_by(BudgetEvent.id)
        if month is not None:
            query = query.where(BudgetEvent.month == month)
        with self._store._read() as session:
            return [_record(r, BudgetEventRecord) for r in session.scalars(query)]

    def spent(self, budget: BudgetRecord, month: str, now: float | None = None) -> float:
        """What the budget's subject spent in `month` (UTC) up to `now`, from the cluster history."""
        now = time.time() if now is None else now
        start, end = month_bounds(month)
        if budget.scope == WORKSPACE:
            events = self._store.billing_events(workspace=budget.subject, before=end)
        else:
            events = self._store.billing_events(users=[budget.subject], before=end)
        return spend(events, now, start=start, end=end, by=budget.by).get(budget.subject, 0.0)
