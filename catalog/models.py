"""Catalog tables. All domains share advanced-alchemy's declarative registry, hence one metadata."""

from __future__ import annotations

import datetime
import enum
import uuid

import sqlalchemy as sa
from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column
from uuid_utils.compat import uuid7


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class MallStatus(enum.StrEnum):
    ACTIVE = "active"
    """Listed for shoppers."""
    PAUSED = "paused"
    """Temporarily closed (holiday, stock-taking); hidden from shoppers, data kept."""
    CLOSED = "closed"
    """Left Shoa; hidden, data kept for order history."""


class Mall(DefaultBase):
    __tablename__ = "malls"
    __table_args__ = (
        sa.CheckConstraint("status IN ('active', 'paused', 'closed')", name="status_known"),
        sa.CheckConstraint("slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'", name="slug_format"),
        # Shoppers page through listed malls in 가나다 order: keyset on (name, id).
        sa.Index("ix_malls_listed_name_id", "name", "id", postgresql_where=sa.text("status = 'active'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    slug: Mapped[str] = mapped_column(sa.String(63), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.String(2000), server_default="")
    logo_url: Mapped[str | None] = mapped_column(sa.String(2048))
    status: Mapped[str] = mapped_column(sa.String(16), server_default=MallStatus.ACTIVE.value)
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )
    updated_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, onupdate=utc_now, server_default=sa.func.now()
    )
