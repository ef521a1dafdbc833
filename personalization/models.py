"""Personalization tables: shoppers' likes, and segment scores rolled up from Redis."""

from __future__ import annotations

import datetime
import uuid

import sqlalchemy as sa
from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column

from shoa_kernel.clock import utc_now


class Like(DefaultBase):
    """A logged-in shopper's like of a product (the heart on its tile)."""

    __tablename__ = "likes"
    __table_args__ = (
        # GET /v1/likes: newest first, a page at a time.
        sa.Index("ix_likes_user_id_created_at", "user_id", "created_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("products.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )


class SegmentScore(DefaultBase):
    """How much a segment engages with a product, decayed to ``as_of``: Redis's scores, kept safe.

    The worker writes these from Redis every ``SHOA_FEED_ROLLUP_SECONDS`` and loads them back into a Redis that
    lost them (restart without persistence, flush), so a restart loses at most one roll-up interval.
    """

    __tablename__ = "segment_scores"

    segment: Mapped[str] = mapped_column(sa.String(24), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("products.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    score: Mapped[float] = mapped_column(sa.Double)
    as_of: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
