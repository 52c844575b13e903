"""Rendering for humans (tables, via rich, imported lazily) and machines (JSON)."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence

import click

OUTPUT_OPTION = click.option(
    "--output",
    "-o",
    "output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format; json is a stable, documented schema (docs/json-output.md).",
)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def money(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if 0 < value < 0.01:
        return f"${value:.4f}"
    return f"${value:,.{digits}f}"


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None, highlight: set[int] | None = None) -> None:
    """Print a borderless table; rows whose index is in `highlight` are bold."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    grid = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, show_edge=False)
    for header in headers:
        grid.add_column(header, overflow="fold")
    for index, row in enumerate(rows):
        grid.add_row(*(str(cell) for cell in row), style="bold" if highlight and index in highlight else None)
    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    console.print(grid)
