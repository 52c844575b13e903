"""Reading spot traces: every file in ../shared/traces, timestamps over gap_seconds, prices, and refusals."""

from __future__ import annotations

import json

import pytest
from helpers import REPO

from skyhop.sim.errors import SimError
from skyhop.sim.trace import load

TRACES = REPO.parent / "shared" / "traces"


def write(tmp_path, content, name="t.json"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_every_shared_trace_loads():
    files = sorted(TRACES.rglob("*.json"))
    assert len(files) >= 50
    for path in files:
        trace = load(path)
        assert trace.tick > 0 and trace.counts and trace.duration > 0, path


def test_the_skynomad_traces_carry_prices_and_timestamps_that_agree_with_their_gap():
    trace = load(TRACES / "skynomad" / "us-east4-a_h100_16.json")
    assert trace.tick == 600.0  # start_time to second_half_start_time is 756 ticks of 600 s
    assert trace.ondemand_price == pytest.approx(82.52543712)
    assert trace.spot_prices is not None and len(trace.spot_prices) == len(trace.counts)
    assert trace.spot_prices == pytest.approx([14.85344] * len(trace.counts))


def test_a_spot_price_without_an_on_demand_price_is_not_used():
    """AWS preemption traces have per-tick spot prices only: no ratio to on-demand can be made from them."""
    trace = load(TRACES / "spot-traces" / "preemption" / "1-node" / "aws-04-19-2023" / "us-east-1b_intel_64.json")
    assert trace.spot_prices is None and trace.ondemand_price is None


def test_real_timestamps_win_over_gap_seconds(tmp_path):
    metadata = {
        "gap_seconds": 600,
        "start_time": "2023-02-15T00:00:00+00:00",
        # 10 + 2 ticks later, 39 minutes on: the loop really ticked every 195 s.
        "gap_filled": {"original_first_half_points": 10, "gap_points": 2, "second_half_start_time": "2023-02-15T00:39:00+00:00"},
    }
    assert load(write(tmp_path, {"metadata": metadata, "data": [1] * 20})).tick == pytest.approx(195.0)


def test_gap_seconds_stands_when_the_timestamps_agree_within_one_percent(tmp_path):
    metadata = {
        "gap_seconds": 600,
        "start_time": "2025-10-04T00:10:00+00:00",
        "gap_filled": {"original_first_half_points": 10, "gap_points": 2, "second_half_start_time": "2025-10-04T02:10:30+00:00"},
    }
    assert load(write(tmp_path, {"metadata": metadata, "data": [0, 1]})).tick == 600.0


def test_per_tick_prices_with_an_on_demand_price(tmp_path):
    raw = {"metadata": {"gap_seconds": 60, "price_info": {"on_demand_price": 3.0, "price": 1.0}}, "data": [1, 0, 2], "prices": [1.0, 1.2, 0.9]}
    trace = load(write(tmp_path, raw))
    assert trace.spot_prices == (1.0, 1.2, 0.9) and trace.ondemand_price == 3.0
    assert trace.available() == (True, False, True) and trace.available(nodes=2) == (False, False, True)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json {", "not JSON"),
        ([1, 0, 1], "expected a JSON object"),
        ({"metadata": {"gap_seconds": 600}}, "expected a JSON object"),
        ({"metadata": {"gap_seconds": 600}, "data": []}, "non-empty list of whole numbers"),
        ({"metadata": {"gap_seconds": 600}, "data": [1, -1]}, "non-empty list of whole numbers"),
        ({"metadata": {"gap_seconds": 600}, "data": [1, 0.5]}, "non-empty list of whole numbers"),
        ({"metadata": {"gap_seconds": 600}, "data": [True, False]}, "non-empty list of whole numbers"),
        ({"metadata": {}, "data": [1, 0]}, "gap_seconds"),
        ({"metadata": {"gap_seconds": -5}, "data": [1, 0]}, "gap_seconds"),
    ],
)
def test_what_is_not_a_trace_is_refused_in_one_paragraph(tmp_path, content, says):
    path = write(tmp_path, content)
    with pytest.raises(SimError, match=says) as error:
        load(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_missing_trace_file(tmp_path):
    with pytest.raises(SimError, match="No trace file .*nope.json"):
        load(tmp_path / "nope.json")
