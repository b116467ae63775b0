"""The monitoring window's indexes: a model's newest requests by time, and the newest
feedback.

Revision ID: 0002_window_index
Revises: 0001_baseline
Create Date: 2026-11-30

``predictions_model_ts`` (model, ts, id, rows) lets
:meth:`champion.monitoring.log.PredictionLog.window` find a model's newest requests
and how many rows each holds from the index alone, stopping as soon as the window is
full, so reading a window costs the same in a log of ten thousand rows as in one of
ten million. ``feedback_ts`` answers "has feedback arrived since the last run?" (the
server skips a monitoring run when nothing changed) without reading the table.
"""

from __future__ import annotations

from alembic import op

revision = "0002_window_index"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("predictions_model_ts", "predictions", ["model", "ts", "id", "rows"])
    op.create_index("feedback_ts", "feedback", ["ts"])


def downgrade() -> None:
    op.drop_index("feedback_ts", table_name="feedback")
    op.drop_index("predictions_model_ts", table_name="predictions")
