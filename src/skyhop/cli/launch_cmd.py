"""`skyhop launch` and `skyhop exec`: run a task on a new or existing cluster."""

from __future__ import annotations

import os
from typing import Any

import click

from skyhop.cli.async_request import ASYNC_OPTION, submit_async
from skyhop.cli.output import OUTPUT_OPTION, emit_json
from skyhop.cli.task_options import resource_options
from skyhop.errors import SkyhopError

TASK_ARG = click.argument("entrypoint", nargs=-1, metavar="[TASK.yaml | COMMAND...]")
ENV_FILE = click.option("--env-file", type=click.Path(dir_okay=False), help="Read NAME=VALUE lines (dotenv style) as --env values.")
DETACH = click.option("-d", "--detach-run", is_flag=True, help="Return once the job is submitted; follow it with `skyhop logs`.")
NAME = click.option("-n", "--name", "task_name", help="Task name (overrides the task file's `name`).")
WORKDIR = click.option("--workdir", type=click.Path(file_okay=False), help="Local directory synced to the nodes' working directory (overrides `workdir`).")


def load_task(entrypoint: tuple[str, ...], flags: dict[str, Any], env_file: str | None, *, need_values: bool = True):  # -> Task
    """A YAML file, or an inline command, with the resource flags, `--name` and `--workdir` applied; `need_values`: envs must have values (to run)."""
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
    task = _with_name_and_workdir(task, flags.get("task_name"), flags.get("workdir"))
    if need_values:
        task.require_envs()
    return with_absolute_paths(task)


def _with_name_and_workdir(task, name: str | None, workdir: str | None):  # -> Task
    from dataclasses import replace

    from skyhop.spec.errors import SpecError

    if name is not None:
        if not name.strip():
            raise SpecError("--name", "is empty", expected="a task name")
        task = replace(task, name=name)
    if workdir is not None:
        if not workdir.strip():
            raise SpecError("--workdir", "is empty", expected="a local directory")
        task = replace(task, workdir=workdir)
    return task


@click.command(
    epilog="""\b
Examples:
  skyhop launch -y examples/hello.yaml           # plan, provision, set up, run, stream output
  skyhop launch -c dev --gpus H100:1 'python train.py'
  skyhop launch -c dev -d task.yaml               # submit and return
  skyhop launch --dryrun task.yaml                # show the plan only
  skyhop launch -c batch -i 10 --down task.yaml   # tear down after 10 idle minutes
  skyhop launch -y -n train --workdir ./src 'python train.py'
  skyhop launch -y --cloud lambda --region us-east-1 --gpus H100:8 task.yaml   # = --infra lambda/us-east-1
  skyhop launch -y --async -c dev task.yaml       # print the request id and return
  skyhop launch -y --fast -c dev task.yaml        # cluster already up: skip setup
  skyhop launch -y -r --gpus H100:8 task.yaml     # keep retrying until some cloud has capacity
  skyhop launch -y --ports 8080 --disk-size 512 --disk-tier high --image-id docker:ubuntu:22.04 task.yaml
"""
)
@TASK_ARG
@click.option("-c", "--cluster", help="Cluster name (new or existing). Default: a generated name.")
@NAME
@WORKDIR
@resource_options
@ENV_FILE
@DETACH
@click.option("-r", "--retry-until-up", is_flag=True, help="If every candidate fails to provision, wait and try them all again until one comes up.")
@ASYNC_OPTION
@click.option("--fast", is_flag=True, help="If the cluster is already up, skip provisioning and setup (the workdir is still synced).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dryrun", is_flag=True, help="Show what would be launched, and stop there.")
@click.option("--down", is_flag=True, help="Tear the cluster down when the job ends (or after the idle time with -i).")
@click.option("-i", "--idle-minutes-to-autostop", "idle_minutes", type=float, help="Stop the cluster after this many idle minutes.")
@click.option("--no-setup", is_flag=True, help="Skip the task's setup.")
@OUTPUT_OPTION
def launch(entrypoint: tuple[str, ...], cluster: str | None, env_file: str | None, detach_run: bool, retry_until_up: bool, async_: bool, fast: bool, yes: bool, dryrun: bool, down: bool, idle_minutes: float | None, no_setup: bool, output: str, **flags: Any) -> None:
    """Launch a task: pick the cheapest infra, provision a cluster, set it up and run.

    TASK.yaml is a SkyPilot-compatible task file; anything else is taken as a
    command to run. Re-using an existing cluster name runs the task there
    (setup only runs again if it changed). Without -d the command streams the
    job's output and exits with the job's exit code. With --output json the
    job's output goes to stderr and stdout gets the result: the job's status
    and the plan as it played out (each candidate, and why it was skipped).
    """
    from skyhop.cli.request_view import exit_for_job, run_request
    from skyhop.client import api as client
    from skyhop.execution.names import check_cluster_name, new_cluster_name

    if idle_minutes is not None and idle_minutes < 0:
        raise SkyhopError("--idle-minutes-to-autostop must be 0 or more.")
    task = load_task(entrypoint, flags, env_file, need_values=not dryrun)
    name = check_cluster_name(cluster) if cluster else new_cluster_name()
    if not yes and not dryrun and not (cluster and client.status([name])):
        from skyhop.spec.pipeline import Pipeline

        print_plan_line(client.optimize(Pipeline.chain([task])), f"Cluster '{name}'")  # the server's plan: the one it will launch
        if not click.confirm("Launch?", default=True, err=True):
            raise SystemExit(1)
    if fast and cluster and any(r["status"] == "UP" for r in client.status([name])):
        no_setup = True  # SkyPilot's --fast: an up cluster is reused as it is
    body = client.launch_body(task, name, detach_run=detach_run, dryrun=dryrun, down=down, idle_minutes=idle_minutes, no_setup=no_setup)
    if retry_until_up:
        body["retry_until_up"] = True
    as_json = output == "json"
    if async_:
        submit_async("launch", body, as_json=as_json)
        return
    attempts: list = []
    try:
        result = run_request("launch", body, output_to_stderr=as_json, attempts=attempts)
    except SkyhopError as error:
        if as_json and attempts:  # a failed failover: stdout still says what was tried
            emit_json({"error": str(error), "attempts": attempts})
        raise
    if as_json:
        emit_json(result)
    elif dryrun:
        _print_dryrun(result)
        return
    if not dryrun:
        exit_for_job(result)


def print_plan_line(plan: dict[str, Any], what: str) -> None:
    """One line about `what` (`Cluster 'dev'`) from the plan document (docs/json-output.md) and its notes, before asking to launch."""
    # Existing machines (SSH pools) may not know their sizes until they are reached.
    sizes = [f"{plan['vcpus']:g} vCPUs" if plan["vcpus"] is not None else None, f"{plan['memory_gib']:g} GB" if plan["memory_gib"] is not None else None]
    sizes.append(plan["accelerators"])
    shape = ", ".join(s for s in sizes if s)
    where = f"{plan['cloud']}/{plan['region']}" + (f"/{plan['zone']}" if plan["zone"] else "")
    price = f"${plan['cluster_hourly_price']:.4g}/h" if plan["cluster_hourly_price"] is not None else "price unknown"
    click.echo(f"{what}: {plan['nodes']}x {plan['instance_type']}{f' ({shape})' if shape else ''} on {where}, {price}.", err=True)
    for note in plan["notes"]:
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
  skyhop exec dev -n eval --workdir ./src 'python eval.py'
  skyhop exec dev --async 'python long_job.py'    # print the request id and return
""",
)
@click.argument("cluster")
@TASK_ARG
@NAME
@WORKDIR
@resource_options
@ENV_FILE
@DETACH
@ASYNC_OPTION
def exec_(cluster: str, entrypoint: tuple[str, ...], env_file: str | None, detach_run: bool, async_: bool, **flags: Any) -> None:
    """Run a command or task on an existing cluster (no setup; the workdir is synced).

    Jobs queue on the cluster: one that does not fit the free CPUs/GPUs waits
    for earlier ones. Without -d the command exits with the job's exit code.
    """
    from skyhop.cli.request_view import exit_for_job, run_request

    if not entrypoint:
        raise SkyhopError("Give a command or a task file to run, e.g. skyhop exec CLUSTER 'echo hi'.")
    task = load_task(entrypoint, flags, env_file)
    body = {"task": task.to_dict(redact_secrets=False), "cluster": cluster, "detach_run": detach_run}
    if async_:
        submit_async("exec", body)
        return
    result = run_request("exec", body)
    exit_for_job(result)
