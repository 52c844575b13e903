"""services, service_replicas: SkyServe-compatible services (`skyhop serve`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(255)
STATUS = sa.String(32)
TIME: sa.Double[float] = sa.Double()


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("name", NAME, nullable=False),
        sa.Column("user", NAME, nullable=True),
        sa.Column("task", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("update_mode", STATUS, nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("target", sa.Integer(), nullable=True),
        sa.Column("lb_pid", sa.Integer(), nullable=True),
        sa.Column("lb_port", sa.Integer(), nullable=True),
        sa.Column("endpoint", NAME, nullable=True),
        sa.Column("next_replica_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_services")),
    )
    op.create_table(
        "service_replicas",
        sa.Column("service", NAME, nullable=False),
        sa.Column("replica_id", sa.Integer(), nullable=False),
        sa.Column("cluster", NAME, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("use_spot", sa.Boolean(), nullable=False),
        sa.Column("zone", sa.String(128), nullable=True),
        sa.Column("accelerator", sa.String(128), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("url", NAME, nullable=True),
        sa.Column("launched_at", TIME, nullable=False),
        sa.Column("ready_at", TIME, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["service"], ["services.name"], name=op.f("fk_service_replicas_service_services"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("service", "replica_id", name=op.f("pk_service_replicas")),
    )


def downgrade() -> None:
    op.drop_table("service_replicas")
    op.drop_table("services")
