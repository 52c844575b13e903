"""`skyhop sim spot` and `skyhop sim serve`: replay spot availability traces through the policies the controllers run."""

from __future__ import annotations

import os
from typing import Any

import click

from skyhop.cli.output import OUTPUT_OPTION, emit_json, table
from skyhop.sim.experiment import ALL_POLICIES  # light: HiGHS loads only when the omniscient baseline runs

#: `skyhop.sim.serve.POLICIES`, named here so that `sim --help` need not import the serve autoscaler (a test keeps them equal).
SERVE_POLICIES = ("spothedge", "spot_only", "ondemand_only")
#: $/h: a price outside this range is a typo (1e-300 made the gap to omniscient a 300-digit number; 1e308 broke HiGHS).
PRICE = click.FloatRange(1e-6, 1e6)
#: Instances a trace could count at one tick (the largest traces count tens).
MAX_NODES = 10_000


@click.group(
    epilog="""\b
Examples:
  skyhop sim spot --trace ../shared/traces/spot-traces/availability/1-node/aws-10-26-2022/us-west-2a_v100_1.json
  skyhop sim spot --trace A.json --policy uniform_progress --deadline 56h --output json
  skyhop sim serve --trace-dir ../shared/traces/spothedge/GCP1
""",
)
def sim() -> None:
    """Simulate spot policies on recorded availability traces: cost, deadlines met, availability.

    `sim spot` runs the deadline policies the managed-jobs controller runs
    (job_recovery: {strategy: UNIFORM_PROGRESS, ...}); `sim serve` runs a
    service through the serve autoscaler and SpotHedge's spot placer.
    """


@sim.command(
    epilog="""\b
Examples:
  skyhop sim spot --trace ../shared/traces/spot-traces/availability/1-node/aws-10-26-2022/us-west-2a_v100_1.json
  skyhop sim spot --trace A.json --trace B.json --policy greedy --policy uniform_progress --starts 50
  skyhop sim spot --trace A.json --runtime 24h --deadline 30h --changeover 6m --output json
  skyhop sim spot --trace A.json --plot timeline.png --start-index 3
""",
)
@click.option("--trace", "traces", multiple=True, required=True, metavar="FILE", type=click.Path(exists=True, dir_okay=False), help="A spot availability trace (JSON; ../shared/traces/SOURCE.md). Repeatable.")
@click.option("--policy", "policies", multiple=True, type=click.Choice(ALL_POLICIES, case_sensitive=False), help="Policy to run (repeatable; default: all three).")
@click.option("--runtime", default="48h", show_default=True, help="Work the job needs on a machine never taken away (s/m/h/d).")
@click.option("--deadline", help="Finish within this long after submission (s/m/h/d).")
@click.option("--slack", help="Deadline = runtime + slack (s/m/h/d).")
@click.option("--job-fraction", type=float, help="Deadline = runtime / fraction (the paper's C/D; 0.8 when no deadline is given).")
@click.option("--changeover", default="0.2h", show_default=True, help="Time each (re)start costs before progress resumes (s/m/h/d).")
@click.option("--starts", type=click.IntRange(1, 100_000), default=300, show_default=True, help="Random submission points per trace.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the submission points (same seed, same points).")
@click.option("--spot-price", type=PRICE, help="Spot $/h (default: the trace's prices when it has both, else 1).")
@click.option("--ondemand-price", type=PRICE, help="On-demand $/h (default: the trace's when it has both prices, else 3).")
@click.option("--nodes", type=click.IntRange(1, MAX_NODES), default=1, show_default=True, help="Spot counts as available when the trace has at least this many instances.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a PNG timeline of each policy on the first trace.")
@click.option("--start-index", type=int, default=0, show_default=True, help="With --plot: which submission point (0 .. starts-1).")
@OUTPUT_OPTION
def spot(traces: tuple[str, ...], policies: tuple[str, ...], runtime: str, deadline: str | None, slack: str | None, job_fraction: float | None, changeover: str,
         starts: int, seed: int, spot_price: float | None, ondemand_price: float | None, nodes: int, plot: str | None, start_index: int, output: str) -> None:
    """Replay spot availability traces through deadline policies.

    The job (a runtime of work, to finish by a deadline) is submitted at
    --starts random points of each trace, and each policy runs it: greedy
    (spot whenever there is some, on-demand only at the last moment),
    uniform_progress (on-demand when behind the uniform progress line) and
    omniscient (the cheapest schedule knowing the trace ahead; an integer
    program solved with HiGHS). The online policies are the objects the
    managed-jobs controller runs. Shown per trace and over all: the mean cost
    normalised to running on on-demand only, the share of deadlines met, the
    mean gap to omniscient and the spot hours used relative to omniscient's.
    The defaults are the Can't Be Late paper's setup (48 h job, deadline
    48 h / 0.8 = 60 h, changeover 0.2 h, 300 starts, on-demand 3x spot).
    """
    from skyhop.sim import experiment
    from skyhop.sim.errors import SimError
    from skyhop.sim.simulate import Job
    from skyhop.sim.trace import load

    if plot is not None and not os.path.isdir(os.path.dirname(os.path.abspath(plot))):
        raise click.BadParameter(f"the folder of {plot} does not exist (checked before simulating).", param_hint="--plot")

    names = tuple(dict.fromkeys(p.lower() for p in policies)) or ALL_POLICIES
    job = Job(_seconds(runtime, "--runtime"), 0.0, _seconds(changeover, "--changeover"))
    job = Job(job.runtime, _deadline(job.runtime, deadline, slack, job_fraction), job.changeover)
    setup = experiment.Setup(job, starts, seed, spot_price, ondemand_price, nodes)
    try:
        setup.check()
    except SimError as error:  # the flags contradict each other: a usage error (exit 2), said in one paragraph
        raise click.UsageError(str(error)) from None
    if plot and not 0 <= start_index < starts:
        raise click.BadParameter(f"must be within 0 .. {starts - 1} (--starts {starts})", param_hint="--start-index")
    loaded = [load(path) for path in traces]
    results = []
    for trace in loaded:
        experiment.offsets(trace, setup)  # refuses a trace shorter than the deadline before any long work
    for trace in loaded:
        if output != "json":
            click.echo(f"Simulating {trace.name}: {starts} starts x {len(names)} policies ...", err=True)
        results.append(experiment.evaluate(trace, names, setup))
    if plot:
        _plot(plot, loaded[0], names, setup, start_index)
    if output == "json":
        emit_json(_json(results, setup, plot))
        return
    _print(results, setup)
    if plot:
        click.echo(f"Wrote {plot}: per policy (top to bottom: {', '.join(names)}), a band of where the job ran (blue spot, orange on-demand, grey waiting) "
                   "over the trace's availability (green), and its progress (black) against the uniform line and the deadline (red).")


def _seconds(raw: str, option: str) -> float:
    from skyhop.spec.errors import SpecError
    from skyhop.spec.quantities import parse_seconds

    try:
        return float(parse_seconds(raw, option))
    except SpecError:
        raise click.BadParameter(f"{raw!r} is not a duration; give one like '90s', '30m', '48h', '2d' (a bare number is minutes).", param_hint=option) from None


def _deadline(runtime: float, deadline: str | None, slack: str | None, fraction: float | None) -> float:
    given = [name for name, value in (("--deadline", deadline), ("--slack", slack), ("--job-fraction", fraction)) if value is not None]
    if len(given) > 1:
        raise click.UsageError(f"Give one of --deadline, --slack and --job-fraction, not {' and '.join(given)}.")
    if deadline is not None:
        return _seconds(deadline, "--deadline")
    if slack is not None:
        return runtime + _seconds(slack, "--slack")
    fraction = 0.8 if fraction is None else fraction
    if not 0 < fraction <= 1:
        raise click.BadParameter(f"must be within (0, 1], got {fraction:g}", param_hint="--job-fraction")
    return runtime / fraction


def _row(runs: Any, all_runs: Any) -> dict[str, Any]:
    from skyhop.sim.experiment import spot_share

    return {
        "policy": runs.policy,
        "normalized_cost": round(runs.mean_normalized, 4),
        "deadlines_met": round(runs.met_share, 4),
        "gap_to_omniscient": None if runs.mean_gap is None else round(runs.mean_gap, 4),
        "spot_hours_vs_omniscient": _maybe_round(spot_share(runs, all_runs)),
        "runs": len(runs.normalized),
    }


def _maybe_round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _json(results: list[Any], setup: Any, plot: str | None) -> dict[str, Any]:
    from skyhop.sim.experiment import pooled

    job = setup.job
    return {
        "setup": {"runtime_hours": job.runtime / 3600, "deadline_hours": job.deadline / 3600, "changeover_hours": job.changeover / 3600,
                  "starts": setup.starts, "seed": setup.seed, "nodes": setup.nodes},
        "traces": [
            {
                "trace": r.trace.path,
                "tick_seconds": r.trace.tick,
                "hours": round(r.trace.duration / 3600, 3),
                "prices": {"spot_mean": round(sum(r.prices.spot) / len(r.prices.spot), 6), "on_demand": r.prices.ondemand, "source": r.prices.source},
                "policies": [_row(runs, r.runs) for runs in r.runs],
            }
            for r in results
        ],
        "all": [_row(runs, pooled(results)) for runs in pooled(results)],
        "plot": plot,
    }


def _print(results: list[Any], setup: Any) -> None:
    from skyhop.sim.experiment import pooled

    job = setup.job
    click.echo(
        f"{job.runtime / 3600:g} h job, deadline {job.deadline / 3600:g} h, changeover {job.changeover / 3600:g} h, "
        f"{setup.starts} starts per trace (seed {setup.seed}); cost relative to on-demand only."
    )
    rows = []
    for r in results:
        label = f"{r.trace.name} ({'trace prices' if r.prices.source == 'trace' else f'on-demand {r.prices.ondemand:g}x'})"
        rows += [(label if i == 0 else "", *_cells(_row(runs, r.runs))) for i, runs in enumerate(r.runs)]
    if len(results) > 1:
        rows += [("all traces" if i == 0 else "", *_cells(_row(runs, pooled(results)))) for i, runs in enumerate(pooled(results))]
    table(("TRACE", "POLICY", "COST VS ON-DEMAND", "DEADLINES MET", "GAP TO OMNISCIENT", "SPOT HOURS VS OMNISCIENT"), rows)


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    def share(value: float | None) -> str:
        return "-" if value is None else f"{100 * value + 0.0:.1f}%".replace("-0.0%", "0.0%")

    return (row["policy"], f"{row['normalized_cost']:.3f}", share(row["deadlines_met"]), share(row["gap_to_omniscient"]), share(row["spot_hours_vs_omniscient"]))


def _plot(path: str, trace: Any, names: tuple[str, ...], setup: Any, index: int) -> None:
    from skyhop.sim import experiment
    from skyhop.sim.plot import timeline_png

    price = experiment.prices(trace, setup)
    win = experiment.window(trace, experiment.offsets(trace, setup)[index], setup, price)
    outcomes = [(name, experiment.run_one(name, setup, win, record=True)) for name in names]
    try:
        timeline_png(path, setup.job, win, outcomes)
    except OSError as error:
        from skyhop.sim.errors import SimError

        raise SimError(f"Cannot write the plot to {path}: {error.strerror or error}.") from None


@sim.command(
    epilog="""\b
Examples:
  skyhop sim serve --trace-dir ../shared/traces/spothedge/GCP1
  skyhop sim serve --trace-dir ../shared/traces/skynomad --tick 30s --hours 24 --starts 20
  skyhop sim serve --trace A.json --trace B.json --replicas 2 --overprovision 0 --policy spothedge --output json
""",
)
@click.option("--trace", "traces", multiple=True, metavar="FILE", type=click.Path(exists=True, dir_okay=False), help="One zone's spot availability trace (JSON; ../shared/traces/SOURCE.md). Repeatable.")
@click.option("--trace-dir", type=click.Path(exists=True, file_okay=False), help="A folder of traces, one zone per *.json file (instead of --trace).")
@click.option("--replicas", type=click.IntRange(1, 1000), default=3, show_default=True, help="Target of READY replicas (min = max replicas).")
@click.option("--overprovision", type=click.IntRange(0, 1000), default=1, show_default=True, help="Extra spot replicas (num_overprovision) for the spot policies.")
@click.option("--cold-start", default="120s", show_default=True, help="Time from launch to READY (s/m/h/d).")
@click.option("--tick", default="30s", show_default=True, help="Simulation step; the controller decides once per step (s/m/h/d).")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True, max=100_000), default=24.0, show_default=True, help="Hours measured per start.")
@click.option("--warmup", default="1h", show_default=True, help="Time simulated before each measured window, so every policy is measured from a steady state (s/m/h/d).")
@click.option("--ondemand-ratio", type=click.FloatRange(min=0, min_open=True, max=1e6), help="On-demand price / spot price (default: the traces' prices when all have both, else 3).")
@click.option("--policy", "policies", multiple=True, type=click.Choice(SERVE_POLICIES, case_sensitive=False), help="Policy to run (repeatable; default: all).")
@click.option("--starts", type=click.IntRange(1, 10_000), default=10, show_default=True, help="Measured windows at random offsets into the traces.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the offsets (same seed, same offsets).")
@OUTPUT_OPTION
def serve(traces: tuple[str, ...], trace_dir: str | None, replicas: int, overprovision: int, cold_start: str, tick: str, hours: float, warmup: str,
          ondemand_ratio: float | None, policies: tuple[str, ...], starts: int, seed: int, output: str) -> None:
    """Replay zone availability traces through the serve autoscaler and SpotHedge.

    Each trace is one zone: at each moment a zone holds at most as many
    spot replicas as its trace counts. A service of --replicas READY
    replicas runs at --starts random offsets for --hours, each policy
    through the same autoscaler (and placer) objects the serve controller
    runs: spothedge (spread over zones that have not just preempted,
    --overprovision extra spot replicas, on-demand while spot ones are not
    READY), spot_only (round-robin over zones, same extra, no on-demand)
    and ondemand_only. Shown: availability (share of time with --replicas
    READY; mean and worst start), cost relative to --replicas on-demand
    replicas, mean replicas alive (on-demand among them), and preemptions
    and refused spot launches per start. The defaults are the SkyServe
    paper's simulation (3 replicas, 1 extra, 120 s cold start, 30 s ticks,
    24 h, on-demand 3x spot).
    """
    from skyhop.sim import serve as sim_serve
    from skyhop.sim.errors import SimError
    from skyhop.sim.trace import load

    if bool(traces) == bool(trace_dir):
        raise click.UsageError("Give the zones' traces either as --trace FILE (repeatable) or as --trace-dir DIR, one of the two.")
    paths = list(traces) or sorted(str(p) for p in _json_files(trace_dir or ""))
    if not paths:
        raise click.BadParameter(f"no *.json trace in {trace_dir}", param_hint="--trace-dir")
    setup = sim_serve.Setup(replicas, overprovision, _seconds(cold_start, "--cold-start"), _seconds(tick, "--tick"), hours, _seconds(warmup, "--warmup"),
                            ondemand_ratio, starts, seed)
    try:
        setup.check()
    except SimError as error:
        raise click.UsageError(str(error)) from None
    names = tuple(dict.fromkeys(p.lower() for p in policies)) or sim_serve.POLICIES
    result = sim_serve.evaluate([load(p) for p in paths], names, setup)
    if output == "json":
        emit_json(_serve_json(result, setup))
        return
    _serve_print(result, setup)


def _json_files(folder: str) -> list[Any]:
    from pathlib import Path

    return [p for p in Path(folder).glob("*.json") if p.is_file()]


def _serve_row(policy: Any) -> dict[str, Any]:
    return {
        "policy": policy.policy,
        "availability": round(policy.mean("availability"), 6),
        "worst_availability": round(policy.worst_availability, 6),
        "cost_vs_ondemand": round(policy.mean("cost"), 4),
        "mean_replicas": round(policy.mean("mean_replicas"), 3),
        "mean_ondemand_replicas": round(policy.mean("mean_ondemand"), 3),
        "preemptions": round(policy.mean("preemptions"), 2),
        "failed_launches": round(policy.mean("failed_launches"), 2),
        "runs": len(policy.runs),
    }


def _serve_json(result: Any, setup: Any) -> dict[str, Any]:
    return {
        "setup": {"replicas": setup.replicas, "overprovision": setup.overprovision, "cold_start_seconds": setup.cold_start, "tick_seconds": setup.tick,
                  "hours": setup.hours, "warmup_seconds": setup.warmup, "starts": setup.starts, "seed": setup.seed,
                  "offsets_seconds": list(result.offsets)},
        "zones": [{"trace": t.path, "zone": t.name, "tick_seconds": t.tick, "spot_price": round(result.prices.mean_spot(i), 6)} for i, t in enumerate(result.traces)],
        "prices": {"on_demand": result.prices.ondemand, "source": result.prices.source},
        "policies": [_serve_row(p) for p in result.policies],
    }


def _serve_print(result: Any, setup: Any) -> None:
    price = result.prices
    where = "the traces' prices" if price.source == "trace" else f"on-demand {price.ondemand:g}x spot"
    click.echo(
        f"{len(result.traces)} zones, {setup.replicas} replicas (+{setup.overprovision} spot), cold start {setup.cold_start:g} s, tick {setup.tick:g} s, "
        f"{setup.hours:g} h x {setup.starts} starts (seed {setup.seed}); {where}; cost relative to {setup.replicas} on-demand replicas."
    )
    rows = []
    for p in result.policies:
        row = _serve_row(p)
        rows.append((row["policy"], f"{100 * row['availability']:.2f}%", f"{100 * row['worst_availability']:.2f}%", f"{row['cost_vs_ondemand']:.3f}",
                     f"{row['mean_replicas']:.2f} ({row['mean_ondemand_replicas']:.2f})", f"{row['preemptions']:g}", f"{row['failed_launches']:g}"))
    table(("POLICY", "AVAILABILITY", "WORST START", "COST VS ON-DEMAND", "REPLICAS (ON-DEMAND)", "PREEMPTIONS", "REFUSED LAUNCHES"), rows)
