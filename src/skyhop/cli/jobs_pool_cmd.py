"""`skyhop jobs pool apply|status|down`: pools of warm worker clusters that managed jobs run on (`--pool`)."""

from __future__ import annotations

import time
from typing import Any

import click

from skyhop.cli.output import OUTPUT_OPTION, emit_json, money, table
from skyhop.errors import SkyhopError


@click.group(
    epilog="""\b
Examples:
  skyhop jobs pool apply -p workers -y pool.yaml    # pool.yaml: resources, setup, pool: {workers: 2}
                                                    #   or pool: {min_workers: 0, max_workers: 4} to autoscale
  skyhop jobs launch -y -d --pool workers --num-jobs 6 job.yaml
  skyhop jobs pool status workers
  skyhop jobs pool down -y workers
"""
)
def pool() -> None:
    """Pools of worker clusters: set up once, then managed jobs run on them one at a time per worker."""


@pool.command(
    epilog="""\b
Examples:
  skyhop jobs pool apply -p workers -y pool.yaml
  skyhop jobs pool apply -p workers -y bigger.yaml   # same name: the pool is resized to the new workers
  skyhop jobs pool apply -p workers -y new-setup.yaml  # changed setup: workers are replaced as they go idle
"""
)
@click.argument("pool_yaml", metavar="POOL.yaml", type=click.Path(dir_okay=False))
@click.option("-p", "--pool", "name", help="The pool's name (default: the task's name).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@OUTPUT_OPTION
def apply(pool_yaml: str, name: str | None, yes: bool, output: str) -> None:
    """Create a pool from POOL.yaml (a task with a `pool:` section), or update the pool of that name."""
    import os

    from skyhop.cli.task_options import load_pipeline
    from skyhop.client import api

    if not os.path.isfile(pool_yaml):
        raise SkyhopError(f"Pool file {pool_yaml} does not exist.")
    tasks = load_pipeline(pool_yaml, {}).tasks
    if len(tasks) != 1:
        raise SkyhopError(f"{pool_yaml} holds {len(tasks)} tasks; a pool file holds one task with a `pool:` section.")
    task = tasks[0]
    name = name or task.name
    if not name:
        raise SkyhopError("Name the pool: -p NAME (or give the task a `name:`).")
    if not yes and not click.confirm(f"Apply pool {name!r} with {_size_of(task.pool)}?", default=True, err=True):
        raise SystemExit(1)
    result = api.jobs_pool_apply(task, name)
    if output == "json":
        emit_json(result)
        return
    verb = "created" if result["created"] else "updated"
    size = f"{result['workers']} worker(s)"
    if result["max_workers"] is not None:
        size = f"autoscaling {result['min_workers']}-{result['max_workers']} worker(s), now {result['workers']}"
    click.echo(f"Pool {result['name']!r} {verb}: {size}. Watch: skyhop jobs pool status {result['name']}", err=True)
    if result["rolling"]:
        click.echo(f"The workers change: each is replaced by one of version {result['version']} once it is idle (running jobs finish first).", err=True)


def _size_of(spec: Any) -> str:
    if spec is not None and spec.max_workers is not None:
        return f"{spec.min_workers or 0}-{spec.max_workers} worker(s), autoscaled"
    return f"{spec.workers if spec is not None else '?'} worker(s)"


@pool.command(
    epilog="""\b
Examples:
  skyhop jobs pool status
  skyhop jobs pool status workers --output json
"""
)
@click.argument("name", required=False)
@OUTPUT_OPTION
def status(name: str | None, output: str) -> None:
    """Show pools (target and current size, waiting jobs) and their workers: cluster, status, version, job, infra, price."""
    from skyhop.client import api

    pools = api.jobs_pool_status(name)
    if output == "json":
        emit_json(pools)
        return
    if not pools:
        click.echo("No pools. Create one with `skyhop jobs pool apply -p NAME POOL.yaml`.")
        return
    table(["POOL", "STATUS", "WORKERS", "TARGET", "PENDING", "VERSION", "CREATED"], [_pool_row(p) for p in pools])
    rows = [[p["name"], *_worker_row(w)] for p in pools for w in p["worker_details"]]
    if rows:
        click.echo()
        table(["POOL", "WORKER", "CLUSTER", "STATUS", "VERSION", "JOB", "INFRA", "$/HR"], rows)


def _pool_row(p: dict[str, Any]) -> list[Any]:
    target = str(p["target"]) if p["max_workers"] is None else f"{p['target']} ({p['min_workers']}-{p['max_workers']})"
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(p["created_at"]))
    return [p["name"], p["status"], f"{p['ready']}/{p['current']} ready", target, p["pending_jobs"], p["version"], created]


def _worker_row(w: dict[str, Any]) -> list[Any]:
    price = money(w["hourly_price"], 4) if w["hourly_price"] is not None else "-"
    return [w["slot"], w["cluster"], w["status"], w["version"], w["job_id"] if w["job_id"] is not None else "-", w["infra"] or "-", price]


@pool.command(
    epilog="""\b
Examples:
  skyhop jobs pool down workers
  skyhop jobs pool down -a -y
"""
)
@click.argument("names", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Take every pool down.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def down(names: tuple[str, ...], all_: bool, yes: bool) -> None:
    """Take pools down: their unfinished managed jobs are cancelled and every worker cluster is removed."""
    from skyhop.client import api

    if bool(names) == all_:
        raise SkyhopError("Give pool names or -a (exactly one of them).")
    what = "every pool" if all_ else f"pool(s) {', '.join(names)}"
    if not yes and not click.confirm(f"Take down {what}? Their unfinished jobs are cancelled.", default=True, err=True):
        raise SystemExit(1)
    result = api.jobs_pool_down(list(names), all_pools=all_)
    if result["shutting_down"]:
        click.echo(f"Taking down pool(s) {', '.join(result['shutting_down'])}; their workers are being removed.")
    else:
        click.echo("No pools to take down.")
