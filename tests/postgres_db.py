"""A fresh PostgreSQL database per test, on the server tests/setup_system.sh starts.

The server is reached with `SKYHOP_TEST_PG_URL` (an SQLAlchemy URL of a role
that may CREATE DATABASE), by default the local Unix socket with peer
authentication as the current user, which is what setup_system.sh prepares.
Each test gets its own database (created here, dropped after), so tests run in
parallel under pytest-xdist without seeing each other's rows, locks or schema.

Where there is no server (a laptop without root), PostgreSQL variants skip with
the reason; with `SKYHOP_TEST_REQUIRE_PG=1` (set by .ci/run) they fail instead,
so CI cannot silently lose the PostgreSQL half of the state tests.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator

import pytest

DEFAULT_ADMIN_URL = "postgresql+psycopg:///postgres?host=/var/run/postgresql"


def admin_url() -> str:
    return os.environ.get("SKYHOP_TEST_PG_URL") or DEFAULT_ADMIN_URL


@functools.cache
def unavailable_reason() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can (checked once per process)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    import sqlalchemy
    from sqlalchemy.exc import SQLAlchemyError

    engine = sqlalchemy.create_engine(admin_url(), connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except SQLAlchemyError as error:
        shown = sqlalchemy.engine.make_url(admin_url()).render_as_string(hide_password=True)
        return (
            f"no PostgreSQL server reachable at {shown} ({type(error.orig or error).__name__}); "
            "run tests/setup_system.sh as root, or set SKYHOP_TEST_PG_URL"
        )
    finally:
        engine.dispose()
    return None


def require() -> None:
    """Skip (or, under SKYHOP_TEST_REQUIRE_PG=1, fail) the current test without PostgreSQL."""
    reason = unavailable_reason()
    if reason is None:
        return
    if os.environ.get("SKYHOP_TEST_REQUIRE_PG") == "1":
        pytest.fail(f"PostgreSQL is required here (SKYHOP_TEST_REQUIRE_PG=1) but {reason}")
    pytest.skip(reason)


@functools.cache
def _admin_engine():  # type: ignore[no-untyped-def]
    import sqlalchemy

    return sqlalchemy.create_engine(admin_url(), isolation_level="AUTOCOMMIT", pool_size=1)


def fresh_database() -> Iterator[str]:
    """Create an empty database, yield its URL, drop it (ending its sessions) afterwards."""
    require()
    from sqlalchemy.engine import make_url

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"skyhop_test_{worker}_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine()
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
