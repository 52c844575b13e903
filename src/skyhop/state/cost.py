"""Cost reports, computed from cluster history alone.

The `cluster_events` table is the ground truth: cluster rows disappear on
`down`, events do not. Each LAUNCH opens a *lifetime* of the cluster name,
which ends with its TERMINATE; within it, billed intervals run from LAUNCH or
START to the next STOP or TERMINATE (or to `now` while the cluster is still
up). Each interval is charged at the hourly price recorded on the event that
opened it, so a price change at START (e.g. a restarted spot cluster) is
costed correctly.

A name launched again after being terminated gets **one line per lifetime**,
not one summed line: the lifetimes may differ in cloud, region and
resources, and a user asking "what did this cost" wants to see each launch.

Stdlib only: the computation is pure, so it is unit-tested without a database
and can run on any list of events (e.g. the API server's cache).

Budgets (issue 13) need the same intervals cut differently: `spend` clips
each billed interval to a period (a calendar month in UTC, or a day) and sums
it per user or per workspace, taken from the event that opened the interval
(a NULL workspace is "default"). It is recomputed from the events every time,
never stored: a stored running total would have to be corrected by every
late event, while the history is already the truth.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from skyhop.state.records import (
    LAUNCH,
    START,
    STOP,
    STOPPED,
    TERMINATE,
    TERMINATED,
    UP,
    ClusterEvent,
    CostLine,
)


@dataclass(slots=True)
class _Lifetime:
    """Mutable running total of one lifetime while the events are replayed."""

    cluster: str
    launched_at: float
    provider: str = ""
    region: str = ""
    resources: dict[str, Any] | None = None
    num_nodes: int = 1
    user: str | None = None
    workspace: str | None = None
    hourly_price: float = 0.0
    status: str = UP
    billed_since: float | None = None
    billed_price: float = 0.0
    duration_s: float = 0.0
    cost: float = 0.0
    ended_at: float | None = None
    #: The billed intervals closed so far: (start, end, hourly price, user, workspace of the opening event).
    intervals: list[Billed] = field(default_factory=list)
    billed_owner: tuple[str | None, str | None] = (None, None)

    def describe(self, event: ClusterEvent) -> None:
        """Keep the latest description seen in the lifetime."""
        self.provider = event.provider
        self.region = event.region
        self.resources = event.resources
        self.num_nodes = event.num_nodes
        self.user = event.user
        self.workspace = event.workspace
        self.hourly_price = event.hourly_price

    def bill_from(self, event: ClusterEvent) -> None:
        if self.billed_since is None:
            self.billed_since = event.at
            self.billed_price = event.hourly_price
            self.billed_owner = (event.user, event.workspace)
        self.status = UP

    def bill_until(self, at: float) -> None:
        if self.billed_since is not None:
            seconds = max(0.0, at - self.billed_since)
            self.duration_s += seconds
            self.cost += seconds / 3600.0 * self.billed_price
            user, workspace = self.billed_owner
            self.intervals.append(Billed(self.cluster, self.billed_since, self.billed_since + seconds, self.billed_price, user, workspace))
            self.billed_since = None

    def line(self) -> CostLine:
        return CostLine(
            cluster=self.cluster,
            provider=self.provider,
            region=self.region,
            resources=dict(self.resources or {}),
            num_nodes=self.num_nodes,
            status=self.status,
            launched_at=self.launched_at,
            duration_s=self.duration_s,
            hourly_price=self.hourly_price,
            cost=self.cost,
            user=self.user,
            ended_at=self.ended_at,
            workspace=self.workspace,
        )


@dataclass(frozen=True, slots=True)
class Billed:
    """One billed interval of a cluster: `[start, end)` at `hourly_price`, owned by whoever opened it."""

    cluster: str
    start: float
    end: float
    hourly_price: float
    user: str | None
    workspace: str | None

    def cost_within(self, start: float, end: float) -> float:
        """The money of the part of this interval inside `[start, end)`."""
        seconds = min(self.end, end) - max(self.start, start)
        return max(0.0, seconds) / 3600.0 * self.hourly_price


def cost_lines(events: Iterable[ClusterEvent], now: float) -> list[CostLine]:
    """Replay `events` (in insertion order, i.e. by id) into one line per lifetime.

    Tolerant of odd histories rather than failing the whole report: a LAUNCH
    while a lifetime is open closes that lifetime first; a START with no open
    lifetime opens one; a STOP or TERMINATE with nothing open is ignored.
    Lines come sorted by launch time, then name.
    """
    return [lifetime.line() for lifetime in _replay(events, now)]


def lines_within(events: Iterable[ClusterEvent], now: float, *, start: float, end: float) -> list[CostLine]:
    """`cost_lines` of the lifetimes billed within `[start, end)`, their duration and cost clipped to it
    (`cost-report --month`: what each cluster cost *that month*)."""
    out = []
    for lifetime in _replay(events, now):
        within = [i for i in lifetime.intervals if min(i.end, end) > max(i.start, start)]
        if not within:
            continue
        line = lifetime.line()
        seconds = sum(min(i.end, end) - max(i.start, start) for i in within)
        out.append(replace(line, duration_s=seconds, cost=sum(i.cost_within(start, end) for i in within)))
    return out


def billed_intervals(events: Iterable[ClusterEvent], now: float) -> list[Billed]:
    """Every billed interval of the history (open ones end at `now`), by the same rules as `cost_lines`."""
    return [interval for lifetime in _replay(events, now) for interval in lifetime.intervals]


def _replay(events: Iterable[ClusterEvent], now: float) -> list[_Lifetime]:
    open_lifetimes: dict[str, _Lifetime] = {}
    done: list[_Lifetime] = []

    def close(lifetime: _Lifetime, at: float) -> None:
        lifetime.bill_until(at)
        lifetime.status = TERMINATED
        lifetime.ended_at = at
        done.append(lifetime)
        del open_lifetimes[lifetime.cluster]

    for event in events:
        lifetime = open_lifetimes.get(event.cluster)
        if event.event == LAUNCH or (event.event == START and lifetime is None):
            if lifetime is not None:
                close(lifetime, event.at)
            lifetime = open_lifetimes[event.cluster] = _Lifetime(event.cluster, event.at)
            lifetime.describe(event)
            lifetime.bill_from(event)
        elif lifetime is None:
            continue
        elif event.event == START:
            lifetime.describe(event)
            lifetime.bill_from(event)
        elif event.event == STOP:
            lifetime.describe(event)
            lifetime.bill_until(event.at)
            lifetime.status = STOPPED
        elif event.event == TERMINATE:
            lifetime.describe(event)
            close(lifetime, event.at)

    for lifetime in open_lifetimes.values():
        lifetime.bill_until(now)
        done.append(lifetime)
    return sorted(done, key=lambda lt: (lt.launched_at, lt.cluster))


# --- spend per user or workspace, per period (budgets, `cost-report --daily`) -----------

By = Literal["user", "workspace"]
#: Where a row without a workspace (made before workspaces existed, or on a single-user server) belongs.
DEFAULT_WORKSPACE = "default"


def subject_of(interval: Billed, by: By) -> str:
    if by == "workspace":
        return interval.workspace or DEFAULT_WORKSPACE
    return interval.user or "-"


def spend(events: Iterable[ClusterEvent], now: float, *, start: float, end: float, by: By) -> dict[str, float]:
    """Money spent within `[start, end)` per user or per workspace: each billed interval clipped to the period."""
    totals: dict[str, float] = {}
    for interval in billed_intervals(events, now):
        money = interval.cost_within(start, end)
        if money > 0.0:
            key = subject_of(interval, by)
            totals[key] = totals.get(key, 0.0) + money
    return totals


def daily_spend(events: Iterable[ClusterEvent], now: float, *, start: float, end: float, by: By) -> dict[tuple[str, str], float]:
    """`spend` per UTC day within `[start, end)`: {(YYYY-MM-DD, subject): money}, only the days with money."""
    totals: dict[tuple[str, str], float] = {}
    for interval in billed_intervals(events, now):
        low, high = max(interval.start, start), min(interval.end, end)
        day = day_start(low)
        while day < high:
            following = day + 86400.0
            money = interval.cost_within(max(day, low), min(following, high))
            if money > 0.0:
                key = (day_name(day), subject_of(interval, by))
                totals[key] = totals.get(key, 0.0) + money
            day = following
    return totals


def month_name(at: float) -> str:
    """`2026-11`: the UTC calendar month of `at`."""
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[float, float]:
    """`2026-11` -> the unix seconds of its first instant and of the next month's, in UTC; ValueError when malformed."""
    year, number = (int(part) for part in month.split("-", 1)) if _is_month(month) else (0, 0)
    if not 1 <= number <= 12 or year < 1970:
        raise ValueError(f"{month!r} is not a month; write it as YYYY-MM, e.g. 2026-11.")
    first = dt.datetime(year, number, 1, tzinfo=dt.timezone.utc)
    days = calendar.monthrange(year, number)[1]
    return first.timestamp(), (first + dt.timedelta(days=days)).timestamp()


def month_label(month: str) -> str:
    """`2026-11` -> `November 2026`."""
    start, _ = month_bounds(month)
    return dt.datetime.fromtimestamp(start, dt.timezone.utc).strftime("%B %Y")


def _is_month(text: str) -> bool:
    return len(text) == 7 and text[4] == "-" and text[:4].isdigit() and text[5:].isdigit()


def day_start(at: float) -> float:
    """The first instant of `at`'s UTC day."""
    return at - (at % 86400.0)


def day_name(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%d")
