"""`skyhop sim spot` as a user runs it: JSON and table output, the plot, and one-paragraph refusals."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from helpers import REPO, run_cli

CBL = REPO.parent / "shared" / "traces" / "spot-traces" / "availability" / "1-node" / "aws-10-26-2022"


@pytest.fixture
def small_trace(tmp_path):
    """Four days of 10-minute ticks: spot for 5 h, none for 3 h, over and over."""
    path = tmp_path / "zone-a.json"
    path.write_text(json.dumps({"metadata": {"gap_seconds": 600}, "data": ([1] * 30 + [0] * 18) * 12}))
    return path


SMALL_JOB = ("--runtime", "8h", "--deadline", "12h", "--starts", "3")


def test_json_output(isolated_home, small_trace):
    result = run_cli(isolated_home, "sim", "spot", "--trace", str(small_trace), *SMALL_JOB, "--output", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # HiGHS's banner stays out of stdout
    assert data["setup"] == {"runtime_hours": 8.0, "deadline_hours": 12.0, "changeover_hours": 0.2, "starts": 3, "seed": 0, "nodes": 1}
    [trace] = data["traces"]
    assert trace["trace"] == str(small_trace) and trace["tick_seconds"] == 600.0 and trace["hours"] == 96.0
    assert trace["prices"] == {"spot_mean": 1.0, "on_demand": 3.0, "source": "flags"}
    rows = {row["policy"]: row for row in trace["policies"]}
    assert list(rows) == ["greedy", "uniform_progress", "omniscient"]
    for row in rows.values():
        assert row["deadlines_met"] == 1.0 and row["runs"] == 3
        assert 1 / 3 - 1e-9 <= row["normalized_cost"] <= 1.0 + 1e-9
        assert row["gap_to_omniscient"] >= -1e-3
    assert rows["omniscient"]["gap_to_omniscient"] == 0 and rows["omniscient"]["spot_hours_vs_omniscient"] == 1
    assert data["all"] == trace["policies"] and data["plot"] is None


def test_the_online_policies_meet_every_deadline_on_the_cant_be_late_traces(isolated_home):
    args = ["sim", "spot", "--trace", str(CBL / "us-west-2a_v100_1.json"), "--trace", str(CBL / "us-west-2b_k80_1.json")]
    result = run_cli(isolated_home, *args, "--policy", "greedy", "--policy", "UNIFORM_PROGRESS", "--starts", "8", "--seed", "7", "--output", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [row["policy"] for row in data["all"]] == ["greedy", "uniform_progress"]
    assert all(row["deadlines_met"] == 1.0 and row["runs"] == 16 for row in data["all"])
    assert all(row["gap_to_omniscient"] is None for row in data["all"])


def test_table_output_and_the_plot(isolated_home, small_trace, tmp_path):
    plot = tmp_path / "timeline.png"
    result = run_cli(isolated_home, "sim", "spot", "--trace", str(small_trace), "--trace", str(small_trace), *SMALL_JOB, "--plot", str(plot), "--start-index", "2")
    assert result.returncode == 0, result.stderr
    assert "COST VS ON-DEMAND" in result.stdout and "all traces" in result.stdout and "uniform_progress" in result.stdout
    assert "8 h job, deadline 12 h, changeover 0.2 h, 3 starts" in result.stdout
    png = plot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert width == 960 and height > 3 * 100
    idat = png[png.index(b"IDAT") + 4 :]
    pixels = zlib.decompress(idat[: struct.unpack(">I", png[png.index(b"IDAT") - 4 : png.index(b"IDAT")])[0]])
    for color in ((52, 120, 220), (240, 140, 30), (90, 180, 90), (215, 40, 40)):  # spot, on-demand, available, deadline
        assert bytes(color) in pixels


#: (flags, what stderr says, exit code): 2 for a usage error (a flag's value, flags that contradict each other, a
#: missing file), 1 for what only the data shows (a malformed trace, a trace shorter than the deadline).
BAD_INPUT = [
    (["--trace", "/nonexistent/trace.json"], "'/nonexistent/trace.json' does not exist", 2),
    (["--trace", "{tmp}"], "is a directory", 2),
    (["--trace", "{wrong}", "--runtime", "8h", "--deadline", "6h"], "shorter than the runtime plus one changeover", 2),
    (["--trace", "{wrong}", "--runtime", "eight hours"], "'eight hours' is not a duration", 2),
    (["--trace", "{wrong}", "--runtime", "-5h"], "'-5h' is not a duration", 2),
    (["--trace", "{wrong}"], "is not a spot trace", 1),
    (["--trace", "{garbage}"], "is not a spot trace (not text)", 1),
    (["--trace", "{small}", "--runtime", "90h", "--deadline", "100h"], "covers 96 h, less than the 100 h deadline", 1),
    (["--trace", "{small}", "--deadline", "70h", "--slack", "2h"], "Give one of --deadline, --slack and --job-fraction", 2),
    (["--trace", "{small}", "--changeover", "0s"], "changeover above zero", 2),
    (["--trace", "{small}", "--job-fraction", "nan"], "must be within (0, 1]", 2),
    (["--trace", "{small}", "--policy", "oracle"], "'oracle' is not one of", 2),
    (["--trace", "{small}", *SMALL_JOB, "--plot", "{tmp}/t.png", "--start-index", "3"], "must be within 0 .. 2", 2),
    (["--trace", "{small}", *SMALL_JOB, "--plot", "{tmp}/t.png", "--start-index", "-1"], "must be within 0 .. 2", 2),
    (["--trace", "{small}", *SMALL_JOB, "--plot", "{tmp}/no/such/dir/t.png"], "does not exist (checked before simulating)", 2),
    (["--trace", "{small}", "--starts", "1000000"], "1000000 is not in the range", 2),
    (["--trace", "{small}", "--starts", "0"], "0 is not in the range", 2),
    (["--trace", "{small}", "--nodes", "0"], "'--nodes': 0 is not in the range", 2),
    (["--trace", "{small}", "--nodes", "-3"], "'--nodes': -3 is not in the range", 2),
    (["--trace", "{small}", "--nodes", str(10**30)], "is not in the range", 2),
    (["--trace", "{small}", "--nodes", "many"], "'many' is not a valid integer", 2),
    (["--trace", "{small}", "--spot-price", "1e-300"], "'--spot-price': 1e-300 is not in the range", 2),
    (["--trace", "{small}", "--spot-price", "-1"], "'--spot-price'", 2),
    (["--trace", "{small}", "--ondemand-price", "1e308"], "'--ondemand-price'", 2),
    (["--trace", "{small}", "--ondemand-price", "nan"], "--ondemand-price must be a price above zero", 2),
]


@pytest.mark.parametrize(("args", "says", "code"), BAD_INPUT, ids=[str(i) for i in range(len(BAD_INPUT))])
def test_bad_input_is_one_paragraph(isolated_home, small_trace, tmp_path, args, says, code):
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"data": [1, 0]}))
    (tmp_path / "garbage.json").write_bytes(b"\x00\xffnot json")
    fill = {"{wrong}": str(wrong), "{garbage}": str(tmp_path / "garbage.json"), "{small}": str(small_trace), "{tmp}": str(tmp_path)}
    for key, value in fill.items():
        args = [a.replace(key, value) for a in args]
    result = run_cli(isolated_home, "sim", "spot", *args)
    assert result.returncode == code, result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
