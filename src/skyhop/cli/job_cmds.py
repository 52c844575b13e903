"""Job commands: queue, logs, cancel."""

from __future__ import annotations

import time

import click

from skyhop.cli.output import OUTPUT_OPTION, emit_json, number, stream_out, table
from skyhop.errors import SkyhopError

FINISHED = ("SUCCEEDED", "FAILED", "FAILED_SETUP", "CANCELLED")
ALL_USERS = click.option("-u", "--all-users", is_flag=True, help="Include other users' jobs (default: only yours).")


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _duration(job: dict) -> str:
    start, end = job.get("started_at"), job.get("ended_at") or (time.time() if job.get("started_at") else None)
    return f"{end - start:.1f}s" if start and end else "-"


@click.command(
    epilog="""\b
Examples:
  skyhop queue dev
  skyhop queue              # every cluster
  skyhop queue dev --output json
  skyhop queue -s           # only jobs that have not finished
  skyhop queue -u dev       # every user's jobs
"""
)
@click.argument("clusters", nargs=-1)
@click.option("-s", "--skip-finished", is_flag=True, help="Show only pending, setting-up and running jobs.")
@ALL_USERS
@OUTPUT_OPTION
def queue(clusters: tuple[str, ...], skip_finished: bool, all_users: bool, output: str) -> None:
    """Show the job queue of clusters (all of them by default).

    Only your own clusters' jobs are listed unless -u is given (a role that sees every user's).
    """
    from skyhop.client import api

    names = list(clusters) or [r["name"] for r in api.status(all_users=all_users)]
    rows = [job for name in names for job in api.queue(name)]
    if skip_finished:
        rows = [job for job in rows if job["status"] not in FINISHED]
    if output == "json":
        emit_json(rows)
        return
    if not rows:
        click.echo("No jobs.")
        return
    table(
        ("CLUSTER", "ID", "NAME", "USER", "SUBMITTED", "DURATION", "RESOURCES", "STATUS", "EXIT"),
        [
            (
                j["cluster"], j["job_id"], j["name"] or "-", j["user"] or "-", _when(j["submitted_at"]), _duration(j),
                ", ".join(f"{k}:{number(v)}" for k, v in (j["resources"].get("gpus") or {}).items())
                or (f"{number(j['resources'].get('cpus'))} CPU" if j["resources"].get("cpus") else "-"),
                j["status"], "-" if j["exit_code"] is None else j["exit_code"],
            )
            for j in rows
        ],
    )


@click.command(
    epilog="""\b
Examples:
  skyhop logs dev            # the latest job, following until it ends
  skyhop logs dev 3 --no-follow
  skyhop logs dev 3 --status # exit code 0 only if job 3 succeeded
  skyhop logs dev 3 --node 1 # only node 1's output (all nodes, prefixed, by default)
  skyhop logs dev 3 -s       # save each node's output under ~/skyhop_logs/dev/job-3/
"""
)
@click.argument("cluster")
@click.argument("job_id", required=False, type=int)
@click.option("--follow/--no-follow", default=True, show_default=True, help="Keep streaming until the job ends.")
@click.option("--tail", type=click.IntRange(min=0), help="Only the last N lines.")
@click.option("--status", "status_only", is_flag=True, help="Print the job's status instead; exit 0 only if it succeeded.")
@click.option("--node", type=click.IntRange(min=0), help="Only this node's output (0 is the head); default: every node, lines prefixed (node-R).")
@click.option("-s", "--sync-down", is_flag=True, help="Save the job's output, one file per node, under ~/skyhop_logs/CLUSTER/job-ID/ instead of printing it.")
def logs(cluster: str, job_id: int | None, follow: bool, tail: int | None, status_only: bool, node: int | None, sync_down: bool) -> None:
    """Show (and follow) a job's output; the latest job by default."""
    from skyhop.client import api

    if sync_down:
        from skyhop.cli.log_download import download_logs

        click.echo(f"Saved to {download_logs(cluster, job_id)}")
        return
    if status_only:
        if job_id is None:
            job_id = api.latest_job_id(cluster)
        job = api.job(cluster, job_id)
        click.echo(f"Job {job_id}: {job['status']}")
        if job["status"] != "SUCCEEDED":
            from skyhop.cli.request_view import job_exit_code

            raise SystemExit(job_exit_code(job["status"], job.get("exit_code")))
        return
    stream_out(api.logs(cluster, job_id, follow=follow, tail=tail, node=node), "Stopped following; the job keeps running.")


@click.command(
    epilog="""\b
Examples:
  skyhop cancel dev 3 4
  skyhop cancel dev          # the latest running or pending job
  skyhop cancel dev --all    # your running and pending jobs
  skyhop cancel dev -u       # every user's running and pending jobs
"""
)
@click.argument("cluster")
@click.argument("job_ids", nargs=-1, type=int)
@click.option("-a", "--all", "all_", is_flag=True, help="Cancel all your running and pending jobs.")
@click.option("-u", "--all-users", is_flag=True, help="Cancel every user's running and pending jobs.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def cancel(cluster: str, job_ids: tuple[int, ...], all_: bool, all_users: bool, yes: bool) -> None:
    """Cancel jobs: their processes on every node are ended, with all their children."""
    from skyhop.client import api

    if (all_ or all_users) and job_ids:
        raise SkyhopError("Give job ids or --all/--all-users, not both.")
    if all_ and not all_users:
        job_ids = tuple(j["job_id"] for j in api.queue(cluster) if j["status"] not in FINISHED)
        if not job_ids:
            click.echo(f"No running or pending jobs of yours on '{cluster}'.")
            return
    result = api.cancel(cluster, list(job_ids), all_jobs=all_users)
    if result.get("message"):
        click.echo(result["message"])
    if result.get("cancelled"):
        click.echo(f"Cancelled job(s) {', '.join(map(str, result['cancelled']))} on '{cluster}'.")
    if result.get("already_done"):
        click.echo(f"Already finished: {', '.join(map(str, result['already_done']))}.")
