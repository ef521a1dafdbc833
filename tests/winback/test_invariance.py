"""No mall can buy win-back messages: the same shoppers doing the same things with two malls' products get the
same restock alerts, price drops, cart reminders and suppressions whether or not the malls are dressed in every
way a mall could pay or be paid for (names, descriptions, logos, slugs, sign-up dates, shipping fees, API keys).
The rules (:mod:`winback.policy`) read no mall field at all; this proves it end to end."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import sqlalchemy as sa

from catalog.models import Product, Variant
from orders.models import CartItem
from tests.factories import dress_every_mall_as_a_sponsor
from tests.orders.conftest import _partner_mall, product, variant
from tests.winback.conftest import agree_to_advertising, korea

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient
    from tests.orders.conftest import Shopper
    from tests.winback.conftest import Jobs

_runs = itertools.count(1)
Decision = tuple[int, str, str, str]
"""Which shopper, what kind of message, sent or not, and why. Which of the two malls a capped shopper's two
messages of the week are about is drawn by a hash of her id and the product's, so it is compared as counts."""


async def _scenario(
    client: ShoaClient,
    session: AsyncSession,
    many_shoppers: Callable[[int], Awaitable[list[Shopper]]],
    jobs: Jobs,
    *,
    sponsored: bool,
) -> list[Decision]:
    """Two malls with the same three products; six shoppers who like, cart and wait for them; prices fall and a
    sold-out option comes back; the win-back jobs run on a fixed clock. Their decisions, by shopper and product."""
    run = next(_runs)
    malls = [await _partner_mall(client, session, name=f"몰{run}{side}", slug=f"inv-{run}-{side}") for side in "ab"]
    for mall in malls:
        await mall.sync(
            product(
                "P1", "린넨 셔츠", "상의/셔츠", variant(f"{mall.id}-1", price=40000, stock=5, color="흰", size="M")
            ),
            product(
                "P2", "데님 팬츠", "하의/청바지", variant(f"{mall.id}-2", price=50000, stock=5, color="블루", size="M")
            ),
            product(
                "P3", "울 코트", "아우터/코트", variant(f"{mall.id}-3", price=90000, stock=0, color="검정", size="M")
            ),
        )
    if sponsored:
        await dress_every_mall_as_a_sponsor(session)
    ids = {
        (mall_id, external_id): (product_id, variant_id)
        for mall_id, external_id, product_id, variant_id in await session.execute(
            sa.select(Product.mall_id, Product.external_id, Product.id, Variant.id)
            .join(Variant, Variant.product_id == Product.id)
            .where(Product.mall_id.in_([mall.id for mall in malls]))
        )
    }
    shoppers = await many_shoppers(6)
    for number, shopper in enumerate(shoppers):
        if number % 3:
            await agree_to_advertising(shopper, "sms")
        for mall in malls:
            for external_id in ("P1", "P2"):
                assert (await shopper.call("PUT", f"/v1/likes/{ids[mall.id, external_id][0]}")).is_success
            await shopper.put_item(ids[mall.id, "P1"][1], 1)
            assert (await shopper.call("PUT", f"/v1/alerts/restock/{ids[mall.id, 'P3'][1]}")).status_code == 201
    noon = korea(12)
    await jobs.price_drops(noon)
    for mall in malls:
        await mall.change_variant("P1", f"{mall.id}-1", price=30000)
        await mall.change_variant("P2", f"{mall.id}-2", price=40000)
        await mall.change_variant("P3", f"{mall.id}-3", stock=2)
    await session.execute(
        sa.update(CartItem)
        .where(CartItem.user_id.in_([s.user_id for s in shoppers]))
        .values(added_at=noon - sa.func.make_interval(0, 0, 0, 0, 25))
    )
    await session.commit()
    await jobs.restock()
    await jobs.price_drops(noon)
    await jobs.cart_reminders(noon)
    decisions: list[Decision] = []
    for number, shopper in enumerate(shoppers):
        for send in await jobs.sends(shopper.user_id):
            decisions.append((number, send.kind, send.outcome, send.reason or ""))
    return sorted(decisions)


async def test_dressing_malls_as_sponsors_changes_no_win_back_decision(
    client: ShoaClient,
    session: AsyncSession,
    many_shoppers: Callable[[int], Awaitable[list[Shopper]]],
    jobs: Jobs,
) -> None:
    plain = await _scenario(client, session, many_shoppers, jobs, sponsored=False)
    dressed = await _scenario(client, session, many_shoppers, jobs, sponsored=True)
    assert plain == dressed
    assert {kind for _, kind, _, _ in plain} == {"restock", "price_drop", "cart_reminder"}
    assert {(outcome, reason) for _, _, outcome, reason in plain} >= {
        ("sent", ""), ("suppressed", "no_consent"), ("suppressed", "weekly_cap"),
    }  # fmt: skip
