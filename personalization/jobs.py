"""The worker's personalization jobs: segment scores kept safe in PostgreSQL, and feed candidates precomputed.

Plain functions over a session maker and Redis; ``shoa_api.worker`` decides when they run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from catalog.models import Product
from personalization.candidates import refresh_all
from personalization.popularity import publish_popularity
from personalization.rollup import forget_rolled_up, roll_up
from personalization.scores import EVERYONE, mark_touched, people_gated
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from personalization.scores import Decay

CANDIDATES_EVERY_SECONDS = 60.0
"""Candidate lists are recomputed this often, or sooner after a large catalog change."""
LARGE_CATALOG_CHANGE = 500
"""Products changed since the last refresh that make the next one come at once."""
REFRESHED_AT_KEY = "shoa:feed:candidates-refreshed-at"


async def roll_up_scores(session_maker: async_sessionmaker[AsyncSession], redis: Redis, decay: Decay) -> None:
    """Load the scores back into a Redis that lost them, save those that grew, and write those products'
    popularity (the search's popularity order), in one transaction."""
    now = utc_now()
    async with session_maker() as session, session.begin():
        rolled_up = await roll_up(session, redis, decay, now=now)
        # Popularity, like the feed, counts only products more than one person engaged with.
        pooled = await people_gated(redis, decay, EVERYONE, rolled_up.pooled, now=now.timestamp())
        published = await publish_popularity(session, pooled, decay, now=now)
    await forget_rolled_up(redis)
    await mark_touched(redis, EVERYONE, published.skipped)


async def refresh_candidates_when_due(
    session_maker: async_sessionmaker[AsyncSession], redis: Redis, decay: Decay
) -> None:
    """Recompute every segment's candidate list when the last is ``CANDIDATES_EVERY_SECONDS`` old, or sooner when
    ``LARGE_CATALOG_CHANGE`` products changed since."""
    now = utc_now()
    raw = await redis.get(REFRESHED_AT_KEY)
    async with session_maker() as session, session.begin():
        if raw is not None:
            last = float(raw)
            if now.timestamp() - last < CANDIDATES_EVERY_SECONDS:
                changed = await session.scalar(
                    sa.select(sa.func.count())
                    .select_from(Product)
                    .where(Product.updated_at > sa.func.to_timestamp(last))
                )
                if (changed or 0) < LARGE_CATALOG_CHANGE:
                    return
        await refresh_all(session, redis, decay, now=now)
    await redis.set(REFRESHED_AT_KEY, now.timestamp())
