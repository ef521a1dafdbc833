"""Time-decayed behaviour scores per segment, in Redis sorted sets (rolled up to PostgreSQL by
``personalization.rollup``).

Decay without rewriting: a signal of weight ``w`` at time ``t`` adds ``w * 2^((t - epoch) / half_life)`` to the
product's member of the segment's sorted set. Every stored value then carries the same growth factor, so the
sorted set's order is the decayed order, and a score as of ``now`` is the stored value times
``2^((epoch - now) / half_life)``. When the factor grows large, :func:`rebase` moves the epoch forward and
scales every set down in one atomic script. Signals are added by a script too, which reads the epoch itself, so
no increment can use an epoch a rebase has just replaced.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.asyncio import Redis

KEY_PREFIX = "shoa:feed:scores:"
EVERYONE = "everyone"
"""The pool of every segment's signals: what all shoppers engage with, a prior for segments with little data."""
EPOCH_KEY = "shoa:feed:epoch"
SEGMENTS_KEY = "shoa:feed:segments"
"""The keys of every segment's sorted set."""
TOUCHED_KEY = "shoa:feed:touched"
"""Members ``<segment key>|<product id>``: scores that grew since the roll-up last took them
(``personalization.rollup``)."""
LOADED_KEY = "shoa:feed:scores-loaded"
"""Present while Redis holds the scores; absent after a restart or a flush, so the worker loads them back."""
STAGED_PREFIX = "shoa:feed:scores-staged:"
"""A segment's saved scores while the restore loads them (``personalization.rollup.restore``), before one script
merges them into the live sorted set: a restore cut short leaves them here, never half-added to the live set."""
RESTORED_KEY = "shoa:feed:scores-restored"
"""The restore under way: the live sorted sets it has merged already, so one cut short resumes without adding them
twice. Gone with a flush, like the sets it names."""
REBASE_AFTER_HALF_LIVES = 30
"""Growth factors stay below 2^30 times the largest weights: far from a double's limits and its precision."""
FORGET_BELOW = 0.01
"""A decayed score this small is dropped at roll-up: a single view, two to three weeks later."""

_ADD = """
local epoch = tonumber(redis.call('GET', KEYS[1]))
if not epoch then
  epoch = tonumber(ARGV[2])
  redis.call('SET', KEYS[1], ARGV[2])
end
local half_life = tonumber(ARGV[1])
local once_seconds = tonumber(ARGV[3])
local pooled = ARGV[4] == '1'
local touched = ARGV[5] == '1'
local added = {}
for i = 6, #ARGV, 5 do
  local once = ARGV[i + 4]
  if once == '' or redis.call('SET', once, 1, 'NX', 'EX', once_seconds) then
    local grown = tonumber(ARGV[i + 2]) * 2 ^ ((tonumber(ARGV[i + 3]) - epoch) / half_life)
    redis.call('ZINCRBY', ARGV[i], grown, ARGV[i + 1])
    redis.call('SADD', KEYS[2], ARGV[i])
    if touched then redis.call('SADD', KEYS[4], ARGV[i] .. '|' .. ARGV[i + 1]) end
    if pooled and ARGV[i] ~= KEYS[3] then
      redis.call('ZINCRBY', KEYS[3], grown, ARGV[i + 1])
      redis.call('SADD', KEYS[2], KEYS[3])
      if touched then redis.call('SADD', KEYS[4], KEYS[3] .. '|' .. ARGV[i + 1]) end
    end
    added[#added + 1] = 1
  else
    added[#added + 1] = 0
  end
end
return added
"""
_REBASE = """
local epoch = tonumber(redis.call('GET', KEYS[1]))
if not epoch then return 0 end
local steps = math.floor((tonumber(ARGV[2]) - epoch) / tonumber(ARGV[1]))
if steps < tonumber(ARGV[3]) then return 0 end
local factor = 2 ^ (-steps)
for _, key in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('ZUNIONSTORE', key, 1, key, 'WEIGHTS', factor)
end
redis.call('SET', KEYS[1], tostring(epoch + steps * tonumber(ARGV[1])))
return steps
"""


@dataclass(frozen=True)
class Signal:
    segment: str
    product_id: uuid.UUID
    weight: float
    at: float
    """Unix time of the behaviour."""


@dataclass(frozen=True)
class Decay:
    half_life_seconds: float

    def factor(self, *, since: float, until: float) -> float:
        return float(2.0 ** ((until - since) / self.half_life_seconds))


async def add_signals(
    redis: Redis,
    decay: Decay,
    signals: Sequence[Signal],
    *,
    now: float,
    once_keys: Sequence[str] | None = None,
    once_seconds: int = 1,
    pooled: bool = True,
    touched: bool = True,
) -> list[bool]:
    """Add ``signals``; which were added. With ``once_keys`` (one per signal) a signal counts only if its key was
    not set yet, and the key is then kept ``once_seconds``: deduplication and scoring in one atomic step, so a
    retried batch neither loses nor doubles anything. ``pooled`` signals also count for ``EVERYONE``; ``touched``
    ones are marked for the next roll-up (scores loaded back from PostgreSQL are already saved)."""
    if not signals:
        return []
    keys = once_keys if once_keys is not None else [""] * len(signals)
    arguments: list[str | float] = [
        decay.half_life_seconds, now, once_seconds, "1" if pooled else "0", "1" if touched else "0"
    ]  # fmt: skip
    for signal, once in zip(signals, keys, strict=True):
        segment_key = f"{KEY_PREFIX}{signal.segment}"
        arguments += [segment_key, str(signal.product_id), signal.weight, min(signal.at, now), once]
    added = await redis.eval(_ADD, 4, EPOCH_KEY, SEGMENTS_KEY, f"{KEY_PREFIX}{EVERYONE}", TOUCHED_KEY, *arguments)
    return [bool(flag) for flag in added]


async def segment_scores(
    redis: Redis, decay: Decay, segment: str, *, now: float, limit: int | None = None
) -> list[tuple[uuid.UUID, float]]:
    """The segment's products by decayed score as of ``now``, highest first."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(EPOCH_KEY)
        pipe.zrange(f"{KEY_PREFIX}{segment}", 0, -1 if limit is None else limit - 1, desc=True, withscores=True)
        epoch_raw, members = await pipe.execute()
    if epoch_raw is None:
        return []
    shrink = 1.0 / decay.factor(since=float(epoch_raw), until=now)
    return [(uuid.UUID(member.decode()), float(score) * shrink) for member, score in members]


async def rebase(redis: Redis, decay: Decay, *, now: float) -> int:
    """Move the epoch forward once it is ``REBASE_AFTER_HALF_LIVES`` behind; how many half-lives it moved."""
    steps = await redis.eval(_REBASE, 2, EPOCH_KEY, SEGMENTS_KEY, decay.half_life_seconds, now, REBASE_AFTER_HALF_LIVES)
    return int(steps)


async def mark_touched(redis: Redis, segment: str, product_ids: Sequence[uuid.UUID]) -> None:
    """Have the next roll-up take these scores again (a write it had to skip)."""
    if product_ids:
        await redis.sadd(TOUCHED_KEY, *(f"{KEY_PREFIX}{segment}|{product_id}" for product_id in product_ids))
