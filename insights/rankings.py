"""Rankings for shoppers: what the people of one segment engaged with and bought, counted per person.

Read straight from the event store, not from the hourly aggregates: a person is counted once per product and
period, and distinct people cannot be added up from hourly cells (someone active in five hours is one person,
not five), nor can one person's contribution be capped without the person's own rows. So, per product, within
the segment and the period's window:

- each distinct person (a signed-in shopper, or an anonymous app's device) counts once for each kind of thing
  they did (viewed, clicked, liked, put in the cart, bought), whatever the number of events: a device sending a
  hundred views is one viewer;
- a person's part is the sum of the weights of those kinds (``KIND_WEIGHTS``), halved for an anonymous device
  (``DEVICE_WEIGHT``: a device id is free to make, an account is not), and a device's events count only once the
  store first saw it a day before they were received, then in proportion to its age (``insights.devices``: the
  store's clock, never the app's): a hundred device ids made today are no one;
- a product met by fewer than ``MIN_PEOPLE`` distinct people does not rank at all.

Then, at read time, against the catalog as it is now: sold-out and hidden products and those of unlisted malls
removed, the category filter applied, and mall diversity (at most ``MAX_PER_MALL`` of one mall in any
``DIVERSITY_WINDOW`` consecutive places; where no mall may come next, the ranking ends there). The previous
window of the same length is ranked the same way, and each product's place is compared with its place there.

Windows (``PERIODS``) are rolling and end on a step (a minute for realtime, ten minutes for the others), so every
API process agrees on them and one computation per step and segment is kept in Redis for the others. Nothing about
a mall but its listing status takes part: no column a mall could pay to change.
"""

from __future__ import annotations

import datetime
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import msgspec
import sqlalchemy as sa

from accounts.segments import ANONYMOUS, SEGMENT_GENDERS, AgeBand
from accounts.service import shopper_segment
from catalog.categories import CATEGORY_PATHS
from catalog.models import Mall, MallStatus, Product, ProductStatus
from insights.devices import FULL_TRUST_AFTER, TRUSTED_AFTER
from insights.errors import InvalidPeriodError, UnknownCategoryError, UnknownSegmentError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

PeriodName = Literal["realtime", "daily", "weekly"]
Change = Literal["up", "down", "same", "new"]


@dataclass(frozen=True)
class Period:
    length: datetime.timedelta
    """How far back the window reaches from its end."""
    step: datetime.timedelta
    """The window's end is ``now`` rounded down to this."""


PERIODS: dict[str, Period] = {
    "realtime": Period(datetime.timedelta(hours=1), datetime.timedelta(minutes=1)),
    "daily": Period(datetime.timedelta(days=1), datetime.timedelta(minutes=10)),
    "weekly": Period(datetime.timedelta(days=7), datetime.timedelta(minutes=10)),
}
SEGMENTS: tuple[str, ...] = (ANONYMOUS, *(f"{gender}:{band.value}" for gender in SEGMENT_GENDERS for band in AgeBand))

KIND_WEIGHTS = {"view": 1.0, "click": 1.0, "like": 2.0, "add_to_cart": 3.0, "purchase": 5.0}
"""What one person doing each kind of thing (once or a hundred times) adds to a product's score."""
DEVICE_WEIGHT = 0.5
"""An anonymous device's part against a signed-in shopper's."""
MIN_PEOPLE = 5
"""A product ranks only when at least this many distinct people met it in the window."""
MAX_PER_MALL = 2
DIVERSITY_WINDOW = 10
MAX_LENGTH = 50
"""A ranking's places at most."""
SCORED_DEPTH = 1000
"""Products kept per segment and window, best first, before the catalog and the category filter thin them."""
CLOCK_SKEW = datetime.timedelta(minutes=10)
"""The app's clock may be ahead of the store's by the events API's 5 minutes: an event of the window was received
at most this long before the window starts (what lets the store's BRIN index on ``recorded_at`` skip the rest)."""
CACHE_PREFIX = "shoa:rankings:"


class RankedMall(msgspec.Struct, frozen=True):
    id: uuid.UUID
    name: str


class RankedProduct(msgspec.Struct, kw_only=True):
    rank: int
    """Its place, from 1."""
    previous_rank: int | None
    """Its place in the window before, ranked the same way; ``None`` when it was not ranked there."""
    change: Change
    """``up``, ``down`` or ``same`` against ``previous_rank``; ``new`` when it was not ranked."""
    id: uuid.UUID
    name: str
    image_url: str
    price_from: int
    currency: str
    category_path: str
    mall: RankedMall
    people: int
    """Distinct people of the segment who met it in the window (signed-in shoppers and anonymous devices)."""
    buyers: int
    """Of those, how many bought it."""
    score: float
    """The sum of the people's parts (see ``KIND_WEIGHTS``, ``DEVICE_WEIGHT``)."""


class Rankings(msgspec.Struct, kw_only=True):
    segment: str
    category: str | None
    period: PeriodName
    since: datetime.datetime
    """The window: events that happened from ``since`` …"""
    until: datetime.datetime
    """… to ``until`` (excluded)."""
    compared_since: datetime.datetime
    """The window ``previous_rank`` comes from: ``compared_since`` to ``since``."""
    items: list[RankedProduct]


class _Scored(msgspec.Struct, array_like=True, frozen=True):
    product_id: uuid.UUID
    score: float
    people: int
    buyers: int


class _Windows(msgspec.Struct, array_like=True):
    current: list[_Scored]
    previous: list[_Scored]


def window(period: str, now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime, datetime.datetime]:
    """The period's window as of ``now``: (the previous window's start, the window's start, its end)."""
    if (spec := PERIODS.get(period)) is None:
        msg = f"`period` must be one of {', '.join(PERIODS)}; got {period!r}"
        raise InvalidPeriodError(msg, parameter="period")
    epoch = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    until = epoch + (now.astimezone(datetime.UTC) - epoch) // spec.step * spec.step
    return until - 2 * spec.length, until - spec.length, until


async def rank_products(
    session: AsyncSession,
    redis: Redis,
    *,
    period: str,
    segment: str | None,
    shopper_id: uuid.UUID | None,
    category: str | None,
    limit: int,
    now: datetime.datetime,
) -> Rankings:
    """The segment's ranking for the period (``segment`` when given, else the shopper's own, else the default
    segment's), its products checked against the catalog now, with each one's change since the window before."""
    compared_since, since, until = window(period, now)
    if category is not None and category not in CATEGORY_PATHS:
        msg = f"unknown category {category!r}; see GET /v1/categories"
        raise UnknownCategoryError(msg, parameter="category")
    if segment is None:
        segment = ANONYMOUS if shopper_id is None else await shopper_segment(session, shopper_id, now=now)
    elif segment not in SEGMENTS:
        msg = f"`segment` must be one of {', '.join(SEGMENTS)}; got {segment!r}"
        raise UnknownSegmentError(msg, parameter="segment")
    scored = await _scored_windows(
        session, redis, segment=segment, period=period, bounds=(compared_since, since, until)
    )
    shown = await _on_show(session, {s.product_id for s in (*scored.current, *scored.previous)}, category=category)
    current = _ranked(scored.current, shown, length=min(limit, MAX_LENGTH))
    previous_places = {s.product_id: place for place, s in enumerate(_ranked(scored.previous, shown), start=1)}
    items = []
    for place, item in enumerate(current, start=1):
        product = shown[item.product_id]
        before = previous_places.get(item.product_id)
        items.append(
            RankedProduct(
                rank=place, previous_rank=before, change=_change(place, before), id=item.product_id,
                name=product.name, image_url=product.image_url, price_from=product.price_from,
                currency=product.currency, category_path=product.category_path,
                mall=RankedMall(product.mall_id, product.mall_name), people=item.people, buyers=item.buyers,
                score=round(item.score, 2),
            )
        )  # fmt: skip
    return Rankings(
        segment=segment, category=category, period=period,  # type: ignore[arg-type]  # checked by window()
        since=since, until=until, compared_since=compared_since, items=items,
    )  # fmt: skip


def _change(place: int, before: int | None) -> Change:
    if before is None:
        return "new"
    return "up" if place < before else "down" if place > before else "same"


async def _scored_windows(
    session: AsyncSession,
    redis: Redis,
    *,
    segment: str,
    period: str,
    bounds: tuple[datetime.datetime, datetime.datetime, datetime.datetime],
) -> _Windows:
    """Both windows' scored products, from Redis when another request of this step computed them."""
    compared_since, since, until = bounds
    key = f"{CACHE_PREFIX}{segment}:{period}:{int(until.timestamp())}"
    if (raw := await redis.get(key)) is not None:
        return _decoder.decode(raw if isinstance(raw, bytes) else raw.encode())
    windows = _Windows(
        current=await scored_products(session, segment=segment, since=since, until=until),
        previous=await scored_products(session, segment=segment, since=compared_since, until=since),
    )
    await redis.set(key, _encoder.encode(windows), ex=int(PERIODS[period].step.total_seconds()) + 60)
    return windows


async def scored_products(
    session: AsyncSession, *, segment: str, since: datetime.datetime, until: datetime.datetime
) -> list[_Scored]:
    """The segment's products met by at least ``MIN_PEOPLE`` people from ``since`` to ``until``, best first.

    A device's events count only when received ``TRUSTED_AFTER`` or more after the device was first seen, and the
    device for as much of itself as its oldest such event says (``insights.devices.age_trust``)."""
    did = {kind: f"bool_or(e.kind = '{kind}')" for kind in KIND_WEIGHTS}
    part = " + ".join(f"{weight} * did_{kind}::int" for kind, weight in KIND_WEIGHTS.items())
    rows = await session.execute(
        sa.text(f"""
            WITH people AS (
                SELECT e.product_id, e.shopper_id IS NOT NULL AS signed_in,
                       max(least(1.0, extract(epoch FROM e.recorded_at - d.first_seen) / :full_trust_seconds))
                           AS trust,
                       {", ".join(f"{expression} AS did_{kind}" for kind, expression in did.items())}
                FROM insights_events e
                LEFT JOIN insights_devices d ON e.shopper_id IS NULL AND d.device_id = e.device_id
                WHERE e.segment = :segment AND e.at >= :since AND e.at < :until AND e.recorded_at >= :received_since
                  AND (e.shopper_id IS NOT NULL OR e.recorded_at >= d.first_seen + :trusted_after)
                GROUP BY e.product_id, coalesce(e.shopper_id::text, e.device_id), e.shopper_id IS NOT NULL
            )
            SELECT product_id,
                   sum(CASE WHEN signed_in THEN 1.0 ELSE :device_weight * trust END * ({part})) AS score,
                   count(*) AS people,
                   count(*) FILTER (WHERE did_purchase) AS buyers
            FROM people
            GROUP BY product_id
            HAVING count(*) >= :min_people
            ORDER BY score DESC, people DESC, product_id
            LIMIT :depth
        """),  # noqa: S608 - the only interpolations are this module's own constants
        {
            "segment": segment,
            "since": since,
            "until": until,
            "received_since": since - CLOCK_SKEW,
            "device_weight": DEVICE_WEIGHT,
            "trusted_after": TRUSTED_AFTER,
            "full_trust_seconds": FULL_TRUST_AFTER.total_seconds(),
            "min_people": MIN_PEOPLE,
            "depth": SCORED_DEPTH,
        },
    )
    return [_Scored(product_id, float(score), int(people), int(buyers)) for product_id, score, people, buyers in rows]


@dataclass(frozen=True, slots=True)
class _OnShow:
    mall_id: uuid.UUID
    mall_name: str
    name: str
    image_url: str
    price_from: int
    currency: str
    category_path: str


async def _on_show(
    session: AsyncSession, product_ids: set[uuid.UUID], *, category: str | None
) -> dict[uuid.UUID, _OnShow]:
    """Which of the products a shopper may see and buy now (on sale, in stock, their mall listed), in the
    category when one is asked for."""
    if not product_ids:
        return {}
    query = (
        sa.select(
            Product.id, Product.mall_id, Mall.name, Product.name, Product.image_urls[1], Product.price_from,
            Product.currency, Product.category_path,
        )
        .join(Mall, Mall.id == Product.mall_id)
        .where(
            Product.id.in_(product_ids),
            Product.status == ProductStatus.ON_SALE.value,
            Product.in_stock,
            Mall.status == MallStatus.ACTIVE.value,
        )
    )  # fmt: skip
    if category is not None:
        query = query.where(sa.or_(Product.category_path == category, Product.category_path.startswith(f"{category}/")))
    return {
        product_id: _OnShow(mall_id, mall_name, name, image_url or "", int(price), currency, path)
        for product_id, mall_id, mall_name, name, image_url, price, currency, path in await session.execute(query)
    }


def _ranked(scored: Sequence[_Scored], shown: dict[uuid.UUID, _OnShow], *, length: int = MAX_LENGTH) -> list[_Scored]:
    """The products on show, best first, with at most ``MAX_PER_MALL`` of one mall in any ``DIVERSITY_WINDOW``
    consecutive places: at each place the best product whose mall may come; when none may, the ranking ends."""
    remaining = [item for item in scored if item.product_id in shown]
    chosen: list[_Scored] = []
    while remaining and len(chosen) < length:
        recent = Counter(shown[item.product_id].mall_id for item in chosen[-(DIVERSITY_WINDOW - 1) :])
        pick = next(
            (i for i, item in enumerate(remaining) if recent[shown[item.product_id].mall_id] < MAX_PER_MALL), None
        )
        if pick is None:
            break
        chosen.append(remaining.pop(pick))
    return chosen


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Windows)
