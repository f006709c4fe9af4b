"""Query log and feedback tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "queries",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("endpoint", sa.String(16), nullable=False),
        sa.Column("locale", sa.String(35), nullable=False),
        sa.Column("query_scrubbed", sa.Text, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("top_ids", sa.JSON, nullable=False),
        sa.Column("top_scores", sa.JSON, nullable=False),
        sa.Column("served_machine", sa.Boolean, nullable=False),
        sa.Column("served_fallback", sa.Boolean, nullable=False),
        sa.Column("generation", sa.String(100), nullable=False),
    )
    op.create_index("ix_queries_ts", "queries", ["ts"])
    op.create_table(
        "feedback",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("article_id", sa.String(120), nullable=False),
        sa.Column("locale", sa.String(35), nullable=False),
        sa.Column("helpful", sa.Boolean, nullable=False),
        sa.Column("reason_scrubbed", sa.Text, nullable=True),
    )
    op.create_index("ix_feedback_ts", "feedback", ["ts"])
    op.create_index("ix_feedback_article", "feedback", ["article_id", "locale"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("queries")
