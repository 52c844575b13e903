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
from skyhop.state.records import ClusterEvent

DAY_S = 86400


@dataclass(frozen=True, slots=True)
class DaySpend:
    day: dt.date
    cost: float


def billed_until(events: Sequence[ClusterEvent], at: float) -> float:
    """Dollars billed by `events` (sorted by id) up to the moment `at`."""
    return sum(line.cost for line in cost_lines((e for e in events if e.at <= at), at))


def daily(events: Sequence[ClusterEvent], now: float, days: int) -> list[DaySpend]:
    """The last `days` UTC days up to today, oldest first, with what each cost."""
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    out = []
    for back in range(days - 1, -1, -1):
        day = today - dt.timedelta(days=back)
        start = dt.datetime.combine(day, dt.time(), dt.timezone.utc).timestamp()
        end = min(start + DAY_S, now)
        out.append(DaySpend(day, max(0.0, billed_until(events, end) - billed_until(events, start))))
    return out


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
