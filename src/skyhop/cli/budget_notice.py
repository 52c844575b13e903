"""The CLI's budget line on stderr: what the server's `X-Skyhop-Notice` said, at most once an hour per budget.

The stamp (`SKYHOP_HOME/budget_notices.json`, 0600) remembers when each
budget's notice of each kind was last shown, so a script calling `status`
in a loop is not flooded, while a budget that goes from its warning to
exceeded is shown at once.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

#: How long one budget's notice of one kind stays quiet after it was shown.
QUIET_S = 3600.0


def stamp_file() -> Path:
    from skyhop import paths

    return paths.home() / "budget_notices.json"


def show(notices: list[dict[str, Any]], *, now: float | None = None) -> list[str]:
    """Print the notices not shown within the hour to stderr; the lines printed."""
    import click

    now = time.time() if now is None else now
    path = stamp_file()
    try:
        stamps = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stamps = {}
    if not isinstance(stamps, dict):
        stamps = {}
    shown = []
    for notice in notices:
        key = f"{notice.get('budget_id')}:{notice.get('month')}:{notice.get('kind')}"
        last = stamps.get(key)
        if isinstance(last, (int, float)) and now - last < QUIET_S:
            continue
        stamps[key] = now
        line = f"Budget notice: {notice['text']}"
        click.echo(line, err=True)
        shown.append(line)
    if shown:
        _write_private(path, json.dumps(stamps))
    return shown


def _write_private(path: Path, text: str) -> None:
    from skyhop import paths

    try:
        paths.private_dir(path.parent)
        partial = path.with_suffix(".part")
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
            f.write(text)
        partial.replace(path)
    except OSError:
        pass  # the notice was shown; not remembering it only means it is shown again
