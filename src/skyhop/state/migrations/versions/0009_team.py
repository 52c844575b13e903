"""users, tokens, workspaces, memberships, budgets, budget_events; owners' workspaces; job pools' owners; request owners.

Team mode (issue 13): who may call the API server (users and their hashed
tokens, grouped in workspaces), what they may spend (budgets, with one row
per action a budget took, so "warn once a month" and "stop this cluster
once" are a single INSERT that wins or hits the unique key), the workspace
of each owned object (copied onto cluster events, so cost needs no join with
a deleted row), and which server process runs a request (`host:pid:start`,
as controller owners are named), so a sibling process can adopt it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(255)
STATUS = sa.String(32)
TIME: sa.Double[float] = sa.Double()

OWNED = ("clusters", "cluster_events", "managed_jobs", "services", "requests", "job_pools")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", NAME, nullable=False),
        sa.Column("display_name", NAME, nullable=True),
        sa.Column("role", STATUS, nullable=False),
        sa.Column("kind", STATUS, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", NAME, nullable=True),
        sa.Column("disabled_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", NAME, nullable=False),
        sa.Column("kind", STATUS, nullable=False),
        sa.Column("name", NAME, nullable=True),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.Column("scope", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("last_used_at", TIME, nullable=True),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_tokens_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("hash", name=op.f("uq_tokens_hash")),
    )
    op.create_index(op.f("ix_tokens_user_id"), "tokens", ["user_id"])
    workspaces = op.create_table(
        "workspaces",
        sa.Column("name", NAME, nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_workspaces")),
    )
    op.bulk_insert(workspaces, [{"name": "default", "description": "Everyone's, unless put elsewhere.", "created_at": time.time()}])
    op.create_table(
        "memberships",
        sa.Column("workspace", NAME, nullable=False),
        sa.Column("user_id", NAME, nullable=False),
        sa.Column("role", STATUS, nullable=False),
        sa.ForeignKeyConstraint(["workspace"], ["workspaces.name"], name=op.f("fk_memberships_workspace_workspaces"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace", "user_id", name=op.f("pk_memberships")),
    )
    op.create_index(op.f("ix_memberships_user_id"), "memberships", ["user_id"])  # a token's lookup reads its user's
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", STATUS, nullable=False),
        sa.Column("subject", NAME, nullable=False),
        sa.Column("monthly_limit", sa.Double(), nullable=False),
        sa.Column("warn_fraction", sa.Double(), nullable=False),
        sa.Column("action", STATUS, nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("created_by", NAME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budgets")),
        sa.UniqueConstraint("scope", "subject", name=op.f("uq_budgets_scope_subject")),
    )
    op.create_table(
        "budget_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("budget_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("kind", STATUS, nullable=False),
        sa.Column("object", NAME, nullable=False),
        sa.Column("spent", sa.Double(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", TIME, nullable=False),
        sa.ForeignKeyConstraint(["budget_id"], ["budgets.id"], name=op.f("fk_budget_events_budget_id_budgets"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_events")),
        sa.UniqueConstraint("budget_id", "month", "kind", "object", name=op.f("uq_budget_events_budget_id_month_kind_object")),
    )
    for table in OWNED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("workspace", NAME, nullable=True))  # NULL (rows made before): "default"
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("server_owner", NAME, nullable=True))
    with op.batch_alter_table("job_pools") as batch:
        batch.add_column(sa.Column("user", NAME, nullable=True))  # NULL (rows made before): anyone's
    op.create_index(op.f("ix_clusters_user"), "clusters", ["user"])
    op.create_index(op.f("ix_managed_jobs_user"), "managed_jobs", ["user"])
    op.create_index(op.f("ix_requests_user_created_at"), "requests", ["user", "created_at"])
    op.create_index(op.f("ix_cluster_events_user_at"), "cluster_events", ["user", "at"])
    op.create_index(op.f("ix_cluster_events_workspace_at"), "cluster_events", ["workspace", "at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_cluster_events_workspace_at"), table_name="cluster_events")
    op.drop_index(op.f("ix_cluster_events_user_at"), table_name="cluster_events")
    op.drop_index(op.f("ix_requests_user_created_at"), table_name="requests")
    op.drop_index(op.f("ix_managed_jobs_user"), table_name="managed_jobs")
    op.drop_index(op.f("ix_clusters_user"), table_name="clusters")
    with op.batch_alter_table("job_pools") as batch:
        batch.drop_column("user")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("server_owner")
    for table in OWNED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("workspace")
    op.drop_table("budget_events")
    op.drop_table("budgets")
    op.drop_index(op.f("ix_memberships_user_id"), table_name="memberships")
    op.drop_table("memberships")
    op.drop_table("workspaces")
    op.drop_index(op.f("ix_tokens_user_id"), table_name="tokens")
    op.drop_table("tokens")
    op.drop_table("users")
