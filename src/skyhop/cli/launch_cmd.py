"""`skyhop launch` and `skyhop exec`: run a task on a new or existing cluster."""

from __future__ import annotations

import os
from typing import Any

import click

from skyhop.cli.output import OUTPUT_OPTION, emit_json
from skyhop.cli.task_options import resource_options
from skyhop.errors import SkyhopError

TASK_ARG = click.argument("entrypoint", nargs=-1, metavar="[TASK.yaml | COMMAND...]")
ENV_FILE = click.option("--env-file", type=click.Path(dir_okay=False), help="Read NAME=VALUE lines (dotenv style) as --env values.")
DETACH = click.option("-d", "--detach-run", is_flag=True, help="Return once the job is submitted; follow it with `skyhop logs`.")


def load_task(entrypoint: tuple[str, ...], flags: dict[str, Any], env_file: str | None, *, need_values: bool = True):  # -> Task
    """A YAML file, or an inline command, with the resource flags applied; `need_values`: envs must have values (to run)."""
    from dataclasses import replace

    from skyhop.cli.task_options import load_pipeline
    from skyhop.client.api import with_absolute_paths

    if env_file:
        from skyhop.cli.task_options import read_env_file

        flags = dict(flags, envs=tuple(f"{k}={v}" for k, v in read_env_file(env_file).items()) + tuple(flags.get("envs") or ()))
    # A task file is named *.yaml/*.yml; anything else (`run.sh`, `python train.py`) is a command.
    yaml_path = entrypoint[0] if len(entrypoint) == 1 and entrypoint[0].endswith((".yaml", ".yml")) else None
    if yaml_path and not os.path.isfile(yaml_path):
        raise SkyhopError(f"Task file {yaml_path} does not exist.")
    pipeline = load_pipeline(yaml_path, flags)
    if len(pipeline.tasks) != 1:
        raise SkyhopError(f"{yaml_path} holds {len(pipeline.tasks)} tasks; launch and exec take one (pipelines run as managed jobs).")
    task = pipeline.tasks[0]
    if not yaml_path and entrypoint:
        task = replace(task, run=" ".join(entrypoint))
    if need_values:
        task.require_envs()
    return with_absolute_paths(task)


@click.command(
    epilog="""\b
Examples:
  skyhop launch -y examples/hello.yaml           # plan, provision, set up, run, stream output
  skyhop launch -c dev --gpus H100:1 'python train.py'
  skyhop launch -c dev -d task.yaml               # submit and return
  skyhop launch --dryrun task.yaml                # show the plan only
  skyhop launch -c batch -i 10 --down task.yaml   # tear down after 10 idle minutes
"""
)
@TASK_ARG
@click.option("-c", "--cluster", help="Cluster name (new or existing). Default: a generated name.")
@resource_options
@ENV_FILE
@DETACH
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dryrun", is_flag=True, help="Show what would be launched, and stop there.")
@click.option("--down", is_flag=True, help="Tear the cluster down when the job ends (or after the idle time with -i).")
@click.option("-i", "--idle-minutes-to-autostop", "idle_minutes", type=float, help="Stop the cluster after this many idle minutes.")
@click.option("--no-setup", is_flag=True, help="Skip the task's setup.")
@OUTPUT_OPTION
def launch(entrypoint: tuple[str, ...], cluster: str | None, env_file: str | None, detach_run: bool, yes: bool, dryrun: bool, down: bool, idle_minutes: float | None, no_setup: bool, output: str, **flags: Any) -> None:
    """Launch a task: pick the cheapest infra, provision a cluster, set it up and run.

    TASK.yaml is a SkyPilot-compatible task file; anything else is taken as a
    command to run. Re-using an existing cluster name runs the task there
    (setup only runs again if it changed). Without -d the command streams the
    job's output and exits with the job's exit code. With --output json the
    job's output goes to stderr and stdout gets the result: the job's status
    and the plan as it played out (each candidate, and why it was skipped).
    """
    from skyhop import sdk
    from skyhop.cli.request_view import exit_for_job, run_request
    from skyhop.client import api as client
    from skyhop.execution.names import check_cluster_name, new_cluster_name

    if idle_minutes is not None and idle_minutes < 0:
        raise SkyhopError("--idle-minutes-to-autostop must be 0 or more.")
    task = load_task(entrypoint, flags, env_file, need_values=not dryrun)
    name = check_cluster_name(cluster) if cluster else new_cluster_name()
    if not yes and not dryrun and not (cluster and client.status([name])):
        plan = sdk.optimize(task)
        _print_plan_line(plan, name)
        if not click.confirm("Launch?", default=True, err=True):
            raise SystemExit(1)
    body = client.launch_body(task, name, detach_run=detach_run, dryrun=dryrun, down=down, idle_minutes=idle_minutes, no_setup=no_setup)
    as_json = output == "json"
    result = run_request("launch", body, output_to_stderr=as_json)
    if as_json:
        emit_json(result)
    elif dryrun:
        _print_dryrun(result)
        return
    if not dryrun:
        exit_for_job(result)


def _print_plan_line(plan, name: str) -> None:
    c = plan.chosen
    o = c.offer
    # Existing machines (SSH pools) may not know their sizes until they are reached.
    sizes = [f"{o.vcpus:g} vCPUs" if o.vcpus is not None else None, f"{o.memory_gib:g} GB" if o.memory_gib is not None else None]
    sizes.append(o.describe_accelerators() if o.accelerator else None)
    shape = ", ".join(s for s in sizes if s)
    where = f"{o.cloud}/{o.region}" + (f"/{o.zone}" if o.zone else "")
    price = f"${c.cluster_hourly_price:.4g}/h" if c.cluster_hourly_price is not None else "price unknown"
    click.echo(f"Cluster '{name}': {c.nodes}x {o.instance_type}{f' ({shape})' if shape else ''} on {where}, {price}.", err=True)
    for note in plan.notes:
        click.echo(f"  {note}", err=True)


def _print_dryrun(result: dict[str, Any]) -> None:
    if result.get("reuse"):
        click.echo(f"Dry run: would run on the existing cluster '{result['reuse']}'.")
        return
    plan = result["plan"]
    click.echo(
        f"Dry run: would launch {plan['nodes']}x {plan['instance_type']} on {plan['cloud']}/{plan['region']} "
        f"at ${plan['cluster_hourly_price']:.4g}/h. Nothing was created."
    )


@click.command(
    "exec",
    epilog="""\b
Examples:
  skyhop exec dev 'nvidia-smi'
  skyhop exec dev task.yaml --env LR=0.1
  skyhop exec dev -d 'python long_job.py'
""",
)
@click.argument("cluster")
@TASK_ARG
@resource_options
@ENV_FILE
@DETACH
def exec_(cluster: str, entrypoint: tuple[str, ...], env_file: str | None, detach_run: bool, **flags: Any) -> None:
    """Run a command or task on an existing cluster (no setup; the workdir is synced).

    Jobs queue on the cluster: one that does not fit the free CPUs/GPUs waits
    for earlier ones. Without -d the command exits with the job's exit code.
    """
    from skyhop.cli.request_view import exit_for_job, run_request

    if not entrypoint:
        raise SkyhopError("Give a command or a task file to run, e.g. skyhop exec CLUSTER 'echo hi'.")
    task = load_task(entrypoint, flags, env_file)
    result = run_request("exec", {"task": task.to_dict(redact_secrets=False), "cluster": cluster, "detach_run": detach_run})
    exit_for_job(result)
