"""One operation per cluster at a time, across threads and server processes.

Two launches of the same cluster name, or a `down` racing a launch, would
otherwise both create or remove machines. Status refresh skips a cluster
whose lock is held: its INIT state is a launch in progress, not a crash.

Two layers: a `threading.Lock` per name (the threads of this process), then,
when the state database is PostgreSQL (`SKYHOP_DB_URL`), an advisory lock of
that database (`skyhop.state.locks`), which several API server processes on one
team database share. SQLite has no such lock: one SQLite file is served by one
server process, and the in-process lock is the whole guard there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}


def _lock(name: str) -> threading.Lock:
    with _guard:
        return _locks.setdefault(name, threading.Lock())


def _database_url() -> str:
    from skyhop.state import db

    return db.default_url()


@contextmanager
def cluster_lock(name: str) -> Iterator[None]:
    from skyhop.state import locks

    with _lock(name), locks.named_lock(_database_url(), f"cluster:{name}"):
        yield


def is_busy(name: str) -> bool:
    """Whether an operation on `name` runs now, in this process or (PostgreSQL) another."""
    if _lock(name).locked():
        return True
    from skyhop.state import locks

    return locks.is_held(_database_url(), f"cluster:{name}")
