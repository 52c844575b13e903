"""Costs over time: what was spent each day, and an inline SVG bar chart of it (no chart library, no JS).

A day's spend is the difference of two cumulative totals from `state/cost.py`:
everything billed up to the day's end minus everything billed up to its start,
each computed by `cost_lines` over the events that had happened by then. So a
cluster stopped for a week costs nothing in that week, and a price changed at
a START is honoured, by the same code as `cost-report` (no second cost model
to drift). Days are UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from skyhop.state.cost import cost_lines
from skyhop.state.records import LAUNCH, START, TERMINATE, ClusterEvent

DAY_S = 86400


@dataclass(frozen=True, slots=True)
class DaySpend:
    day: dt.date
    cost: float


def billed_until(events: Sequence[ClusterEvent], at: float) -> float:
    """Dollars billed by `events` (sorted by id) up to the moment `at`."""
    return sum(line.cost for line in cost_lines((e for e in events if e.at <= at), at))


def lifetimes(history: Sequence[ClusterEvent]) -> list[tuple[list[ClusterEvent], float | None]]:
    """One name's history cut where `cost_lines` opens a new lifetime (a LAUNCH; a START after a
    TERMINATE), each piece with the time its billing is over: its TERMINATE, or the next piece's first
    event (a LAUNCH while open closes the lifetime there), or None while it may still run."""
    pieces: list[list[ClusterEvent]] = []
    for event in history:
        opens = event.event == LAUNCH or (event.event == START and (not pieces or pieces[-1][-1].event == TERMINATE))
        if opens or not pieces:
            pieces.append([event])
        else:
            pieces[-1].append(event)
    out: list[tuple[list[ClusterEvent], float | None]] = []
    for i, piece in enumerate(pieces):
        over = piece[-1].at if piece[-1].event == TERMINATE else (pieces[i + 1][0].at if i + 1 < len(pieces) else None)
        out.append((piece, over))
    return out


def daily(events: Sequence[ClusterEvent], now: float, days: int) -> list[DaySpend]:
    """The last `days` UTC days up to today, oldest first, with what each cost.

    Replayed per lifetime and only at the day boundaries it spans (once over, its total is fixed): a
    month of 10,000 short lifetimes is one small replay each, not one replay of the whole history per day."""
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    first_day = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first_day, dt.time(), dt.timezone.utc).timestamp()
    bounds = [min(start + k * DAY_S, now) for k in range(days + 1)]
    by_cluster: dict[str, list[ClusterEvent]] = {}
    for event in events:
        by_cluster.setdefault(event.cluster, []).append(event)
    totals = [0.0] * len(bounds)
    for history in by_cluster.values():
        for piece, over in lifetimes(history):
            if over is not None and over <= bounds[0]:
                continue  # over before the window: the same amount at every bound, nothing on any day
            final = billed_until(piece, over) if over is not None else 0.0
            for k, bound in enumerate(bounds):
                if bound < piece[0].at:
                    continue
                totals[k] += final if over is not None and bound >= over else billed_until(piece, bound)
    return [DaySpend(first_day + dt.timedelta(days=k), max(0.0, totals[k + 1] - totals[k])) for k in range(days)]


def svg(spend: Sequence[DaySpend], width: int = 760, height: int = 220) -> str:
    """A bar per day with a hover title, the largest day's amount on the axis; numbers and dates only (no user text)."""
    left, bottom, top = 56, 24, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max((d.cost for d in spend), default=0.0)
    scale = plot_h / peak if peak > 0 else 0.0
    slot = plot_w / max(1, len(spend))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="cost-chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>Cost per day (UTC), last {len(spend)} days</title>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" class="axis"/>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" class="label">${peak:,.2f}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="label">$0</text>',
    ]
    for i, d in enumerate(spend):
        h = d.cost * scale
        x = left + i * slot + slot * 0.1
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" '
            f'data-day="{d.day.isoformat()}" data-cost="{d.cost:.6f}"><title>{d.day.isoformat()}: ${d.cost:,.4f}</title></rect>'
        )
        if i % 7 == (len(spend) - 1) % 7:
            parts.append(f'<text x="{x + slot * 0.4:.1f}" y="{height - 6}" text-anchor="middle" class="label">{d.day.strftime("%m-%d")}</text>')
    parts.append("</svg>")
    return "".join(parts)
