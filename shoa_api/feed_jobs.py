"""The worker's personalization jobs: segment scores copied from Redis to PostgreSQL, and back after a loss."""

from __future__ import annotations

from typing import TYPE_CHECKING

from personalization.scores import Decay, roll_up
from shoa_api.accounts.models import utc_now
from shoa_api.worker import Job, WorkerContext

if TYPE_CHECKING:
    from shoa_api.settings import Settings


def score_rollup_job(settings: Settings) -> Job:
    """Every ``SHOA_FEED_ROLLUP_SECONDS``: load the scores back into a Redis that lost them, then save them."""

    async def roll_up_scores(context: WorkerContext) -> None:
        decay = Decay(half_life_seconds=context.settings.feed.half_life_hours * 3600)
        async with context.session_maker() as session, session.begin():
            await roll_up(session, context.redis, decay, now=utc_now())

    return Job(name="feed-score-rollup", every=float(settings.feed.rollup_seconds), run=roll_up_scores)
