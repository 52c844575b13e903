"""`cost-report` behind the API: whose lines the caller may see, over which period, per lifetime or per day.

Filtering happens here, in the query of the history (`list_events` by user
or workspace), not in the client: a plain user gets their own lines, and
asking for another user's, or for everyone's (`--user X`, a workspace not
theirs), needs a role that sees all (admin, viewer), or it is a 403 that says so.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from skyhop.errors import ConfigError, ForbiddenError
from skyhop.server.auth.principal import Principal
from skyhop.state.cost import By, daily_spend, lines_within, month_bounds


def visible(principal: Principal, user: str | None, workspace: str | None) -> list[str] | None:
    """The users whose lines the caller gets (None: everyone's); a 403 for what their role does not see."""
    if user is not None and user != principal.user and not principal.sees_all:
        raise ForbiddenError(f"Another user's costs (--user {user}) need the admin or viewer role; you ({principal.user}) are {principal.role.value}.")
    if workspace is not None and not principal.sees_all and workspace not in principal.workspaces | {principal.workspace}:
        raise ForbiddenError(f"Workspace {workspace}'s costs need membership or the admin or viewer role; you ({principal.user}) are {principal.role.value}.")
    if user is not None:
        return [user]
    return None if principal.sees_all else [principal.user]


def period(month: str | None, since: float | None, until: float | None) -> tuple[float | None, float | None]:
    """`month` (YYYY-MM, UTC) or `since`/`until` (unix seconds); a ConfigError (400) for a malformed month."""
    if month is None:
        return since, until
    try:
        return month_bounds(month)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def lines(
    store, principal: Principal, *, user: str | None = None, workspace: str | None = None, month: str | None = None,
    since: float | None = None, until: float | None = None,
) -> list[dict[str, Any]]:
    """One line per cluster lifetime. With a month (or `until`), each line's duration and cost are those within
    the period; with `since` alone, whole lifetimes that were still up at some point after it (`--days`)."""
    from skyhop.execution import lifecycle
    from skyhop.server.services.managed_jobs import annotate_costs
    from skyhop.server.services.serve import annotate_replicas
    from skyhop.state.cost import cost_lines

    users = visible(principal, user, workspace)
    start, end = period(month, since, until)
    lifecycle.status(store, owners=users)  # reconcile local clusters first (an autostop is a STOP)
    events = store.list_events(users=users, workspace=workspace, before=end)
    now = time.time()
    if end is not None:
        found = lines_within(events, now, start=start if start is not None else float("-inf"), end=end)
    else:
        found = [line for line in cost_lines(events, now) if start is None or line.ended_at is None or line.ended_at >= start]
    rows = [asdict(line) for line in found]
    return annotate_replicas(store, annotate_costs(store, rows))


def daily(
    store, principal: Principal, *, by: By, user: str | None = None, workspace: str | None = None, month: str | None = None,
    since: float | None = None, until: float | None = None,
) -> list[dict[str, Any]]:
    """Spend per UTC day and per user (or workspace) within the period: `[{day, user|workspace, cost}]`, by day."""
    from skyhop.execution import lifecycle

    users = visible(principal, user, workspace)
    start, end = period(month, since, until)
    lifecycle.status(store, owners=users)
    now = time.time()
    events = store.billing_events(users=users, workspace=workspace, before=end)
    days = daily_spend(events, now, start=start if start is not None else 0.0, end=end if end is not None else now, by=by)
    return [{"day": day, by: subject, "cost": round(money, 6)} for (day, subject), money in sorted(days.items())]
