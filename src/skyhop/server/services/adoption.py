"""Requests outlive the server process that ran them: each process adopts what a dead sibling left.

Several API server processes share one database (behind one port or one
proxy). A request belongs to the process that created or adopted it
(`requests.server_owner`, `host:pid:start`), which is alive while its row in
`controller_owners` is (the row its controllers renew every third of the
lease TTL). Every process sweeps every `period_s` (a third of the lease TTL,
at most 5 s): PENDING/RUNNING requests whose owner is dead on this host (pid
gone or reused: no waiting for the TTL after a `kill -9`), whose owner on
another host let its row lapse, or that a draining process released, are
adopted with one conditional UPDATE (of two sweeping processes, one wins) and
resumed through services/resume.py, which decides resume-or-fail-saying-why.
A process that still runs on this host keeps its requests even if its row
lapsed (a database stall must not make two processes run one request).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from skyhop.server.executor import Executor

log = logging.getLogger("skyhop.server")

#: Request owners share the controllers' owner row; this kind holds no leases of its own.
KIND = "requests"
MAX_PERIOD_S = 5.0


def lease_ttl_s() -> float:
    """The controllers' lease TTL (config `jobs.lease_seconds`): how long a silent process keeps what it holds."""
    from skyhop.config import load_config
    from skyhop.jobs.settings import from_config

    return from_config(load_config().get("jobs")).lease_s


def period(ttl_s: float) -> float:
    return max(0.1, min(ttl_s / 3, MAX_PERIOD_S))


def join(store: Any, ttl_s: float) -> None:
    """Make this process a live owner before it adopts anything (its controllers renew the row from then on).

    Without the row, a request adopted at start-up would look ownerless to a
    sibling's sweep until the controllers' first tick, and be taken twice.
    """
    from skyhop.state.controller_leases import ControllerLeases

    ControllerLeases(store).rejoin(ttl_s, KIND)


def start(store: Any, executor: Executor, ttl_s: float, stop: threading.Event, accepts: Callable[[Any], bool] | None = None) -> threading.Thread:
    """Sweep every `period(ttl_s)` until `stop` is set (a daemon thread: it never holds the process up)."""
    from skyhop.server.services import resume

    def loop() -> None:
        while not stop.wait(period(ttl_s)):
            try:
                resume.resume_orphans(store, executor, accepts)
            except Exception:  # the database may be briefly unreachable: the next sweep tries again
                log.exception("request adoption sweep failed")

    thread = threading.Thread(target=loop, name="request-adoption", daemon=True)
    thread.start()
    return thread


def accepting(local_user: str | None) -> Callable[[Any], bool] | None:
    """Which requests this process may adopt: a local server only its own user's (as its jobs controller takes only
    its user's jobs: another user's server on a shared database could neither reach nor remove their clusters); a
    team server (`local_user` None) everyone's."""
    if local_user is None:
        return None
    return lambda record: record.user in (None, local_user)
