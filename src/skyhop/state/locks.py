"""Named locks that hold across processes sharing one state database.

Cluster operations (launch, down, stop, ...) must not interleave, also when
several API server processes serve one team database. On PostgreSQL a named
lock is a session-level advisory lock (`pg_advisory_lock`) on a connection of
its own, held for the whole operation: it blocks the same name in every other
process, is released by PostgreSQL itself when the holder dies (the session
ends), and needs no table. On SQLite there is no such primitive, and one
SQLite file is served by one server process, so `named_lock` there is a no-op
and callers rely on their in-process lock alone.

The lock key is 64 bits of a hash of the name: two names that collide only
serialise each other, which is safe.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Iterator

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from skyhop.state import db

#: Namespaces the 64-bit keys so skyhop's locks differ from other users' of the database.
_PREFIX = b"skyhop-lock:"


def supported(url: str) -> bool:
    """Whether `url`'s backend has cross-process named locks (PostgreSQL)."""
    return make_url(url).get_backend_name() == "postgresql"


def lock_key(name: str) -> int:
    """The signed 64-bit advisory lock key of `name` (PostgreSQL's bigint)."""
    digest = hashlib.blake2b(_PREFIX + name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@functools.cache
def _engine(url: str) -> Engine:
    # No pool: each held lock owns its connection for minutes (a launch); a
    # pool would cap how many clusters can be operated on at once.
    return db.create_engine(url, poolclass=NullPool)


@contextlib.contextmanager
def named_lock(url: str, name: str) -> Iterator[None]:
    """Hold the lock `name` on the database `url` (waits for other holders); no-op on SQLite."""
    if not supported(url):
        yield
        return
    key = lock_key(name)
    with _engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("SELECT pg_advisory_lock(%(key)s)", {"key": key})
        try:
            yield
        finally:
            connection.exec_driver_sql("SELECT pg_advisory_unlock(%(key)s)", {"key": key})


def is_held(url: str, name: str) -> bool:
    """Whether another session holds `name` right now (False on SQLite: unknown there)."""
    if not supported(url):
        return False
    key = lock_key(name)
    with _engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        got = connection.exec_driver_sql("SELECT pg_try_advisory_lock(%(key)s)", {"key": key}).scalar()
        if got:
            connection.exec_driver_sql("SELECT pg_advisory_unlock(%(key)s)", {"key": key})
        return not got
