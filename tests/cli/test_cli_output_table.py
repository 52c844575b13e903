"""Tables print as plain text laid out like rich's grid (a 1,000-row `jobs queue` took 4 s through rich, and
50 rows 0.3 s); rich draws only bold rows and cells to fold into the screen."""

from __future__ import annotations

from skyhop.cli import output

HEADERS = ["ID", "NAME", "STATUS", "CLUSTER"]


def _rows(count: int) -> list[list[object]]:
    return [[i, f"job-{i % 7}", "RUNNING" if i % 2 else "SUCCEEDED", "-"] for i in range(1, count + 1)]


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_the_plain_layout_is_the_rich_one(capsys):
    output.print_rich(HEADERS, _rows(12), title="Jobs", highlight=None, width=200)
    assert _lines(capsys.readouterr().out) == _lines(output.plain_table(HEADERS, _rows(12), title="Jobs"))


def test_a_table_that_fits_prints_plain_without_rich(capsys, monkeypatch):
    monkeypatch.setattr(output, "print_rich", lambda *a, **k: (_ for _ in ()).throw(AssertionError("rich was used")))
    output.table(HEADERS, _rows(12))
    assert _lines(capsys.readouterr().out) == _lines(output.plain_table(HEADERS, _rows(12)))


def test_a_table_wider_than_the_screen_folds_its_cells_through_rich(capsys):
    rows = [[1, "x" * 300, "RUNNING", "-"]]
    output.table(HEADERS, rows)
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 200 and "x" * 150 in "".join(lines)


def test_a_long_table_prints_every_row_plain(capsys):
    count = output.PLAIN_ROWS + 1
    output.table(HEADERS, _rows(count))
    lines = capsys.readouterr().out.splitlines()
    assert lines == output.plain_table(HEADERS, _rows(count)).splitlines()
    assert len(lines) == 2 + count and lines[-1].split() == [str(count), f"job-{count % 7}", "RUNNING", "-"]
