"""재입고 알림 as a shopper and a mall live it: she waits for a sold-out option; the mall restocks it (a sync, a
stock update, or a cancelled order giving units back); every waiting shopper hears once, in the order they asked;
a wave stops when the option sells out again, and the rest hear at the next restock."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import sqlalchemy as sa

from notify.models import Message
from tests.orders.conftest import place_order
from winback.models import RestockAlert

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tests.orders.conftest import Catalog, Messages, Shopper
    from tests.winback.conftest import Jobs

SOLD_OUT = "H1-BK-L"
"""하루일상's 린넨 셔츠 원피스 in black, size L: 0 in stock."""


async def restock_messages(jobs: Jobs) -> list[Message]:
    async with jobs.sessions() as session:
        query = sa.select(Message).where(Message.event == "restock_available").order_by(Message.id)
        return list(await session.scalars(query))


async def test_a_shopper_waits_for_a_sold_out_option_and_hears_once_when_it_is_back(
    catalog: Catalog, shopper: Shopper, jobs: Jobs, messages: Messages
) -> None:
    variant = catalog.variant(SOLD_OUT)
    first = await shopper.call("PUT", f"/v1/alerts/restock/{variant}")
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["place_in_line"], first.json()["option"]) == ("waiting", 1, "블랙 / L")
    again = await shopper.call("PUT", f"/v1/alerts/restock/{variant}")
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])

    assert await jobs.restock() is False
    assert await restock_messages(jobs) == []  # still sold out: nothing to say

    await catalog.malls.haru.change_variant("H1", SOLD_OUT, stock=4)
    await jobs.restock()
    await jobs.restock()  # a second run finds nobody waiting
    await messages.send()
    [received] = await messages.received(shopper.user_id)
    assert received.channel == "alimtalk"
    assert received.template_code == "SHOA_RESTOCK_KO"
    assert "린넨 셔츠 원피스" in received.text
    assert "블랙 / L" in received.text
    assert "(광고)" not in received.text  # she asked for it: information, not advertising

    listed = (await shopper.call("GET", "/v1/alerts")).json()["restock"]
    assert [(alert["status"], alert["place_in_line"]) for alert in listed] == [("notified", None)]


async def test_only_a_sold_out_option_of_a_listed_product_can_be_waited_for(catalog: Catalog, shopper: Shopper) -> None:
    in_stock = await shopper.call("PUT", f"/v1/alerts/restock/{catalog.variant('H1-BK-M')}")
    assert in_stock.status_code == 409
    assert in_stock.headers["content-type"].startswith("application/problem+json")
    assert "in stock" in in_stock.json()["detail"]
    unknown = await shopper.call("PUT", f"/v1/alerts/restock/{uuid.uuid4()}")
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("variant-not-found")
    anonymous = await shopper.client.put(f"/v1/alerts/restock/{catalog.variant(SOLD_OUT)}")
    assert anonymous.status_code == 401


async def test_a_wave_goes_in_the_order_asked_and_stops_when_the_option_sells_out_again(
    catalog: Catalog, many_shoppers: Callable[[int], Awaitable[list[Shopper]]], jobs: Jobs
) -> None:
    variant = catalog.variant(SOLD_OUT)
    waiting = await many_shoppers(5)
    for place, shopper in enumerate(waiting, start=1):
        answer = await shopper.call("PUT", f"/v1/alerts/restock/{variant}")
        assert answer.json()["place_in_line"] == place

    await catalog.malls.haru.change_variant("H1", SOLD_OUT, stock=1)
    await jobs.restock(chunk=2, one_chunk=True)
    assert [m.user_id for m in await restock_messages(jobs)] == [s.user_id for s in waiting[:2]]

    # The second shopper buys the one unit before the wave reaches the others: the wave stops there.
    await place_order(waiting[1], {variant: 1})
    assert await catalog.stock(SOLD_OUT) == 0
    await jobs.restock(chunk=2)
    assert len(await restock_messages(jobs)) == 2
    third = (await waiting[2].call("GET", "/v1/alerts")).json()["restock"][0]
    assert (third["status"], third["place_in_line"]) == ("waiting", 1)

    # The next restock reaches the rest, still in their order.
    await catalog.malls.haru.change_variant("H1", SOLD_OUT, stock=3)
    await jobs.restock(chunk=2)
    assert [m.user_id for m in await restock_messages(jobs)] == [s.user_id for s in waiting]


async def test_a_cancelled_order_giving_units_back_is_a_restock(
    catalog: Catalog, shopper: Shopper, sign_up: Callable[[], Awaitable[Shopper]], jobs: Jobs
) -> None:
    variant = catalog.variant("M2-IV-F")  # 모노마켓's tote bag: 1 in stock
    order = await place_order(shopper, {variant: 1}, payment_method="virtual_account")
    late = await sign_up()
    assert (await late.call("PUT", f"/v1/alerts/restock/{variant}")).status_code == 201
    await jobs.restock()
    assert await restock_messages(jobs) == []

    cancelled = await shopper.call("POST", f"/v1/orders/{order['id']}/cancel", {})
    assert cancelled.is_success, cancelled.text
    await jobs.restock()
    assert [m.user_id for m in await restock_messages(jobs)] == [late.user_id]


async def test_a_cancelled_alert_hears_nothing(catalog: Catalog, shopper: Shopper, jobs: Jobs) -> None:
    variant = catalog.variant(SOLD_OUT)
    await shopper.call("PUT", f"/v1/alerts/restock/{variant}")
    assert (await shopper.call("DELETE", f"/v1/alerts/restock/{variant}")).status_code == 204
    assert (await shopper.call("DELETE", f"/v1/alerts/restock/{variant}")).status_code == 204
    await catalog.malls.haru.change_variant("H1", SOLD_OUT, stock=2)
    await jobs.restock()
    assert await restock_messages(jobs) == []
    async with jobs.sessions() as session:
        statuses = list(await session.scalars(sa.select(RestockAlert.status)))
    assert statuses == ["cancelled"]
