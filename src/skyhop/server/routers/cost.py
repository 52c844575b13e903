"""`/api/v1/cost-report`: what every cluster lifetime cost, and the spend per day."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from skyhop.server.deps import Caller, Store
from skyhop.server.services import cost_report

router = APIRouter(tags=["cost"])

#: A user or workspace name to filter on; a month as YYYY-MM (UTC); times as unix seconds.
Name = Annotated[str | None, Query(min_length=1, max_length=64)]
Month = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")]
Seconds = Annotated[float | None, Query(ge=0, le=1e11)]


@router.get("/api/v1/cost-report")
def cost_lines(
    store: Store, caller: Caller, user: Name = None, workspace: Name = None, month: Month = None, since: Seconds = None, until: Seconds = None,
) -> list[dict[str, Any]]:
    """One line per cluster lifetime the caller may see (their own; everyone's for admin and viewer)."""
    return cost_report.lines(store, caller, user=user, workspace=workspace, month=month, since=since, until=until)


@router.get("/api/v1/cost-report/daily")
def cost_daily(
    store: Store, caller: Caller, by: Literal["user", "workspace"] = "user", user: Name = None, workspace: Name = None,
    month: Month = None, since: Seconds = None, until: Seconds = None,
) -> list[dict[str, Any]]:
    """Spend per UTC day and per user (or workspace) within the period."""
    return cost_report.daily(store, caller, by=by, user=user, workspace=workspace, month=month, since=since, until=until)
