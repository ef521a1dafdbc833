"""The orders ``python -m bench support`` asks about: shoppers and their orders, written into the orders' own tables.

``SHOPPERS`` shoppers bought from the demo catalog over the last month; their mall-orders are paid, being prepared,
shipped (carrier and tracking number), delivered, confirmed, being returned, refunded or cancelled, with every
transition, the card payment and the return requests the states imply. Every ``LINKED_EVERY``-th shopper logged
in to Shoa with Kakao (an ``oauth_identities`` row), and their newest mall-order is on its way, so "where is my
parcel" has one answer. The rows are planned first (a pure function, tested) and then inserted as they are.
"""

from __future__ import annotations

import datetime
import itertools
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from uuid_utils.compat import uuid7

from accounts.models import OAuthIdentity, User
from catalog.models import Mall, Product, Variant
from orders.carriers import CARRIERS
from orders.models import AfterSale, MallOrder, Order, OrderLine, Payment, Transition
from orders.stock import options_text
from support.texts import KOREA

if TYPE_CHECKING:
    import uuid
    from collections.abc import Mapping, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

SHOPPERS = 3_000
LINKED_EVERY = 3
"""Every third shopper logged in to Shoa with Kakao, so Kakao sends their ``appUserId``."""
STATES = {
    "paid": 15,
    "preparing": 10,
    "shipped": 30,
    "delivered": 22,
    "confirmed": 10,
    "return_requested": 5,
    "refunded": 5,
    "cancelled": 3,
}
"""Unlinked shoppers' mall-orders by state (weights). A linked shopper's newest is shipped, the rest older."""
OLDER = ("delivered", "confirmed", "return_requested", "refunded")
PATHS = {
    "paid": ("awaiting_payment", "paid"),
    "preparing": ("awaiting_payment", "paid", "preparing"),
    "shipped": ("awaiting_payment", "paid", "preparing", "shipped"),
    "delivered": ("awaiting_payment", "paid", "preparing", "shipped", "delivered"),
    "confirmed": ("awaiting_payment", "paid", "preparing", "shipped", "delivered", "confirmed"),
    "return_requested": ("awaiting_payment", "paid", "preparing", "shipped", "delivered", "return_requested"),
    "refunded": (
        "awaiting_payment",
        "paid",
        "preparing",
        "shipped",
        "delivered",
        "return_requested",
        "returned",
        "refunded",
    ),
    "cancelled": ("awaiting_payment", "paid", "cancelled"),
}
AGE_DAYS = {
    "paid": (0.1, 1),
    "preparing": (1, 2),
    "shipped": (1, 3),
    "delivered": (4, 9),
    "confirmed": (10, 30),
    "return_requested": (4, 7),
    "refunded": (10, 30),
    "cancelled": (1, 20),
}
ACTORS = {
    "awaiting_payment": "shopper",
    "paid": "gateway",
    "confirmed": "shopper",
    "return_requested": "shopper",
    "cancelled": "shopper",
}
"""Who moved a mall-order into each state; the mall for the rest."""
TWO_MALLS = 0.15
"""Orders that bought from two malls (two mall-orders)."""


@dataclass(frozen=True, kw_only=True)
class Item:
    """A variant a shopper can buy, as an order line copies it."""

    variant_id: uuid.UUID
    product_id: uuid.UUID
    mall_id: uuid.UUID
    name: str
    sku: str
    options: str
    price: int


@dataclass(kw_only=True)
class OrderData:
    """Rows for the orders' tables, and what the conversations need to know of them."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    proofs: list[tuple[str, str]] = field(default_factory=list)
    """(order number, last 4 digits of the order's phone) of every order of an unlinked shopper."""
    linked: list[tuple[str, str]] = field(default_factory=list)
    """(Kakao ``appUserId``, tracking number of their shipped mall-order) of every linked shopper."""
    last_number: int = 0

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.tables.setdefault(table, []).append(row)


MODELS: dict[str, type[Any]] = {
    "users": User,
    "oauth_identities": OAuthIdentity,
    "orders": Order,
    "mall_orders": MallOrder,
    "order_lines": OrderLine,
    "order_payments": Payment,
    "order_transitions": Transition,
    "order_after_sales": AfterSale,
}
"""In the order their foreign keys need them written."""


def plan_orders(
    items: Sequence[Item],
    shipping: Mapping[uuid.UUID, tuple[int, int | None]],
    *,
    shoppers: int,
    now: datetime.datetime,
    seed: int,
) -> OrderData:
    """``shoppers`` shoppers and their orders over the last month, as rows of the orders' tables. ``shipping`` is
    each mall's fee and the amount from which it is free."""
    rng = random.Random(seed)
    by_mall: dict[uuid.UUID, list[Item]] = {}
    for item in items:
        by_mall.setdefault(item.mall_id, []).append(item)
    malls = sorted(by_mall)
    weights = [len(by_mall[mall_id]) for mall_id in malls]
    data, numbers = OrderData(), itertools.count(1)
    for n in range(shoppers):
        user_id, linked = uuid7(), n % LINKED_EVERY == 0
        middle, last = 2000 + n, f"{rng.randrange(10_000):04d}"
        data.add(
            "users",
            {
                "id": user_id,
                "email": f"shopper{n}@bench.shoa.test",
                "phone": f"+8210{middle}{last}",
                "display_name": f"쇼퍼{n}",
                "preferred_messenger": "alimtalk",
                "consent_alimtalk": True,
            },
        )
        address = {
            "postcode": "04044",
            "road_address": "서울특별시 마포구 양화로 45",
            "detail": f"{n % 30 + 1}층",
            "recipient": f"쇼퍼{n}",
            "phone": f"010-{middle}-{last}",
        }
        if linked:
            app_user_id = str(4_100_000_000 + n)
            data.add(
                "oauth_identities", {"id": uuid7(), "user_id": user_id, "provider": "kakao", "subject": app_user_id}
            )
            states = ["shipped", *rng.choices(OLDER, k=rng.randint(0, 2))]
        else:
            states = rng.choices(list(STATES), weights=list(STATES.values()), k=rng.randint(1, 3))
        for index, state in enumerate(states):
            mall_count = 1 if linked or rng.random() > TWO_MALLS else 2
            order_malls = set(rng.choices(malls, weights=weights, k=mall_count))
            age = datetime.timedelta(days=rng.uniform(*AGE_DAYS[state]))
            number = next(numbers)
            tracking = _order(
                data,
                rng,
                user_id=user_id,
                state=state,
                number=number,
                address=address,
                now=now,
                created=now - age,
                malls=[(by_mall[m], shipping[m]) for m in sorted(order_malls)],
            )
            if linked and index == 0:
                data.linked.append((app_user_id, tracking or ""))
            elif not linked:
                data.proofs.append((str(data.tables["orders"][-1]["number"]), last))
        data.last_number = number
    return data


def _order(
    data: OrderData,
    rng: random.Random,
    *,
    user_id: uuid.UUID,
    state: str,
    number: int,
    address: dict[str, str],
    now: datetime.datetime,
    created: datetime.datetime,
    malls: list[tuple[list[Item], tuple[int, int | None]]],
) -> str | None:
    """One order (paid by card) with a mall-order per mall, all in ``state``; the last tracking number given."""
    order_id, path = uuid7(), PATHS[state]
    moments = [created + (now - created) * step / len(path) for step in range(len(path))]
    items_total = shipping_total = refunded_total = 0
    names, tracking = [], None
    for mall_items, (mall_fee, free_from) in malls:
        mall_order_id = uuid7()
        bought = rng.sample(mall_items, min(len(mall_items), rng.choice((1, 1, 1, 2, 3))))
        lines = [(uuid7(), item, 2 if rng.random() < 0.1 else 1) for item in bought]
        items = sum(item.price * quantity for _, item, quantity in lines)
        fee = mall_fee if free_from is None or items < free_from else 0
        refunded = {"refunded": items, "cancelled": items + fee}.get(state, 0)
        carrier = rng.choice(sorted(CARRIERS)) if "shipped" in path else None
        if carrier is not None:
            tracking = "".join(rng.choices("0123456789", k=CARRIERS[carrier].digits[0]))
        delivered_at = moments[path.index("delivered")] if "delivered" in path else None
        data.add(
            "mall_orders",
            {
                "id": mall_order_id,
                "order_id": order_id,
                "mall_id": bought[0].mall_id,
                "status": state,
                "items_amount": items,
                "shipping_fee": fee,
                "refunded_amount": refunded,
                "carrier": carrier,
                "tracking_number": tracking if carrier is not None else None,
                "delivered_at": delivered_at,
                "created_at": created,
                "updated_at": moments[-1],
            },
        )
        for line_id, item, quantity in lines:
            data.add(
                "order_lines",
                {
                    "id": line_id,
                    "mall_order_id": mall_order_id,
                    "variant_id": item.variant_id,
                    "product_id": item.product_id,
                    "product_name": item.name,
                    "sku": item.sku,
                    "options": item.options,
                    "unit_price": item.price,
                    "quantity": quantity,
                },
            )
            names.append(item.name)
        for before, after, at in zip((None, *path), path, moments, strict=False):
            data.add(
                "order_transitions",
                {
                    "mall_order_id": mall_order_id,
                    "from_status": before,
                    "to_status": after,
                    "actor": ACTORS.get(after, "mall"),
                    "reason": "",
                    "at": at,
                },
            )
        if state in {"return_requested", "refunded"}:
            returned = lines if state == "refunded" else lines[:1]
            data.add(
                "order_after_sales",
                {
                    "id": uuid7(),
                    "mall_order_id": mall_order_id,
                    "kind": "return",
                    "status": "refunded" if state == "refunded" else "requested",
                    "reason": "사이즈가 맞지 않아요",
                    "lines": [{"line_id": str(line_id), "quantity": quantity} for line_id, _, quantity in returned],
                    "refund_amount": sum(item.price * quantity for _, item, quantity in returned),
                    "created_at": moments[path.index("return_requested")],
                },
            )
        items_total, shipping_total, refunded_total = (
            items_total + items,
            shipping_total + fee,
            refunded_total + refunded,
        )
    total = items_total + shipping_total
    name = names[0][:90] if len(names) == 1 else f"{names[0][:80]} 외 {len(names) - 1}건"
    number_text = f"SH{created.astimezone(KOREA):%Y%m%d}-{number:06d}"
    data.add(
        "orders",
        {
            "id": order_id,
            "number": number_text,
            "user_id": user_id,
            "name": name,
            "payment_method": "card",
            "items_amount": items_total,
            "shipping_amount": shipping_total,
            "total_amount": total,
            "address": address,
            "created_at": created,
        },
    )
    status = "DONE" if not refunded_total else "CANCELED" if refunded_total == total else "PARTIAL_CANCELED"
    data.add(
        "order_payments",
        {
            "id": uuid7(),
            "order_id": order_id,
            "gateway": "sandbox",
            "method": "card",
            "status": status,
            "amount": total,
            "balance_amount": total - refunded_total,
            "payment_key": f"bench_{number_text}",
            "approved_at": moments[1],
            "created_at": created,
            "updated_at": moments[-1],
        },
    )
    return tracking


async def seed_orders(session: AsyncSession, *, seed: int) -> OrderData:
    """The shoppers and orders of ``plan_orders``, over the catalog in the database, written in one go."""
    rows = await session.execute(
        sa.select(
            Variant.id,
            Variant.product_id,
            Variant.mall_id,
            Product.name,
            Variant.sku,
            Variant.color,
            Variant.size,
            Variant.options,
            sa.func.coalesce(Variant.sale_price, Variant.price),
        )
        .join(Product, Product.id == Variant.product_id)
        .order_by(Variant.id)
    )
    items = [
        Item(
            variant_id=variant_id,
            product_id=product_id,
            mall_id=mall_id,
            name=name,
            sku=sku,
            options=options_text(color, size, options),
            price=price,
        )
        for variant_id, product_id, mall_id, name, sku, color, size, options, price in rows
    ]
    shipping = {
        mall_id: (fee, free_from)
        for mall_id, fee, free_from in await session.execute(
            sa.select(Mall.id, Mall.shipping_fee, Mall.free_shipping_threshold)
        )
    }
    data = plan_orders(items, shipping, shoppers=SHOPPERS, now=datetime.datetime.now(datetime.UTC), seed=seed)
    for table, model in MODELS.items():
        rows_of_table = data.tables.get(table, [])
        for start in range(0, len(rows_of_table), 2_000):
            await session.execute(sa.insert(model), rows_of_table[start : start + 2_000])
    await session.execute(sa.select(sa.func.setval("order_number_seq", data.last_number)))
    return data
