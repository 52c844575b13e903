"""Big tables print as plain text laid out like rich's grid (a 1,000-row `jobs queue` took 4 s through rich)."""

from __future__ import annotations

from skyhop.cli import output

HEADERS = ["ID", "NAME", "STATUS", "CLUSTER"]


def _rows(count: int) -> list[list[object]]:
    return [[i, f"job-{i % 7}", "RUNNING" if i % 2 else "SUCCEEDED", "-"] for i in range(1, count + 1)]


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_the_plain_layout_is_the_rich_one(capsys):
    output.table(HEADERS, _rows(12))  # few rows: rich
    assert _lines(capsys.readouterr().out) == _lines(output.plain_table(HEADERS, _rows(12)))


def test_a_long_table_prints_every_row_plain(capsys):
    count = output.PLAIN_ROWS + 1
    output.table(HEADERS, _rows(count))
    lines = capsys.readouterr().out.splitlines()
    assert lines == output.plain_table(HEADERS, _rows(count)).splitlines()
    assert len(lines) == 2 + count and lines[-1].split() == [str(count), f"job-{count % 7}", "RUNNING", "-"]
