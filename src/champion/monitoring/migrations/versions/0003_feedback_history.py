"""Feedback history: every label a ``"replace": true`` overwrote, with its time.

Revision ID: 0003_feedback_history
Revises: 0002_window_index
Create Date: 2026-11-30

A label, once given, is only changed on purpose (``/feedback`` with ``"replace":
true``, ``champion feedback --replace``); the label it replaces is kept here, so a
performance figure computed before the correction can still be explained.

The DDL is spelt out here, not taken from ``store.metadata`` (see the baseline).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_feedback_history"
down_revision = "0002_window_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("row", sa.Integer, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("replaced_by", sa.Text, nullable=False),
        sa.Column("replaced_at", sa.Float, nullable=False),
    )
    op.create_index("feedback_history_key", "feedback_history", ["request_id", "row"])


def downgrade() -> None:
    op.drop_table("feedback_history")
