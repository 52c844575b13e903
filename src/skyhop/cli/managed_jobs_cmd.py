"""`skyhop jobs launch|queue|logs|cancel`: managed jobs, run to the end across preemptions by the API server."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Any, Iterator

import click

from skyhop.cli.jobs_pool_cmd import pool
from skyhop.cli.output import OUTPUT_OPTION, emit_json, money, stream_out, table
from skyhop.cli.task_options import resource_options
from skyhop.errors import SkyhopError

#: Largest managed job id (the API's `MAX_ID`).
MAX_JOB_ID = 2**31 - 1


class JobId(click.ParamType):
    """A managed job's id: `abc`, `0` or `10**30` is a usage error saying what an id is (click's IntRange says
    "'abc' is not a valid integer range")."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a job id; ids are whole numbers (`skyhop jobs queue` lists them).", param, ctx)
        if not 1 <= number <= MAX_JOB_ID:
            self.fail(f"{value} is not a job id; ids run from 1 to {MAX_JOB_ID} (`skyhop jobs queue` lists them).", param, ctx)
        return number

#: Jobs the `jobs queue` table shows unless --limit says otherwise (SkyPilot's default too): the newest ones.
QUEUE_LIMIT = 50


@click.group(
    epilog="""\b
Examples:
  skyhop jobs launch -y -n train train.yaml
  skyhop jobs launch -y --use-spot --job-recovery EAGER_NEXT_REGION 'python train.py'
  skyhop jobs queue
  skyhop jobs logs 3
  skyhop jobs logs 3 --controller
  skyhop jobs cancel -y 3
  skyhop jobs pool apply -p workers -y pool.yaml
"""
)
def jobs() -> None:
    """Managed jobs: relaunched after a preemption (and on errors, if asked) until they finish."""


@jobs.command(
    epilog="""\b
Examples:
  skyhop jobs launch -y train.yaml                  # run it to the end; follow its output
  skyhop jobs launch -y -d -n sweep --num-jobs 4 train.yaml   # 4 jobs, SKYPILOT_JOB_RANK 0..3
  skyhop jobs launch -y pipeline.yaml               # several YAML documents: run in turn
"""
)
@click.argument("entrypoint", nargs=-1, metavar="[TASK.yaml | COMMAND...]")
@click.option("-n", "--name", "job_name", help="Job name (default: the task's name).")
@click.option("--workdir", type=click.Path(file_okay=False), help="Local directory synced to the nodes' working directory.")
@resource_options
@click.option("--env-file", type=click.Path(dir_okay=False), help="Read NAME=VALUE lines (dotenv style) as --env values.")
@click.option("--job-recovery", help="Recovery strategy for every task: FAILOVER, EAGER_NEXT_REGION (or UNIFORM_PROGRESS with a deadline in the YAML).")
@click.option("--num-jobs", type=click.IntRange(1, 10_000), default=1, show_default=True, help="Launch this many copies; each sees SKYPILOT_JOB_RANK.")
@click.option("-p", "--pool", help="Run on this pool's workers (`skyhop jobs pool apply`) instead of a cluster of its own.")
@click.option("-d", "--detach-run", is_flag=True, help="Return once the job is submitted; follow it with `skyhop jobs logs`.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@OUTPUT_OPTION
def launch(entrypoint: tuple[str, ...], job_name: str | None, workdir: str | None, env_file: str | None, job_recovery: str | None,
           num_jobs: int, pool: str | None, detach_run: bool, yes: bool, output: str, **flags: Any) -> None:
    """Launch a managed job: skyhop relaunches it elsewhere when its machines are preempted.

    TASK.yaml may hold several documents: a pipeline whose tasks run in turn,
    each on its own cluster. Without -d the command follows the job's output
    (across recoveries) and exits 0 only if the job succeeded.
    """
    from skyhop.client import api

    pipeline_name, tasks = _load_tasks(entrypoint, flags, env_file, workdir, job_recovery)
    job_name = job_name or pipeline_name
    if not yes:
        what = (f"{num_jobs} managed jobs" if num_jobs > 1 else "a managed job") + (f" on pool {pool!r}" if pool else "")
        stages = f" ({len(tasks)} tasks in turn)" if len(tasks) > 1 else ""
        click.echo(f"Launching {what}{stages}: {job_name or tasks[0].name or '(unnamed)'}.", err=True)
        if not click.confirm("Launch?", default=True, err=True):
            raise SystemExit(1)
    with _as_flags({"name": "-n/--name", "pool": "-p/--pool", "num_jobs": "--num-jobs"}):
        ids = api.jobs_launch(tasks, name=job_name, num_jobs=num_jobs, pool=pool)
    if output == "json":
        emit_json({"job_ids": ids})
    else:
        click.echo(f"Managed job(s) {', '.join(map(str, ids))} submitted. Follow: skyhop jobs logs {ids[0]}", err=True)
    if detach_run or output == "json" or len(ids) > 1:
        return
    _follow(ids[0], follow=True, controller=False)
    _exit_unless_succeeded(ids[0])


@contextmanager
def _as_flags(flags: dict[str, str]) -> Iterator[None]:
    """The API's refusal of an argument, naming the flag the user typed (`-n/--name`, not `name`).

    Task fields keep their YAML names (`run`, `task[1].envs.A`): that is where the user wrote them.
    """
    from skyhop.client.http import InvalidRequest

    try:
        yield
    except InvalidRequest as error:
        raise error.renamed(lambda field: flags.get(field, field)) from None


def _load_tasks(entrypoint: tuple[str, ...], flags: dict[str, Any], env_file: str | None, workdir: str | None, job_recovery: str | None) -> tuple[str | None, list]:
    """(the pipeline's name, its tasks) with the flags applied to each task."""
    from dataclasses import replace

    from skyhop.cli.task_options import load_pipeline, read_env_file
    from skyhop.spec.errors import SpecError

    if env_file:
        flags = dict(flags, envs=tuple(f"{k}={v}" for k, v in read_env_file(env_file).items()) + tuple(flags.get("envs") or ()))
    yaml_path = _task_file(entrypoint)
    pipeline = load_pipeline(yaml_path, flags)
    tasks = list(pipeline.tasks)
    if not yaml_path:
        tasks = [replace(tasks[0], run=" ".join(entrypoint))]
    out = []
    for task in tasks:
        if workdir is not None:
            task = replace(task, workdir=workdir)
        if job_recovery is not None:
            try:
                task = replace(task, resources=task.resources.with_overrides(job_recovery=job_recovery))
            except SpecError as error:
                raise SpecError("--job-recovery", error.detail, value=job_recovery, expected=error.expected) from None
        task.require_envs()
        out.append(task)
    return pipeline.name, out


def _task_file(entrypoint: tuple[str, ...]) -> str | None:
    """The task file ENTRYPOINT names, or None when it is a command; anything else is a one-paragraph error."""
    if not " ".join(entrypoint).strip():
        raise SkyhopError("Give a task file or a command, e.g. skyhop jobs launch -y 'python train.py'.")
    first = entrypoint[0]
    if not first.endswith((".yaml", ".yml")):
        return None
    if len(entrypoint) > 1:
        if os.path.isfile(first):
            raise SkyhopError(f"{first} is a task file, and a task file takes no further words ({' '.join(entrypoint[1:])!r}); "
                              "to run a command, give it alone, quoted: skyhop jobs launch 'python train.py --epochs 3'.")
        return None
    if os.path.isdir(first):
        raise SkyhopError(f"{first} is a directory, not a task file.")
    if not os.path.isfile(first):
        raise SkyhopError(f"Task file {first} does not exist.")
    return first


@jobs.command(
    epilog="""\b
Examples:
  skyhop jobs queue
  skyhop jobs queue -s              # only unfinished jobs
  skyhop jobs queue -a              # every column: each attempt, why a job failed
  skyhop jobs queue -u --output json
  skyhop jobs queue -l 500          # the 500 newest (default: 50)
"""
)
@click.option("-a", "--all", "all_", is_flag=True, help="Show every column: user, each attempt's place and outcome, why a job failed.")
@click.option("-u", "--all-users", is_flag=True, help="Every user's jobs (default: only yours).")
@click.option("-s", "--skip-finished", is_flag=True, help="Only jobs that have not finished.")
@click.option(
    "-l", "--limit", type=click.IntRange(min=1, max=2**31 - 2), default=None,
    help=f"Show the N newest jobs (table default: {QUEUE_LIMIT}; --output json: every job unless given).",
)
@OUTPUT_OPTION
def queue(all_: bool, all_users: bool, skip_finished: bool, limit: int | None, output: str) -> None:
    """Show managed jobs: status (RECOVERING while relaunching), recoveries, duration, resources, where, cost."""
    from skyhop.client import api

    if output == "json":
        emit_json(api.jobs_queue(skip_finished=skip_finished, all_users=all_users, limit=limit))
        return
    shown = limit or QUEUE_LIMIT
    rows = api.jobs_queue(skip_finished=skip_finished, all_users=all_users, limit=shown + 1)  # one more: are there others?
    if not rows:
        click.echo("No managed jobs.")
        return
    headers = ["ID", "NAME", "RESOURCES", "SUBMITTED", "DURATION", "#RECOVERIES", "STATUS", "CLUSTER", "INFRA", "COST"]
    if all_:
        headers += ["USER", "ATTEMPTS", "FAILURE"]
    table(headers, [_queue_row(r, all_) for r in rows[:shown]])
    if len(rows) > shown:
        click.echo(f"Showing the {shown} newest managed jobs; --limit N shows more.", err=True)


def _queue_row(r: dict[str, Any], full: bool) -> list[Any]:
    row = [
        r["id"], r["name"] or "-", r["resources"], time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["submitted_at"])),
        f"{r['duration_s']:.0f}s" if r["duration_s"] is not None else "-", r["recovery_count"], r["status"],
        r["cluster"] or "-", r["infra"] or "-", money(r["cost"], 4),
    ]
    if full:
        attempts = "; ".join(
            f"{a['attempt']}: {a['provider'] or '?'}/{a['region'] or '?'} {'spot' if (a['spot'] if a['spot'] is not None else a['use_spot']) else 'on-demand'} {a['outcome'] or 'running'}"
            for a in r["attempts"]
        )
        row += [r["user"] or "-", attempts or "-", r["failure_reason"] or "-"]
    return row


@jobs.command(
    epilog="""\b
Examples:
  skyhop jobs logs 3                 # follows the job, across recoveries, until it ends
  skyhop jobs logs 3 --no-follow
  skyhop jobs logs 3 --controller    # what the controller did: launches, preemptions, recoveries
"""
)
@click.argument("job_id", required=False, type=JobId())
@click.option("--follow/--no-follow", default=True, show_default=True, help="Keep streaming until the job ends.")
@click.option("--controller", is_flag=True, help="Show the controller's event log of the job instead of its output.")
def logs(job_id: int | None, follow: bool, controller: bool) -> None:
    """Show a managed job's output (the latest job by default), following it across recoveries."""
    from skyhop.client import api

    if job_id is None:
        rows = api.jobs_queue()
        if not rows:
            raise SkyhopError("You have no managed jobs yet; `skyhop jobs launch` starts one.")
        job_id = max(r["id"] for r in rows)
    _follow(job_id, follow=follow, controller=controller)
    if follow and not controller:  # as `launch` without -d: the exit code says how the job ended
        _exit_unless_succeeded(job_id, only_if_ended=True)


def _exit_unless_succeeded(job_id: int, *, only_if_ended: bool = False) -> None:
    from skyhop.client import api
    from skyhop.jobs.states import TERMINAL_NAMES

    # The caller's own job first: -u needs a role that sees all (team mode); an admin may follow another's.
    rows = api.jobs_queue(job_ids=[job_id]) or api.jobs_queue(job_ids=[job_id], all_users=True)
    row = rows[0]
    if row["status"] != "SUCCEEDED" and (row["status"] in TERMINAL_NAMES or not only_if_ended):
        raise SystemExit(1)


def _follow(job_id: int, *, follow: bool, controller: bool) -> None:
    from skyhop.client import api

    stream_out(api.jobs_logs(job_id, follow=follow, controller=controller), f"Stopped following; managed job {job_id} keeps running.")


@jobs.command(
    epilog="""\b
Examples:
  skyhop jobs cancel 3 4
  skyhop jobs cancel -n train
  skyhop jobs cancel -a -y          # all your unfinished jobs
  skyhop jobs cancel -p workers -y  # your unfinished jobs on pool 'workers' (the pool stays)
"""
)
@click.argument("job_ids", nargs=-1, type=JobId())
@click.option("-n", "--name", help="Cancel the jobs with this name.")
@click.option("-a", "--all", "all_", is_flag=True, help="Cancel all your unfinished managed jobs.")
@click.option("-p", "--pool", help="Cancel your unfinished jobs on this pool (its workers stay up).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def cancel(job_ids: tuple[int, ...], name: str | None, all_: bool, pool: str | None, yes: bool) -> None:
    """Cancel managed jobs: their clusters are taken down (a pool's workers are only freed)."""
    from skyhop.client import api

    if sum((bool(job_ids), name is not None, all_, pool is not None)) != 1:
        raise SkyhopError("Give job ids, -n NAME, -a or -p POOL (exactly one of them).")
    what = (
        "all your unfinished managed jobs" if all_ else f"managed jobs named {name!r}" if name
        else f"your unfinished managed jobs on pool {pool!r}" if pool else f"managed job(s) {', '.join(map(str, job_ids))}"
    )
    if not yes and not click.confirm(f"Cancel {what}?", default=True, err=True):
        raise SystemExit(1)
    with _as_flags({"name": "-n/--name", "job_ids": "JOB_IDS", "all": "-a/--all", "pool": "-p/--pool"}):
        result = api.jobs_cancel(job_ids=list(job_ids), name=name, all_jobs=all_, pool=pool)
    if result["cancelled"]:
        click.echo(f"Cancelling managed job(s) {', '.join(map(str, result['cancelled']))}; their clusters are being taken down.")
    if result["already_done"]:
        click.echo(f"Already finished: {', '.join(map(str, result['already_done']))}.")
    if not result["cancelled"] and not result["already_done"]:
        click.echo("No managed jobs to cancel.")


@jobs.command(
    epilog="""\b
Examples:
  skyhop jobs resume 7     # a job PAUSED by its budget, once an admin raised the budget (or a new month began)
"""
)
@click.argument("job_id", type=int)
def resume(job_id: int) -> None:
    """Resume a managed job that a budget paused: it launches again from the task it was on."""
    from skyhop.client import api

    api.jobs_resume(job_id)
    click.echo(f"Managed job {job_id} is PENDING again; its controller launches it.")

jobs.add_command(pool)
