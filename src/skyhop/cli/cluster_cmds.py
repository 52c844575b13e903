"""Cluster lifecycle commands: status, stop, start, down, autostop, cost-report."""

from __future__ import annotations

import time

import click

from skyhop.cli.async_request import ASYNC_OPTION, submit_async
from skyhop.cli.output import OUTPUT_OPTION, YES_OPTION, age, duration, emit_json, money, table
from skyhop.errors import SkyhopError

YES = YES_OPTION
ALL_USERS = click.option("-u", "--all-users", is_flag=True, help="Include other users' clusters (default: only yours).")


@click.command(
    epilog="""\b
Examples:
  skyhop status
  skyhop status dev --refresh
  skyhop status --output json
  skyhop status -u -v            # every user's clusters, with user, nodes and head IP
  skyhop status --ip dev         # the head node's IP only (for scripts)
  skyhop status --endpoint 8080 dev
  skyhop status --orphans        # cloud resources with skyhop's marks that no cluster owns
"""
)
@click.argument("clusters", nargs=-1)
@click.option("-r", "--refresh", is_flag=True, help="Ask every cluster's infra for its real state first, and list orphaned cloud resources.")
@click.option("--orphans", "orphans_only", is_flag=True, help="Only list cloud resources with skyhop's marks that belong to no cluster.")
@ALL_USERS
@click.option("--ip", "head_ip", is_flag=True, help="Print only the head node's IP of the one named cluster.")
@click.option("--endpoints", is_flag=True, help="Print the cluster's opened ports as IP:PORT, one per line.")
@click.option("--endpoint", type=click.IntRange(1, 65535), help="Print the IP:PORT of one opened port.")
@click.option("-v", "--verbose", is_flag=True, help="More columns: user, nodes, head IP, why the status.")
@OUTPUT_OPTION
def status(
    clusters: tuple[str, ...], refresh: bool, orphans_only: bool, all_users: bool, head_ip: bool, endpoints: bool,
    endpoint: int | None, verbose: bool, output: str,
) -> None:
    """Show clusters: status, resources, price, autostop.

    Local clusters are always checked against the machine; --refresh checks
    every cluster's provider and agent (e.g. after a crash or an autostop).
    Only your own clusters are listed unless -u is given or clusters are named.
    """
    from skyhop.cli import orphans_view
    from skyhop.client import api

    if orphans_only:
        orphans_view.listing(output)
        return
    rows = api.status(list(clusters), refresh=refresh, all_users=all_users)
    if head_ip or endpoints or endpoint is not None:
        _print_address(rows, clusters, head_ip, endpoint)
        return
    if output == "json":
        emit_json(rows)
        return
    if not rows:
        click.echo("No clusters." if not clusters else f"No cluster named {', '.join(clusters)}.")
    else:
        _status_table(rows, verbose)
    if refresh and not clusters:
        orphans_view.show(api.orphans(), quiet_when_none=True)


def _status_table(rows: list[dict], verbose: bool) -> None:
    headers = ("NAME", "STATUS", "INFRA", "RESOURCES", "$/H", "LAUNCHED", "AUTOSTOP")
    table(
        headers + (("USER", "NODES", "HEAD IP") if verbose else ()),
        [
            (
                r["name"], r["status"], r["infra"], r["resources_str"], money(r["hourly_price"]), age(r["launched_at"]),
                "-" if r["autostop_minutes"] is None else f"{r['autostop_minutes']:g}m" + (" (down)" if r["autostop_down"] else ""),
            )
            + ((r.get("user") or "-", r["num_nodes"], r.get("head_ip") or "-") if verbose else ())
            for r in rows
        ],
    )
    for r in rows:
        if r.get("status_reason"):
            click.echo(f"{r['name']}: {r['status']} because {r['status_reason']}")


def _print_address(rows: list[dict], clusters: tuple[str, ...], head_ip: bool, endpoint: int | None) -> None:
    """`--ip` / `--endpoints` / `--endpoint`: one cluster, named, and up."""
    if len(clusters) != 1:
        raise SkyhopError("--ip, --endpoints and --endpoint need exactly one cluster name, e.g. skyhop status --ip dev.")
    if not rows:
        raise SkyhopError(f"No cluster named {clusters[0]}.")
    row = rows[0]
    if row["status"] != "UP" or not row.get("head_ip"):
        raise SkyhopError(f"Cluster '{row['name']}' is {row['status']}; its address is known once it is UP (skyhop start {row['name']}).")
    if head_ip:
        click.echo(row["head_ip"])
        return
    ports = [str(p) for p in (row.get("resources") or {}).get("ports") or ()]
    if endpoint is not None:
        if not any(_in_range(endpoint, p) for p in ports):
            raise SkyhopError(f"Cluster '{row['name']}' has no port {endpoint} open (its ports: {', '.join(ports) or 'none'}); launch it with --ports {endpoint}.")
        click.echo(f"{row['head_ip']}:{endpoint}")
        return
    if not ports:
        raise SkyhopError(f"Cluster '{row['name']}' has no endpoints: it was launched without ports (--ports or resources.ports).")
    for port in ports:
        click.echo(f"{row['head_ip']}:{port}")


def _in_range(port: int, spec: str) -> bool:
    """Whether `port` is `spec` (`8080`) or within it (`10000-10010`)."""
    low, _, high = spec.partition("-")
    return int(low) <= port <= int(high or low)


def _lifecycle(verb: str, names: tuple[str, ...], all_: bool, yes: bool, purge: bool = False, *, async_: bool = False, extra: dict | None = None, then=None) -> None:
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
            body = {"cluster": name, "purge": purge, **(extra or {})}
            if async_:
                submit_async(verb, body)
                continue
            click.echo(run_request(verb, body)["message"])
            if then is not None:
                then(name)
        except SkyhopError as error:
            failed += 1
            click.echo(f"Error: {error}", err=True)
    if failed:
        raise SystemExit(1)




@click.command(
    epilog="""\b
Examples:
  skyhop down dev -y
  skyhop down --all -y
  skyhop down old -y --purge    # forget a cluster whose provider is gone
  skyhop down dev -y --async    # print the request id and return
  skyhop down --orphans         # remove cloud resources with skyhop's marks that no cluster owns
"""
)
@click.argument("clusters", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Down every cluster.")
@click.option("--purge", is_flag=True, help="Remove the record even if its provider cannot be reached (check your cloud console).")
@click.option("--orphans", is_flag=True, help="Remove cloud resources with skyhop's marks that belong to no cluster (listed first).")
@YES
@ASYNC_OPTION
def down(clusters: tuple[str, ...], all_: bool, purge: bool, orphans: bool, yes: bool, async_: bool) -> None:
    """Tear clusters down: end their jobs, remove their machines and files.

    Safe to repeat: a missing cluster is a no-op. With no name and a single
    cluster, that cluster is meant.
    """
    if orphans:
        if clusters or all_ or purge:
            raise SkyhopError("--orphans removes resources that belong to no cluster; it takes no cluster names, --all or --purge.")
        from skyhop.cli import orphans_view

        orphans_view.down(yes, async_)
        return
    _lifecycle("down", clusters, all_, yes, purge, async_=async_)


@click.command(
    epilog="""\b
Examples:
  skyhop stop dev -y
  skyhop stop --all -y
  skyhop stop dev -y --async    # print the request id and return
"""
)
@click.argument("clusters", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Stop every cluster.")
@YES
@ASYNC_OPTION
def stop(clusters: tuple[str, ...], all_: bool, yes: bool, async_: bool) -> None:
    """Stop clusters: end their jobs and stop the machines, keeping disks and job history.

    Bring them back with `skyhop start`.
    """
    _lifecycle("stop", clusters, all_, yes, async_=async_)


@click.command(
    epilog="""\b
Examples:
  skyhop start dev
  skyhop start dev -i 30            # and stop again after 30 idle minutes
  skyhop start dev -i 10 --down     # tear down after 10 idle minutes
  skyhop start dev -r               # hosts busy? keep trying until they are free
  skyhop start dev --force          # already up: re-install its agent
"""
)
@click.argument("clusters", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Start every cluster.")
@click.option("-i", "--idle-minutes-to-autostop", "idle_minutes", type=click.FloatRange(min=0), help="Once up, stop after this many idle minutes.")
@click.option("--down", is_flag=True, help="With -i: tear the cluster down instead of stopping it.")
@click.option("-r", "--retry-until-up", is_flag=True, help="If starting fails (e.g. its hosts are busy), keep retrying until it is up.")
@click.option("--force", is_flag=True, help="Also act on clusters that are already up (re-install their agent).")
@YES
@ASYNC_OPTION
def start(clusters: tuple[str, ...], all_: bool, idle_minutes: float | None, down: bool, retry_until_up: bool, force: bool, yes: bool, async_: bool) -> None:
    """Start stopped clusters again; their job history is kept."""
    if down and idle_minutes is None:
        raise SkyhopError("--down needs -i/--idle-minutes-to-autostop MINUTES (the idle time before the teardown).")
    if async_ and idle_minutes is not None:
        raise SkyhopError("-i cannot be combined with --async: the autostop is set once the cluster is up.")
    extra = {"force": force, "retry_until_up": retry_until_up}
    _lifecycle("start", clusters, all_, yes, async_=async_, extra=extra, then=_autostop_after(idle_minutes, down))


def _autostop_after(idle_minutes: float | None, down: bool):
    """What `start -i/--down` does to each cluster once it is up."""
    if idle_minutes is None:
        return None

    def apply(name: str) -> None:
        from skyhop.client import api

        click.echo(api.autostop(name, idle_minutes, down=down)["message"])

    return apply


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
  skyhop cost-report --days 7              # clusters up in the last week
  skyhop cost-report --all                 # every cluster ever launched
  skyhop cost-report --month 2026-11       # what each cluster cost in November (UTC)
  skyhop cost-report --month 2026-11 --daily --workspace team-a
  skyhop cost-report --user alice --output json   # another user's: admin or viewer
""",
)
@click.option("-a", "--all", "all_", is_flag=True, help="Every cluster ever launched, however long ago it was removed.")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True, help="Clusters up at some point in the last N days.")
@click.option("--month", metavar="YYYY-MM", help="A calendar month (UTC): each line's time and cost within it.")
@click.option("--user", metavar="USER", help="This user's clusters (another user's needs the admin or viewer role).")
@click.option("--workspace", metavar="NAME", help="This workspace's clusters.")
@click.option("--daily", is_flag=True, help="Spend per day and per user (per workspace with --workspace) instead of per cluster.")
@OUTPUT_OPTION
def cost_report(all_: bool, days: int, month: str | None, user: str | None, workspace: str | None, daily: bool, output: str) -> None:
    """What each cluster cost: time up (stopped time is free) x hourly price, including removed clusters.

    Computed from the cluster history (every launch, stop, start and teardown).
    Clusters removed more than --days days ago are left out unless --all or --month is given.
    You see your own clusters; admins and viewers see everyone's.
    """
    from skyhop.client import api

    since = None if all_ or month else time.time() - days * 86400
    if daily:
        by = "workspace" if workspace else "user"
        day_rows = api.cost_daily(by=by, user=user, workspace=workspace, month=month, since=since)
        if output == "json":
            emit_json(day_rows)
            return
        if not day_rows:
            click.echo("Nothing spent in that period.")
            return
        table(("DAY", by.upper(), "COST"), [(r["day"], r[by], money(r["cost"])) for r in day_rows])
        click.echo(f"Total: {money(sum(r['cost'] for r in day_rows))}")
        return
    rows = api.cost_report(user=user, workspace=workspace, month=month, since=since)
    if output == "json":
        emit_json(rows)
        return
    if not rows:
        click.echo("No clusters launched yet." if since is None and month is None else "No cluster was up in that period.")
        return
    table(
        ("CLUSTER", "STATUS", "INFRA", "NODES", "DURATION", "$/H", "COST", "OWNER", "PART OF"),
        [
            (r["cluster"], r["status"], f"{r['provider']}/{r['region']}", r["num_nodes"], duration(r["duration_s"]), money(r["hourly_price"]), money(r["cost"]),
             r.get("user") or "-", _part_of(r))
            for r in rows
        ],
    )
    click.echo(f"Total: {money(sum(r['cost'] for r in rows))}")
    _managed_job_totals(rows)


def _part_of(row: dict) -> str:
    """The managed-job attempt or service replica the line was, if any."""
    if row.get("managed_job"):
        return _attempt_of(row["managed_job"])
    service = row.get("service")
    return f"service {service['name']} replica {service['replica_id']}" if service else "-"


def _attempt_of(job: dict | None) -> str:
    return f"#{job['id']} task {job['task']} attempt {job['attempt']}" if job else "-"


def _managed_job_totals(rows: list[dict]) -> None:
    """One line per managed job: its attempts' lifetimes summed (preempted ones included)."""
    totals: dict[int, list] = {}
    for r in rows:
        if r.get("managed_job"):
            totals.setdefault(r["managed_job"]["id"], []).append(r)
    for job_id, lines in sorted(totals.items()):
        name = lines[0]["managed_job"]["name"] or "-"
        click.echo(f"Managed job #{job_id} ({name}): {len(lines)} attempt(s), {money(sum(r['cost'] for r in lines))}")


