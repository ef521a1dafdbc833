"""The roll-up: segment scores kept safe in PostgreSQL, so that losing Redis loses at most one roll-up interval.

Only scores that grew since the last roll-up are written. Every added signal marks its score as touched
(``scores.TOUCHED_KEY``); the roll-up takes the marks, reads those scores and upserts them. A saved row is a score
as of a time (``as_of``), so it stays true as it decays: a row nobody touched needs no rewrite, and a minute
without behaviour writes nothing. Scores decayed below ``FORGET_BELOW`` are dropped on both sides: a range
delete per sorted set in Redis, a delete by decayed value in PostgreSQL.

The marks taken wait in ``ROLLING_KEY`` until the caller's transaction has committed and it calls
:func:`forget_rolled_up`: a roll-up that fails leaves them to the next one, which takes them with the new ones.
Writing a score twice writes the same row, so nothing is lost and nothing counted twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert

from catalog.models import Product
from personalization.models import SegmentScore
from personalization.scores import (
    EPOCH_KEY,
    EVERYONE,
    FORGET_BELOW,
    KEY_PREFIX,
    LOADED_KEY,
    SEGMENTS_KEY,
    TOUCHED_KEY,
    Signal,
    add_signals,
    rebase,
)

if TYPE_CHECKING:
    import datetime

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from personalization.scores import Decay

ROLLING_KEY = "shoa:feed:touched:rolling"
"""The marks a roll-up took, until its transaction committed."""
ROLL_UP_LOCK = (0x53484F41, 2)
"""The roll-up's advisory lock (``SHOA``, 2; the search indexer holds 1): one roll-up at a time, however many
workers run, so no roll-up forgets marks another has taken but not yet saved."""

_TRY_LOCK = sa.select(
    sa.func.pg_try_advisory_xact_lock(sa.literal(ROLL_UP_LOCK[0], sa.Integer), sa.literal(ROLL_UP_LOCK[1], sa.Integer))
)
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SUNIONSTORE', KEYS[2], KEYS[2], KEYS[1])
  redis.call('DEL', KEYS[1])
end
return redis.call('SMEMBERS', KEYS[2])
"""
_FORGET = """
local epoch = tonumber(redis.call('GET', KEYS[1]))
if not epoch then return 0 end
local below = tonumber(ARGV[3]) * 2 ^ ((tonumber(ARGV[2]) - epoch) / tonumber(ARGV[1]))
local removed = 0
for _, key in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  removed = removed + redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. string.format('%.17g', below))
end
return removed
"""


@dataclass(frozen=True)
class RolledUp:
    written: int
    """Scores written, over every segment."""
    pooled: list[tuple[uuid.UUID, float]]
    """Everyone's scores (``EVERYONE``) among them: the products whose popularity may have moved."""


async def roll_up(session: AsyncSession, redis: Redis, decay: Decay, *, now: datetime.datetime) -> RolledUp:
    """Save the scores touched since the last roll-up (first loading every saved score back into a Redis that
    lost them), and forget faded ones. Call :func:`forget_rolled_up` once ``session`` has committed. While
    another worker's roll-up is under way this one does nothing (and returns nothing written)."""
    if not await session.scalar(_TRY_LOCK):
        return RolledUp(0, [])
    if not await redis.exists(LOADED_KEY):
        await restore(session, redis, decay, now=now)
    at = now.timestamp()
    await rebase(redis, decay, now=at)
    await redis.eval(_FORGET, 2, EPOCH_KEY, SEGMENTS_KEY, decay.half_life_seconds, at, FORGET_BELOW)
    faded = SegmentScore.score * sa.func.power(
        0.5, sa.extract("epoch", sa.literal(now) - SegmentScore.as_of) / decay.half_life_seconds
    )
    await session.execute(sa.delete(SegmentScore).where(faded < FORGET_BELOW))
    touched: dict[str, list[str]] = {}
    for mark in await redis.eval(_TAKE, 2, TOUCHED_KEY, ROLLING_KEY):
        key, _, product = (mark.decode() if isinstance(mark, bytes) else mark).rpartition("|")
        touched.setdefault(key, []).append(product)
    scores = await _decayed(redis, decay, touched, now=at)
    # Signals only add (weights are never negative), so a touched score this small was this small when saved,
    # and the delete above took its row.
    kept = [(segment, product_id, score) for segment, product_id, score in scores if score >= FORGET_BELOW]
    if kept:
        await session.execute(upsert_scores(kept, now))
    return RolledUp(len(kept), [(product_id, score) for segment, product_id, score in kept if segment == EVERYONE])


async def forget_rolled_up(redis: Redis) -> None:
    """The roll-up's transaction committed: its marks are done with."""
    await redis.delete(ROLLING_KEY)


async def restore(session: AsyncSession, redis: Redis, decay: Decay, *, now: datetime.datetime) -> int:
    """Load the rolled-up scores into a Redis that lost them, adding to whatever arrived since; how many."""
    rows = (await session.execute(sa.select(SegmentScore.segment, SegmentScore.product_id, SegmentScore.score,
                                            SegmentScore.as_of))).all()  # fmt: skip
    signals = [Signal(segment, product_id, score, as_of.timestamp()) for segment, product_id, score, as_of in rows]
    for start in range(0, len(signals), 1000):
        # The saved pool is restored as it was (re-pooling the segments' scores would count them twice), and
        # what is loaded back is saved already.
        part = signals[start : start + 1000]
        await add_signals(redis, decay, part, now=now.timestamp(), pooled=False, touched=False)
    await redis.set(LOADED_KEY, now.isoformat())
    return len(signals)


async def _decayed(
    redis: Redis, decay: Decay, touched: dict[str, list[str]], *, now: float
) -> list[tuple[str, uuid.UUID, float]]:
    """The touched scores as of ``now``, as (segment, product, score); those gone (faded) are left out."""
    keys = sorted(touched)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(EPOCH_KEY)
        for key in keys:
            pipe.zmscore(key, touched[key])
        epoch_raw, *found = await pipe.execute()
    if epoch_raw is None:
        return []
    shrink = 1.0 / decay.factor(since=float(epoch_raw), until=now)
    return [
        (key.removeprefix(KEY_PREFIX), uuid.UUID(product), float(stored) * shrink)
        for key, stored_scores in zip(keys, found, strict=True)
        for product, stored in zip(touched[key], stored_scores, strict=True)
        if stored is not None
    ]


def upsert_scores(scores: list[tuple[str, uuid.UUID, float]], now: datetime.datetime) -> sa.Insert:
    """Upsert the scores of products that still exist (a product removed since is skipped, not an error)."""
    rows = sa.select(
        sa.func.unnest(sa.literal([segment for segment, _, _ in scores], ARRAY(sa.String()))).label("segment"),
        sa.func.unnest(sa.literal([product_id for _, product_id, _ in scores], ARRAY(sa.Uuid()))).label("product_id"),
        sa.func.unnest(sa.literal([score for _, _, score in scores], ARRAY(sa.Double()))).label("score"),
    ).subquery("rows")
    source = (
        sa.select(rows.c.segment, rows.c.product_id, rows.c.score, sa.literal(now))
        .select_from(rows)
        .join(Product, Product.id == rows.c.product_id)
    )
    statement = insert(SegmentScore).from_select(["segment", "product_id", "score", "as_of"], source)
    return statement.on_conflict_do_update(
        index_elements=[SegmentScore.segment, SegmentScore.product_id],
        set_={"score": statement.excluded.score, "as_of": statement.excluded.as_of},
    )
