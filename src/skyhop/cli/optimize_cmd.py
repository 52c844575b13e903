"""`skyhop optimize`: where would this run, and what would it cost?"""

from __future__ import annotations

from typing import Any

import click

from skyhop.cli.output import OUTPUT_OPTION, emit_json, money, number, table
from skyhop.cli.task_options import load_pipeline, resource_options

_HEADERS = ("CLOUD", "INSTANCE", "vCPUs", "MEM(GB)", "ACCELERATORS", "REGION/ZONE", "SPOT", "$/H/NODE", "NODES", "EST. COST", "")


@click.command(
    epilog="""\b
Examples:
  skyhop optimize examples/hello.yaml --all-clouds
  skyhop optimize --gpus H100:8 --all-clouds
  skyhop optimize --gpus H100:8 --cloud lambda --region us-east-1 --all-clouds   # = --infra lambda/us-east-1
  skyhop optimize train.yaml --use-spot --infra lambda --hours 12 --output json
  skyhop optimize pipeline.yaml --all-clouds      # multi-document YAML
"""
)
@click.argument("entrypoint", required=False, metavar="[TASK.yaml]")
@resource_options
@click.option("--all-clouds", is_flag=True, help="Consider every cloud in the catalog, not only enabled ones.")
@click.option("--hours", type=float, default=1.0, show_default=True, help="Expected run time, for the cost estimate.")
@OUTPUT_OPTION
def optimize(entrypoint: str | None, all_clouds: bool, hours: float, output: str, **flags: Any) -> None:
    """Show the cheapest place to run a task, and the alternatives.

    Reads TASK.yaml (SkyPilot task schema; several documents make a pipeline)
    or builds a task from the resource flags alone. Without --all-clouds only
    clouds that `skyhop check` finds credentials for are considered.
    """
    from skyhop import sdk

    pipeline = load_pipeline(entrypoint, flags)
    if len(pipeline.tasks) == 1:
        plan = sdk.optimize(pipeline.tasks[0], all_clouds=all_clouds, hours=hours)
        if output == "json":
            emit_json(plan.to_json())
        else:
            _print_plan(plan, all_clouds)
        return
    result = sdk.optimize_pipeline(pipeline, all_clouds=all_clouds, hours=hours)
    if output == "json":
        emit_json(result.to_json())
        return
    for index, plan in enumerate(result.stages):
        click.echo(f"Stage {index}: {plan.task_name or 'unnamed'}")
        _print_plan(plan, all_clouds)
        click.echo()
    click.echo(f"Data moved between stages: {money(result.transfer_cost)}")
    click.echo(f"Estimated total: {money(result.total_cost)} (placement by {result.method})")


def _print_plan(plan: Any, all_clouds: bool) -> None:
    scope = "the catalog" if all_clouds else "enabled clouds"
    click.echo(f"Considered {len(plan.considered_clouds)} cloud(s) ({scope}): {', '.join(plan.considered_clouds)}")
    rows = []
    chosen_index = set()
    for index, candidate in enumerate(plan.candidates):
        offer = candidate.offer
        if candidate == plan.chosen:
            chosen_index.add(index)
        rows.append(
            (
                offer.cloud,
                offer.instance_type,
                number(offer.vcpus),
                number(offer.memory_gib),
                offer.describe_accelerators(),
                offer.region + (f"/{offer.zone}" if offer.zone else ""),
                "yes" if candidate.spot else "no",
                money(candidate.hourly_price),
                candidate.nodes,
                money(candidate.total_cost),
                "<- chosen" if candidate == plan.chosen else "",
            )
        )
    table(_HEADERS, rows, title="Best offer per cloud, accelerator and spot choice", highlight=chosen_index)
    for note in plan.notes:
        click.echo(f"Note: {note}")
    chosen = plan.chosen
    o = chosen.offer
    where = o.region + (f"/{o.zone}" if o.zone else "")
    egress = f" + {money(chosen.egress_cost)} egress" if chosen.egress_cost else ""
    click.echo(
        f"Chosen: {o.cloud} {o.instance_type} in {where} ({o.describe_accelerators()}, "
        f"{'spot' if chosen.spot else 'on-demand'}), {money(chosen.hourly_price)}/h x {chosen.nodes} node(s) "
        f"= {money(chosen.cluster_hourly_price)}/h; estimated {money(chosen.total_cost)} for {chosen.hours:g} h{egress}."
    )
