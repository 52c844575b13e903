"""Jinja2 templates, autoescaped: every value a user controls (a cluster or job name, a log line) is escaped.

Jinja2 is imported on the first page rendered, not with the server (nor with
`import skyhop`): the import guard keeps the CLI light.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).with_name("templates")


@functools.lru_cache(maxsize=1)
def environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["when"] = when
    env.filters["money"] = lambda value: "-" if value is None else f"${value:,.4f}"
    env.filters["duration"] = duration
    return env


def when(at: float | None) -> str:
    return "-" if at is None else dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m {rest % 60:02d}s"


def page(name: str, context: dict[str, Any], status: int = 200):
    from fastapi.responses import HTMLResponse

    html = environment().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


#: No framing (clickjacking), no other origin's scripts or styles (what a CDN would be), no referrer leaks.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
