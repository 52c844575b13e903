"""At start-up, pick up the requests a dead API server left unfinished.

A server killed mid-request leaves it PENDING/RUNNING, owned by a pid that is
gone. The next server adopts each one (a compare-and-set on the owner, so two
servers starting on one database never both do) and runs it again under the
same id, on the same log, so a client re-attaching with `skyhop api logs ID`
sees it through to its end:

- `launch` resumes from what its log recorded: the failed attempts (their
  blocked set carries over, so a full zone is not asked again) and, once it
  got that far, the submitted job (followed, never run twice). What a crash
  mid-provision left of the cluster (an INIT record, node files) is torn down
  first, then the launch provisions again.
- `down`, `down-orphans` and `stop` are idempotent and run again: a half-done teardown must
  not keep machines (and their bill) alive.
- A launch that needs values never stored with the request (secrets and
  a raw body's `envs` overrides are redacted) cannot run again; `exec` and `start` are not
  repeated either (a job must not run twice; a start is quickly re-typed).
  They end FAILED with the `interrupted` code and a message saying what to run.

Requests of a server that still lives (another process on the same state
database) are left alone; each server process sweeps every few seconds for
requests whose owner died, expired or let them go (services/adoption.py),
so a request outlives the process that ran it, not only a restart.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from skyhop.execution.progress import Progress, RequestInterrupted
from skyhop.server.executor import Executor, Operation, Owner
from skyhop.server.services.submissions import withheld

log = logging.getLogger("skyhop.server")

#: Request types that run again as they are (idempotent: running them twice is harmless).
REPEATABLE = frozenset({"down", "stop", "down-orphans"})


@dataclass(frozen=True)
class Outcome:
    """What the start-up pass did: ids resumed, ids ended FAILED, ids left to their living server."""

    resumed: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    alive: tuple[str, ...] = ()


def resume_orphans(store: Any, executor: Executor, accepts: Callable[[Any], bool] | None = None) -> Outcome:
    """Resume (or fail, saying why) every request whose server process died, expired or let it go.

    Called before serving, then by the periodic sweep (services/adoption.py).
    `accepts` limits which requests this process may take at all (a local
    server only its own user's: another user's server on a shared database
    must not run them). A request whose owner still lives is left alone.
    """
    from skyhop.state.controller_leases import live_owners

    resumed: list[str] = []
    failed: list[str] = []
    alive: list[str] = []
    orphans = store.orphaned_requests(executor.server_owner)
    live = live_owners(store) if orphans else set()
    for orphan in orphans:
        if accepts is not None and not accepts(orphan):
            continue
        dead = _owner_dead(orphan, live)
        if dead is None:
            alive.append(orphan.request_id)
            continue
        try:
            record = store.adopt_request(orphan, owner=executor.server_owner, pid=os.getpid(), owner_dead=dead)
            if record is None:
                continue  # finished, or another server process took it
            operation, note, resumable = _plan(store, executor, record)
            executor.resume(record, operation, note)
        except Exception:  # a bug here must not keep the server from starting; the request stays for the next one
            log.exception("could not resume request %s", orphan.request_id)
            continue
        (resumed if resumable else failed).append(record.request_id)
    if resumed or failed:
        log.warning("requests of stopped API server processes: %d resumed, %d ended as interrupted", len(resumed), len(failed))
    return Outcome(tuple(resumed), tuple(failed), tuple(alive))


def _owner_dead(record: Any, live: set[str]) -> bool | None:
    """None while the request's owner lives; else whether it is provably dead (False: lapsed, gone or released).

    An owner is `host:pid:start`. On this host the process itself is the
    truth: a pid that is gone, or is now another process, is dead at once
    (no waiting for its row to lapse after a `kill -9`), and one that still
    runs keeps its requests even if its row lapsed (a database stall must not
    have two processes run one request). On another host only the owner's row
    in `controller_owners`, which its controllers renew, can tell: lapsed or
    removed means gone. A request without owner name comes from an older
    server (its pid alone tells) or was released by a draining one.
    """
    from skyhop.state.controller_leases import OwnerId

    if record.server_owner is None:
        if record.server_pid is not None and server_alive(record.server_pid):
            return None
        return False
    parsed = OwnerId.parse(record.server_owner)
    if parsed is not None and parsed.host == socket.gethostname():
        return True if parsed.provably_dead() else None
    return None if record.server_owner in live else False


def server_alive(pid: int) -> bool:
    """Whether `pid` is a living skyhop API server of this user.

    A pid reused by another program, or any process of another user (whose
    command line anyone can make look like a server's), is not one: otherwise
    such a process would keep a dead server's requests from ever resuming.
    """
    from skyhop_agent.proctree import pid_alive

    if not pid_alive(pid):
        return False
    proc = Path(f"/proc/{pid}")
    try:
        return proc.stat().st_uid == os.getuid() and b"skyhop.server" in (proc / "cmdline").read_bytes()
    except OSError:
        return not os.path.isdir("/proc")  # gone meanwhile, or no /proc: kill(0) is all we know


def _plan(store: Any, executor: Executor, record: Any) -> tuple[Operation, str, bool]:
    """The operation that continues `record`, the note for its log, and whether it really resumes."""
    name, body = record.name, record.body
    cluster = body.get("cluster")
    missing = withheld(body) if name == "launch" else []
    if name == "launch":
        if not missing:
            attempts = len(_recorded(record, "attempt"))
            note = f"[skyhop] Resumed after an API server restart; {attempts} earlier attempt(s) carried over."
            return _launch_again(store, record, executor.operations["launch"]), note, True
    elif name in REPEATABLE:
        return executor.operations[name], "[skyhop] Resumed after an API server restart.", True
    why = _why_not(record, cluster, missing)
    return _cleanup_then_fail(store, record, why), f"[skyhop] The API server restarted; this {name} request is not repeated.", False


def _why_not(record: Any, cluster: str | None, missing: list[str]) -> str:
    """One paragraph: the server stopped, why this request does not run again, and what to run."""
    from skyhop.state.records import ORPHANED_REQUEST_ERROR

    said = "The API server stopped while this request ran"
    jobs = _recorded(record, "job")
    if jobs and record.name in ("launch", "exec"):
        return (
            f"{said}, after its job {jobs[-1]} was submitted: the job keeps running on '{cluster}' "
            f"(`skyhop logs {cluster} {jobs[-1]}` follows it, `skyhop cancel {cluster} {jobs[-1]}` ends it)."
        )
    if record.name == "launch":
        return (
            f"{said}; it needs the values of {', '.join(missing)}, which are never stored with a request, so the "
            "next server could not resume it. Run the same `skyhop launch` command again."
        )
    if record.name == "exec":
        return (
            f"{said}, before it recorded submitting its job, so it is not repeated (a job must never run twice). "
            f"`skyhop queue {cluster}` shows the cluster's jobs; run the same `skyhop exec` command again if yours is not there."
        )
    if record.name == "start":
        return f"{said}; `skyhop status {cluster}` shows how far the start got. Run `skyhop start {cluster}` again."
    return ORPHANED_REQUEST_ERROR


def _recorded(record: Any, key: str) -> list:
    progress = Progress(Path(record.log_path))
    try:
        return progress.recorded(key)
    finally:
        progress.close()


def _launch_again(store: Any, record: Any, launch: Operation) -> Operation:
    """The launch operation, after removing what the interrupted one left half-created."""

    def run(body: dict[str, Any], progress: Progress, owner: Owner) -> Any:
        if not progress.recorded("job"):  # with a job submitted, the cluster is up and the job is followed
            _remove_leftover(store, record, progress)
        return launch(body, progress, owner)

    return run


def _cleanup_then_fail(store: Any, record: Any, why: str) -> Operation:
    def run(body: dict[str, Any], progress: Progress, owner: Owner) -> Any:
        removed = record.name == "launch" and not progress.recorded("job") and _remove_leftover(store, record, progress)
        raise RequestInterrupted(f"{why} The half-created cluster '{body.get('cluster')}' was removed." if removed else why)

    return run


def _remove_leftover(store: Any, record: Any, progress: Progress) -> bool:
    """Tear down the cluster this launch created and never finished (INIT), so nothing is left half-made.

    Only a cluster that appeared after the request started: an INIT cluster
    that was there before belongs to something else (the launch would refuse
    it, as it did before the restart). The provider's crash recovery (`find`)
    is what lets `refresh` see machines whose handle was never stored.
    """
    from skyhop.execution import lifecycle
    from skyhop.execution.locks import cluster_lock

    name = record.body.get("cluster")
    if not isinstance(name, str) or record.started_at is None:
        return False  # never started: it created nothing
    with cluster_lock(name):
        cluster = lifecycle.refreshed(store, name)
        if cluster is None or cluster.status != "INIT" or (cluster.launched_at or 0.0) < record.started_at:
            return False
        progress.info(f"[skyhop] Removing what the interrupted launch left of cluster '{name}' ({cluster.provider}).")
        return lifecycle.teardown(store, name)
