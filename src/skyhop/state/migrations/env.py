"""Alembic environment: run by Alembic (never imported as a module).

`skyhop.state.db.upgrade` hands over a connection that is already inside a
transaction (and holds the database's write lock), so every revision of one
upgrade commits or rolls back as a whole. Without a connection, one is opened
on `sqlalchemy.url` or the default state database (`skyhop.state.db.default_url`).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from skyhop.state import db
from skyhop.state.models import Base

config = context.config
target_metadata = Base.metadata


def configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: autogenerate batch (copy-and-move) ops.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_offline() -> None:
    """`--sql` mode: print the DDL instead of running it."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or db.default_url(),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = db.create_engine(config.get_main_option("sqlalchemy.url") or db.default_url())
    try:
        with db.migration_connection(engine) as connection:
            configure(connection)
            context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
