"""A shopper's taste: what re-ranks a segment's feed for them, and the version that says it changed.

Their likes (PostgreSQL) and their engagement with malls and categories (Redis, kept ``AFFINITY_SECONDS``), each
normalized to the strongest of its kind. Whatever changes it moves the shopper's taste version, which tells the
feed that a list ranked before is no longer the one it would rank now (``personalization.feed_pages``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa

from catalog.models import Product
from personalization.feed import ShopperTaste
from personalization.models import Like

if TYPE_CHECKING:
    from collections.abc import Callable

    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline
    from sqlalchemy.ext.asyncio import AsyncSession

AFFINITY_PREFIX = "shoa:feed:affinity:"
AFFINITY_SECONDS = 30 * 24 * 3600
TASTE_VERSION_PREFIX = "shoa:feed:taste-version:"


async def taste_of(session: AsyncSession, redis: Redis, user_id: uuid.UUID, *, like_weight: float) -> ShopperTaste:
    """From the shopper's likes (PostgreSQL) and engagement (Redis), normalized to the strongest of each kind. A
    like counts towards its mall and category as a like event does (``like_weight``, the event's weight)."""
    malls: dict[uuid.UUID, float] = {}
    categories: dict[str, float] = {}
    liked = await session.execute(
        sa.select(Product.mall_id, sa.func.split_part(Product.category_path, "/", 1))
        .join(Like, Like.product_id == Product.id)
        .where(Like.user_id == user_id)
    )
    for mall_id, category in liked:
        malls[mall_id] = malls.get(mall_id, 0.0) + like_weight
        categories[category] = categories.get(category, 0.0) + like_weight
    for key, value in (await redis.hgetall(f"{AFFINITY_PREFIX}user:{user_id}")).items():
        kind, _, name = (key.decode() if isinstance(key, bytes) else key).partition(":")
        if kind == "mall":
            mall_id = uuid.UUID(name)
            malls[mall_id] = malls.get(mall_id, 0.0) + float(value)
        elif kind == "category":
            categories[name] = categories.get(name, 0.0) + float(value)
    return ShopperTaste(malls=_normalized(malls), categories=_normalized(categories))


K = TypeVar("K")


def _normalized(counts: dict[K, float]) -> dict[K, float]:
    top = max(counts.values(), default=0.0)
    return {key: round(value / top, 4) for key, value in counts.items()} if top > 0 else {}


async def record_affinity(redis: Redis, user_id: uuid.UUID, engaged: list[tuple[uuid.UUID, str, float]]) -> None:
    """Add engagement (mall, category, weight) to the shopper's affinities, kept ``AFFINITY_SECONDS`` from now;
    their taste version moves with it."""
    if not engaged:
        return
    key = f"{AFFINITY_PREFIX}user:{user_id}"
    async with redis.pipeline(transaction=False) as pipe:
        for mall_id, category, weight in engaged:
            pipe.hincrbyfloat(key, f"mall:{mall_id}", weight)
            pipe.hincrbyfloat(key, f"category:{category}", weight)
        pipe.expire(key, AFFINITY_SECONDS)
        _bump_taste_version(pipe, user_id)
        await pipe.execute()


async def taste_changed(redis: Redis, user_id: uuid.UUID, *, forget: Callable[[str], None]) -> None:
    """Call after what re-ranks the shopper's feed has changed *and been committed*: their next first page is
    ranked afresh. (Bumping before the commit could let a ranking read the old likes under the new version.)

    ``forget`` drops this process's copy of the version key (the web layer's Redis mirror), so that the very next
    request of this process reads the new version."""
    async with redis.pipeline(transaction=False) as pipe:
        _bump_taste_version(pipe, user_id)
        await pipe.execute()
    forget(taste_version_key(user_id))


def taste_version_key(user_id: uuid.UUID) -> str:
    return f"{TASTE_VERSION_PREFIX}{user_id}"


def _bump_taste_version(pipe: Pipeline, user_id: uuid.UUID) -> None:
    key = taste_version_key(user_id)
    pipe.incr(key)
    pipe.expire(key, AFFINITY_SECONDS)
