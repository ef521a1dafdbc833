"""OWASP API Security Top 10 (2023), API6 — unrestricted access to sensitive business flows: buying a hot item and
ranking products, the two flows an automated buyer would abuse.

Here: one shopper cannot hoard a hot item with unpaid orders — past ``SHOA_ORDERS_UNPAID_UNITS_PER_PRODUCT`` units
of one product waiting for her payment (every option of it together, card and deposit orders alike, even checking
out in parallel) a checkout is a 409 and nothing is taken, while other shoppers buy what she could not hold; paying
frees her allowance and an unpaid order that expires gives its stock and her allowance back; an unpaid order, and
an event an app sends, never counts as a purchase in the rankings.

Elsewhere: unpaid virtual accounts cancelled at their due date and unconfirmed card orders after
``SHOA_ORDERS_CARD_MINUTES``, their stock given back, ``tests/orders/test_lifecycle.py``
(``test_the_worker_cancels_an_unpaid_virtual_account_order_at_its_due_date_and_gives_its_stock_back``,
``test_the_worker_cancels_a_card_order_not_paid_within_the_card_minutes``); never overselling under a hundred racing
shoppers, ``tests/orders/test_checkout.py``; bots unable to buy rankings or the feed — distinct people instead of
events, devices counted by their age, a cap per contributor, buyers only from the order flow —
``tests/insights/test_rankings.py`` and ``tests/personalization/test_manipulation.py`` (decision 0039); one
device's events per minute, ``tests/personalization/test_signals.py``.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from catalog.models import Variant
from insights.models import Event
from orders.models import Order
from shoa_api.settings import load_settings
from shoa_kernel.clock import utc_now
from tests.orders.conftest import pay_by_card, receive_deposit, run_order_deadlines
from tests.orders.conftest import product as catalog_item
from tests.orders.conftest import variant as catalog_variant

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.client import ShoaClient
    from tests.conftest import Services
    from tests.orders.conftest import Catalog, Shopper

HOT = catalog_item(
    "HOT", "한정판 트위드 자켓", "아우터/자켓",
    *(catalog_variant(f"HOT-{size}", price=89000, stock=30, color="블랙", size=size) for size in ("S", "M", "L")),
)  # fmt: skip
CAP = 10
"""``SHOA_ORDERS_UNPAID_UNITS_PER_PRODUCT``'s default."""


async def hot_variants(catalog: Catalog, session: AsyncSession) -> dict[str, uuid.UUID]:
    """``HOT`` synced by 하루일상: its options' ids by size."""
    await catalog.malls.haru.sync(HOT)
    rows = await session.execute(sa.select(Variant.sku, Variant.id).where(Variant.sku.like("HOT-%")))
    return {sku.removeprefix("HOT-"): variant_id for sku, variant_id in rows}


async def buy(who: Shopper, lines: dict[uuid.UUID, int], method: str = "virtual_account") -> httpx.Response:
    wanted = [{"variant_id": str(variant_id), "quantity": quantity} for variant_id, quantity in lines.items()]
    return await who.checkout(payment_method=method, lines=wanted)


async def test_one_shopper_cannot_hoard_a_hot_item_with_unpaid_orders(
    catalog: Catalog, shopper: Shopper, sign_up: Callable[[], Awaitable[Shopper]], session: AsyncSession
) -> None:
    hot = await hot_variants(catalog, session)
    other = await sign_up()

    first = await buy(shopper, {hot["M"]: 6})
    across_options = await buy(shopper, {hot["S"]: 3, hot["L"]: 2})  # 11 of one product, every option together
    by_card = await buy(shopper, {hot["S"]: 4}, method="card")  # 10: the allowance, exactly
    one_more = await buy(shopper, {hot["L"]: 1}, method="card")
    others_buy = await buy(other, {hot["L"]: 10})

    assert [first.status_code, across_options.status_code, by_card.status_code] == [201, 409, 201]
    refused = across_options.json()
    assert refused["type"].endswith("/unpaid-limit")
    assert "at most 10" in refused["detail"]
    assert "한정판 트위드 자켓" in refused["detail"]
    assert one_more.status_code == 409
    assert others_buy.status_code == 201, others_buy.text  # her limit is hers: others buy what she could not hold
    stock = {size: await catalog.stock(f"HOT-{size}") for size in ("S", "M", "L")}
    assert stock == {"S": 26, "M": 24, "L": 20}
    assert len(await shopper.orders()) == 2
    # Paying makes them sales: what she paid for no longer counts against what she may hold unpaid.
    await pay_by_card(shopper, by_card.json())
    assert (await buy(shopper, {hot["L"]: 4})).status_code == 201
    # Another product is another allowance.
    assert (await buy(shopper, {catalog.variant("H1-BK-M"): CAP})).status_code == 201


async def test_checkouts_sent_at_once_cannot_slip_past_the_allowance(
    catalog: Catalog, shopper: Shopper, session: AsyncSession
) -> None:
    hot = await hot_variants(catalog, session)

    answers = await asyncio.gather(*(buy(shopper, {hot[size]: 3}) for size in ("S", "M", "L", "S", "M")))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201, 201, 201, 409, 409]
    assert sum([await catalog.stock(f"HOT-{size}") for size in ("S", "M", "L")]) == 90 - 9


async def test_an_expired_unpaid_order_gives_back_its_stock_and_the_allowance(
    services: Services,
    catalog: Catalog,
    shopper: Shopper,
    client: ShoaClient,
    engine: AsyncEngine,
    session: AsyncSession,
) -> None:
    hot = await hot_variants(catalog, session)
    held = await buy(shopper, {hot["M"]: CAP}, method="card")
    assert held.status_code == 201
    assert (await buy(shopper, {hot["S"]: 1})).status_code == 409

    # Her payment window closed unused: the order is older than the card minutes when the worker looks.
    window_closed = utc_now() - datetime.timedelta(minutes=31)
    await session.execute(sa.update(Order).where(Order.id == held.json()["id"]).values(created_at=window_closed))
    await session.commit()
    await run_order_deadlines(client, engine, settings=load_settings(services.environ(), env_file=None))

    order = await shopper.order(held.json()["id"])
    assert [part["status"] for part in order["mall_orders"]] == ["cancelled"]
    assert await catalog.stock("HOT-M") == 30
    assert (await buy(shopper, {hot["S"]: 1})).status_code == 201


async def test_only_a_paid_order_counts_as_a_purchase(
    catalog: Catalog,
    shopper: Shopper,
    sign_up: Callable[[], Awaitable[Shopper]],
    client: ShoaClient,
    session: AsyncSession,
) -> None:
    """Checking out costs nothing until the deposit: a bot's unpaid orders must not make a product look bought."""
    hot = await hot_variants(catalog, session)
    product_id = await session.scalar(sa.select(Variant.product_id).where(Variant.id == hot["M"]))
    unpaid = [await buy(await sign_up(), {hot["M"]: 1}) for _ in range(3)]
    claimed: dict[str, Any] = {
        "id": str(uuid.uuid4()), "kind": "purchase", "product_id": str(product_id),
        "occurred_at": datetime.datetime.now(datetime.UTC).isoformat(),
    }  # fmt: skip
    told = await client.post("/v1/events", json={"events": [claimed]}, headers=shopper.headers)

    async def purchases() -> int:
        query = sa.select(sa.func.count()).select_from(Event).where(Event.kind == "purchase")
        return int(await session.scalar(query) or 0)

    assert [answer.status_code for answer in unpaid] == [201] * 3
    assert told.json()["items"][0]["result"] == "rejected"
    assert await purchases() == 0
    paid = await buy(shopper, {hot["M"]: 1})
    await receive_deposit(shopper, paid.json())
    assert await purchases() == 1
