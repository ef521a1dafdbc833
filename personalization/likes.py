"""Shoppers' likes: the products they hearted, newest first. A new like is also a behaviour signal."""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from catalog.models import Mall, MallStatus, Product, ProductStatus
from catalog.pagination import decode_cursor, encode_cursor
from personalization.errors import LikedProductNotFoundError
from personalization.models import Like

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


class LikedProduct(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    image_url: str
    price_from: int
    currency: str
    in_stock: bool
    liked_at: datetime.datetime


class LikePage(msgspec.Struct, kw_only=True):
    items: list[LikedProduct]
    next_cursor: str | None


_VISIBLE = sa.and_(Product.status != ProductStatus.HIDDEN.value, Mall.status == MallStatus.ACTIVE.value)


async def like(session: AsyncSession, *, user_id: uuid.UUID, product_id: uuid.UUID) -> bool:
    """Like a product on show; whether the like is new (liking twice is one like)."""
    on_show = await session.scalar(
        sa.select(Product.id).join(Mall, Mall.id == Product.mall_id).where(Product.id == product_id, _VISIBLE)
    )
    if on_show is None:
        msg = f"no product {product_id} is on show"
        raise LikedProductNotFoundError(msg)
    created = await session.scalar(
        insert(Like).values(user_id=user_id, product_id=product_id).on_conflict_do_nothing().returning(Like.user_id)
    )
    return created is not None


async def unlike(session: AsyncSession, *, user_id: uuid.UUID, product_id: uuid.UUID) -> None:
    """Forget a like; nothing to forget is fine too (the heart is already empty)."""
    await session.execute(sa.delete(Like).where(Like.user_id == user_id, Like.product_id == product_id))


async def liked_products(session: AsyncSession, *, user_id: uuid.UUID, cursor: str | None, limit: int) -> LikePage:
    """The shopper's likes of products still on show, most recent first."""
    query = (
        sa.select(
            Product.id,
            Product.name,
            Product.image_urls[1],
            Product.price_from,
            Product.currency,
            Product.in_stock,
            Like.created_at,
        )
        .join(Product, Product.id == Like.product_id)
        .join(Mall, Mall.id == Product.mall_id)
        .where(Like.user_id == user_id, _VISIBLE)
        .order_by(Like.created_at.desc(), Like.product_id.desc())
        .limit(limit + 1)
    )
    if cursor:
        liked_at, product_id = decode_cursor(cursor, tuple[datetime.datetime, uuid.UUID])
        query = query.where(sa.tuple_(Like.created_at, Like.product_id) < sa.tuple_(liked_at, product_id))
    rows = (await session.execute(query)).all()
    items = [
        LikedProduct(
            id=row[0], name=row[1], image_url=row[2], price_from=row[3], currency=row[4], in_stock=row[5],
            liked_at=row[6],
        )
        for row in rows[:limit]
    ]  # fmt: skip
    more = len(rows) > limit
    next_cursor = encode_cursor(items[-1].liked_at.isoformat(), str(items[-1].id)) if more else None
    return LikePage(items=items, next_cursor=next_cursor)
