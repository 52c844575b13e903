"""Schema: the migrations build exactly the models; opening is cheap and safe."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import subprocess_env

from skyhop.state import db
from skyhop.state.errors import SchemaError, StateError
from skyhop.state.migrations import HEAD, REVISIONS
from skyhop.state.store import StateStore


def test_migrations_produce_exactly_the_models(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from skyhop.state.models import Base

    engine = db.create_engine(db_url)
    try:
        db.upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            tables = set(Base.metadata.tables)
            assert tables == {"clusters", "cluster_events", "jobs", "requests", "host_leases", "lease_holders", "host_pools",
                              "controller_owners", "controller_leases", "managed_jobs", "managed_job_attempts", "job_pools", "pool_workers",
                              "services", "service_replicas", "users", "tokens", "workspaces", "memberships", "budgets", "budget_events"}
    finally:
        engine.dispose()


def test_revision_list_matches_the_scripts():
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(db.alembic_config())
    assert scripts.get_heads() == [HEAD]
    assert [s.revision for s in reversed(list(scripts.walk_revisions()))] == list(REVISIONS)


def test_default_location_and_pragmas(isolated_home):
    with StateStore() as store:
        store.list_clusters()
        path = isolated_home / ".skyhop" / "state.db"
        assert store.url == f"sqlite:///{path}"
        with store._engine.connect() as connection:
            pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("busy_timeout") == 10000
    assert path.is_file()


def test_db_url_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SKYHOP_DB_URL", f"sqlite:///{tmp_path / 'elsewhere' / 'team.db'}")
    with StateStore() as store:
        store.create_request("status", {}, log_path="/l")
    assert (tmp_path / "elsewhere" / "team.db").is_file()


def test_upgrade_is_idempotent_and_keeps_data(db_url):
    with StateStore(db_url) as store:
        store.create_request("status", {"x": 1}, log_path="/l", request_id="r")
    engine = db.create_engine(db_url)
    try:
        assert db.current_revision(engine) == HEAD
        db.upgrade(engine)
        assert db.current_revision(engine) == HEAD
    finally:
        engine.dispose()
    with StateStore(db_url) as store:
        assert store.get_request("r").body == {"x": 1}


def test_opening_an_up_to_date_database_does_not_import_alembic(db_url, isolated_home):
    StateStore(db_url).close()
    code = (
        "import sys, json\n"
        "from skyhop.state.store import StateStore\n"
        f"StateStore({db_url!r}).list_clusters()\n"
        "print(json.dumps(['alembic' in sys.modules, 'skyhop.state.migrations' in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(isolated_home), timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [False, True]


def test_importing_the_package_stays_light(isolated_home):
    code = "import sys, skyhop.state, skyhop.state.records, skyhop.state.cost, skyhop.state.errors\nprint(sorted(m for m in ('sqlalchemy', 'alembic') if m in sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(isolated_home), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_newer_schema_is_refused_clearly(db_url):
    StateStore(db_url).close()
    engine = db.create_engine(db_url)
    try:
        with db.writer(engine).begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    finally:
        engine.dispose()
    with pytest.raises(SchemaError, match="'9999'.*newer skyhop"):
        StateStore(db_url)


def test_every_revision_downgrades_and_upgrades_again(db_url):
    """Each script's downgrade undoes its upgrade on this backend (run for real, not rendered)."""
    engine = db.create_engine(db_url)
    try:
        db.upgrade(engine)
        for revision in reversed(REVISIONS[:-1]):
            with db.migration_connection(engine) as connection:
                from alembic import command

                command.downgrade(db.alembic_config(connection), revision)
            assert db.current_revision(engine) == revision
        db.upgrade(engine)
        assert db.current_revision(engine) == HEAD
    finally:
        engine.dispose()


def test_a_file_that_is_not_a_database_is_a_state_error(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="Cannot open the state database"):
        StateStore(f"sqlite:///{path}")


def test_migration_script_renders_for_postgresql():
    """Portability check without a server: the offline DDL for PostgreSQL."""
    from alembic import command

    config = db.alembic_config()
    config.set_main_option("sqlalchemy.url", "postgresql://skyhop@localhost/skyhop")
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    sql = config.output_buffer.getvalue()
    for table in ("clusters", "cluster_events", "jobs", "requests"):
        assert f"CREATE TABLE {table} (" in sql
    assert '"user" VARCHAR(255)' in sql and "DOUBLE PRECISION" in sql and "JSON NOT NULL" in sql
    assert "ON DELETE CASCADE" in sql and "DEFAULT" not in sql


def test_migrations_cli(db_url, isolated_home):
    env = subprocess_env(isolated_home)
    for verb in ("upgrade", "current"):
        result = subprocess.run(
            [sys.executable, "-m", "skyhop.state.migrations", verb, db_url], capture_output=True, text=True, env=env, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == HEAD


def test_migrations_are_shipped_as_package_files():
    import skyhop.state.migrations as migrations

    root = Path(migrations.__file__).parent
    for name in ("__init__.py", "env.py", "script.py.mako", "versions/__init__.py", "versions/0001_initial.py"):
        assert (root / name).is_file(), name


def test_a_missing_database_driver_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the `postgres` extra were not installed
    with pytest.raises(StateError, match=r"driver 'psycopg'.*skyhop\[postgres\]") as error:
        StateStore("postgresql+psycopg://u:secret@localhost/db")
    assert "secret" not in str(error.value)
    with pytest.raises(StateError, match=r"driver 'nosuchdriver'"):
        StateStore("postgresql+nosuchdriver://u:secret@localhost/db")
