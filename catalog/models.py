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


class ApiKeyScope(enum.StrEnum):
    CATALOG_WRITE = "catalog:write"
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"


class MallApiKey(DefaultBase):
    """A partner mall's credential. The key itself is shown once; only its SHA-256 is kept (it is 256 random
    bits, so a slow hash would add nothing but latency to every partner request)."""

    __tablename__ = "mall_api_keys"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    mall_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("malls.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    """What the mall calls it: "production sync", "staging" …"""
    display_prefix: Mapped[str] = mapped_column(sa.String(24))
    """The key's first characters, to tell keys apart in lists and logs; not enough to use it."""
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(sa.ARRAY(sa.String(32)))
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )
    last_used_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    expires_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    """Set when the key is rotated: the old key keeps working until then."""
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
