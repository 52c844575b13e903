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
    clouds that `skyhop check` finds credentials for are considered. The API
    server plans it, with its credentials and pools: the plan `launch` follows.
    """
    from skyhop.client import api

    pipeline = load_pipeline(entrypoint, flags)
    result = api.optimize(pipeline, all_clouds=all_clouds, hours=hours)
    if output == "json":
        emit_json(result)
        return
    if "stages" not in result:
        _print_plan(result, all_clouds)
        return
    for index, plan in enumerate(result["stages"]):
        click.echo(f"Stage {index}: {plan['task'] or 'unnamed'}")
        _print_plan(plan, all_clouds)
        click.echo()
    click.echo(f"Data moved between stages: {money(result['transfer_cost'])}")
    click.echo(f"Estimated total: {money(result['estimated_cost'])} (placement by {result['method']})")


def _print_plan(plan: dict[str, Any], all_clouds: bool) -> None:
    """The table and lines of one plan, from its JSON document (docs/json-output.md)."""
    scope = "the catalog" if all_clouds else "enabled clouds"
    click.echo(f"Considered {len(plan['considered_clouds'])} cloud(s) ({scope}): {', '.join(plan['considered_clouds'])}")
    rows = []
    chosen_index = set()
    for index, c in enumerate(plan["candidates"]):
        if c["chosen"]:
            chosen_index.add(index)
        rows.append(
            (
                c["cloud"],
                c["instance_type"],
                number(c["vcpus"]),
                number(c["memory_gib"]),
                c["accelerators"] or "-",
                _where(c),
                "yes" if c["use_spot"] else "no",
                money(c["hourly_price"]),
                c["nodes"],
                money(c["estimated_cost"]),
                "<- chosen" if c["chosen"] else "",
            )
        )
    table(_HEADERS, rows, title="Best offer per cloud, accelerator and spot choice", highlight=chosen_index)
    for note in plan["notes"]:
        click.echo(f"Note: {note}")
    egress = f" + {money(plan['egress_cost'])} egress" if plan["egress_cost"] else ""
    click.echo(
        f"Chosen: {plan['cloud']} {plan['instance_type']} in {_where(plan)} ({plan['accelerators'] or '-'}, "
        f"{'spot' if plan['use_spot'] else 'on-demand'}), {money(plan['hourly_price'])}/h x {plan['nodes']} node(s) "
        f"= {money(plan['cluster_hourly_price'])}/h; estimated {money(plan['estimated_cost'])} for {plan['estimated_hours']:g} h{egress}."
    )


def _where(candidate: dict[str, Any]) -> str:
    return candidate["region"] + (f"/{candidate['zone']}" if candidate["zone"] else "")
