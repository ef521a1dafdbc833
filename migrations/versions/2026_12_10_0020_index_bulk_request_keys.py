"""Index the keys of bulk requests: NHN Cloud takes a restock wave's AlimTalks a thousand to a request, and when a
request's answer is lost the worker finds every message it carried by the request's key (``bulk:…``), so as to
repeat it whole. Only those keys are indexed; a message's own key is never looked up this way.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_notify_attempts_bulk_key",
        "notify_attempts",
        ["delivery_key"],
        postgresql_where=sa.text("delivery_key LIKE 'bulk:%'"),
    )


def downgrade() -> None:
    op.drop_index("ix_notify_attempts_bulk_key", table_name="notify_attempts")
