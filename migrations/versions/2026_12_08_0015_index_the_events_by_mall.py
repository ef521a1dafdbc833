"""Index the event store by mall and time, for mall insights.

Mall insights count one mall's events over a period of up to 92 days straight from the store (distinct people
cannot be added up from the hourly aggregates; decision 0037). An index on the partitioned parent is made on every
day partition, those made later included.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_insights_events_mall_at", "insights_events", ["mall_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_insights_events_mall_at", table_name="insights_events")
