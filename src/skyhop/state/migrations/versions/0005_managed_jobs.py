"""controller_owners, controller_leases, managed_jobs, managed_job_attempts: managed jobs in the API server.

Controllers (issue 11) run inside the API server; the lease tables let several
server processes on one database share the work without two driving one object.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(255)
TIME: sa.Double[float] = sa.Double()


def upgrade() -> None:
    op.create_table(
        "controller_owners",
        sa.Column("owner", NAME, nullable=False),
        sa.Column("host", NAME, nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("heartbeat_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_controller_owners")),
    )
    op.create_table(
        "controller_leases",
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("object_id", NAME, nullable=False),
        sa.Column("owner", NAME, nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("claimed_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("kind", "object_id", name=op.f("pk_controller_leases")),
    )
    op.create_index("ix_controller_leases_owner", "controller_leases", ["owner"])
    op.create_table(
        "managed_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", NAME, nullable=True),
        sa.Column("user", NAME, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("tasks", sa.JSON(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("envs", sa.JSON(), nullable=False),
        sa.Column("withheld", sa.JSON(), nullable=False),
        sa.Column("current_task", sa.Integer(), nullable=False),
        sa.Column("recovery_count", sa.Integer(), nullable=False),
        sa.Column("restarts_on_errors", sa.Integer(), nullable=False),
        sa.Column("cluster", NAME, nullable=True),
        sa.Column("agent_job_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", TIME, nullable=False),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("ended_at", TIME, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_managed_jobs")),
    )
    op.create_index("ix_managed_jobs_status", "managed_jobs", ["status"])
    op.create_table(
        "managed_job_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("task_index", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("cluster", NAME, nullable=False),
        sa.Column("use_spot", sa.Boolean(), nullable=True),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("region", sa.String(128), nullable=True),
        sa.Column("zone", sa.String(128), nullable=True),
        sa.Column("instance_type", NAME, nullable=True),
        sa.Column("spot", sa.Boolean(), nullable=True),
        sa.Column("hourly_price", sa.Double(), nullable=True),
        sa.Column("agent_job_id", sa.Integer(), nullable=True),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("launched_at", TIME, nullable=True),
        sa.Column("ended_at", TIME, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["managed_jobs.id"], name=op.f("fk_managed_job_attempts_job_id_managed_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_managed_job_attempts")),
    )
    op.create_index("ix_managed_job_attempts_job_id_id", "managed_job_attempts", ["job_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_managed_job_attempts_job_id_id", table_name="managed_job_attempts")
    op.drop_table("managed_job_attempts")
    op.drop_index("ix_managed_jobs_status", table_name="managed_jobs")
    op.drop_table("managed_jobs")
    op.drop_index("ix_controller_leases_owner", table_name="controller_leases")
    op.drop_table("controller_leases")
    op.drop_table("controller_owners")
