"""The worker's personalization jobs: segment scores kept safe in PostgreSQL, and feed candidates precomputed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from catalog.models import Product
from personalization.candidates import refresh_all
from personalization.popularity import publish_popularity
from personalization.rollup import forget_rolled_up, roll_up
from personalization.scores import EVERYONE, Decay, mark_touched
from shoa_api.accounts.models import utc_now
from shoa_api.worker import Job, WorkerContext

if TYPE_CHECKING:
    from shoa_api.settings import Settings

CANDIDATES_EVERY_SECONDS = 60.0
"""Candidate lists are recomputed this often, or sooner after a large catalog change."""
LARGE_CATALOG_CHANGE = 500
"""Products changed since the last refresh that make the next one come at once."""
REFRESHED_AT_KEY = "shoa:feed:candidates-refreshed-at"


def score_rollup_job(settings: Settings) -> Job:
    """Every ``SHOA_FEED_ROLLUP_SECONDS``: load the scores back into a Redis that lost them, save those that
    grew, and write those products' popularity (the search's popularity order), in one transaction."""

    async def roll_up_scores(context: WorkerContext) -> None:
        decay, now = _decay(context.settings), utc_now()
        async with context.session_maker() as session, session.begin():
            rolled_up = await roll_up(session, context.redis, decay, now=now)
            published = await publish_popularity(session, rolled_up.pooled, decay, now=now)
        await forget_rolled_up(context.redis)
        await mark_touched(context.redis, EVERYONE, published.skipped)

    return Job(name="feed-score-rollup", every=float(settings.feed.rollup_seconds), run=roll_up_scores)


def candidates_job() -> Job:
    """Every 10 s, look whether the candidate lists are due: a minute old, or many products changed since."""

    async def refresh_candidates(context: WorkerContext) -> None:
        now = utc_now()
        raw = await context.redis.get(REFRESHED_AT_KEY)
        async with context.session_maker() as session, session.begin():
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
            await refresh_all(session, context.redis, _decay(context.settings), now=now)
        await context.redis.set(REFRESHED_AT_KEY, now.timestamp())

    return Job(name="feed-candidates", every=10.0, run=refresh_candidates)


def _decay(settings: Settings) -> Decay:
    return Decay(half_life_seconds=settings.feed.half_life_hours * 3600)
