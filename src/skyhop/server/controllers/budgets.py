"""The budget enforcer: one object per budget on the controller base, so one server process acts for each.

Every `budgets.tick_seconds` (60 s; tests 0.5) it computes the subject's spend
this month afresh (no memo) and:

- at the warn fraction: records `warned`; the process whose INSERT wins POSTs
  the webhook (JSON `{budget, scope, subject, month, spent, limit, fraction,
  kind, text}`, 5 s timeout, one retry; a failure is a `webhook_failed`
  event). The CLI notice and the dashboard banner read the event.
- at 100%: records `exceeded` (and posts it). With the action
  `refuse_and_stop`, every UP cluster of the subject that its provider can stop
  is stopped through the normal lifecycle path (so its STOP event ends the
  billing; status_reason names the budget), one that cannot is reported
  (`not_stoppable`), never taken down; and its managed jobs are PAUSED (their
  controller tears the attempt's cluster down and keeps the job). Clusters
  that belong to a managed job, a pool or a service are left to those: a job
  is paused instead, and pools and services are not stopped by a budget.

Stopping and pausing are repeated on every tick while the budget is exceeded
(each is a no-op once done), so a cluster or job that slipped in between is
caught on the next tick; the events (`stopped_cluster`, `paused_job`) are
recorded once per object and month.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from typing import Any

from skyhop.server.controllers.base import Controller, ControllerSettings, ObjectContext
from skyhop.server.services import budgets as service
from skyhop.state import budgets as events
from skyhop.state.budgets import KIND, REFUSE_AND_STOP, WORKSPACE, BudgetRecord, Budgets
from skyhop.state.cost import DEFAULT_WORKSPACE, month_name

log = logging.getLogger("skyhop.controllers.budgets")

WEBHOOK_TIMEOUT_S = 5.0


class BudgetsController:
    """Hosts the enforcement of every budget this server process holds a lease for."""

    def __init__(self, store, settings: service.BudgetSettings, *, loop_tick_s: float = 1.0, lease_s: float = 30.0) -> None:
        self.store = store
        self.settings = settings
        self.budgets = Budgets(store)
        self.controller = Controller(store, KIND, self._drive, ControllerSettings(tick_s=loop_tick_s, lease_ttl_s=lease_s))

    def wake(self) -> None:
        self.controller.wake()

    def shutdown(self) -> None:
        pass

    async def _drive(self, ctx: ObjectContext) -> None:
        budget_id = int(ctx.object_id)
        while not ctx.cancelled.is_set():
            budget = await asyncio.to_thread(self.budgets.get, budget_id)
            if budget is None:
                return  # deleted: its lease ends with this drive
            await asyncio.to_thread(self.enforce, budget)
            await ctx.sleep(self.settings.tick_s)

    def enforce(self, budget: BudgetRecord, now: float | None = None) -> dict[str, Any]:
        """One look at the budget (blocking: run it in a thread); what it found and did, for tests and logs."""
        now = time.time() if now is None else now
        month = month_name(now)
        spent = service.spent(self.store, budget, month, fresh=True, now=now)
        limit = budget.monthly_limit
        fraction = spent / limit if limit > 0 else 1.0
        done: dict[str, Any] = {"spent": spent, "fraction": fraction}
        if fraction >= budget.warn_fraction and self.budgets.record(budget.id, month, events.WARNED, spent):
            self._notify(budget, month, spent, events.WARNED, service.warning_text(budget, month, spent))
            done["warned"] = True
        if spent < limit:
            return done
        if self.budgets.record(budget.id, month, events.EXCEEDED, spent):
            self._notify(budget, month, spent, events.EXCEEDED, service.refusal_text(budget, month, spent))
            done["exceeded"] = True
        if budget.action == REFUSE_AND_STOP:
            reason = f"stopped by the budget for {budget.name}: ${spent:,.2f} of ${limit:,.2f} spent this month"
            done["stopped"], done["not_stoppable"] = self._stop_clusters(budget, month, spent, reason)
            done["paused"] = self._pause_jobs(budget, month, spent, reason.replace("stopped", "paused", 1))
        return done

    # --- 100% with refuse_and_stop ------------------------------------------------------------

    def _covers(self, user: str | None, workspace: str | None, budget: BudgetRecord) -> bool:
        if budget.scope == WORKSPACE:
            return (workspace or DEFAULT_WORKSPACE) == budget.subject
        return user == budget.subject

    def _stop_clusters(self, budget: BudgetRecord, month: str, spent: float, reason: str) -> tuple[list[str], list[str]]:
        from skyhop.errors import SkyhopError
        from skyhop.execution import lifecycle
        from skyhop.providers import registry

        others = self._clusters_of_jobs_pools_and_services()
        stopped, kept = [], []
        for cluster in self.store.list_clusters():
            if cluster.status != "UP" or cluster.name in others or not self._covers(cluster.user, cluster.workspace, budget):
                continue
            try:
                can_stop = registry.capabilities(cluster.provider).can_stop
            except SkyhopError:
                can_stop = False
            if not can_stop:
                if self.budgets.record(budget.id, month, events.NOT_STOPPABLE, spent, object=cluster.name):
                    log.warning("budget %s: cluster %s (%s) cannot be stopped, only removed; left running", budget.name, cluster.name, cluster.provider)
                kept.append(cluster.name)
                continue
            try:
                lifecycle.stop(self.store, cluster.name, reason=reason)
            except SkyhopError as error:
                log.warning("budget %s: stopping cluster %s failed: %s", budget.name, cluster.name, error)
                continue
            self.budgets.record(budget.id, month, events.STOPPED_CLUSTER, spent, object=cluster.name, detail=reason)
            stopped.append(cluster.name)
        return stopped, kept

    def _clusters_of_jobs_pools_and_services(self) -> set[str]:
        from skyhop.jobs.states import TERMINAL_NAMES
        from skyhop.state.job_pools import JobPools
        from skyhop.state.managed import ManagedJobs
        from skyhop.state.services import Services

        managed = ManagedJobs(self.store)
        live = [j.id for j in managed.find() if j.status not in TERMINAL_NAMES]
        names = {a.cluster for a in managed.attempts(job_ids=live)} if live else set()
        pools = JobPools(self.store)
        names |= {w.cluster for w in pools.workers()}
        names |= {r.cluster for r in Services(self.store).replicas()}
        return names

    def _pause_jobs(self, budget: BudgetRecord, month: str, spent: float, reason: str) -> list[int]:
        from skyhop.jobs.states import TERMINAL_NAMES
        from skyhop.state.managed import ManagedJobs

        managed = ManagedJobs(self.store)
        paused = []
        for job in managed.find():
            if job.status in TERMINAL_NAMES or job.status in ("PAUSED", "CANCELLING") or job.pool is not None:
                continue
            if self._covers(job.user, job.workspace, budget) and managed.pause(job.id, reason):
                self.budgets.record(budget.id, month, events.PAUSED_JOB, spent, object=str(job.id), detail=reason)
                paused.append(job.id)
        return paused

    # --- the webhook ----------------------------------------------------------------------------

    def _notify(self, budget: BudgetRecord, month: str, spent: float, kind: str, text: str) -> None:
        if not budget.webhook_url:
            return
        payload = {
            "budget": budget.name, "scope": budget.scope, "subject": budget.subject, "month": month, "spent": round(spent, 2),
            "limit": budget.monthly_limit, "fraction": round(spent / budget.monthly_limit, 4), "kind": kind, "text": text,
        }
        error = post_json(budget.webhook_url, payload)
        if error is not None:  # one retry
            error = post_json(budget.webhook_url, payload)
        if error is None:
            return
        log.warning("budget %s: the webhook failed: %s", budget.name, error)
        self.budgets.record(budget.id, month, events.WEBHOOK_FAILED, spent, object=kind, detail=error[:500])


def post_json(url: str, payload: dict[str, Any]) -> str | None:
    """POST `payload` as JSON; None on a 2xx answer, else what went wrong (one line)."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as answer:  # noqa: S310 (https or loopback: checked at `budgets set`)
            return None if 200 <= answer.status < 300 else f"HTTP {answer.status}"
    except OSError as error:  # URLError, HTTPError, timeouts
        return str(error)
