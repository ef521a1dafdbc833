"""The roll-up: segment scores kept safe in PostgreSQL, so that losing Redis loses at most one roll-up interval.

Only scores that grew since the last roll-up are written. Every added signal marks its score as touched
(``scores.TOUCHED_KEY``); the roll-up takes the marks, reads those scores and upserts them. A saved row is a score
as of a time (``as_of``), so it stays true as it decays: a row nobody touched needs no rewrite, and a minute
without behaviour writes nothing. Scores decayed below ``FORGET_BELOW`` are dropped on both sides: a range
delete per sorted set in Redis, a delete by decayed value in PostgreSQL.

The marks taken wait in ``ROLLING_KEY`` until the caller's transaction has committed and it calls
:func:`forget_rolled_up`: a roll-up that fails leaves them to the next one, which takes them with the new ones.
Writing a score twice writes the same row, so nothing is lost and nothing counted twice.

Loading the scores back (:func:`restore`) is safe to cut short and run again: each segment's saved scores are
staged in a key of their own (``scores.STAGED_PREFIX``, written with ZADD, so a chunk sent twice changes nothing),
then one script adds the staged set to the live one and records it as restored (``scores.RESTORED_KEY``), both or
neither. A restore run again skips the sets recorded and stages the others from scratch; signals that arrived
meanwhile stay in the live sets and are counted once. Only when every set is in does ``LOADED_KEY`` say so.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert

from catalog.models import Product
from personalization.first_seen import restore_first_seen
from personalization.models import SegmentScore
from personalization.scores import (
    EPOCH_KEY,
    EVERYONE,
    FORGET_BELOW,
    KEY_PREFIX,
    LOADED_KEY,
    RESTORED_KEY,
    SEGMENTS_KEY,
    STAGED_PREFIX,
    TOUCHED_KEY,
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

RESTORE_CHUNK = 1000
"""Saved scores sent to Redis per command while restoring."""
STAGED_TTL_SECONDS = 3600
"""A staged set left behind by a restore whose worker died goes away by itself (the next restore rebuilds it)."""
_UNDER_WAY = "*"
"""The member of ``RESTORED_KEY`` saying a restore began: a flush takes it with the sets merged so far, and the
restore, finding it gone, fails rather than mark done a Redis that lost half of what it loaded."""

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
_MERGE = """
if redis.call('SISMEMBER', KEYS[3], ARGV[4]) == 0 then
  return redis.error_reply('Redis lost the restore under way (a flush or a restart); the next one starts again')
end
if redis.call('SISMEMBER', KEYS[3], KEYS[5]) == 1 then
  redis.call('DEL', KEYS[4])
  return 0
end
local staged = redis.call('ZCARD', KEYS[4])
if staged ~= tonumber(ARGV[3]) then
  return redis.error_reply('staged ' .. staged .. ' of the ' .. ARGV[3] .. ' saved scores of ' .. KEYS[5])
end
local epoch = tonumber(redis.call('GET', KEYS[1]))
if not epoch then
  epoch = tonumber(ARGV[2])
  redis.call('SET', KEYS[1], ARGV[2])
end
local factor = 2 ^ ((tonumber(ARGV[2]) - epoch) / tonumber(ARGV[1]))
redis.call('ZUNIONSTORE', KEYS[5], 2, KEYS[5], KEYS[4], 'WEIGHTS', 1, string.format('%.17g', factor))
redis.call('DEL', KEYS[4])
redis.call('SADD', KEYS[2], KEYS[5])
redis.call('SADD', KEYS[3], KEYS[5])
return staged
"""
_FINISH = """
if redis.call('SISMEMBER', KEYS[1], ARGV[2]) == 0 then
  return redis.error_reply('Redis lost the restore under way (a flush or a restart); the next one starts again')
end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""


@dataclass(frozen=True)
class RolledUp:
    written: int
    """Scores written, over every segment."""
    pooled: list[tuple[uuid.UUID, float]]
    """Everyone's scores (``EVERYONE``) among them: the products whose popularity may have moved."""


async def roll_up(session: AsyncSession, redis: Redis, decay: Decay, *, now: datetime.datetime) -> RolledUp:
    """Save the scores touched since the last roll-up (first loading every saved score, and the devices'
    first-seen times, back into a Redis that lost them), and forget faded ones. Call :func:`forget_rolled_up` once
    ``session`` has committed. While another worker's roll-up is under way this one does nothing (and returns
    nothing written)."""
    if not await session.scalar(_TRY_LOCK):
        return RolledUp(0, [])
    if not await redis.exists(LOADED_KEY):
        await restore(session, redis, decay, now=now)
    await restore_first_seen(session, redis)
    at = now.timestamp()
    await rebase(redis, decay, now=at)
    await redis.eval(_FORGET, 2, EPOCH_KEY, SEGMENTS_KEY, decay.half_life_seconds, at, FORGET_BELOW)
    faded = SegmentScore.score * sa.func.power(
        0.5, sa.extract("epoch", sa.literal(now) - SegmentScore.as_of) / decay.half_life_seconds
    )
    await session.execute(sa.delete(SegmentScore).where(faded < FORGET_BELOW))
    touched: dict[str, list[str]] = {}
    for mark in await redis.eval(_TAKE, 2, TOUCHED_KEY, ROLLING_KEY):
        key, _, product = _text(mark).rpartition("|")
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
    """Load the rolled-up scores into a Redis that lost them, adding to whatever arrived since; how many this call
    added. Safe to cut short at any point and call again (see the module's docstring)."""
    at = now.timestamp()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.sadd(RESTORED_KEY, _UNDER_WAY)
        pipe.get(EPOCH_KEY)
        pipe.smembers(RESTORED_KEY)
        _, epoch_raw, merged = await pipe.execute()
    # Staged scores grow from the epoch of the moment; the merge rescales them if a rebase moved it since.
    epoch = at if epoch_raw is None else float(epoch_raw)
    done = {_text(key).removeprefix(KEY_PREFIX) for key in merged} - {_UNDER_WAY}
    query = sa.select(SegmentScore.segment, SegmentScore.product_id, SegmentScore.score, SegmentScore.as_of)
    if done:
        query = query.where(SegmentScore.segment.not_in(done))
    rows = (await session.execute(query.order_by(SegmentScore.segment))).all()
    restored = 0
    for segment, saved in itertools.groupby(rows, key=lambda row: str(row.segment)):
        # The saved pool is restored as it was (re-pooling the segments' scores would count them twice), and
        # what is loaded back is saved already: nothing is marked touched.
        grown = [
            (str(product_id), score * 2.0 ** ((min(as_of.timestamp(), at) - epoch) / decay.half_life_seconds))
            for _, product_id, score, as_of in saved
        ]
        staged_key = f"{STAGED_PREFIX}{segment}"
        for start in range(0, len(grown), RESTORE_CHUNK):
            async with redis.pipeline(transaction=False) as pipe:
                if start == 0:
                    pipe.delete(staged_key)  # what a restore cut short staged: rebuilt, not added to
                pipe.zadd(staged_key, dict(grown[start : start + RESTORE_CHUNK]))
                pipe.expire(staged_key, STAGED_TTL_SECONDS)
                await pipe.execute()
        restored += await redis.eval(
            _MERGE, 5, EPOCH_KEY, SEGMENTS_KEY, RESTORED_KEY, staged_key, f"{KEY_PREFIX}{segment}",
            decay.half_life_seconds, epoch, len(grown), _UNDER_WAY,
        )  # fmt: skip
    await redis.eval(_FINISH, 2, RESTORED_KEY, LOADED_KEY, now.isoformat(), _UNDER_WAY)
    return restored


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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
