"""Initial schema: clusters, cluster_events, jobs, requests.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(255)
STATUS = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("name", NAME, nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("region", sa.String(128), nullable=False),
        sa.Column("zone", sa.String(128), nullable=True),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("num_nodes", sa.Integer(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("handle", sa.JSON(), nullable=False),
        sa.Column("hourly_price", sa.Double(), nullable=False),
        sa.Column("autostop_minutes", sa.Double(), nullable=True),
        sa.Column("autostop_down", sa.Boolean(), nullable=False),
        sa.Column("setup_hash", sa.String(128), nullable=True),
        sa.Column("user", NAME, nullable=True),
        sa.Column("launched_at", sa.Double(), nullable=False),
        sa.Column("status_updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_clusters")),
    )
    op.create_table(
        "cluster_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cluster", NAME, nullable=False),
        sa.Column("event", STATUS, nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("hourly_price", sa.Double(), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("region", sa.String(128), nullable=False),
        sa.Column("num_nodes", sa.Integer(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("user", NAME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_events")),
    )
    op.create_index("ix_cluster_events_cluster_id", "cluster_events", ["cluster", "id"])
    op.create_table(
        "jobs",
        sa.Column("cluster", NAME, nullable=False),
        sa.Column("job_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", NAME, nullable=True),
        sa.Column("user", NAME, nullable=True),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("submitted_at", sa.Double(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=True),
        sa.Column("ended_at", sa.Double(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("num_nodes", sa.Integer(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster"], ["clusters.name"], name=op.f("fk_jobs_cluster_clusters"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("cluster", "job_id", name=op.f("pk_jobs")),
    )
    op.create_table(
        "requests",
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("cluster", NAME, nullable=True),
        sa.Column("user", NAME, nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=True),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.Column("server_pid", sa.Integer(), nullable=True),
        sa.Column("log_path", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_requests")),
    )
    op.create_index("ix_requests_status", "requests", ["status"])
    op.create_index("ix_requests_created_at", "requests", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_requests_created_at", table_name="requests")
    op.drop_index("ix_requests_status", table_name="requests")
    op.drop_table("requests")
    op.drop_table("jobs")
    op.drop_index("ix_cluster_events_cluster_id", table_name="cluster_events")
    op.drop_table("cluster_events")
    op.drop_table("clusters")
