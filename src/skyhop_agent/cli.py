"""The agent's command line: `python3 -m skyhop_agent --base BASE VERB [ARGS]`.

Every verb but `logs` prints exactly one JSON object on stdout and exits 0.
Bad input or a failure prints `{"error": "..."}` on stderr and exits 2, never
a traceback, so the broker can show the message as is.

Every agent call on a node is a fresh interpreter, most of them a status, a
submit or a job's driver, so what a verb imports is most of what it costs:
`argv` is read by a small parser (`quick_parse`) and argparse is loaded only
for what that parser leaves to it (`--help`, usage errors, rare spellings),
and each module a verb needs is imported inside that verb. `typing`, argparse,
subprocess and sqlite3 are kept off the module level (TYPE_CHECKING below is
typing's constant without importing typing: mypy reads any name so spelled as it).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from _thread import _local  # threading.local itself, without importing threading

from skyhop_agent import DAEMON_VERB, DRIVER_VERB, config, jobtable
from skyhop_agent.errors import AgentError
from skyhop_agent.paths import Layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    import sqlite3
    from typing import Any, Callable, Iterator

    from skyhop_agent.config import Cluster

DEFAULT_BASE = "~/.skyhop-node"
_WAIT_POLL_S = 0.05


class Args:
    """A parsed command line: `base`, `verb`, `handler` and the verb's own arguments as attributes."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # the verb's arguments, which mypy cannot know
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"Args({vars(self)!r})"


def _open(layout: Layout) -> tuple[Cluster, sqlite3.Connection]:
    cluster, conn = config.load(layout), jobtable.connect(layout)
    opened = getattr(_opened, "conns", None)
    if opened is not None:
        opened.append(conn)
    return cluster, conn


_opened = _local()


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


def cmd_init(layout: Layout, args: Args) -> dict[str, Any]:
    """Also, on request, what installing the agent needs next, in this one process rather than one each.

    `--compile` byte-compiles this copy of the agent, so no later call pays for
    compiling (or recompiles every time where PYTHONDONTWRITEBYTECODE is set);
    `--start-daemon` is `daemon-start` once the cluster is initialized.
    """
    from skyhop_agent import autostop
    from skyhop_agent.paths import write_json_atomically

    if args.compile:
        import compileall

        compileall.compile_dir(os.path.dirname(os.path.abspath(__file__)), quiet=2)  # a file it cannot compile runs from source
    raw = config.read_json_file(args.config, "cluster config")
    cluster = config.validate(raw)
    os.chmod(layout.base, 0o700)  # the provider made it; whatever its mode, it is private from now on
    os.makedirs(layout.jobs_dir, exist_ok=True)
    write_json_atomically(layout.cluster_json, cluster)
    jobtable.create(layout)
    # A (re)started cluster begins without autostop, as SkyPilot's `start` without -i: a setting
    # kept from before the stop (say `-i 0`) would stop it again the moment its daemon starts.
    autostop.disable(layout)
    if not args.start_daemon:
        return {"ok": True}
    from skyhop_agent import daemonctl

    return {"ok": True, "pid": daemonctl.start(layout)}


def cmd_daemon_start(layout: Layout, args: Args) -> dict[str, Any]:
    from skyhop_agent import daemonctl

    config.load(layout)  # refuse to start a daemon for a cluster that was never initialized
    return {"ok": True, "pid": daemonctl.start(layout)}


def cmd_daemon_stop(layout: Layout, args: Args) -> dict[str, Any]:
    from skyhop_agent import daemonctl

    daemonctl.stop(layout)
    return {"ok": True}


def cmd_health(layout: Layout, args: Args) -> dict[str, Any]:
    from skyhop_agent import __version__, daemonctl

    cluster = config.load(layout)
    return {
        "ok": True,
        "version": __version__,
        "daemon_pid": daemonctl.recorded_pid(layout),
        "daemon_alive": daemonctl.running_pid(layout) is not None,
        "stopped": os.path.exists(layout.stopped),
        "cluster_name": cluster.name,
    }


def cmd_submit(layout: Layout, args: Args) -> dict[str, Any]:
    return submit(layout, config.read_json_file(args.spec, "job spec"))


def submit(layout: Layout, raw: object) -> dict[str, Any]:
    """Queue a job and start what may start (a caller that reaps the drivers collects them: `scheduler.drivers_started`)."""
    from skyhop_agent import jobspec, scheduler

    cluster, conn = _open(layout)
    spec = jobspec.parse(raw, cluster)
    why_not = jobspec.never_fits(spec, cluster)
    if why_not:
        raise AgentError(why_not)
    if os.path.exists(layout.stopped):
        raise AgentError(f"Cluster {cluster.name} is stopped; start it again before submitting jobs.")
    job_id = jobtable.insert(conn, spec, spec["user"] or cluster.user, time.time())
    scheduler.schedule(layout, cluster, conn)
    job = jobtable.get_many(conn, [job_id], cluster.name)[0]
    # The whole record, so the broker can show the job in its history at once without a `status` call.
    return {"job_id": job_id, "status": job.status, "job": job.record(layout)}


def cmd_queue(layout: Layout, args: Args) -> dict[str, Any]:
    _, conn = _open(layout)
    if args.active:
        return _records(layout, jobtable.in_states(conn, jobtable.NOT_TERMINAL, newest_first=True))
    return _records(layout, jobtable.all_jobs(conn))


def cmd_status(layout: Layout, args: Args) -> dict[str, Any]:
    cluster, conn = _open(layout)
    return _records(layout, jobtable.get_many(conn, args.job_ids, cluster.name))


def cmd_cancel(layout: Layout, args: Args) -> dict[str, Any]:
    from skyhop_agent import cancel

    cluster, conn = _open(layout)
    if args.all == bool(args.job_ids):
        raise AgentError("cancel: give job ids or --all (not both).")
    if args.all:
        return {"cancelled": cancel.cancel_all(layout, cluster, conn), "already_done": []}
    job_ids = [job.job_id for job in jobtable.get_many(conn, args.job_ids, cluster.name)]
    cancelled, already_done = cancel.cancel_jobs(layout, cluster, conn, job_ids)
    return {"cancelled": cancelled, "already_done": already_done}


def cmd_logs(layout: Layout, args: Args) -> None:
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


def log_source(layout: Layout, args: Args) -> tuple[str, int, Callable[[], bool]]:
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


def cmd_wait(layout: Layout, args: Args) -> dict[str, Any]:
    cluster, conn = _open(layout)
    job = jobtable.get_many(conn, [args.job_id], cluster.name)[0]
    while not job.terminal:
        time.sleep(_WAIT_POLL_S)
        job = jobtable.get_many(conn, [args.job_id], cluster.name)[0]
    return job.record(layout)


def cmd_autostop(layout: Layout, args: Args) -> dict[str, Any]:
    from skyhop_agent import autostop

    config.load(layout)
    if args.cancel:
        return autostop.disable(layout)
    if args.idle_minutes is not None:
        return autostop.enable(layout, args.idle_minutes, args.down)
    if args.down:
        raise AgentError("autostop: --down needs --idle-minutes.")
    return autostop.read(layout) or autostop.OFF


def cmd_stop_jobs(layout: Layout, args: Args) -> dict[str, Any]:
    from skyhop_agent import cancel

    cluster, conn = _open(layout)
    return {"cancelled": cancel.cancel_all(layout, cluster, conn, reason="cluster jobs stopped")}


def cmd_self_stop(layout: Layout, args: Args) -> dict[str, Any]:
    """`self-stop` and `self-down`: what autostop does, on demand (local provider)."""
    from skyhop_agent import daemonctl, lifecycle

    cluster, conn = _open(layout)
    daemonctl.stop(layout)
    result: dict[str, Any] = {"ok": True, "cancelled": lifecycle.halt(layout, cluster, conn, reason=args.verb)}
    if args.verb == "self-down":
        result["removed"] = lifecycle.remove_dirs(cluster)
    return result


def cmd_daemon(layout: Layout, args: Args) -> None:
    from skyhop_agent import daemon

    config.load(layout)
    daemon.serve(layout)


def cmd_run_job(layout: Layout, args: Args) -> None:
    from skyhop_agent import driver

    driver.run_job(layout, args.job_id)


class Arg:
    """One argument of a verb, declared once for argparse (`--help`, usage errors) and for `quick_parse`.

    `name` is `--name` for an option, whose value `convert` makes (no `convert`: a
    switch), or the attribute of the verb's one positional argument, `nargs` of
    them (None: exactly one). The verb's `exclusive` options are a mutually
    exclusive group.
    """

    def __init__(
        self, name: str, convert: Callable[[str], Any] | None = None, *,
        nargs: str | None = None, required: bool = False, help: str | None = None, exclusive: bool = False,
    ) -> None:
        self.name = name
        self.dest = name.lstrip("-").replace("-", "_")
        self.convert = convert
        self.nargs = nargs
        self.required = required
        self.help = help
        self.exclusive = exclusive

    @property
    def positional(self) -> bool:
        return not self.name.startswith("-")

    def add_to(self, parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup) -> None:
        kwargs: dict[str, Any] = {"help": self.help} if self.help else {}
        if self.convert is None:
            parser.add_argument(self.name, action="store_true", **kwargs)
        elif self.positional:
            parser.add_argument(self.name, type=self.convert, nargs=self.nargs, **kwargs)
        else:
            parser.add_argument(self.name, type=self.convert, required=self.required, **kwargs)


#: Every verb: its handler, its line in `--help`, its arguments.
VERBS: dict[str, tuple[Callable[[Layout, Args], Any], str, tuple[Arg, ...]]] = {
    "init": (cmd_init, "store the cluster config, create the job table", (
        Arg("--config", str, required=True),
        Arg("--compile", help="first byte-compile the agent's own package"),
        Arg("--start-daemon", help="then start the head daemon (as daemon-start)"),
    )),
    "daemon-start": (cmd_daemon_start, "start the head daemon unless it runs", ()),
    "daemon-stop": (cmd_daemon_stop, "stop the head daemon", ()),
    "health": (cmd_health, "version, daemon and stopped state", ()),
    "submit": (cmd_submit, "queue a job (spec JSON from a file or - for stdin)", (Arg("--spec", str, required=True),)),
    "queue": (cmd_queue, "list jobs, newest first", (Arg("--active", help="only jobs that have not ended"),)),
    "status": (cmd_status, "records of the given jobs", (Arg("job_ids", int, nargs="+"),)),
    "cancel": (cmd_cancel, "cancel jobs and kill their processes", (Arg("job_ids", int, nargs="*"), Arg("--all"))),
    "logs": (cmd_logs, "print a job's log (raw text)", (
        Arg("job_id", int),
        Arg("--follow", help="keep streaming until the job ends"),
        Arg("--tail", int, help="start with the last N lines"),
        Arg("--node", int, help="only this node's output (job-relative rank)"),
        Arg("--record", help="then print the job's record as JSON on stderr"),
    )),
    "wait": (cmd_wait, "block until a job ends", (Arg("job_id", int),)),
    "autostop": (cmd_autostop, "set, cancel or show autostop", (
        Arg("--idle-minutes", float, exclusive=True),
        Arg("--cancel", exclusive=True),
        Arg("--down", help="take the cluster down instead of stopping it"),
    )),
    "stop-jobs": (cmd_stop_jobs, "cancel every job that has not ended", ()),
    "self-stop": (cmd_self_stop, "cancel all jobs, mark the cluster stopped, stop the daemon", ()),
    "self-down": (cmd_self_stop, "self-stop, then delete the cluster's directories", ()),
    DAEMON_VERB: (cmd_daemon, "(internal) run the head daemon in the foreground", ()),
    DRIVER_VERB: (cmd_run_job, "(internal) drive one job", (Arg("job_id", int),)),
}


def parser() -> argparse.ArgumentParser:
    """The full parser: `--help`, and the usage errors (as AgentError) of what `quick_parse` leaves to it."""
    import argparse

    class Parser(argparse.ArgumentParser):
        """argparse that reports usage errors the agent's way instead of exiting with usage text."""

        def error(self, message: str) -> None:  # type: ignore[override]
            raise AgentError(f"{self.prog}: {message}")

    parser = Parser(prog="skyhop_agent", description="skyhop node agent")
    parser.add_argument("--base", default=DEFAULT_BASE, help="the head node's base directory")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, (handler, summary, arguments) in VERBS.items():
        sub = verbs.add_parser(name, help=summary)
        sub.set_defaults(handler=handler)
        group = sub.add_mutually_exclusive_group() if any(arg.exclusive for arg in arguments) else None
        for arg in arguments:
            arg.add_to(group if group is not None and arg.exclusive else sub)
    return parser


def _plain(token: str) -> bool:
    """A token argparse reads as a value, never as an option (it alone also knows negative numbers)."""
    return token == "-" or not token.startswith("-")


def quick_parse(argv: list[str]) -> Args | None:
    """`argv` as `parser()` parses it, for the spellings the broker and the agent use; None for any other.

    None leaves the decision to argparse: `--help`, an unknown verb or option,
    `--name=value`, abbreviations, a value that starts with `-`, a missing value
    or required option, a wrong count, a value that does not convert, both
    options of an exclusive group, positionals on both sides of an option.
    What it does accept, argparse accepts with the same values
    (tests/agent/test_agent_startup.py compares the two).
    """
    values: dict[str, Any] = {"base": DEFAULT_BASE}
    at = 0
    while argv[at : at + 1] == ["--base"] and at + 1 < len(argv) and _plain(argv[at + 1]):
        values["base"] = argv[at + 1]
        at += 2
    if at >= len(argv) or argv[at] not in VERBS:
        return None
    verb = argv[at]
    handler, _, arguments = VERBS[verb]
    values.update(verb=verb, handler=handler)
    options = {arg.name: arg for arg in arguments if not arg.positional}
    for arg in options.values():
        values[arg.dest] = False if arg.convert is None else None
    given: set[str] = set()
    positionals: list[str] = []
    runs = 0  # stretches of positionals: argparse reads positionals split by an option its own way
    in_run = False
    rest = argv[at + 1 :]
    i = 0
    while i < len(rest):
        token = rest[i]
        option = options.get(token)
        if option is None:  # a positional
            if not _plain(token) or token == "-":
                return None
            runs += not in_run
            in_run = True
            positionals.append(token)
            i += 1
            continue
        in_run = False
        given.add(option.name)
        if option.convert is None:
            values[option.dest] = True
            i += 1
            continue
        if i + 1 == len(rest) or not _plain(rest[i + 1]):
            return None
        try:
            values[option.dest] = option.convert(rest[i + 1])
        except ValueError:
            return None
        i += 2
    if runs > 1 or any(arg.required and arg.name not in given for arg in options.values()):
        return None
    if sum(1 for name in given if options[name].exclusive) > 1:
        return None
    return _with_positionals(values, arguments, positionals)


def _with_positionals(values: dict[str, Any], arguments: tuple[Arg, ...], tokens: list[str]) -> Args | None:
    """`values` and the verb's positional argument made from `tokens`; None when their number or a value is wrong."""
    arg = next((arg for arg in arguments if arg.positional), None)
    if arg is None:
        return None if tokens else Args(**values)
    wanted = {None: (1, 1), "+": (1, len(tokens)), "*": (0, len(tokens))}[arg.nargs]
    if not wanted[0] <= len(tokens) <= wanted[1]:
        return None
    try:
        converted = [arg.convert(token) for token in tokens] if arg.convert else tokens
    except ValueError:
        return None
    values[arg.dest] = converted[0] if arg.nargs is None else converted
    return Args(**values)


def parse(argv: list[str]) -> Args:
    """`argv` parsed: by `quick_parse`, else by argparse (which prints `--help` and exits, or raises AgentError)."""
    quick = quick_parse(argv)
    return quick if quick is not None else Args(**vars(parser().parse_args(argv)))


def _error(message: str) -> int:
    sys.stderr.write(json.dumps({"error": message}) + "\n")
    return 2


def _is_sqlite_error(error: Exception) -> bool:
    """An sqlite3 error, without importing sqlite3: a verb that never opened the job table raises none."""
    sqlite3 = sys.modules.get("sqlite3")
    return sqlite3 is not None and isinstance(error, sqlite3.Error)


def main(argv: list[str] | None = None) -> int:
    # Everything the agent and its children write on a node (job table and WAL, logs,
    # job processes) is the node owner's alone: the job table holds secret values.
    os.umask(0o077)
    try:
        args = parse(sys.argv[1:] if argv is None else argv)
        layout = Layout(os.path.expanduser(args.base))
        result = args.handler(layout, args)
    except AgentError as e:
        return _error(str(e))
    except Exception as e:
        if not (isinstance(e, OSError) or _is_sqlite_error(e)):
            raise
        return _error(f"{type(e).__name__}: {e}")
    if result is not None:
        sys.stdout.write(json.dumps(result) + "\n")
    return 0
