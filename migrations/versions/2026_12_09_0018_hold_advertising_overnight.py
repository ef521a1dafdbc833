"""Hold advertising overnight: a message to a shopper without night consent is never sent between 21:00 and 08:00
Korea time (정보통신망법 제50조 제3항); the outbox marks it, and the worker holds it until 08:00.

Every message already in the outbox informs (order steps, chatbot answers): none is held.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "notify_messages", sa.Column("quiet_hours", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )


def downgrade() -> None:
    op.drop_column("notify_messages", "quiet_hours")
