"""Each product's popularity, for the search's popularity order: everyone's time-decayed engagement, written to
``products.popularity`` by the worker.

The value is kept on a scale that time does not change: ``log2(score as of t) + t / half_life`` (``t`` in seconds
since 1970). Every decayed score halves each half-life, so for a product nobody engages with the value stays
put while its score fades, and any two products compare as their scores do at any moment. So only products
with new engagement are written, never the whole catalog once a minute. One step is a doubling of engagement.
A product nobody engaged with (or whose engagement faded below ``scores.FORGET_BELOW``) has 0, below every
engaged one (whose values are in the thousands).

A written product also gets a search-outbox row, so Meilisearch sorts by the new value too. ``updated_at`` is
left alone: popularity is shoppers' behaviour, not a change of the mall's content. Rows a mall's sync holds are
skipped, not waited for.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from catalog.models import Product, SearchOutbox
from personalization.scores import EVERYONE, segment_scores

if TYPE_CHECKING:
    import datetime
    import uuid

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from personalization.scores import Decay

CHANGED = 0.05
"""Values closer than this to the stored one are not written (about 3.5% of engagement)."""

_products = cast("sa.Table", Product.__table__)
_outbox = cast("sa.Table", SearchOutbox.__table__)


def popularity_value(score: float, *, at: float, decay: Decay) -> float:
    """The stored value of a decayed ``score`` as of ``at`` (Unix time); 0 for no engagement."""
    if score <= 0:
        return 0.0
    return round(math.log2(score) + at / decay.half_life_seconds, 4)


async def publish_popularity(session: AsyncSession, redis: Redis, decay: Decay, *, now: datetime.datetime) -> int:
    """Write the products whose popularity moved by ``CHANGED`` or more, and reset to 0 those nobody engages
    with any more; how many rows were written. Call it with Redis holding the scores (after a roll-up, which
    loads them back into a Redis that lost them): with an empty pool every popular product would be reset."""
    at = now.timestamp()
    pooled = await segment_scores(redis, decay, EVERYONE, now=at)
    ids = [product_id for product_id, _ in pooled]
    values = [popularity_value(score, at=at, decay=decay) for _, score in pooled]
    pairs = sa.select(
        sa.func.unnest(sa.literal(ids, ARRAY(sa.Uuid()))).label("product_id"),
        sa.func.unnest(sa.literal(values, ARRAY(sa.Double()))).label("popularity"),
    ).subquery("pairs")
    moved = (
        sa.select(_products.c.id, pairs.c.popularity)
        .join(pairs, pairs.c.product_id == _products.c.id)
        .where(sa.func.abs(_products.c.popularity - pairs.c.popularity) >= CHANGED)
    )
    faded = sa.select(_products.c.id, sa.literal(0.0, sa.Double()).label("popularity")).where(
        _products.c.popularity != 0, ~sa.exists().where(pairs.c.product_id == _products.c.id)
    )
    written: list[uuid.UUID] = [*await session.scalars(_write(moved)), *await session.scalars(_write(faded))]
    if written:
        rows = sa.select(sa.func.unnest(sa.literal(written, ARRAY(sa.Uuid()))), sa.literal("upsert"))
        await session.execute(sa.insert(_outbox).from_select(["product_id", "action"], rows))
    return len(written)


def _write(due: sa.Select[tuple[uuid.UUID, float]]) -> sa.Update:
    """Set the popularity of the rows ``due`` names, skipping rows another transaction holds (a mall's sync):
    this never waits, so it can neither slow a sync down nor deadlock with one, and what it skipped still
    differs next time, so it is written then."""
    locked = due.with_for_update(of=_products, skip_locked=True).subquery("due")
    return (
        sa.update(_products)
        .where(_products.c.id == locked.c.id)
        .values(popularity=locked.c.popularity, updated_at=_products.c.updated_at)
        .returning(_products.c.id)
    )
