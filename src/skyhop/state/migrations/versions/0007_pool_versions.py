"""job_pools.version, pool_workers.version: rolling updates of a pool's workers (`jobs pool apply`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("job_pools", "pool_workers"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("version", sa.Integer(), nullable=True))  # NULL (rows of 0006): version 1


def downgrade() -> None:
    for table in ("pool_workers", "job_pools"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version")
