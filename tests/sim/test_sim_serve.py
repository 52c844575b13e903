"""`skyhop sim serve`: small synthetic zones with answers worked out by hand, then the CLI on the shared traces."""

from __future__ import annotations

import json

import pytest
from helpers import REPO, run_cli

from skyhop.cli.sim_cmd import SERVE_POLICIES
from skyhop.sim import serve
from skyhop.sim.errors import SimError
from skyhop.sim.trace import Trace

GCP1 = REPO.parent / "shared" / "traces" / "spothedge" / "GCP1"
#: 30 s ticks, 120 s cold start (4 ticks), 10 minutes of warm-up (20 ticks), 1 hour measured (120 ticks).
SMALL = serve.Setup(replicas=3, overprovision=0, cold_start=120, tick=30, hours=1, warmup=600, starts=1)
TICKS = 140


def zone(name: str, counts: list[int], **prices: float) -> Trace:
    spot = prices.get("spot")
    return Trace(f"/traces/{name}.json", 30.0, tuple(counts), None if spot is None else (spot,) * len(counts), prices.get("ondemand"))


def one(name: str, traces: list[Trace], setup: serve.Setup = SMALL) -> serve.Run:
    [result] = serve.evaluate(traces, (name,), setup).policies
    [run] = result.runs
    return run


def test_one_zone_always_up_costs_a_third_of_ondemand() -> None:
    up = [zone("a", [10] * TICKS)]
    run = one("spot_only", up)
    assert run.availability == 1.0 and run.cost == pytest.approx(1 / 3)
    assert (run.mean_replicas, run.mean_ondemand, run.preemptions, run.failed_launches) == (3.0, 0.0, 0, 0)
    extra = serve.Setup(**{**SMALL.__dict__, "overprovision": 1})
    hedged = one("spothedge", up, extra)  # warm-up's on-demand fallback is gone by the measured window
    assert hedged.availability == 1.0 and hedged.cost == pytest.approx(4 / 9) and hedged.mean_ondemand == 0.0
    assert one("ondemand_only", up) == serve.Run(1.0, 1.0, 3.0, 3.0, 0, 0)


def test_a_zone_never_up_leaves_spot_only_down_and_spothedge_on_demand() -> None:
    down = [zone("a", [0] * TICKS)]
    spot = one("spot_only", down)
    assert spot.availability == 0.0 and spot.cost == 0.0 and spot.failed_launches == 3 * 120
    hedged = one("spothedge", down)
    assert hedged.availability == 1.0 and hedged.cost == pytest.approx(1.0) and hedged.mean_ondemand == 3.0


def test_a_zone_holds_only_as_many_replicas_as_its_trace_counts() -> None:
    run = one("spot_only", [zone("a", [2] * TICKS)])
    assert run.availability == 0.0 and run.mean_replicas == 2.0 and run.cost == pytest.approx(2 / 9)
    assert run.failed_launches == 120  # the third replica is asked for, and refused, every tick


def test_a_preemption_costs_one_cold_start_with_on_demand_bridging_it() -> None:
    """Two replicas in zones a and b; b is gone for one tick at measured tick 60 (tick 80 overall).

    Tick 80: b's replica is preempted (b goes preempting, and since only a would stay active,
    both come back); the replacement spot launch goes to b, the emptier zone, and is refused;
    the dynamic fallback launches one on-demand replica. Tick 81: spot into b again, which is
    back. Tick 84: the on-demand replica is READY (4 ticks of cold start): 80..83 are short.
    Tick 85: b's replica is READY and the on-demand one goes, having run ticks 80..84.
    """
    b = [10] * TICKS
    b[80] = 0
    setup = serve.Setup(**{**SMALL.__dict__, "replicas": 2})
    run = one("spothedge", [zone("a", [10] * TICKS), zone("b", b)], setup)
    assert run.availability == pytest.approx(116 / 120)
    assert (run.preemptions, run.failed_launches) == (1, 1)
    assert run.mean_ondemand == pytest.approx(5 / 120)
    spot_ticks = 120 + 119  # a throughout; b all but tick 80
    assert run.cost == pytest.approx((spot_ticks * 1 + 5 * 3) / (2 * 120 * 3))


def test_spothedge_does_not_relaunch_into_the_zone_that_just_preempted() -> None:
    """Zones a, b, c hold one spot replica each (2 + 1 extra); b is gone at ticks 80 and 81.

    b then holds the fewest replicas, but it is preempting: the replacement goes to a (tied with c,
    first by name) and is never refused. The dynamic fallback still launches one on-demand replica
    while spot READY (2) is below the spot wanted (3), though the target (2) stays READY.
    """
    b = [10] * TICKS
    b[80] = b[81] = 0
    setup = serve.Setup(**{**SMALL.__dict__, "replicas": 2, "overprovision": 1})
    run = one("spothedge", [zone("a", [10] * TICKS), zone("b", b), zone("c", [10] * TICKS)], setup)
    assert run.availability == 1.0 and (run.preemptions, run.failed_launches) == (1, 0)
    assert run.mean_ondemand == pytest.approx(4 / 120)  # launched at 80 with the spot replacement; both READY at 84, when it goes


def test_trace_prices_are_used_when_every_trace_has_both() -> None:
    priced = [zone("a", [10] * TICKS, spot=2.0, ondemand=8.0), zone("b", [10] * TICKS, spot=4.0, ondemand=6.0)]
    result = serve.evaluate(priced, ("spot_only",), SMALL)
    assert (result.prices.source, result.prices.ondemand) == ("trace", 6.0)  # on-demand runs where it is cheapest
    [run] = result.policies[0].runs
    assert run.cost == pytest.approx((2 + 4 + 2) / (3 * 6))  # round-robin a, b, a
    forced = serve.evaluate(priced, ("spot_only",), serve.Setup(**{**SMALL.__dict__, "ondemand_ratio": 4.0}))
    assert forced.prices.source == "ratio" and forced.policies[0].runs[0].cost == pytest.approx(1 / 4)


def test_traces_too_short_or_named_twice_are_refused() -> None:
    with pytest.raises(SimError, match="cover 1.16667 h .* give fewer --hours"):
        serve.evaluate([zone("a", [1] * TICKS)], ("spot_only",), serve.Setup(**{**SMALL.__dict__, "hours": 2}))
    with pytest.raises(SimError, match="same file name"):
        serve.evaluate([zone("a", [1] * TICKS), zone("a", [1] * TICKS)], ("spot_only",), SMALL)


def test_offsets_repeat_with_the_seed_and_fit_the_traces() -> None:
    long = [zone("a", [1] * 1000)]
    setup = serve.Setup(**{**SMALL.__dict__, "starts": 20})
    first = serve.offsets(long, setup)
    assert first == serve.offsets(long, setup) and len(set(first)) > 1
    assert all(o % 30 == 0 and 0 <= o <= (1000 - TICKS) * 30 for o in first)


def test_cli_policies_are_the_simulators() -> None:
    assert SERVE_POLICIES == serve.POLICIES


def test_cli_on_the_shared_gcp_traces(isolated_home) -> None:
    result = run_cli(isolated_home, "sim", "serve", "--trace-dir", str(GCP1), "--hours", "2", "--starts", "2", "--output", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["setup"]["replicas"] == 3 and data["setup"]["overprovision"] == 1 and len(data["setup"]["offsets_seconds"]) == 2
    assert [z["zone"] for z in data["zones"]][:2] == ["asia-northeast1-a_a100_40gb_8", "europe-west4-a_a100_40gb_8"]
    assert data["prices"] == {"on_demand": 3.0, "source": "ratio"}
    rows = {row["policy"]: row for row in data["policies"]}
    assert list(rows) == list(SERVE_POLICIES)
    assert rows["ondemand_only"]["availability"] == 1.0 and rows["ondemand_only"]["cost_vs_ondemand"] == 1.0
    assert rows["spothedge"]["cost_vs_ondemand"] < 1.0 and rows["spothedge"]["availability"] >= 0.9
    table = run_cli(isolated_home, "sim", "serve", "--trace-dir", str(GCP1), "--hours", "1", "--starts", "1", "--policy", "spothedge")
    assert table.returncode == 0 and "spothedge" in table.stdout and "AVAILABILITY" in table.stdout


def test_cli_wants_traces_one_way(isolated_home) -> None:
    both = run_cli(isolated_home, "sim", "serve", "--trace-dir", str(GCP1), "--trace", str(next(GCP1.glob("*.json"))))
    neither = run_cli(isolated_home, "sim", "serve")
    for result in (both, neither):
        assert result.returncode == 2 and "either as --trace FILE" in result.stderr and "Traceback" not in result.stderr
