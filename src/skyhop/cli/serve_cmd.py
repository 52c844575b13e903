"""`skyhop serve up|status|update|down|logs`: a task with a `service:` section served by replicas behind one endpoint."""

from __future__ import annotations

import os
from typing import Any, Callable

import click

from skyhop.cli.launch_cmd import ENV_FILE, WORKDIR, load_task
from skyhop.cli.output import OUTPUT_OPTION, age, duration, emit_json, money, stream_out, table
from skyhop.cli.task_options import resource_options
from skyhop.errors import SkyhopError

#: Largest replica id (the API's `MAX_ID`).
MAX_REPLICA_ID = 2**31 - 1


@click.group(
    epilog="""\b
Examples:
  skyhop serve up -n web -y service.yaml     # service.yaml: resources, run, service: {readiness_probe: /, replicas: 2}
  skyhop serve status web
  curl $(skyhop serve status web --endpoint)
  skyhop serve update -y web service-v2.yaml
  skyhop serve logs web 1
  skyhop serve down -y web
"""
)
def serve() -> None:
    """Serve a task: replicas behind one load-balanced endpoint, replaced on failure, scaled with traffic."""


def _task_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """What `launch` takes to change the task file: resource flags, --env/--secret, --env-file, --workdir."""
    return WORKDIR(resource_options(ENV_FILE(func)))


def _load_service_task(path: str, flags: dict[str, Any], env_file: str | None):  # -> Task
    """The task of a service file, with the flags applied; a file without a `service:` section stops here."""
    if not path.endswith((".yaml", ".yml")) or os.path.isdir(path):
        raise SkyhopError(f"{path} is not a task file; a service is a task YAML with a `service:` section.")
    task = load_task((path,), flags, env_file)
    if task.service is None:
        raise SkyhopError(f"{path} has no `service:` section; add one, e.g. service: {{readiness_probe: /, replicas: 2}}.")
    return task


@serve.command(
    epilog="""\b
Examples:
  skyhop serve up -y service.yaml             # the name: the task's `name`, else a generated one
  skyhop serve up -n web -y --gpus L4:1 service.yaml
  skyhop serve up -n web -y --env MODEL=llama --secret HF_TOKEN service.yaml
"""
)
@click.argument("service_yaml", metavar="SERVICE.yaml")
@click.option("-n", "--service-name", help="The service's name (default: the task's name, else a generated one).")
@_task_options
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@OUTPUT_OPTION
def up(service_yaml: str, service_name: str | None, env_file: str | None, yes: bool, output: str, **flags: Any) -> None:
    """Start a service: its replicas are launched (each a cluster) and put behind one endpoint."""
    from skyhop.client import serve as client

    task = _load_service_task(service_yaml, flags, env_file)
    if not yes:
        _show_plan(task, service_name or task.name)
        if not click.confirm("Serve up?", default=True, err=True):
            raise SystemExit(1)
    result = client.serve_up(task, service_name)
    if output == "json":
        emit_json(result)
        return
    name = result["name"]
    click.echo(f"Service {name!r} is starting (version {result['version']}). Watch it: skyhop serve status {name}")
    if result["endpoint"]:
        click.echo(f"Endpoint: {result['endpoint']}")
    else:
        click.echo(f"Its endpoint, once its load balancer is up: skyhop serve status {name} --endpoint")


def _show_plan(task, name: str | None) -> None:
    """What `serve up` is about to start: the replica policy and probe, and where each replica would run."""
    from skyhop.cli.launch_cmd import print_plan_line
    from skyhop.client import api
    from skyhop.spec.pipeline import Pipeline

    spec = task.service
    port = f", port {spec.port}" if spec.port is not None else ""
    click.echo(f"Service {name or '(a generated name)'!s}: {spec.policy_summary()}; readiness probe {spec.readiness_path}{port}.", err=True)
    print_plan_line(api.optimize(Pipeline.chain([task])), "Each replica")  # the server's plan: where it launches them


@serve.command(
    epilog="""\b
Examples:
  skyhop serve status
  skyhop serve status web -a                  # more columns: policy, spot, accelerator, price, why
  skyhop serve status web --endpoint          # only the endpoint: curl $(skyhop serve status web --endpoint)
  skyhop serve status --output json
  skyhop serve status -u                      # every user's services (admin or viewer role)
"""
)
@click.argument("names", nargs=-1)
@click.option("--endpoint", is_flag=True, help="Print only the endpoint of the one service named (for scripts).")
@click.option("-a", "--all", "all_", is_flag=True, help="Show more columns: policy, status reasons, spot, accelerator, price.")
@click.option("-u", "--all-users", is_flag=True, help="Include other users' services (default: only yours).")
@OUTPUT_OPTION
def status(names: tuple[str, ...], endpoint: bool, all_: bool, all_users: bool, output: str) -> None:
    """Show services (version, uptime, status, ready replicas, endpoint) and their replicas."""
    from skyhop.client import serve as client

    if endpoint and len(names) != 1:
        raise SkyhopError("--endpoint prints the endpoint of one service: name it, e.g. skyhop serve status web --endpoint.")
    services = client.serve_status(list(names) or None, all_users=all_users)
    if endpoint:
        service = services[0]
        if not service["endpoint"]:
            raise SkyhopError(f"Service {service['name']!r} has no endpoint yet ({service['status']}); its load balancer is not up.")
        click.echo(service["endpoint"])
        return
    if output == "json":
        emit_json(services)
        return
    if not services:
        click.echo("No services. Start one with `skyhop serve up SERVICE.yaml`.")
        return
    headers = ["NAME", "VERSION", "UPTIME", "STATUS", "REPLICAS", "ENDPOINT"] + (["POLICY", "REASON"] if all_ else [])
    table(headers, [_service_row(s, all_) for s in services], title="Services")
    rows = [_replica_row(s["name"], r, all_) for s in services for r in s["replicas"]]
    if rows:
        click.echo()
        headers = ["SERVICE_NAME", "ID", "VERSION", "ENDPOINT", "LAUNCHED", "INFRA", "STATUS"]
        table(headers + (["SPOT", "ACCELERATOR", "$/HR", "REASON"] if all_ else []), rows, title="Service Replicas")


def _service_row(s: dict[str, Any], full: bool) -> list[Any]:
    row = [s["name"], s["version"], duration(s["uptime_s"]), s["status"], f"{s['ready_replicas']}/{s['total_replicas']}", s["endpoint"] or "-"]
    return row + ([s["policy"], s["status_reason"] or "-"] if full else [])


def _replica_row(service: str, r: dict[str, Any], full: bool) -> list[Any]:
    row = [service, r["replica_id"], r["version"], r["url"] or "-", age(r["launched_at"]), r["infra"] or "-", r["status"]]
    if full:
        row += ["yes" if r["use_spot"] else "no", r["accelerator"] or "-", money(r["hourly_price"], 4), r["status_reason"] or "-"]
    return row


@serve.command(
    epilog="""\b
Examples:
  skyhop serve update -y web service-v2.yaml                  # replicas replaced one by one (rolling)
  skyhop serve update -y --mode blue_green web service-v2.yaml  # the new version up in full before the old goes
"""
)
@click.argument("name")
@click.argument("service_yaml", metavar="SERVICE.yaml")
@click.option("--mode", type=click.Choice(["rolling", "blue_green"]), default="rolling", show_default=True,
              help="rolling: replace replicas one by one; blue_green: bring the new version up in full, then switch.")
@_task_options
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@OUTPUT_OPTION
def update(name: str, service_yaml: str, mode: str, env_file: str | None, yes: bool, output: str, **flags: Any) -> None:
    """Move a service to a new version of its task, with no failed request on the way."""
    from skyhop.client import serve as client

    task = _load_service_task(service_yaml, flags, env_file)
    if not yes and not click.confirm(f"Update service {name!r} to {service_yaml} ({mode})?", default=True, err=True):
        raise SystemExit(1)
    result = client.serve_update(name, task, mode)
    if output == "json":
        emit_json(result)
        return
    click.echo(f"Service {name!r} is moving to version {result['version']} ({result['mode']}). Watch it: skyhop serve status {name}")


@serve.command(
    epilog="""\b
Examples:
  skyhop serve logs web 1                     # replica 1: its launch, then its output (follows)
  skyhop serve logs web --controller          # what the controller did: launches, probes, scaling
  skyhop serve logs web --load-balancer --no-follow
"""
)
@click.argument("name")
@click.argument("replica_id", required=False, type=click.IntRange(1, MAX_REPLICA_ID))
@click.option("--controller", is_flag=True, help="Show the service controller's log.")
@click.option("--load-balancer", is_flag=True, help="Show the load balancer's log.")
@click.option("--follow/--no-follow", default=True, show_default=True, help="Keep streaming new output.")
def logs(name: str, replica_id: int | None, controller: bool, load_balancer: bool, follow: bool) -> None:
    """Show a replica's output, or the controller's or load balancer's log."""
    from skyhop.client import serve as client

    if (replica_id is not None) + controller + load_balancer != 1:
        raise SkyhopError("Give a replica id, --controller or --load-balancer (exactly one); `skyhop serve status NAME` lists the replicas.")
    chunks = client.serve_logs(name, replica_id, controller=controller, load_balancer=load_balancer, follow=follow)
    stream_out(chunks, f"Stopped following; service {name!r} keeps running.")


@serve.command(
    epilog="""\b
Examples:
  skyhop serve down web
  skyhop serve down -a -y
  skyhop serve down -y --purge web            # a service whose cleanup failed: remove what can be, forget the rest
"""
)
@click.argument("names", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Take every service down.")
@click.option("--purge", is_flag=True, help="Also forget services whose controller failed, after removing their replicas as far as possible.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def down(names: tuple[str, ...], all_: bool, purge: bool, yes: bool) -> None:
    """Take services down: their replicas and load balancer are removed."""
    from skyhop.client import serve as client

    if bool(names) == all_:
        raise SkyhopError("Give service names or -a (exactly one of them).")
    what = "every service" if all_ else f"service(s) {', '.join(names)}"
    if not yes and not click.confirm(f"Take down {what}? Their replicas and endpoint go away.", default=True, err=True):
        raise SystemExit(1)
    result = client.serve_down(list(names), all=all_, purge=purge)
    if result["shutting_down"]:
        click.echo(f"Taking down service(s) {', '.join(result['shutting_down'])}; their replicas are being removed.")
    if result["purged"]:
        click.echo(f"Purged service(s) {', '.join(result['purged'])}: their replica clusters were removed as far as possible.")
    for skipped in result["skipped"]:
        click.echo(f"Service {skipped!r} failed and is left as it is (taking it down again could leak what is left); "
                   f"`skyhop serve down --purge {skipped}` forgets it.", err=True)
    if not any(result.values()):
        click.echo("No services to take down.")
    if result["skipped"]:
        raise SystemExit(1)
