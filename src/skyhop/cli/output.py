"""Rendering for humans (tables, via rich, imported lazily) and machines (JSON)."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence

import click

YES_OPTION = click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")


def confirmed(yes: bool, question: str, *, default: bool) -> None:
    """Ask `question` unless `yes`; "no" (or no terminal to answer on) ends the command with status 1, changing nothing."""
    if not yes and not click.confirm(question, default=default, err=True):
        raise SystemExit(1)


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


def age(since: float | None) -> str:
    """How long ago `since` (unix seconds) was, in its largest unit: `3h ago`; `-` when unknown."""
    import time

    if not since:
        return "-"
    seconds = max(0, time.time() - since)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def duration(seconds: float) -> str:
    """`1h 05m`, or `3m 07s` under an hour."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def stream_out(chunks: Iterable[bytes], stopped: str) -> None:
    """Copy a streamed log to stdout as it comes; Ctrl-C ends the command (exit 130) saying `stopped`:
    only the following stops, not what is followed."""
    try:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
    except KeyboardInterrupt:
        click.echo(f"\n{stopped}", err=True)
        raise SystemExit(130) from None


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


#: Tables longer than this print as plain aligned text even when wider than the screen: rich measures
#: every cell (4-6 ms a row on two cores), so a 1,000-row `jobs queue` took 4 s to print.
PLAIN_ROWS = 200


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None, highlight: set[int] | None = None) -> None:
    """Print a borderless table; rows whose index is in `highlight` are bold.

    rich draws it only where it adds something (bold rows, or cells to fold into a narrow
    screen): importing and running it cost 0.3 s of a 0.4 s `jobs queue` of 50 rows, and
    the plain layout is the same grid.
    """
    cells = [[str(cell) for cell in row] for row in rows]
    width = _terminal_columns() if sys.stdout.isatty() else 200
    widths = _widths(headers, cells)
    if not highlight and (len(cells) > PLAIN_ROWS or sum(widths) + 3 * (len(widths) - 1) <= width):
        click.echo(_plain(headers, cells, widths, title))
        return
    print_rich(headers, cells, title=title, highlight=highlight, width=width)


def print_rich(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None, highlight: set[int] | None, width: int) -> None:
    """The same grid through rich: bold rows, and long cells folded to fit `width`."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    grid = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, show_edge=False)
    for header in headers:
        grid.add_column(header, overflow="fold")
    for index, row in enumerate(rows):
        grid.add_row(*(str(cell) for cell in row), style="bold" if highlight and index in highlight else None)
    Console(width=width, highlight=False).print(grid)


def _widths(headers: Sequence[str], cells: Sequence[Sequence[str]]) -> list[int]:
    return [max([len(header)] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)]


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> str:
    """The layout of `table`'s rich grid (a header, a rule, columns three spaces apart) without measuring
    cells through rich, and without folding long cells."""
    cells = [[str(cell) for cell in row] for row in rows]
    return _plain(headers, cells, _widths(headers, cells), title)


def _plain(headers: Sequence[str], cells: Sequence[Sequence[str]], widths: Sequence[int], title: str | None) -> str:
    lines = [title] if title else []
    lines.append("   ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    lines.append("\u2500" * (sum(widths) + 3 * (len(widths) - 1)))
    lines += ["   ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _terminal_columns() -> int:
    import shutil  # a terminal's width only: shutil pulls in the compression modules (~4 ms for every command)

    return shutil.get_terminal_size().columns
