"""Engine set-up and schema migration for the state database.

SQLite (the default, `SKYHOP_HOME/state.db`) is used by several processes at
once: the API server's threads, request workers, tests. Every connection gets:

- WAL journal mode: readers never block the writer and vice versa, and a
  process killed mid-write leaves the database consistent (the torn
  transaction is simply not in the log);
- `busy_timeout`: a writer waits for the lock instead of failing at once;
- `foreign_keys=ON`: SQLite ignores foreign keys otherwise;
- `synchronous=FULL`: a committed launch survives a power cut too (a lost
  cluster row would be a leaked, billed machine); writes are rare.

Write transactions start with `BEGIN IMMEDIATE` (the write lock is taken up
front). With the sqlite3 default (deferred BEGIN), a transaction that reads and
then writes fails with "database is locked" at once, without waiting, when
another process wrote in between; taking the lock first makes read-modify-write
operations serial and lets `busy_timeout` do its job. Reads use plain BEGIN.

PostgreSQL (team servers, `SKYHOP_DB_URL=postgresql+psycopg://...`, driver in
the `postgres` extra) needs none of this and has no BEGIN IMMEDIATE: row locks
(`FOR UPDATE` in the store) serialise writers, the migration takes an advisory
lock. The state tests run on both backends (tests/state/conftest.py).
"""

from __future__ import annotations

import contextlib
import functools
import os
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError

from skyhop import paths
from skyhop.state.errors import SchemaError, StateError

if TYPE_CHECKING:
    from alembic.config import Config

#: Seconds a writer waits for SQLite's lock before giving up.
BUSY_TIMEOUT_S = 10.0
#: Execution option that marks an engine's transactions as writes.
WRITE_OPTION = "skyhop_write"
#: Arbitrary constant key of the PostgreSQL advisory lock held while migrating.
_PG_MIGRATION_LOCK = 0x5C7_4095


def default_url() -> str:
    """`SKYHOP_DB_URL`, else the SQLite file `SKYHOP_HOME/state.db`.

    Read on every call so tests (and users) can change the environment.
    """
    url = os.environ.get("SKYHOP_DB_URL")
    if url:
        return url
    return f"sqlite:///{paths.home() / 'state.db'}"


def display_url(url: str) -> str:
    """The URL without its password, for error messages."""
    return make_url(url).render_as_string(hide_password=True)


def create_engine(url: str, **options: Any) -> Engine:
    """An engine for `url`, configured for safe concurrent use (see module doc).

    `options` go to `sqlalchemy.create_engine` (e.g. `poolclass`).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        try:
            engine = sqlalchemy.create_engine(parsed, pool_pre_ping=True, **options)
        except (ImportError, NoSuchModuleError) as error:  # the driver is an optional extra
            raise StateError(
                f"The state database {display_url(url)} needs the Python driver {parsed.get_driver_name()!r}, "
                "which is not installed; for PostgreSQL install skyhop's `postgres` extra "
                "(pip install 'skyhop[postgres]') and use a postgresql+psycopg:// URL."
            ) from error
    else:
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sqlalchemy.create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S}, **options)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    # A forked child must not use the parent's pooled connections (two
    # processes on one SQLite handle corrupt its locking): drop them there.
    os.register_at_fork(after_in_child=functools.partial(_forget_pool, weakref.ref(engine)))
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module: we emit BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    write = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _forget_pool(ref: weakref.ref[Engine]) -> None:
    engine = ref()
    if engine is not None:
        engine.dispose(close=False)


def writer(engine: Engine) -> Engine:
    """A view of `engine` whose transactions are writes (BEGIN IMMEDIATE on SQLite)."""
    return engine.execution_options(**{WRITE_OPTION: True})


# --- schema -----------------------------------------------------------------


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database; None for a fresh one.

    Plain SQL, no Alembic import: this runs at every server start.
    """
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    except DBAPIError:
        # Most likely "no such table"; any other problem resurfaces in upgrade().
        return None


def ensure_schema(engine: Engine) -> None:
    """Bring the schema to the head revision, importing Alembic only if needed."""
    from skyhop.state.migrations import HEAD, REVISIONS

    revision = current_revision(engine)
    if revision == HEAD:
        return
    if revision is not None and revision not in REVISIONS:
        raise SchemaError(
            f"The state database {engine.url.render_as_string(hide_password=True)} "
            f"has schema revision {revision!r}, which this version of skyhop does not know "
            f"(it knows up to {HEAD!r}); it was probably written by a newer skyhop. "
            "Upgrade skyhop, or set SKYHOP_DB_URL to another database."
        )
    upgrade(engine)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code (no alembic.ini) for the shipped migrations."""
    from alembic.config import Config

    from skyhop.state import migrations

    config = Config()
    location = str(Path(migrations.__file__).resolve().parent)
    config.set_main_option("script_location", location.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@contextlib.contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the migration lock.

    SQLite: BEGIN IMMEDIATE (the database write lock), with foreign keys off
    for the duration, since a table rebuild (batch migration) drops the old
    table, which with foreign keys on would cascade-delete referring rows; the
    keys are checked before commit instead. PostgreSQL: an advisory lock for
    the transaction. Either way a second process migrating at the same time
    waits, then finds nothing left to do; and a crash mid-way rolls back.
    """
    sqlite = engine.dialect.name == "sqlite"
    with writer(engine).connect() as connection:
        if sqlite:  # PRAGMA foreign_keys is a no-op inside a transaction: set it first.
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise SchemaError(f"The schema migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                connection.connection.dbapi_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to `revision`, atomically."""
    from alembic import command
    from alembic.util.exc import CommandError

    try:
        with migration_connection(engine) as connection:
            command.upgrade(alembic_config(connection), revision)
    except CommandError as error:
        raise SchemaError(f"Cannot migrate the state database {engine.url.render_as_string(hide_password=True)}: {error}") from error
