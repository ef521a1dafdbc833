"""Each segment's feed candidates, precomputed by the worker so a feed request is a few Redis reads.

A candidate's base score has three parts, each between 0 and 1, and nothing else:

- ``target``: how well the mall's declared audience fits the segment (gender, then age band; for the anonymous
  default segment also its office and minimal looks);
- ``popularity``: how many of the segment's people engaged with the product (time-decayed, each weighed by their
  trust), relative to the segment's most engaged product (square-rooted): how many engage, not how intensely one
  does (decision 0039, point 10);
- ``everyone``: a prior from the other segments' engagement, which lets a segment with little behaviour of its
  own (or one sharing its taste with others) benefit from theirs. Bounded: each other segment's engagement is taken
  relative to its own most engaged product, and for each product the largest of those parts is left out, so what
  one segment alone does (a ring of accounts in it, say) never moves another segment's prior; only what several
  segments engage with does (``prior_of``);
- ``freshness``: how new the product is (half-life ``FRESHNESS_HALF_LIFE_DAYS``).

Engagement is counted as people, not events (``personalization.scores``, decision 0039): each contributor once per
product and week, a device by its breadth and age, and only for products more than one person engaged with.

Behaviour outweighs the declared audience once there is some: a product the segment engages with beats one that
is only declared for it. Without any behaviour (a new segment, a new shop) target and freshness decide.

No column of a mall takes part except its listing status: there is no field a mall could pay to move.
Sold-out and hidden products, and those of unlisted malls, are never candidates.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from accounts.segments import ANONYMOUS, SEGMENT_GENDERS, AgeBand
from catalog.models import Mall, MallStatus, Product, ProductStatus
from personalization.scores import engaged_people

if TYPE_CHECKING:
    import datetime
    from collections.abc import Iterable

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from personalization.scores import Decay

CANDIDATES = 1000
"""Per segment: 50 pages of 20, far more than shoppers scroll."""
WEIGHTS = {"target": 0.3, "popularity": 1.0, "everyone": 0.3, "freshness": 0.2}
"""The base score's weights (see :func:`base_score`)."""
FRESHNESS_HALF_LIFE_DAYS = 14.0
POPULAR_CONSIDERED = 5000
"""The segment's most engaged products that take part; the rest score 0 on popularity."""
PRIOR_SEGMENTS = 3
"""The prior's divisor at least: with few segments engaging, what two of them like still lifts a third only so
much."""
KEPT_SECONDS = 3600
"""A replaced candidate list is kept this long, so cursors into it keep working."""

KEY_PREFIX = "shoa:feed:candidates:"

DEFAULT_LOOKS = ("오피스룩", "미니멀")
DEFAULT_BANDS = (AgeBand.LATE_20S, AgeBand.EARLY_30S, AgeBand.MID_30S, AgeBand.LATE_30S)
"""The anonymous segment: women from their late 20s to their 30s, office and minimal looks."""


@overload
def base_score(target: float, popularity: float, everyone: float, freshness: float) -> float: ...
@overload
def base_score(
    target: sa.ColumnElement[Any],
    popularity: sa.ColumnElement[Any],
    everyone: sa.ColumnElement[Any],
    freshness: sa.ColumnElement[Any],
) -> sa.ColumnElement[Any]: ...
def base_score(target: Any, popularity: Any, everyone: Any, freshness: Any) -> Any:
    """The weighted sum of a candidate's parts: the one formula, computed in SQL where candidates are chosen and
    in Python where a stored candidate explains its score."""
    return (
        WEIGHTS["target"] * target
        + WEIGHTS["popularity"] * popularity
        + WEIGHTS["everyone"] * everyone
        + WEIGHTS["freshness"] * freshness
    )


def all_segments() -> list[str]:
    return [ANONYMOUS, *(f"{gender}:{band.value}" for gender in SEGMENT_GENDERS for band in AgeBand)]


class Candidate(msgspec.Struct, array_like=True, frozen=True):
    product_id: uuid.UUID
    mall_id: uuid.UUID
    category: str
    """The top level of its category path (상의, 원피스 …)."""
    target: float
    popularity: float
    everyone: float
    freshness: float

    @property
    def base(self) -> float:
        return base_score(self.target, self.popularity, self.everyone, self.freshness)


class CandidateList(msgspec.Struct, frozen=True):
    segment: str
    version: str
    items: list[Candidate]


@dataclass(frozen=True)
class _Audience:
    genders: tuple[str, ...]
    bands: tuple[str, ...]
    looks: tuple[str, ...]


def _audience(segment: str) -> _Audience:
    if segment == ANONYMOUS:
        return _Audience(("female", "unisex"), tuple(band.value for band in DEFAULT_BANDS), DEFAULT_LOOKS)
    gender, band = segment.split(":", 1)
    return _Audience((gender, "unisex"), (band,), ())


Shares = dict[str, dict[uuid.UUID, float]]
"""Per segment, each engaged product's people count relative to the segment's most engaged one (0 to 1)."""


async def engagement_shares(redis: Redis, decay: Decay, *, now: datetime.datetime) -> Shares:
    """Every segment's shares, from the people counts of products more than one person engaged with."""
    shares: Shares = {}
    for segment in all_segments():
        counts = await engaged_people(redis, decay, segment, now=now.timestamp(), limit=POPULAR_CONSIDERED)
        top = max((count for _, count in counts), default=0.0)
        shares[segment] = {product_id: count / top for product_id, count in counts} if top > 0 else {}
    return shares


def prior_of(segment: str, shares: Shares) -> dict[uuid.UUID, float]:
    """The other segments' shares summed per product, less the largest of them, over the number of others that
    engage at all less one (at least ``PRIOR_SEGMENTS``): from 0 to 1, and 0 for what one segment alone likes."""
    others = [share for name, share in shares.items() if name != segment and share]
    totals: dict[uuid.UUID, float] = {}
    largest: dict[uuid.UUID, float] = {}
    for share in others:
        for product_id, value in share.items():
            totals[product_id] = totals.get(product_id, 0.0) + value
            largest[product_id] = max(largest.get(product_id, 0.0), value)
    divisor = max(len(others) - 1, PRIOR_SEGMENTS)
    return {
        product_id: (total - largest[product_id]) / divisor
        for product_id, total in totals.items()
        if total > largest[product_id]
    }


async def compute(
    session: AsyncSession,
    redis: Redis,
    decay: Decay,
    segment: str,
    *,
    now: datetime.datetime,
    shares: Shares | None = None,
) -> CandidateList:
    """The segment's top ``CANDIDATES`` products by base score, computed in one query (``shares``: every segment's,
    when the caller has them already)."""
    audience = _audience(segment)
    text_array = ARRAY(sa.String())
    if shares is None:
        shares = await engagement_shares(redis, decay, now=now)
    engaged = _rows(shares.get(segment, {}).items(), name="engaged")
    pooled = _rows(prior_of(segment, shares).items(), name="pooled")
    gender_fits = Product.target_gender == sa.any_(sa.literal(list(audience.genders), text_array))
    band_fits = sa.or_(
        Product.target_age_bands == sa.literal([], text_array),
        Product.target_age_bands.op("&&")(sa.literal(list(audience.bands), text_array)),
    )
    target: sa.ColumnElement[Any] = sa.case((sa.and_(gender_fits, band_fits), 0.8), (gender_fits, 0.4), else_=0.0)
    if audience.looks:
        looks = Product.style_tags.op("&&")(sa.literal(list(audience.looks), text_array))
        target = target + sa.case((sa.and_(gender_fits, looks), 0.2), else_=0.0)
    else:
        target = target + sa.case((sa.and_(gender_fits, band_fits), 0.2), else_=0.0)
    age_days = sa.extract("epoch", sa.literal(now) - Product.created_at) / 86400.0
    freshness = sa.func.power(0.5, age_days / FRESHNESS_HALF_LIFE_DAYS)
    eligible = (
        sa.select(
            Product.id,
            Product.mall_id,
            sa.func.split_part(Product.category_path, "/", 1).label("category"),
            target.label("target"),
            sa.func.coalesce(engaged.c.score, 0.0).label("engaged"),
            sa.func.coalesce(pooled.c.score, 0.0).label("pooled"),
            freshness.label("freshness"),
        )
        .join(Mall, Mall.id == Product.mall_id)
        .outerjoin(engaged, engaged.c.product_id == Product.id)
        .outerjoin(pooled, pooled.c.product_id == Product.id)
        .where(
            Product.status == ProductStatus.ON_SALE.value,
            Product.in_stock,
            Mall.status == MallStatus.ACTIVE.value,
            gender_fits,  # a women's feed shows no men's products, however popular, and the other way round
        )
        .subquery("eligible")
    )
    e = eligible.c
    popularity, everyone = _share(e.engaged), _share(e.pooled)
    base = base_score(e.target, popularity, everyone, e.freshness)
    query = (
        sa.select(e.id, e.mall_id, e.category, e.target, popularity, everyone, e.freshness)
        .order_by(base.desc(), e.id.desc())
        .limit(CANDIDATES)
    )
    items = [
        Candidate(product_id, mall_id, category, *(round(float(part), 4) for part in parts))
        for product_id, mall_id, category, *parts in await session.execute(query)
    ]
    return CandidateList(segment=segment, version=f"{time.time_ns():x}", items=items)


def _rows(scores: Iterable[tuple[uuid.UUID, float]], *, name: str) -> sa.Subquery:
    """Products with a value, as rows to join."""
    pairs = list(scores)
    return sa.select(
        sa.func.unnest(sa.literal([p for p, _ in pairs], ARRAY(sa.Uuid()))).label("product_id"),
        sa.func.unnest(sa.literal([s for _, s in pairs], ARRAY(sa.Double()))).label("score"),
    ).subquery(name)


def _share(score: sa.ColumnElement[float]) -> sa.ColumnElement[float]:
    """0 to 1: a product's engagement against the most engaged product *this segment may be shown*,
    square-rooted (a few viral products must not drown the rest, yet ten times the engagement still ranks
    clearly higher). Relative to the eligible products, so that the prior, led by women's segments, still orders
    men's products well for a men's segment."""
    top = sa.func.nullif(sa.func.max(score).over(), 0.0)
    return sa.func.coalesce(sa.func.sqrt(score / top), 0.0)


async def store(redis: Redis, candidates: CandidateList) -> None:
    """Publish a segment's new list; the previous one stays readable for ``KEPT_SECONDS`` (open cursors)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(f"{KEY_PREFIX}{candidates.segment}:{candidates.version}", _encoder.encode(candidates), ex=KEPT_SECONDS)
        pipe.set(f"{KEY_PREFIX}{candidates.segment}:current", candidates.version)
        await pipe.execute()


async def current_version(redis: Redis, segment: str) -> str | None:
    raw = await redis.get(f"{KEY_PREFIX}{segment}:current")
    return raw.decode() if isinstance(raw, bytes) else raw


async def load(redis: Redis, segment: str, version: str) -> CandidateList | None:
    raw = await redis.get(f"{KEY_PREFIX}{segment}:{version}")
    if raw is None:
        return None
    return _decoder.decode(raw if isinstance(raw, bytes) else raw.encode())


async def refresh_all(session: AsyncSession, redis: Redis, decay: Decay, *, now: datetime.datetime) -> int:
    """Recompute every segment's list; how many segments."""
    segments = all_segments()
    shares = await engagement_shares(redis, decay, now=now)
    for segment in segments:
        await store(redis, await compute(session, redis, decay, segment, now=now, shares=shares))
    return len(segments)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(CandidateList)
