"""Baseline: the prediction log and alert tables as champion created them before its
schema was versioned.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-11-02

Databases written before this revision hold some of these tables and no version
table: :func:`champion.monitoring.store.upgrade` stamps them with this revision when
they hold all three. One that holds only some (the log's without the alerts', as
``champion feedback`` left it, or the reverse) runs this revision, which creates the
tables that are missing and leaves the others and their rows alone.

The DDL is spelt out here, not taken from ``store.metadata``: this revision must
create the same tables however the metadata changes later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "predictions" not in existing:
        op.create_table(
            "predictions",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("request_id", sa.String(128), nullable=False),
            sa.Column("ts", sa.Float, nullable=False),
            sa.Column("model", sa.String(256), nullable=False),
            sa.Column("version", sa.String(32), nullable=False),
            sa.Column("arm", sa.String(16), nullable=False),
            sa.Column("rows", sa.Integer, nullable=False),
            sa.Column("inputs", sa.Text, nullable=False),
            sa.Column("outputs", sa.Text, nullable=False),
            sa.Column("latency_ms", sa.Float, nullable=False),
            sa.UniqueConstraint("request_id", "arm", name="one_request_per_arm"),
        )
        op.create_index("ix_predictions_request_id", "predictions", ["request_id"])
        op.create_index("ix_predictions_ts", "predictions", ["ts"])
    if "feedback" not in existing:
        op.create_table(
            "feedback",
            sa.Column("request_id", sa.String(128), primary_key=True),
            sa.Column("row", sa.Integer, primary_key=True),
            sa.Column("label", sa.Text, nullable=False),
            sa.Column("ts", sa.Float, nullable=False),
        )
    if "alerts" not in existing:
        op.create_table(
            "alerts",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("rule", sa.String(128), nullable=False),
            sa.Column("model", sa.String(256), nullable=False),
            sa.Column("version", sa.String(32), nullable=True),
            sa.Column("signal", sa.String(160), nullable=False),
            sa.Column("severity", sa.String(16), nullable=False),
            sa.Column("value", sa.Float, nullable=False),
            sa.Column("threshold", sa.Float, nullable=False),
            sa.Column("message", sa.Text, nullable=False),
            sa.Column("fired_at", sa.Float, nullable=False),
            sa.Column("delivered", sa.Boolean, nullable=False),
            sa.Column("delivery_error", sa.Text, nullable=True),
        )
        op.create_index("alerts_rule_model_fired", "alerts", ["rule", "model", "fired_at"])


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("feedback")
    op.drop_table("predictions")
