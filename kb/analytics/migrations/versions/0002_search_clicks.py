"""Clicks on search results: which result a shopper opened, for the content-gap report.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queries") as batch:
        batch.add_column(sa.Column("search_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("tracks_clicks", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("clicked_id", sa.String(120), nullable=True))
        batch.add_column(sa.Column("clicked_rank", sa.Integer, nullable=True))
    op.create_index("ix_queries_search_id", "queries", ["search_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_queries_search_id", table_name="queries")
    with op.batch_alter_table("queries") as batch:
        for column in ("clicked_rank", "clicked_id", "tracks_clicks", "search_id"):
            batch.drop_column(column)
