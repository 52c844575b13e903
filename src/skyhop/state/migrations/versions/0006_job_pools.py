"""job_pools, pool_workers, managed_jobs.pool: worker pools for managed jobs (`skyhop jobs pool`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(255)
TIME: sa.Double[float] = sa.Double()


def upgrade() -> None:
    op.create_table(
        "job_pools",
        sa.Column("name", NAME, nullable=False),
        sa.Column("task", sa.JSON(), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_pools")),
    )
    op.create_table(
        "pool_workers",
        sa.Column("pool", NAME, nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("cluster", NAME, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["pool"], ["job_pools.name"], name=op.f("fk_pool_workers_pool_job_pools"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pool", "slot", name=op.f("pk_pool_workers")),
    )
    with op.batch_alter_table("managed_jobs") as batch:
        batch.add_column(sa.Column("pool", NAME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("managed_jobs") as batch:
        batch.drop_column("pool")
    op.drop_table("pool_workers")
    op.drop_table("job_pools")
