"""The event store and its hourly aggregates.

``insights_events`` is partitioned by day on ``at`` (PostgreSQL's native ``PARTITION BY RANGE``); the day
partitions live in their own schema, ``insights_partitions``, made and dropped by the worker
(:mod:`insights.partitions`), so the models describe only the parent. The aggregates are ordinary tables, kept
for ever; :mod:`insights.rollup` rewrites whole hours of them under a watermark.
"""

from __future__ import annotations

import datetime
import uuid

import sqlalchemy as sa
from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column
from uuid_utils.compat import uuid7

PARTITION_SCHEMA = "insights_partitions"


class Event(DefaultBase):
    """One thing a shopper did with a product: what, when, which product of which mall and category, and who
    in the terms insights report (segment, gender, age band). No personal data beyond the shopper's id, which
    goes when the account is erased."""

    __tablename__ = "insights_events"
    __table_args__ = (
        # The store keeps each event once (the identity Redis deduplicates on, see insights.store); unique per
        # partition, so ``at`` is part of it.
        sa.Index("ix_insights_events_dedupe_key", "dedupe_key", "at", unique=True),
        # An account's erasure finds its events in every partition.
        sa.Index("ix_insights_events_shopper_id", "shopper_id", postgresql_where=sa.text("shopper_id IS NOT NULL")),
        # The roll-up finds what arrived since its watermark.
        sa.Index("ix_insights_events_recorded_at", "recorded_at", postgresql_using="brin"),
        # Mall insights count one mall's events over a period (insights.service).
        sa.Index("ix_insights_events_mall_at", "mall_id", "at"),
        {"postgresql_partition_by": "RANGE (at)"},
    )

    at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True), primary_key=True)
    """When it happened (the app's clock for app events, the payment's time for purchases)."""
    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    recorded_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), server_default=sa.func.clock_timestamp()
    )
    """When the store received it: the roll-up's watermark runs on this, so late events are counted too."""
    kind: Mapped[str] = mapped_column(sa.String(12))
    product_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    mall_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    category_path: Mapped[str] = mapped_column(sa.String(100))
    segment: Mapped[str] = mapped_column(sa.String(24))
    gender: Mapped[str | None] = mapped_column(sa.String(8))
    age_band: Mapped[str | None] = mapped_column(sa.String(12))
    shopper_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    """The logged-in shopper; NULL for an anonymous device, and once the account is erased."""
    device_id: Mapped[str | None] = mapped_column(sa.String(64))
    """The anonymous app's ``X-Device-Id``."""
    dedupe_key: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    """The event's identity (a UUIDv5 of who sent it and the app's event id, or of the order line); NULL once
    the account is erased, as it is derived from the shopper's id."""
    quantity: Mapped[int | None] = mapped_column(sa.Integer)
    """Purchases: units bought."""
    amount: Mapped[int | None] = mapped_column(sa.BigInteger)
    """Purchases: what the units cost, in won."""


class Device(DefaultBase):
    """An anonymous app's device id and when the store first received an event from it, on the database's clock:
    rankings count a device only once it has been around (``insights.devices``)."""

    __tablename__ = "insights_devices"

    device_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    first_seen: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), server_default=sa.func.clock_timestamp()
    )


class _Counts:
    """The figures of one aggregate cell."""

    views: Mapped[int] = mapped_column(sa.Integer)
    clicks: Mapped[int] = mapped_column(sa.Integer)
    likes: Mapped[int] = mapped_column(sa.Integer)
    carts: Mapped[int] = mapped_column(sa.Integer)
    purchases: Mapped[int] = mapped_column(sa.Integer)
    """Purchase events (order lines paid)."""
    units: Mapped[int] = mapped_column(sa.Integer)
    revenue: Mapped[int] = mapped_column(sa.BigInteger)
    shoppers: Mapped[int] = mapped_column(sa.Integer)
    """Distinct people (signed-in shoppers and anonymous devices) in the cell: cells under 5 are suppressed."""


class ProductHour(_Counts, DefaultBase):
    """Mall x product x segment x hour."""

    __tablename__ = "insights_product_hours"
    __table_args__ = (sa.Index("ix_insights_product_hours_mall_hour", "mall_id", "hour"),)

    hour: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True), primary_key=True)
    mall_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    segment: Mapped[str] = mapped_column(sa.String(24), primary_key=True)


class CategoryHour(_Counts, DefaultBase):
    """Category x segment x hour, over every mall."""

    __tablename__ = "insights_category_hours"

    hour: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True), primary_key=True)
    category_path: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    segment: Mapped[str] = mapped_column(sa.String(24), primary_key=True)


class RollupWatermark(DefaultBase):
    """How far the roll-up has counted: every event recorded before ``recorded_before`` is in the aggregates."""

    __tablename__ = "insights_rollup_watermark"

    name: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    recorded_before: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
