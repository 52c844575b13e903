"""host_leases, lease_holders, host_pools: SSH pools and host leases move into the state store.

Before, leases were a JSON file under a file lock (SKYHOP_HOME/ssh/leases.json)
and pools only in config.yaml; neither works when the API server is remote or
when several server processes share a PostgreSQL database.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(255)


def upgrade() -> None:
    op.create_table(
        "host_leases",
        sa.Column("host", sa.String(512), nullable=False),
        sa.Column("cluster", NAME, nullable=False),
        sa.Column("preempted", sa.Boolean(), nullable=False),
        sa.Column("leased_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_host_leases")),
    )
    op.create_index("ix_host_leases_cluster", "host_leases", ["cluster"])
    op.create_table(
        "lease_holders",
        sa.Column("cluster", NAME, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("cluster", name=op.f("pk_lease_holders")),
    )
    op.create_table(
        "host_pools",
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "name", name=op.f("pk_host_pools")),
    )


def downgrade() -> None:
    op.drop_table("host_pools")
    op.drop_table("lease_holders")
    op.drop_index("ix_host_leases_cluster", table_name="host_leases")
    op.drop_table("host_leases")
