"""Note when the event store first received each anonymous device's events.

A device id costs nothing to make, but time does: the rankings count a device only once it was first seen long
enough ago, on the database's clock (decision 0039, point 9). One row per device, written with its first batch
(``INSERT … ON CONFLICT DO NOTHING`` in the statement that stores the events), read by primary key.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "insights_devices",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column(
            "first_seen", DateTimeUTC(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_insights_devices")),
    )
    # The devices already in the store were first seen when their first event was received.
    op.execute(
        "INSERT INTO insights_devices (device_id, first_seen) "
        "SELECT device_id, min(recorded_at) FROM insights_events WHERE device_id IS NOT NULL GROUP BY device_id"
    )


def downgrade() -> None:
    op.drop_table("insights_devices")
