"""Alert lifecycle: each stored alert row has a status, and the sample it rested on.

Revision ID: 0004_alert_status
Revises: 0003_feedback_history
Create Date: 2026-11-30

``status`` is ``firing`` (every row before this revision was a firing event),
``resolved`` (the condition cleared; sent to the webhook so it can close what it
opened), ``pending`` (the condition holds, waiting for the rule's ``for_s``) or
``cleared`` (a pending condition that cleared before firing). ``sample`` is the number
of observations the value rested on (None: not known, as for every earlier row).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_alert_status"
down_revision = "0003_feedback_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(
            sa.Column("status", sa.String(16), nullable=False, server_default="firing")
        )
        batch.add_column(sa.Column("sample", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("sample")
        batch.drop_column("status")
