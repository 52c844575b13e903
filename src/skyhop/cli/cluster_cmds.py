"""Cluster lifecycle commands: status, stop, start, down, autostop, cost-report."""

from __future__ import annotations

import time
import click

from skyhop.cli.output import OUTPUT_OPTION, emit_json, money, table
from skyhop.errors import SkyhopError

YES = click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")


def _age(since: float | None) -> str:
    if not since:
        return "-"
    seconds = max(0, time.time() - since)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


@click.command(
    epilog="""\b
Examples:
  skyhop status
  skyhop status dev --refresh
  skyhop status --output json
"""
)
@click.argument("clusters", nargs=-1)
@click.option("-r", "--refresh", is_flag=True, help="Ask every cluster's infra for its real state first.")
@OUTPUT_OPTION
def status(clusters: tuple[str, ...], refresh: bool, output: str) -> None:
    """Show clusters: status, resources, price, autostop.

    Local clusters are always checked against the machine; --refresh checks
    every cluster's provider and agent (e.g. after a crash or an autostop).
    """
    from skyhop.client import api

    rows = api.status(list(clusters), refresh=refresh)
    if output == "json":
        emit_json(rows)
        return
    if not rows:
        click.echo("No clusters." if not clusters else f"No cluster named {', '.join(clusters)}.")
        return
    table(
        ("NAME", "STATUS", "INFRA", "RESOURCES", "$/H", "LAUNCHED", "AUTOSTOP"),
        [
            (
                r["name"], r["status"], r["infra"], r["resources_str"], money(r["hourly_price"]), _age(r["launched_at"]),
                "-" if r["autostop_minutes"] is None else f"{r['autostop_minutes']:g}m" + (" (down)" if r["autostop_down"] else ""),
            )
            for r in rows
        ],
    )
    for r in rows:
        if r.get("status_reason"):
            click.echo(f"{r['name']}: {r['status']} because {r['status_reason']}")


def _lifecycle(verb: str, names: tuple[str, ...], all_: bool, yes: bool, purge: bool = False) -> None:
    from skyhop.cli.request_view import run_request
    from skyhop.client import api
    from skyhop.execution.names import check_cluster_name

    if all_:
        names = tuple(r["name"] for r in api.status())
        if not names:
            click.echo("No clusters.")
            return
    if not names:
        existing = [r["name"] for r in api.status()]
        if not existing:
            click.echo("No clusters.")
            return
        if len(existing) > 1:
            raise SkyhopError(f"Name the cluster(s) to {verb} ({', '.join(existing)}), or pass --all.")
        names = tuple(existing)  # the only cluster: what a user fresh from `launch` means
        click.echo(f"Cluster: {names[0]}")
    for name in names:
        check_cluster_name(name)
    if not yes and verb in ("down", "stop") and not click.confirm(f"{verb.capitalize()} {', '.join(names)}?", default=True, err=True):
        raise SystemExit(1)
    failed = 0
    for name in names:
        try:
            click.echo(run_request(verb, {"cluster": name, "purge": purge})["message"])
        except SkyhopError as error:
            failed += 1
            click.echo(f"Error: {error}", err=True)
    if failed:
        raise SystemExit(1)


def _lifecycle_command(verb: str, summary: str, examples: str):
    @click.command(verb, epilog=examples, help=summary)
    @click.argument("clusters", nargs=-1)
    @click.option("-a", "--all", "all_", is_flag=True, help=f"{verb.capitalize()} every cluster.")
    @YES
    def command(clusters: tuple[str, ...], all_: bool, yes: bool) -> None:
        _lifecycle(verb, clusters, all_, yes)

    return command


@click.command(
    epilog="""\b
Examples:
  skyhop down dev -y
  skyhop down --all -y
  skyhop down old -y --purge    # forget a cluster whose provider is gone
"""
)
@click.argument("clusters", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Down every cluster.")
@click.option("--purge", is_flag=True, help="Remove the record even if its provider cannot be reached (check your cloud console).")
@YES
def down(clusters: tuple[str, ...], all_: bool, purge: bool, yes: bool) -> None:
    """Tear clusters down: end their jobs, remove their machines and files.

    Safe to repeat: a missing cluster is a no-op. With no name and a single
    cluster, that cluster is meant.
    """
    _lifecycle("down", clusters, all_, yes, purge)
stop = _lifecycle_command(
    "stop",
    "Stop clusters: end their jobs and stop the machines, keeping disks and job history.\n\nBring them back with `skyhop start`.",
    "\b\nExamples:\n  skyhop stop dev -y\n  skyhop stop --all -y\n",
)
start = _lifecycle_command(
    "start",
    "Start stopped clusters again; their job history is kept.",
    "\b\nExamples:\n  skyhop start dev\n",
)


@click.command(
    epilog="""\b
Examples:
  skyhop autostop dev -i 30           # stop after 30 idle minutes
  skyhop autostop dev -i 10 --down    # tear down instead
  skyhop autostop dev --cancel
"""
)
@click.argument("cluster")
@click.option("-i", "--idle-minutes", type=float, help="Idle minutes (no job running) before the cluster stops.")
@click.option("--down", is_flag=True, help="Tear the cluster down instead of stopping it.")
@click.option("--cancel", is_flag=True, help="Cancel autostop.")
def autostop(cluster: str, idle_minutes: float | None, down: bool, cancel: bool) -> None:
    """Stop (or tear down) a cluster once it has been idle for a while."""
    from skyhop.client import api

    if cancel == (idle_minutes is not None):
        raise SkyhopError("Give either -i/--idle-minutes MINUTES or --cancel.")
    if idle_minutes is not None and idle_minutes < 0:
        raise SkyhopError("--idle-minutes must be 0 or more.")
    click.echo(api.autostop(cluster, None if cancel else idle_minutes, down=down)["message"])


@click.command(
    "cost-report",
    epilog="""\b
Examples:
  skyhop cost-report
  skyhop cost-report --output json
""",
)
@OUTPUT_OPTION
def cost_report(output: str) -> None:
    """What each cluster cost: time up (stopped time is free) x hourly price, including removed clusters.

    Computed from the cluster history (every launch, stop, start and teardown).
    """
    from skyhop.client import api

    rows = api.cost_report()
    if output == "json":
        emit_json(rows)
        return
    if not rows:
        click.echo("No clusters launched yet.")
        return
    table(
        ("CLUSTER", "STATUS", "INFRA", "NODES", "DURATION", "$/H", "COST"),
        [
            (r["cluster"], r["status"], f"{r['provider']}/{r['region']}", r["num_nodes"], _duration(r["duration_s"]), money(r["hourly_price"]), money(r["cost"]))
            for r in rows
        ],
    )
    click.echo(f"Total: {money(sum(r['cost'] for r in rows))}")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"
