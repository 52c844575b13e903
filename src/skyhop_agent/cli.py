"""The agent's command line: `python3 -m skyhop_agent --base BASE VERB [ARGS]`.

Every verb but `logs` prints exactly one JSON object on stdout and exits 0.
Bad input or a failure prints `{"error": "..."}` on stderr and exits 2, never
a traceback, so the broker can show the message as is. Modules that only the
long-lived verbs need are imported inside those verbs, to keep the frequent
short calls (submit, status, logs) quick to start.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator

from skyhop_agent import DAEMON_VERB, DRIVER_VERB, config, jobtable
from skyhop_agent.errors import AgentError
from skyhop_agent.paths import Layout

if TYPE_CHECKING:
    from skyhop_agent.config import Cluster

DEFAULT_BASE = "~/.skyhop-node"
_WAIT_POLL_S = 0.05


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors the agent's way instead of exiting with usage text."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise AgentError(f"{self.prog}: {message}")


def _open(layout: Layout) -> tuple[Cluster, sqlite3.Connection]:
    cluster, conn = config.load(layout), jobtable.connect(layout)
    opened = getattr(_opened, "conns", None)
    if opened is not None:
        opened.append(conn)
    return cluster, conn


_opened = threading.local()


@contextlib.contextmanager
def connections_closed() -> Iterator[None]:
    """Close the job-table connections the verbs open in this thread, once they are done.

    A CLI call ends its process, which closes them; the daemon runs the verbs for
    its socket in threads for months, and an sqlite3 connection is a reference
    cycle (its statement cache points back at it), freed only when the garbage
    collector runs: its file descriptors would pile up in between.
    """
    _opened.conns = []
    try:
        yield
    finally:
        for conn in _opened.conns:
            conn.close()
        _opened.conns = None


def _records(layout: Layout, jobs: list[jobtable.Job]) -> dict[str, Any]:
    return {"jobs": [job.record(layout) for job in jobs]}


def cmd_init(layout: Layout, args: argparse.Namespace) -> dict[str, Any]:
    from skyhop_agent import autostop
    from skyhop_agent.paths import write_json_atomically

    raw = config.read_json_file(args.config, "cluster config")
    cluster = config.validate(raw)
    os.chmod(layout.base, 0o700)  # the provider made it; whatever its mode, it is private from now on
    os.makedirs(layout.jobs_dir, exist_ok=True)
    write_json_atomically(layout.cluster_json, cluster)
    jobtable.create(layout)
    # A (re)started cluster begins without autostop, as SkyPilot's `start` without -i: a setting
    # kept from before the stop (say `-i 0`) would stop it again the moment its daemon starts.
    autostop.disable(layout)
    return {"ok": True}


def cmd_daemon_start(layout: Layout, args: argparse.Namespace) -> dict[str, Any]:
    from skyhop_agent import daemon

    config.load(layout)  # refuse to start a daemon for a cluster that was never initialized
    return {"ok": True, "pid": daemon.start(layout)}


def cmd_daemon_stop(layout: Layout, args: argparse.Namespace) -> dict[str, Any]:
    from skyhop_agent import daemon

    daemon.stop(layout)
    return {"ok": True}


def cmd_health(layout: Layout, args: argparse.Namespace) -> dict[str, Any]:
    from skyhop_agent import __version__, daemon

    cluster = config.load(layout)
    return {
        "ok": True,
        "version": __version__,
        "daemon_pid": daemon.recorded_pid(layout),
        "daemon_alive": daemon.running_pid(layout) is not None,
        "stopped": os.path.exists(layout.stopped),
        "cluster_name": cluster.name,
    }


def cmd_submit(layout: Layout, args: argparse.Namespace) -> dict[str, Any]:
    reply, _ = submit(layout, config.read_json_file(args.spec, "job spec"))
    return reply


def submit(layout: Layout, raw: object) -> tuple[dict[str, Any], list[subprocess.Popen]]:
    """Queue a job and start what may start; the reply, and the drivers started (for a caller that reaps them)."""
    from skyhop_agent import jobspec, scheduler

    cluster, conn = _open(layout)
    spec = jobspec.parse(raw, cluster)
    why_not = jobspec.never_fits(spec, cluster)
    if why_not:
        raise AgentError(why_not)
    if os.path.exists(layout.stopped):
        raise AgentError(f"Cluster {cluster.name} is stopped; start it again before submitting jobs.")
    job_id = jobtable.insert(conn, spec, spec["user"] or cluster.user, time.time())
    drivers = scheduler.schedule(layout, cluster, conn)
    job = jobtable.get_many(conn, [job_id], cluster.name)[0]
    # The whole record, so the broker can show the job in its history at once without a `status` call.
    return {"job_id": job_id, "status": job.status, "job": job.record(layout)}, drivers


def cmd_queue(layout: Layout, args: argparse.Namespace) -> dict[str, Any]:
    _, conn = _open(layout)
    if args.active:
        return _records(layout, jobtable.in_states(conn, jobtable.NOT_TERMINAL, newest_first=True))
    return _records(layout, jobtable.all_jobs(conn))


def cmd_status(layout: Layout, args: argparse.Namespace) -> dict[str, Any]:
    cluster, conn = _open(layout)
    return _records(layout, jobtable.get_many(conn, args.job_ids, cluster.name))


def cmd_cancel(layout: Layout, args: argparse.Namespace) -> dict[str, Any]:
    from skyhop_agent import cancel

    cluster, conn = _open(layout)
    if args.all == bool(args.job_ids):
        raise AgentError("cancel: give job ids or --all (not both).")
    if args.all:
        return {"cancelled": cancel.cancel_all(layout, cluster, conn), "already_done": []}
    job_ids = [job.job_id for job in jobtable.get_many(conn, args.job_ids, cluster.name)]
    cancelled, already_done = cancel.cancel_jobs(layout, cluster, conn, job_ids)
    return {"cancelled": cancelled, "already_done": already_done}


def cmd_logs(layout: Layout, args: argparse.Namespace) -> None:
    from skyhop_agent import autostop, logs

    path, job_id, finished = log_source(layout, args)
    # A follower holds autodown off until it has read everything (and the final record).
    with autostop.hold_while_following(layout) if args.follow else contextlib.nullcontext():
        try:
            logs.stream(path, sys.stdout.buffer, args.follow, args.tail, finished)
        except BrokenPipeError:
            # The reader went away (e.g. `| head`); that ends the stream, not an error.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        if args.record:
            # The job's record after the log, on stderr (stdout is the log itself):
            # a follower learns how the job ended without a second agent call.
            _, conn = _open(layout)
            record = jobtable.get(conn, job_id)
            assert record is not None  # the log exists, so the job does
            sys.stderr.write(json.dumps({"job": _records(layout, [record])["jobs"][0]}) + "\n")


def log_source(layout: Layout, args: argparse.Namespace) -> tuple[str, int, Callable[[], bool]]:
    """What `logs ARGS` streams: the file, the job id, and "has the job ended"; AgentError for bad input.

    Checked before a single byte is streamed, by the CLI verb and the daemon's socket alike.
    """
    from skyhop_agent import logs

    if args.tail is not None and args.tail < 0:
        raise AgentError(f"--tail must be >= 0, got {args.tail}.")
    cluster, conn = _open(layout)
    job = jobtable.get_many(conn, [args.job_id], cluster.name)[0]
    job_id = job.job_id
    if args.node is not None and not 0 <= args.node < job.num_nodes:
        raise AgentError(f"Job {job_id} runs on nodes 0..{job.num_nodes - 1}; there is no node {args.node}.")
    # One node's own output (unprefixed), or the job's combined log.
    path = layout.run_log(job_id) if args.node is None else layout.node_log(job_id, args.node)

    def ended() -> bool:
        job = jobtable.get(conn, job_id)
        return job is None or job.terminal

    return path, job_id, logs.asked_on_change(ended, [layout.jobs_db, layout.jobs_db + "-wal"])


def cmd_wait(layout: Layout, args: argparse.Namespace) -> dict[str, Any]:
    cluster, conn = _open(layout)
    job = jobtable.get_many(conn, [args.job_id], cluster.name)[0]
    while not job.terminal:
        time.sleep(_WAIT_POLL_S)
        job = jobtable.get_many(conn, [args.job_id], cluster.name)[0]
    return job.record(layout)


def cmd_autostop(layout: Layout, args: argparse.Namespace) -> dict[str, Any]:
    from skyhop_agent import autostop

    config.load(layout)
    if args.cancel:
        return autostop.disable(layout)
    if args.idle_minutes is not None:
        return autostop.enable(layout, args.idle_minutes, args.down)
    if args.down:
        raise AgentError("autostop: --down needs --idle-minutes.")
    return autostop.read(layout) or autostop.OFF


def cmd_stop_jobs(layout: Layout, args: argparse.Namespace) -> dict[str, Any]:
    from skyhop_agent import cancel

    cluster, conn = _open(layout)
    return {"cancelled": cancel.cancel_all(layout, cluster, conn, reason="cluster jobs stopped")}


def cmd_self_stop(layout: Layout, args: argparse.Namespace) -> dict[str, Any]:
    """`self-stop` and `self-down`: what autostop does, on demand (local provider)."""
    from skyhop_agent import daemon, lifecycle

    cluster, conn = _open(layout)
    daemon.stop(layout)
    result: dict[str, Any] = {"ok": True, "cancelled": lifecycle.halt(layout, cluster, conn, reason=args.verb)}
    if args.verb == "self-down":
        result["removed"] = lifecycle.remove_dirs(cluster)
    return result


def cmd_daemon(layout: Layout, args: argparse.Namespace) -> None:
    from skyhop_agent import daemon

    config.load(layout)
    daemon.serve(layout)


def cmd_run_job(layout: Layout, args: argparse.Namespace) -> None:
    from skyhop_agent import driver

    driver.run_job(layout, args.job_id)


def parser() -> _Parser:
    parser = _Parser(prog="skyhop_agent", description="skyhop node agent")
    parser.add_argument("--base", default=DEFAULT_BASE, help="the head node's base directory")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(name: str, handler: Callable[[Layout, argparse.Namespace], Any], summary: str) -> _Parser:
        sub = verbs.add_parser(name, help=summary)
        sub.set_defaults(handler=handler)
        return sub

    verb("init", cmd_init, "store the cluster config, create the job table").add_argument("--config", required=True)
    verb("daemon-start", cmd_daemon_start, "start the head daemon unless it runs")
    verb("daemon-stop", cmd_daemon_stop, "stop the head daemon")
    verb("health", cmd_health, "version, daemon and stopped state")
    verb("submit", cmd_submit, "queue a job (spec JSON from a file or - for stdin)").add_argument("--spec", required=True)
    verb("queue", cmd_queue, "list jobs, newest first").add_argument(
        "--active", action="store_true", help="only jobs that have not ended"
    )
    verb("status", cmd_status, "records of the given jobs").add_argument("job_ids", type=int, nargs="+")
    sub = verb("cancel", cmd_cancel, "cancel jobs and kill their processes")
    sub.add_argument("job_ids", type=int, nargs="*")
    sub.add_argument("--all", action="store_true")
    sub = verb("logs", cmd_logs, "print a job's log (raw text)")
    sub.add_argument("job_id", type=int)
    sub.add_argument("--follow", action="store_true", help="keep streaming until the job ends")
    sub.add_argument("--tail", type=int, help="start with the last N lines")
    sub.add_argument("--node", type=int, help="only this node's output (job-relative rank)")
    sub.add_argument("--record", action="store_true", help="then print the job's record as JSON on stderr")
    verb("wait", cmd_wait, "block until a job ends").add_argument("job_id", type=int)
    sub = verb("autostop", cmd_autostop, "set, cancel or show autostop")
    exclusive = sub.add_mutually_exclusive_group()
    exclusive.add_argument("--idle-minutes", type=float)
    exclusive.add_argument("--cancel", action="store_true")
    sub.add_argument("--down", action="store_true", help="take the cluster down instead of stopping it")
    verb("stop-jobs", cmd_stop_jobs, "cancel every job that has not ended")
    verb("self-stop", cmd_self_stop, "cancel all jobs, mark the cluster stopped, stop the daemon")
    verb("self-down", cmd_self_stop, "self-stop, then delete the cluster's directories")
    verb(DAEMON_VERB, cmd_daemon, "(internal) run the head daemon in the foreground")
    verb(DRIVER_VERB, cmd_run_job, "(internal) drive one job").add_argument("job_id", type=int)
    return parser


def _error(message: str) -> int:
    sys.stderr.write(json.dumps({"error": message}) + "\n")
    return 2


def main(argv: list[str] | None = None) -> int:
    # Everything the agent and its children write on a node (job table and WAL, logs,
    # job processes) is the node owner's alone: the job table holds secret values.
    os.umask(0o077)
    try:
        args = parser().parse_args(argv)
        layout = Layout(os.path.expanduser(args.base))
        result = args.handler(layout, args)
    except AgentError as e:
        return _error(str(e))
    except (OSError, sqlite3.Error) as e:
        return _error(f"{type(e).__name__}: {e}")
    if result is not None:
        sys.stdout.write(json.dumps(result) + "\n")
    return 0
