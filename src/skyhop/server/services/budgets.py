"""Budgets behind the API: who may set and see them, the door every launch passes, and the notices.

The door (`check_budget`) is asked before anything new is billed: a cluster
`launch` or `start`, `jobs launch`, `serve up`/`update`, `jobs pool apply`,
`jobs resume`, and a managed job's next attempt in the jobs controller. It
refuses when a budget that covers the caller (their own, or their workspace's)
is spent this month, with one paragraph that names the budget and its numbers.
`exec` on an existing cluster is never refused: it costs nothing new.

The spend is recomputed from the cluster history, not stored. A short
per-process memo (`budgets.memo_seconds`, 30 s) keeps a burst of launches
from replaying the month's events each time; the enforcer passes
`fresh=True`, and an `exceeded` event recorded by any process refuses at once
whatever the memo says (spend only grows within a month, so an `exceeded`
whose `spent` is still at or above the limit is still true).
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from skyhop.errors import BudgetExceeded, ConfigError, NotFoundError
from skyhop.server.auth import policy
from skyhop.server.auth.principal import Principal
from skyhop.state.budgets import ACTIONS, EXCEEDED, REFUSED_LAUNCH, SCOPES, USER, WARNED, WORKSPACE, BudgetRecord, Budgets
from skyhop.state.cost import month_bounds, month_label, month_name

_KEYS = {"tick_seconds": (60.0, 0.05), "memo_seconds": (30.0, 0.0)}


@dataclass(frozen=True)
class BudgetSettings:
    """How often the enforcer looks at each budget, and how long a computed spend is reused at the door."""

    tick_s: float = _KEYS["tick_seconds"][0]
    memo_s: float = _KEYS["memo_seconds"][0]


def settings_from_config(section: Any) -> BudgetSettings:
    """From config.yaml's `budgets:` mapping (None: defaults); a bad value is a ConfigError naming the key."""
    from skyhop.config import number_settings

    values = number_settings(section, "budgets", _KEYS)
    return BudgetSettings(values["tick_seconds"], values["memo_seconds"])


@functools.lru_cache(maxsize=1)
def _settings() -> BudgetSettings:
    """Read once per process (the door and the notice header are on hot paths; config.yaml is read at start)."""
    from skyhop.config import load_config

    return settings_from_config(load_config().get("budgets"))


# --- spend, with a short memo ------------------------------------------------------------

_memo: dict[tuple[int, str], tuple[float, float]] = {}
_memo_lock = threading.Lock()


def spent(store, budget: BudgetRecord, month: str, *, fresh: bool = False, now: float | None = None) -> float:
    """The budget subject's spend this `month`; reused for `budgets.memo_seconds` unless `fresh`."""
    key = (budget.id, month)
    clock = time.monotonic()
    if not fresh:
        with _memo_lock:
            hit = _memo.get(key)
        if hit is not None and clock - hit[0] < _settings().memo_s:
            return hit[1]
    value = Budgets(store).spent(budget, month, now)
    with _memo_lock:
        _memo[key] = (clock, value)
    return value


def forget_memo() -> None:
    """Drop every memoized spend and notice (a budget just changed here)."""
    with _memo_lock:
        _memo.clear()
        _notice_memo.clear()


# --- the door ------------------------------------------------------------------------------


def check_budget(store, owner: Principal | str, workspace: str | None = None, *, what: str = "", fresh: bool = False) -> None:
    """Refuse (BudgetExceeded) a launch by `owner` in `workspace` when a budget covering it is spent this month.

    `owner` is the caller or a stored owner's name (the jobs controller relaunching a job); `workspace`
    defaults to the caller's. `what` names the launch (a cluster, a job) in the refusal's record."""
    user = owner.user if isinstance(owner, Principal) else owner
    if workspace is None and isinstance(owner, Principal):
        workspace = owner.workspace
    found = over_budget(store, user, workspace, fresh=fresh)
    if found is not None:
        budget, month, money = found
        Budgets(store).record(budget.id, month, REFUSED_LAUNCH, money, object=what[:200])
        raise BudgetExceeded(refusal_text(budget, month, money))


def check_submission(store, principal: Principal, name: str, cluster: str | None) -> None:
    """The door of `POST /api/v1/requests`: a `launch` that makes a cluster, or a `start`, is refused when spent.
    `exec`, and a `launch` onto a cluster that is already up (it runs the task there), bill nothing new."""
    if name not in ("launch", "start"):
        return
    if name == "launch" and cluster:
        record = store.get_cluster(cluster)
        if record is not None and record.status == "UP":
            return
    check_budget(store, principal, what=cluster or "")


def over_budget(store, user: str | None, workspace: str | None, *, fresh: bool = False) -> tuple[BudgetRecord, str, float] | None:
    """(budget, month, spent) of the first budget covering (user, workspace) that is spent this month; None if none is."""
    budgets = Budgets(store)
    covering = budgets.covering(user, workspace)
    if not covering:
        return None
    month = month_name(time.time())
    for budget in covering:
        money = spent(store, budget, month, fresh=fresh)
        if money < budget.monthly_limit:  # another process may have seen it exceeded since the memo was taken
            money = max([money, *(e.spent for e in budgets.events(budget.id, month) if e.kind == EXCEEDED)])
        if money >= budget.monthly_limit:
            return budget, month, money
    return None


def refusal_text(budget: BudgetRecord, month: str, money: float) -> str:
    _, end = month_bounds(month)
    following = dt.datetime.fromtimestamp(end, dt.timezone.utc)
    flag = "--user" if budget.scope == USER else "--workspace"
    return (
        f"Budget for {budget.name} ({month_label(month)}): ${money:,.2f} of ${budget.monthly_limit:,.2f} spent; new launches are refused "
        f"until {following.strftime('%B')} {following.day} or until an admin raises it "
        f"(skyhop budgets set {flag} {budget.subject} --monthly AMOUNT)."
    )


def warning_text(budget: BudgetRecord, month: str, money: float) -> str:
    fraction = money / budget.monthly_limit if budget.monthly_limit > 0 else 1.0
    return (
        f"Budget for {budget.name} ({month_label(month)}): ${money:,.2f} of ${budget.monthly_limit:,.2f} spent ({fraction:.0%}); "
        f"at 100% new launches are refused" + (" and running clusters are stopped, managed jobs paused." if budget.action != "refuse" else ".")
    )


# --- notices (the CLI's line on stderr, the dashboard's banner) ----------------------------------------


def notices(store, principal: Principal) -> list[dict[str, Any]]:
    """The caller's budgets (their own, their workspaces') that warned or were exceeded this month.

    Read from the events the enforcer recorded, so it costs two small queries and no replay of the
    history: `{budget_id, budget, month, kind ("warned"|"exceeded"), spent, limit, text}`, exceeded first."""
    budgets = Budgets(store)
    month = month_name(time.time())
    mine = [
        b for b in budgets.all()
        if (b.scope == USER and b.subject == principal.user) or (b.scope == WORKSPACE and b.subject in principal.workspaces | {principal.workspace})
    ]
    out = []
    for budget in mine:
        events = {e.kind: e for e in budgets.events(budget.id, month) if e.kind in (WARNED, EXCEEDED) and e.object == ""}
        event = events.get(EXCEEDED) if EXCEEDED in events and events[EXCEEDED].spent >= budget.monthly_limit else events.get(WARNED)
        if event is None or event.spent < budget.warn_fraction * budget.monthly_limit:
            continue  # the limit was raised since: no longer a warning
        kind = EXCEEDED if event.kind == EXCEEDED else WARNED
        text = refusal_text(budget, month, event.spent) if kind == EXCEEDED else warning_text(budget, month, event.spent)
        out.append({
            "budget_id": budget.id, "budget": budget.name, "month": month, "kind": kind, "spent": round(event.spent, 2),
            "limit": budget.monthly_limit, "text": text,
        })
    return sorted(out, key=lambda n: (n["kind"] != EXCEEDED, n["budget"]))


_notice_memo: dict[tuple[str, str, frozenset[str]], tuple[float, list[dict[str, Any]]]] = {}


def remembered_notices(principal: Principal) -> list[dict[str, Any]] | None:
    """The caller's notices if computed within `budgets.memo_seconds`, else None; reads no database (so the
    event loop may ask it before deciding to spend a worker thread on `cached_notices`)."""
    with _memo_lock:
        hit = _notice_memo.get(_notice_key(principal))
    return hit[1] if hit is not None and time.monotonic() - hit[0] < _settings().memo_s else None


def cached_notices(store, principal: Principal) -> list[dict[str, Any]]:
    """`notices`, reused for `budgets.memo_seconds` per caller (the `X-Skyhop-Notice` header of every `status`)."""
    clock = time.monotonic()
    hit = remembered_notices(principal)
    if hit is not None:
        return hit
    found = notices(store, principal)
    with _memo_lock:
        _notice_memo[_notice_key(principal)] = (clock, found)
    return found


def _notice_key(principal: Principal) -> tuple[str, str, frozenset[str]]:
    return principal.user, principal.workspace, principal.workspaces


# --- the routes' work ------------------------------------------------------------------------------


def set_budget(store, principal: Principal, body) -> dict[str, Any]:
    policy.require_admin(principal, "Setting a budget")
    if body.scope not in SCOPES or body.action not in ACTIONS:
        raise ConfigError(f"scope must be one of {', '.join(SCOPES)} and action one of {', '.join(ACTIONS)}.")
    if body.webhook_url:
        check_webhook_url(body.webhook_url)
    record, created = Budgets(store).set(
        body.scope, body.subject, body.monthly_limit, warn_fraction=body.warn_fraction, action=body.action,
        webhook_url=body.webhook_url or None, created_by=principal.user,
    )
    forget_memo()
    return dict(budget_json(store, record), created=created)


def list_budgets(store, principal: Principal) -> list[dict[str, Any]]:
    """Admins and viewers see every budget; a user their own and their workspaces'."""
    records = Budgets(store).all()
    if not principal.sees_all:
        spaces = principal.workspaces | {principal.workspace}
        records = [b for b in records if (b.scope == USER and b.subject == principal.user) or (b.scope == WORKSPACE and b.subject in spaces)]
    return [budget_json(store, b) for b in records]


def delete_budget(store, principal: Principal, scope: str, subject: str) -> dict[str, Any]:
    policy.require_admin(principal, "Deleting a budget")
    if not Budgets(store).delete(scope, subject):
        raise NotFoundError(f"No budget for {scope} {subject}; `skyhop budgets list` lists them.")
    forget_memo()
    return {"deleted": f"{scope} {subject}"}


def budget_json(store, budget: BudgetRecord) -> dict[str, Any]:
    """A budget with this month's spend (fresh: listing is rare) and what it did this month."""
    month = month_name(time.time())
    money = spent(store, budget, month, fresh=True)
    kinds = sorted({e.kind for e in Budgets(store).events(budget.id, month)})
    return {
        "id": budget.id, "scope": budget.scope, "subject": budget.subject, "monthly_limit": budget.monthly_limit,
        "warn_fraction": budget.warn_fraction, "action": budget.action, "webhook_url": _shown(budget.webhook_url),
        "created_by": budget.created_by, "created_at": budget.created_at, "month": month, "spent": round(money, 6),
        "fraction": round(money / budget.monthly_limit, 6) if budget.monthly_limit > 0 else None, "events": kinds,
    }


def _shown(url: str | None) -> str | None:
    """A webhook URL as answers show it: scheme and host only. Its path often is the credential (a Slack
    incoming webhook's is), so it is stored for the enforcer and never sent back, not even to admins."""
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/..."


def check_webhook_url(url: str) -> None:
    """https only, except a loopback address (tests, a local relay): a budget's numbers are not sent in clear."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if parts.scheme == "http" and loopback:
        return
    raise ConfigError(f"The webhook URL {url!r} must be https:// (plain http only to a loopback address such as 127.0.0.1).")
