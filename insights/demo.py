"""A month of made-up behaviour for ``shoa dev``: what the mall insights, the staff page and the rankings show on a
newcomer's first start, before any real shopper has come by.

Shoppers of every segment (and anonymous devices) come back a few times over ``days``, at the hours Korean
shoppers do (lunch and late evening, more at the weekend), and look at the demo products made for their gender
and age band: a few products of each kind draw most of the looks, as in any shop. From a look, some click, like,
cart and buy, at rates near those Korean fashion apps report. The events go into the store as the real ones do
(segment, gender, age band, mall, product, category, time; an id for the shopper or the device), then the hourly
roll-up counts them. The anonymous devices had been around for a week before the month (their first-seen rows say
so), so the rankings count them (``insights.devices``). Only into a store that holds no event, so real data is never
mixed with made-up data.
"""

from __future__ import annotations

import datetime
import random
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from accounts.segments import KOREA, SEGMENT_GENDERS, AgeBand
from catalog.models import Mall, MallStatus, Product, ProductStatus
from insights.devices import FULL_TRUST_AFTER
from insights.models import Device, Event, RollupWatermark
from insights.rollup import roll_up_hours

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.ext.asyncio import AsyncSession

DEFAULT_SEED = 20261207
DAYS = 30
PEOPLE_PER_PRODUCTS = 5
"""One made-up person per this many products (4,000 for the 20,000 of ``shoa dev``), between the bounds below."""
MIN_PEOPLE, MAX_PEOPLE = 300, 4000
ANONYMOUS_SHARE = 0.3
"""People who browse without an account."""
FEMALE_SHARE = 0.68
BAND_WEIGHTS = {
    AgeBand.TEENS: 6,
    AgeBand.EARLY_20S: 16,
    AgeBand.MID_20S: 18,
    AgeBand.LATE_20S: 16,
    AgeBand.EARLY_30S: 13,
    AgeBand.MID_30S: 11,
    AgeBand.LATE_30S: 9,
    AgeBand.FORTIES_PLUS: 11,
}
HOUR_WEIGHTS = (3, 2, 1, 1, 1, 1, 1, 2, 4, 5, 5, 6, 9, 9, 6, 5, 5, 6, 7, 8, 10, 12, 12, 8)
"""How often a visit starts at each hour of the day, Korea time: the commute, lunch, and the evening on the sofa."""
WEEKEND_WEIGHT = 1.4
VISITS = (2, 10)
LOOKS = (2, 9)
"""Products looked at in one visit."""
CLICK, LIKE, CART, BUY = 0.38, 0.16, 0.08, 0.3
"""From a look: the chance of a click; from a click, of a like and of a cart; from a cart, of buying."""
COLUMNS = (
    "at", "id", "recorded_at", "kind", "product_id", "mall_id", "category_path", "segment", "gender", "age_band",
    "shopper_id", "device_id", "dedupe_key", "quantity", "amount",
)  # fmt: skip


@dataclass(frozen=True)
class _Product:
    id: uuid.UUID
    mall_id: uuid.UUID
    category_path: str
    price: int


@dataclass(frozen=True)
class _Person:
    segment: str
    gender: str | None
    band: AgeBand | None
    shopper_id: uuid.UUID | None
    device_id: str | None
    looks_for: str
    """The gender whose products the person looks at (an anonymous device's owner has one too)."""


async def seed_demo_behaviour(
    session: AsyncSession, *, now: datetime.datetime, days: int = DAYS, seed: int = DEFAULT_SEED
) -> int:
    """Store ``days`` of made-up events up to ``now`` and count them into the hourly aggregates, in the caller's
    transaction; how many were stored (none when the store holds any event or there is no listed product)."""
    if await session.scalar(sa.select(sa.exists().where(Event.at.is_not(None)))):
        return 0
    products = await _listed_products(session)
    if not products:
        return 0
    rng = random.Random(seed)  # noqa: S311 - made-up data, not a secret
    appeal = {product.id: rng.paretovariate(1.3) for product, _, _ in products}
    people = _people(rng, min(MAX_PEOPLE, max(MIN_PEOPLE, len(products) // PEOPLE_PER_PRODUCTS)))
    pools = {(gender, band): _Pool(products, appeal, gender, band) for gender in SEGMENT_GENDERS for band in AgeBand}
    rows = [
        row
        for person in people
        for row in _visits(rng, person, pools[person.looks_for, person.band or _any_band(rng)], now=now, days=days)
    ]
    connection = await (await session.connection()).get_raw_connection()
    await connection.driver_connection.copy_records_to_table(Event.__tablename__, records=rows, columns=COLUMNS)  # type: ignore[union-attr]
    devices = sorted({person.device_id for person in people if person.device_id is not None})
    if devices:
        first_seen = now - datetime.timedelta(days=days) - FULL_TRUST_AFTER
        await session.execute(
            insert(Device).values([{"device_id": device, "first_seen": first_seen} for device in devices])
            .on_conflict_do_nothing()
        )  # fmt: skip
    # Nothing was counted while the store was empty: the roll-up starts again from the beginning, so the month
    # counts whole even where a worker has already moved the watermark.
    await session.execute(sa.delete(RollupWatermark))
    await roll_up_hours(session, now=now)
    return len(rows)


async def _listed_products(session: AsyncSession) -> list[tuple[_Product, str, list[str]]]:
    rows = await session.execute(
        sa.select(
            Product.id, Product.mall_id, Product.category_path, Product.price_from, Product.target_gender,
            Product.target_age_bands,
        )
        .join(Mall, Mall.id == Product.mall_id)
        .where(Product.status == ProductStatus.ON_SALE, Mall.status == MallStatus.ACTIVE)
        .order_by(Product.id)
    )  # fmt: skip
    return [
        (_Product(product_id, mall_id, category, price), gender, bands)
        for product_id, mall_id, category, price, gender, bands in rows
    ]


class _Pool:
    """The products a person of one gender and age band looks at, drawn by their appeal."""

    def __init__(
        self,
        products: list[tuple[_Product, str, list[str]]],
        appeal: dict[uuid.UUID, float],
        gender: str,
        band: AgeBand,
    ) -> None:
        suited = [p for p, for_gender, bands in products if for_gender in {gender, "unisex"} and band.value in bands]
        self.products = suited or [p for p, for_gender, _ in products if for_gender in {gender, "unisex"}]
        self.weights = [appeal[product.id] for product in self.products]

    def draw(self, rng: random.Random, count: int) -> list[_Product]:
        return rng.choices(self.products, weights=self.weights, k=count) if self.products else []


def _people(rng: random.Random, count: int) -> list[_Person]:
    bands, weights = list(BAND_WEIGHTS), list(BAND_WEIGHTS.values())
    people = []
    for number in range(count):
        gender = "female" if rng.random() < FEMALE_SHARE else "male"
        if rng.random() < ANONYMOUS_SHARE:
            device = f"demo-device-{number:05d}"
            people.append(_Person("anonymous", None, None, None, device, gender))
            continue
        band = rng.choices(bands, weights=weights)[0]
        shopper = uuid.uuid5(uuid.NAMESPACE_URL, f"https://shoa.example/demo-shopper/{number}")
        people.append(_Person(f"{gender}:{band.value}", gender, band, shopper, None, gender))
    return people


def _any_band(rng: random.Random) -> AgeBand:
    return rng.choices(list(BAND_WEIGHTS), weights=list(BAND_WEIGHTS.values()))[0]


def _visits(
    rng: random.Random, person: _Person, pool: _Pool, *, now: datetime.datetime, days: int
) -> Iterator[tuple[object, ...]]:
    today = now.astimezone(KOREA).date()
    for _ in range(rng.randint(*VISITS)):
        day = today - datetime.timedelta(days=rng.randrange(days))
        weekend = day.weekday() >= 5
        if not weekend and rng.random() > 1 / WEEKEND_WEIGHT:
            day = day + datetime.timedelta(days=(5 - day.weekday()))  # some weekday visits move to Saturday
        hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
        at = datetime.datetime(day.year, day.month, day.day, hour, rng.randrange(60), tzinfo=KOREA)
        for product in pool.draw(rng, rng.randint(*LOOKS)):
            at += datetime.timedelta(seconds=rng.randint(5, 240))
            yield from _look(rng, person, product, at, now=now)


def _look(
    rng: random.Random, person: _Person, product: _Product, at: datetime.datetime, *, now: datetime.datetime
) -> Iterator[tuple[object, ...]]:
    kinds = ["view"]
    if rng.random() < CLICK:
        kinds.append("click")
        if rng.random() < LIKE:
            kinds.append("like")
        if rng.random() < CART:
            kinds.append("add_to_cart")
            if rng.random() < BUY:
                kinds.append("purchase")
    for step, kind in enumerate(kinds):
        moment = (at + datetime.timedelta(seconds=20 * step)).astimezone(datetime.UTC)
        if moment >= now:
            return
        quantity = (2 if rng.random() < 0.1 else 1) if kind == "purchase" else None
        yield (
            moment, uuid.uuid4(), moment, kind, product.id, product.mall_id, product.category_path, person.segment,
            person.gender, person.band.value if person.band is not None else None, person.shopper_id,
            person.device_id, uuid.uuid4(), quantity, product.price * quantity if quantity else None,
        )  # fmt: skip
