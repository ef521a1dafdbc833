"""Catalog tables. All domains share advanced-alchemy's declarative registry, hence one metadata."""

from __future__ import annotations

import datetime
import enum
import uuid

import sqlalchemy as sa
from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from uuid_utils.compat import uuid7

from shoa_kernel.clock import utc_now


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
        sa.CheckConstraint("shipping_fee BETWEEN 0 AND 100000", name="shipping_fee_range"),
        sa.CheckConstraint("free_shipping_threshold IS NULL OR free_shipping_threshold > 0", name="threshold_positive"),
        # Shoppers page through listed malls in 가나다 order: keyset on (name, id).
        sa.Index("ix_malls_listed_name_id", "name", "id", postgresql_where=sa.text("status = 'active'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    slug: Mapped[str] = mapped_column(sa.String(63), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.String(2000), server_default="")
    logo_url: Mapped[str | None] = mapped_column(sa.String(2048))
    status: Mapped[str] = mapped_column(sa.String(16), server_default=MallStatus.ACTIVE.value)
    shipping_fee: Mapped[int] = mapped_column(sa.Integer, server_default="3000")
    """What a mall-order costs to ship, in won (the mall's setting; the partner API edits it)."""
    free_shipping_threshold: Mapped[int | None] = mapped_column(sa.Integer, server_default="50000")
    """From this many won of the mall's items in one order, shipping is free; ``None``: never free."""
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
    INSIGHTS_READ = "insights:read"
    """Mall insights: what shoppers did with the mall's products, by day, segment and hour."""


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


class ProductStatus(enum.StrEnum):
    ON_SALE = "on_sale"
    SOLD_OUT = "sold_out"
    HIDDEN = "hidden"
    """Set by the mall, or by deleting the product: never shown to shoppers, kept for orders and the mall."""


class Product(DefaultBase):
    """A mall's product, keyed by the mall's own id for it (``external_id``)."""

    __tablename__ = "products"
    __table_args__ = (
        sa.UniqueConstraint("mall_id", "external_id"),
        sa.CheckConstraint("status IN ('on_sale', 'sold_out', 'hidden')", name="status_known"),
        sa.CheckConstraint("target_gender IN ('female', 'male', 'unisex')", name="target_gender_known"),
        # The partner API lists a mall's products in creation order: keyset on (mall_id, id).
        sa.Index("ix_products_mall_id_id", "mall_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    mall_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("malls.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(sa.String(100))
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.String(5000), server_default="")
    category_path: Mapped[str] = mapped_column(sa.String(100))
    style_tags: Mapped[list[str]] = mapped_column(sa.ARRAY(sa.String(20)), server_default="{}")
    target_gender: Mapped[str] = mapped_column(sa.String(8))
    target_age_bands: Mapped[list[str]] = mapped_column(sa.ARRAY(sa.String(12)), server_default="{}")
    image_urls: Mapped[list[str]] = mapped_column(sa.ARRAY(sa.String(2048)))
    """In display order; https only; the server never fetches them."""
    exclusive: Mapped[bool] = mapped_column(server_default=sa.false())
    """Sold on Shoa only."""
    status: Mapped[str] = mapped_column(sa.String(10))
    source_updated_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    """When the mall last changed it, by the mall's clock: an older update never overwrites a newer one."""
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    """SHA-256 of the product as the mall last sent it, so a repeated batch is recognised as unchanged."""
    # Derived from the variants when they are written, for search and lists without a join.
    colors: Mapped[list[str]] = mapped_column(sa.ARRAY(sa.String(40)), server_default="{}")
    sizes: Mapped[list[str]] = mapped_column(sa.ARRAY(sa.String(20)), server_default="{}")
    price_min: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")
    """The lowest regular price of its variants."""
    price_from: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")
    """The lowest price a shopper pays today, sale prices included."""
    currency: Mapped[str] = mapped_column(sa.String(3), server_default="KRW")
    in_stock: Mapped[bool] = mapped_column(server_default=sa.false())
    popularity: Mapped[float] = mapped_column(sa.Double, server_default="0")
    """How much shoppers engage with it; kept by personalization, used by the popularity sort."""
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )
    updated_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, onupdate=utc_now, server_default=sa.func.now()
    )


class Variant(DefaultBase):
    """One buyable option of a product (colour x size), with its own SKU, price and stock."""

    __tablename__ = "variants"
    __table_args__ = (
        sa.UniqueConstraint("mall_id", "sku"),
        sa.CheckConstraint("price > 0", name="price_positive"),
        sa.CheckConstraint("sale_price IS NULL OR (sale_price > 0 AND sale_price <= price)", name="sale_price_valid"),
        sa.CheckConstraint("stock >= 0", name="stock_not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    product_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("products.id", ondelete="CASCADE"), index=True)
    mall_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("malls.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(sa.String(64))
    color: Mapped[str | None] = mapped_column(sa.String(40))
    size: Mapped[str | None] = mapped_column(sa.String(20))
    options: Mapped[dict[str, str]] = mapped_column(JSONB, server_default="{}")
    """Every option value the mall sent (``{"색상": "블랙", "사이즈": "M"}``)."""
    price: Mapped[int] = mapped_column(sa.BigInteger)
    """In the currency's minor unit (KRW and JPY have none: 39000 is ₩39,000)."""
    sale_price: Mapped[int | None] = mapped_column(sa.BigInteger)
    currency: Mapped[str] = mapped_column(sa.String(3))
    stock: Mapped[int] = mapped_column(sa.Integer)
    position: Mapped[int] = mapped_column(sa.SmallInteger)


class SearchOutbox(DefaultBase):
    """A catalog change for the search index, written in the change's own transaction; the worker sends it."""

    __tablename__ = "search_outbox"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)
    action: Mapped[str] = mapped_column(sa.String(8))
    """``upsert`` or ``delete``."""
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )
