"""Create the event store (partitioned by day), its hourly aggregates and the roll-up's watermark.

The day partitions live in their own schema, ``insights_partitions``: the worker makes them a week ahead and drops
them after the retention (``insights.partitions``). This revision makes the default partition and the first
eight days', so that a fresh database stores events before the worker first runs.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_COUNTS = ("views", "clicks", "likes", "carts", "purchases", "units")


def _counts() -> list[sa.Column[int]]:
    return [
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
        sa.Column("revenue", sa.BigInteger(), nullable=False),
        sa.Column("shoppers", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "insights_events",
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "recorded_at", DateTimeUTC(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("mall_id", sa.Uuid(), nullable=False),
        sa.Column("category_path", sa.String(length=100), nullable=False),
        sa.Column("segment", sa.String(length=24), nullable=False),
        sa.Column("gender", sa.String(length=8), nullable=True),
        sa.Column("age_band", sa.String(length=12), nullable=True),
        sa.Column("shopper_id", sa.Uuid(), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("dedupe_key", sa.Uuid(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("at", "id", name=op.f("pk_insights_events")),
        postgresql_partition_by="RANGE (at)",
    )
    op.create_index("ix_insights_events_dedupe_key", "insights_events", ["dedupe_key", "at"], unique=True)
    op.create_index(
        "ix_insights_events_shopper_id",
        "insights_events",
        ["shopper_id"],
        postgresql_where=sa.text("shopper_id IS NOT NULL"),
    )
    op.create_index("ix_insights_events_recorded_at", "insights_events", ["recorded_at"], postgresql_using="brin")
    op.execute("CREATE SCHEMA insights_partitions")
    op.execute("CREATE TABLE insights_partitions.insights_events_default PARTITION OF insights_events DEFAULT")
    op.execute("""
        DO $$
        DECLARE
            day date := (now() AT TIME ZONE 'UTC')::date;
        BEGIN
            FOR offset_days IN 0..7 LOOP
                EXECUTE format(
                    'CREATE TABLE insights_partitions.%I PARTITION OF insights_events FOR VALUES FROM (%L) TO (%L)',
                    'insights_events_' || to_char(day + offset_days, 'YYYYMMDD'),
                    (day + offset_days)::timestamp AT TIME ZONE 'UTC',
                    (day + offset_days + 1)::timestamp AT TIME ZONE 'UTC'
                );
            END LOOP;
        END
        $$
    """)  # fmt: skip
    op.create_table(
        "insights_product_hours",
        sa.Column("hour", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("mall_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("segment", sa.String(length=24), nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint("hour", "mall_id", "product_id", "segment", name=op.f("pk_insights_product_hours")),
    )
    op.create_index("ix_insights_product_hours_mall_hour", "insights_product_hours", ["mall_id", "hour"])
    op.create_table(
        "insights_category_hours",
        sa.Column("hour", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("category_path", sa.String(length=100), nullable=False),
        sa.Column("segment", sa.String(length=24), nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint("hour", "category_path", "segment", name=op.f("pk_insights_category_hours")),
    )
    op.create_table(
        "insights_rollup_watermark",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("recorded_before", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_insights_rollup_watermark")),
    )


def downgrade() -> None:
    op.drop_table("insights_rollup_watermark")
    op.drop_table("insights_category_hours")
    op.drop_table("insights_product_hours")
    op.drop_table("insights_events")  # its partitions with it
    op.execute("DROP SCHEMA insights_partitions")
