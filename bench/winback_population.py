"""The win-back benchmark's shoppers and their known response (``bench.winback``): who agreed to advertising and
to getting it at night, who turned a kind off, which products each likes and leaves in a cart, whose prices fall,
and whether a shopper buys after a decision. Pure and seeded: the same seed gives the same population, carts and
falls, and the same draw for the same decision. (Which of a shopper's falls take her week's two messages is the
job's to choose, by a hash of the products' ids, which differ between runs: so do a few decisions and draws.)
"""

from __future__ import annotations

import datetime
import math
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from winback.policy import PURCHASE_WINDOW
from winback.report import uplift

if TYPE_CHECKING:
    import random
    from collections.abc import Sequence

MARKETING_SHARE = 0.75
"""Shoppers who agreed to advertising by SMS; the others take order messages (AlimTalk) only."""
NIGHT_SHARE = 0.25
"""Of those, the shoppers who also agreed to get it at night."""
TURNED_OFF_SHARE = 0.06
"""Shoppers who turned price drops (half of them) or cart reminders (the other half) off in their settings."""
LIKES = 3
CART_SHARE = 0.4
"""Shoppers who leave a line in their cart the day before each round."""
CART_OF_A_LIKE = 0.5
"""Of those lines, a variant of a product she likes: where a cart reminder meets the product cap."""
FALL_SHARE = 0.3
"""Liked products whose price falls in each round."""
FALL = 0.85
"""A fall takes every variant's price to 85% (rounded down to 100 won): past every shopper's 10% threshold."""
POPULARITY = 0.8
"""The n-th product of the shelf is liked about 1/n^0.8 as often as the first (a long tail, as engagement is)."""

TurnedOff = Literal["price_drops", "cart_reminders"]


@dataclass(frozen=True)
class ShelfProduct:
    product_id: uuid.UUID
    mall_id: uuid.UUID
    external_id: str
    variant_ids: tuple[uuid.UUID, ...]
    """Its variants in stock: what a cart can hold."""


@dataclass(frozen=True, kw_only=True)
class SimulatedShopper:
    user_id: uuid.UUID
    phone: str
    marketing: bool
    night: bool
    turned_off: TurnedOff | None
    likes: tuple[ShelfProduct, ...]


def shopper_phone(number: int, *, block: int) -> str:
    """A Korean mobile (+82 10 …) of its own for each shopper; ``block`` keeps populations apart."""
    return f"+8210{block * 10_000_000 + number:08d}"


def seeded_uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def plan_shoppers(rng: random.Random, shelf: Sequence[ShelfProduct], *, count: int) -> list[SimulatedShopper]:
    """``count`` shoppers, each liking ``LIKES`` distinct products of the shelf, popular ones more often."""
    if len(shelf) < LIKES:
        msg = f"the shelf has {len(shelf)} products in stock; each shopper likes {LIKES}"
        raise ValueError(msg)
    weights = [1.0 / (rank + 1) ** POPULARITY for rank in range(len(shelf))]
    shoppers = []
    for number in range(count):
        marketing = rng.random() < MARKETING_SHARE
        night = marketing and rng.random() < NIGHT_SHARE
        turned_off: TurnedOff | None = None
        if rng.random() < TURNED_OFF_SHARE:
            turned_off = "price_drops" if rng.random() < 0.5 else "cart_reminders"
        liked: dict[uuid.UUID, ShelfProduct] = {}
        while len(liked) < LIKES:
            product = rng.choices(shelf, weights=weights)[0]
            liked[product.product_id] = product
        shoppers.append(
            SimulatedShopper(
                user_id=seeded_uuid(rng),
                phone=shopper_phone(number, block=1),
                marketing=marketing,
                night=night,
                turned_off=turned_off,
                likes=tuple(liked.values()),
            )
        )
    return shoppers


def plan_carts(
    rng: random.Random, shoppers: Sequence[SimulatedShopper], shelf: Sequence[ShelfProduct]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """One round's cart lines, ``(user_id, variant_id)``: a ``CART_SHARE`` of the shoppers leave one each."""
    lines = []
    for shopper in shoppers:
        if rng.random() >= CART_SHARE:
            continue
        product = rng.choice(shopper.likes) if rng.random() < CART_OF_A_LIKE else rng.choice(shelf)
        lines.append((shopper.user_id, rng.choice(product.variant_ids)))
    return lines


def plan_falls(rng: random.Random, shoppers: Sequence[SimulatedShopper]) -> list[ShelfProduct]:
    """One round's falls: a ``FALL_SHARE`` of the products somebody likes."""
    liked = sorted({product.product_id: product for s in shoppers for product in s.likes}.values(), key=_by_name)
    return sorted(rng.sample(liked, max(1, round(FALL_SHARE * len(liked)))), key=_by_name)


def fallen_price(price: int) -> int:
    return max(100, math.floor(price * FALL / 100) * 100)


def _by_name(product: ShelfProduct) -> str:
    """The mall's own id for it: the same in every run, where the row's id is not."""
    return product.external_id


@dataclass(frozen=True, kw_only=True)
class ResponseModel:
    """The truth the hold-out must find: a shopper who was decided about buys the decision's product within 7 days
    with ``base_rate``, and with ``base_rate + uplift`` when the message was sent to her."""

    base_rate: float
    uplift: float

    def purchase(
        self,
        rng: random.Random,
        *,
        messaged: bool,
        decided_at: datetime.datetime,
        sends_at: datetime.datetime | None,
    ) -> datetime.datetime | None:
        """When she buys, or None: a moment between the message reaching her (a message held until the morning
        is read in the morning) and the end of the decision's 7-day window."""
        if rng.random() >= self.base_rate + (self.uplift if messaged else 0.0):
            return None
        start = sends_at or decided_at
        end = decided_at + PURCHASE_WINDOW - datetime.timedelta(minutes=1)
        return start + (end - start) * rng.random()


@dataclass(frozen=True, kw_only=True)
class Interval:
    """An uplift in percentage points and its 95% interval."""

    points: float
    low: float
    high: float

    def contains(self, points: float) -> bool:
        return self.low <= points <= self.high


def uplift_interval(x1: int, n1: int, x0: int, n0: int) -> Interval | None:
    """The report's own interval (:func:`winback.report.uplift`, Newcombe's from two Wilson intervals) over counts
    summed across malls: ``x1`` of ``n1`` sent decisions bought, ``x0`` of ``n0`` held out."""
    found = uplift(x1, n1, x0, n0)
    return None if found is None else Interval(points=found.points, low=found.low, high=found.high)
