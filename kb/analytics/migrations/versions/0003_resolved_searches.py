"""Resolved searches: a pseudonymous client key per search, and the article marked helpful from it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queries") as batch:
        batch.add_column(sa.Column("client", sa.String(32), nullable=True))
        batch.add_column(sa.Column("helpful_id", sa.String(120), nullable=True))
    op.create_index("ix_queries_client_ts", "queries", ["client", "ts"])


def downgrade() -> None:
    op.drop_index("ix_queries_client_ts", table_name="queries")
    with op.batch_alter_table("queries") as batch:
        for column in ("helpful_id", "client"):
            batch.drop_column(column)
