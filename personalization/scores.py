"""Time-decayed behaviour scores per segment, in Redis sorted sets (rolled up to PostgreSQL by
``personalization.rollup``).

Decay without rewriting: a signal of weight ``w`` at time ``t`` adds ``w * 2^((t - epoch) / half_life)`` to the
product's member of the segment's sorted set. Every stored value then carries the same growth factor, so the
sorted set's order is the decayed order, and a score as of ``now`` is the stored value times
``2^((epoch - now) / half_life)``. When the factor grows large, :func:`rebase` moves the epoch forward and
scales every set down in one atomic script. Signals are added by a script too, which reads the epoch itself, so
no increment can use an epoch a rebase has just replaced.

Influence follows people, not events (decision 0039): the same script caps what one contributor adds to one
product per day, weighs devices below signed-in shoppers, new devices (on the server's clock) and narrow browsers
below old and broad ones, and counts the distinct people behind each product (``people:<segment>`` sets), which
gate the scores where they are read and rank the feed's candidates (:func:`engaged_people`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from insights.devices import FIRST_SEEN_KEEP, FULL_TRUST_AFTER, TRUSTED_AFTER

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
PEOPLE = "people:"
"""Before a segment's name (``people:anonymous``, ``people:everyone``): the sorted set counting, per product, the
distinct people who engaged with it, time-decayed like the scores. It lives beside the scores (rebased, rolled up
and restored with them) and gates them: see :data:`MIN_PEOPLE`."""
CAP_PREFIX = "shoa:feed:cap:"
"""``<actor>:<product id>``: the weight one contributor has added to one product in the current period."""
PERSON_PREFIX = "shoa:feed:person:"
"""``<actor>:<product id>``: the contributor counted as a person for the product this week, holding their trust."""
BREADTH_PREFIX = "shoa:feed:breadth:"
"""``<actor>``: how many products the contributor engaged with this week (each once)."""
FIRST_SEEN_PREFIX = "shoa:feed:first-seen:"
"""``<actor>``: when the server first received events of a device (Unix time, the server's clock), kept
``FIRST_SEEN_KEEP`` after its last batch: its trust grows with that age (``insights.devices``)."""
CAP_PER_PRODUCT = 6.0
"""Weight one contributor may add to one product in ``CAP_SECONDS``: a cart, or a like and a click. Repeated events
past it add nothing (they are still accepted and stored)."""
CAP_SECONDS = 24 * 3600
PERSON_SECONDS = 7 * 24 * 3600
"""A contributor counts once per product and week in the people count, and their breadth is counted over a week."""
DEVICE_WEIGHT = 0.5
"""An anonymous device weighs half a signed-in shopper: a new device id costs nothing, an account costs a sign-up."""
BREADTH_FULL = 4
"""A device's trust grows with the products it engaged with this week: 0 for the first, then a third more for each
until the fourth. Someone browsing looks at several products; a throwaway id sent at one product counts nothing.
(A signed-in shopper is trusted from the first: an account costs a sign-up, limited per address.)"""
MIN_PEOPLE = 1.5
"""A product's engagement counts for a segment's feed (its own, and the prior it gives others) and for the search's
popularity only once this many people engaged with it, decayed like the scores: more than one person. One
contributor alone counts once a week, so however many events and weeks they send, they stay at or below 1.25
(1 + 2^-7/3 + 2^-14/3 ...); two people reach it within a day or so of engaging, three within about five days."""
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
local actor = ARGV[6]
local actor_weight = tonumber(ARGV[7])
local cap = tonumber(ARGV[8])
local cap_seconds = tonumber(ARGV[9])
local person_seconds = tonumber(ARGV[10])
local breadth_full = tonumber(ARGV[11])
local trusted_after = tonumber(ARGV[12])
local full_trust_after = tonumber(ARGV[13])
local seen_seconds = tonumber(ARGV[14])
local now = tonumber(ARGV[2])
-- A device's trust grows with its age on the server's clock: the first time a batch of it arrives is marked, and
-- the mark kept while it keeps coming.
local age_trust = 1
if actor ~= '' and full_trust_after > 0 then
  local seen_key = KEYS[9] .. actor
  local first = tonumber(redis.call('GET', seen_key))
  if first then
    redis.call('EXPIRE', seen_key, seen_seconds)
  else
    first = now
    redis.call('SET', seen_key, string.format('%.17g', now), 'EX', seen_seconds)
  end
  local age = now - first
  if age < trusted_after then age_trust = 0 else age_trust = math.min(1, age / full_trust_after) end
end
local function add(key, amount, product)
  redis.call('ZINCRBY', key, amount, product)
  redis.call('SADD', KEYS[2], key)
  if touched then redis.call('SADD', KEYS[4], key .. '|' .. product) end
end
local added = {}
for i = 15, #ARGV, 6 do
  local key, product, weight, at, once, people = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]),
    ARGV[i + 4], ARGV[i + 5]
  if once == '' or redis.call('SET', once, 1, 'NX', 'EX', once_seconds) then
    local counted, trust, new_person = weight, age_trust, false
    if actor ~= '' then
      local person = KEYS[6] .. actor .. ':' .. product
      local known = redis.call('GET', person)
      if known then
        trust = tonumber(known)
      else
        if breadth_full > 1 then
          local breadth_key = KEYS[7] .. actor
          local breadth = redis.call('INCR', breadth_key)
          redis.call('EXPIRE', breadth_key, person_seconds)
          trust = age_trust * math.min(1, (breadth - 1) / (breadth_full - 1))
        end
        redis.call('SET', person, string.format('%.17g', trust), 'EX', person_seconds)
        new_person = true
      end
      if cap > 0 then
        local cap_key = KEYS[8] .. actor .. ':' .. product
        local used = tonumber(redis.call('GET', cap_key) or '0')
        counted = math.max(0, math.min(weight, cap - used))
        if counted > 0 then
          if used == 0 then
            redis.call('SET', cap_key, string.format('%.17g', counted), 'EX', cap_seconds)
          else
            redis.call('INCRBYFLOAT', cap_key, string.format('%.17g', counted))
          end
        end
      end
      counted = counted * actor_weight * trust
    end
    local growth = 2 ^ ((at - epoch) / half_life)
    if counted > 0 then
      add(key, counted * growth, product)
      if pooled and key ~= KEYS[3] then add(KEYS[3], counted * growth, product) end
    end
    if new_person and trust > 0 then
      add(people, trust * growth, product)
      if pooled and people ~= KEYS[5] then add(KEYS[5], trust * growth, product) end
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
class Contributor:
    """Who sent the signals: their influence is capped per product and period, weighed, and counted as people."""

    actor: str
    """``user:<id>`` or ``device:<id>``."""
    weight: float = 1.0
    """1 for a signed-in shopper, ``DEVICE_WEIGHT`` for an anonymous device."""
    capped: bool = True
    """False for purchases: paid for, confirmed by the order flow, and each counted once already."""
    by_breadth: bool = False
    """Trusted by the breadth of their browsing (``BREADTH_FULL``) and by their age on the server's clock
    (``insights.devices``): a device, whose id costs nothing to make."""

    @classmethod
    def shopper(cls, user_id: uuid.UUID) -> Contributor:
        return cls(f"user:{user_id}")

    @classmethod
    def device(cls, device_id: str) -> Contributor:
        return cls(f"device:{device_id}", weight=DEVICE_WEIGHT, by_breadth=True)

    @classmethod
    def buyer(cls, user_id: uuid.UUID) -> Contributor:
        return cls(f"user:{user_id}", capped=False)


@dataclass(frozen=True)
class Decay:
    half_life_seconds: float

    def factor(self, *, since: float, until: float) -> float:
        return float(2.0 ** ((until - since) / self.half_life_seconds))


def people_key(segment: str) -> str:
    return f"{KEY_PREFIX}{PEOPLE}{segment}"


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
    contributor: Contributor | None = None,
) -> list[bool]:
    """Add ``signals``; which were added. With ``once_keys`` (one per signal) a signal counts only if its key was
    not set yet, and the key is then kept ``once_seconds``: deduplication and scoring in one atomic step, so a
    retried batch neither loses nor doubles anything. ``pooled`` signals also count for ``EVERYONE``; ``touched``
    ones are marked for the next roll-up (scores loaded back from PostgreSQL are already saved).

    With a ``contributor`` (every signal from shoppers' behaviour has one), influence is proportional to people,
    not events, in the same atomic script: each signal adds at most what is left of the contributor's
    ``CAP_PER_PRODUCT`` for the product in this period, times their weight and their trust (for a device, how
    broadly it browses, ``BREADTH_FULL``, and how long ago the server first saw it, ``insights.devices``: nothing on
    its first day), and the first signal of a contributor on a product this week counts them once in
    the segment's people count. Two batches of one contributor in parallel run one after the other in Redis, so
    together they never pass the cap."""
    if not signals:
        return []
    keys = once_keys if once_keys is not None else [""] * len(signals)
    actor = contributor.actor if contributor is not None else ""
    arguments: list[str | float] = [
        decay.half_life_seconds, now, once_seconds, "1" if pooled else "0", "1" if touched else "0", actor,
        contributor.weight if contributor is not None else 1.0,
        CAP_PER_PRODUCT if contributor is not None and contributor.capped else 0, CAP_SECONDS, PERSON_SECONDS,
        BREADTH_FULL if contributor is not None and contributor.by_breadth else 0,
        TRUSTED_AFTER.total_seconds(),
        FULL_TRUST_AFTER.total_seconds() if contributor is not None and contributor.by_breadth else 0,
        int(FIRST_SEEN_KEEP.total_seconds()),
    ]  # fmt: skip
    for signal, once in zip(signals, keys, strict=True):
        segment_key = f"{KEY_PREFIX}{signal.segment}"
        arguments += [segment_key, str(signal.product_id), signal.weight, min(signal.at, now), once,
                      people_key(signal.segment)]  # fmt: skip
    added = await redis.eval(
        _ADD, 9, EPOCH_KEY, SEGMENTS_KEY, f"{KEY_PREFIX}{EVERYONE}", TOUCHED_KEY, people_key(EVERYONE),
        PERSON_PREFIX, BREADTH_PREFIX, CAP_PREFIX, FIRST_SEEN_PREFIX, *arguments,
    )  # fmt: skip
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


async def people_counts(
    redis: Redis, decay: Decay, segment: str, product_ids: Sequence[uuid.UUID], *, now: float
) -> list[float]:
    """How many distinct people (decayed, as of ``now``) engaged with each of ``product_ids`` in ``segment``."""
    if not product_ids:
        return []
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(EPOCH_KEY)
        pipe.zmscore(people_key(segment), [str(product_id) for product_id in product_ids])
        epoch_raw, found = await pipe.execute()
    if epoch_raw is None:
        return [0.0] * len(product_ids)
    shrink = 1.0 / decay.factor(since=float(epoch_raw), until=now)
    return [0.0 if count is None else float(count) * shrink for count in found]


async def engaged_people(
    redis: Redis, decay: Decay, segment: str, *, now: float, limit: int | None = None
) -> list[tuple[uuid.UUID, float]]:
    """The segment's products by how many distinct people engaged with them (decayed, as of ``now``, each weighed
    by their trust), most first, those of at least ``MIN_PEOPLE``: what ranks a feed (decision 0039, point 10).
    How intensely one person engages (a cart against a view, the same product again) is their own taste; how many
    people engage is the segment's."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(EPOCH_KEY)
        pipe.zrange(people_key(segment), 0, -1 if limit is None else limit - 1, desc=True, withscores=True)
        epoch_raw, members = await pipe.execute()
    if epoch_raw is None:
        return []
    shrink = 1.0 / decay.factor(since=float(epoch_raw), until=now)
    counts = ((uuid.UUID(member.decode()), float(count) * shrink) for member, count in members)
    return [(product_id, count) for product_id, count in counts if count >= MIN_PEOPLE]


async def people_gated(
    redis: Redis, decay: Decay, segment: str, scores: Sequence[tuple[uuid.UUID, float]], *, now: float
) -> list[tuple[uuid.UUID, float]]:
    """``scores`` of ``segment`` with those of products fewer than ``MIN_PEOPLE`` people engaged with set to 0."""
    people = await people_counts(redis, decay, segment, [product_id for product_id, _ in scores], now=now)
    return [
        (product_id, score if count >= MIN_PEOPLE else 0.0)
        for (product_id, score), count in zip(scores, people, strict=True)
    ]


async def rebase(redis: Redis, decay: Decay, *, now: float) -> int:
    """Move the epoch forward once it is ``REBASE_AFTER_HALF_LIVES`` behind; how many half-lives it moved."""
    steps = await redis.eval(_REBASE, 2, EPOCH_KEY, SEGMENTS_KEY, decay.half_life_seconds, now, REBASE_AFTER_HALF_LIVES)
    return int(steps)


async def mark_touched(redis: Redis, segment: str, product_ids: Sequence[uuid.UUID]) -> None:
    """Have the next roll-up take these scores again (a write it had to skip)."""
    if product_ids:
        await redis.sadd(TOUCHED_KEY, *(f"{KEY_PREFIX}{segment}|{product_id}" for product_id in product_ids))
