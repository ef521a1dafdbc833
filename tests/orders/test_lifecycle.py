"""A mall-order's life through the real HTTP app: the moves the lifecycle allows (each in the timeline with who made
it) and the ones it refuses (409 naming both states), cancels with their refunds, returns, exchanges, the purchase
confirmation, and the worker's deadlines (its real job, on the suite's database).

Amounts (``tests/orders/conftest.py``): 하루일상's 린넨 셔츠 원피스 ``H1-BK-M`` and 모노마켓's 울 니트 ``M1-GR-F`` cost
39,000 and 45,000 won, each mall charging 3,000 won shipping below 50,000.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from notify.models import Message
from orders.models import MallOrder, Order, Payment
from orders.payments.base import PaymentStatus
from shoa_api.settings import load_settings
from shoa_kernel.clock import utc_now
from tests.orders.conftest import (
    gateway_payment,
    pay_by_card,
    place_order,
    receive_deposit,
    run_order_deadlines,
    sandbox_gateway,
)

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.conftest import Services
    from tests.orders.conftest import Catalog, Messages, PartnerMall, Shopper

TRACKING = "640123456789"


async def act(mall: PartnerMall, mall_order_id: str, action: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return await mall.call("POST", f"/partner/v1/orders/{mall_order_id}/{action}", body or {})


async def ask(
    shopper: Shopper, order: dict[str, Any], action: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await shopper.call("POST", f"/v1/orders/{order['id']}/{action}", body or {})


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.is_success, f"{response.status_code} {response.text}"
    return dict(response.json())


def part_of(order: dict[str, Any], mall: PartnerMall) -> dict[str, Any]:
    return next(part for part in order["mall_orders"] if part["mall_id"] == str(mall.id))


def moves(part: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    return [(step["from_status"], step["to_status"], step["actor"]) for step in part["timeline"]]


def assert_refused(response: httpx.Response, *, current: str, requested: str) -> None:
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["type"].endswith("illegal-order-transition"), problem
    assert (problem["current_status"], problem["requested_status"]) == (current, requested)


async def sent_parameters(session: AsyncSession, shopper: Shopper, event: str) -> list[dict[str, str]]:
    """The parameters of every ``event`` message enqueued for the shopper, oldest first."""
    query = (
        sa.select(Message.parameters)
        .where(Message.user_id == shopper.user_id, Message.event == event)
        .order_by(Message.id)
    )
    return list(await session.scalars(query))


async def delivered_days_ago(session: AsyncSession, part: dict[str, Any], days: float) -> None:
    """Move a delivery back in time, as if it happened ``days`` ago."""
    moment = utc_now() - datetime.timedelta(days=days)
    await session.execute(sa.update(MallOrder).where(MallOrder.id == part["id"]).values(delivered_at=moment))
    await session.commit()


async def delivered_order(shopper: Shopper, catalog: Catalog, lines: dict[str, int]) -> dict[str, Any]:
    """A card order of ``lines`` (SKU → quantity) from 하루일상, paid, shipped and delivered."""
    haru = catalog.malls.haru
    order = await place_order(shopper, {catalog.variant(sku): quantity for sku, quantity in lines.items()})
    await pay_by_card(shopper, order)
    part = order["mall_orders"][0]["id"]
    await haru.accept(part)
    await haru.ship(part, tracking_number=TRACKING)
    await haru.deliver(part)
    return await shopper.order(order["id"])


# --- Legal and illegal moves ----------------------------------------------------------------------------------


async def test_each_move_out_of_turn_is_a_409_naming_both_states_and_each_legal_one_is_in_the_timeline(
    catalog: Catalog, shopper: Shopper
) -> None:
    haru = catalog.malls.haru
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1}, payment_method="virtual_account")
    part = order["mall_orders"][0]["id"]
    line = order["mall_orders"][0]["lines"][0]["id"]
    return_it = {"mall_order_id": part, "reason": "사이즈가 작아요", "lines": [{"line_id": line, "quantity": 1}]}

    assert_refused(await act(haru, part, "accept"), current="awaiting_deposit", requested="preparing")
    await receive_deposit(shopper, order)
    ship_now = await act(haru, part, "ship", {"carrier": "cj", "tracking_number": TRACKING})
    assert_refused(ship_now, current="paid", requested="shipped")
    assert_refused(await act(haru, part, "deliver"), current="paid", requested="delivered")
    await haru.accept(part)
    assert_refused(await act(haru, part, "accept"), current="preparing", requested="preparing")
    assert_refused(await act(haru, part, "deliver"), current="preparing", requested="delivered")
    await haru.ship(part, tracking_number=TRACKING)
    assert_refused(await ask(shopper, order, "cancel", {"mall_order_id": part}), current="shipped",
                   requested="cancelled")  # fmt: skip
    assert_refused(await act(haru, part, "cancel", {"reason": "품절"}), current="shipped", requested="cancelled")
    assert_refused(await ask(shopper, order, "returns", return_it), current="shipped", requested="return_requested")
    assert_refused(await ask(shopper, order, "confirm", {"mall_order_id": part}), current="shipped",
                   requested="confirmed")  # fmt: skip
    await haru.deliver(part)
    assert_refused(await act(haru, part, "deliver"), current="delivered", requested="delivered")
    assert_refused(await act(haru, part, "accept"), current="delivered", requested="preparing")
    confirmed = ok(await ask(shopper, order, "confirm"))
    assert_refused(await ask(shopper, order, "returns", return_it), current="confirmed", requested="return_requested")

    [mall_order] = confirmed["mall_orders"]
    assert mall_order["status"] == "confirmed"
    assert moves(mall_order) == [
        (None, "awaiting_deposit", "shopper"),
        ("awaiting_deposit", "paid", "gateway"),
        ("paid", "preparing", "mall"),
        ("preparing", "shipped", "mall"),
        ("shipped", "delivered", "mall"),
        ("delivered", "confirmed", "shopper"),
    ]
    times = [step["at"] for step in mall_order["timeline"]]
    assert times == sorted(times)
    assert (mall_order["carrier_name"], mall_order["tracking_number"]) == ("CJ대한통운", TRACKING)
    assert mall_order["tracking_url"].endswith(f"wblNo={TRACKING}")


async def test_a_cancelled_order_cannot_be_cancelled_or_paid_again(catalog: Catalog, shopper: Shopper) -> None:
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1})
    ok(await ask(shopper, order, "cancel"))

    assert_refused(await ask(shopper, order, "cancel"), current="cancelled", requested="cancelled")
    payment_key = await sandbox_gateway(shopper.client).authorize_card(
        order_id=order["number"], order_name=order["name"], amount=order["total_amount"]
    )
    late_payment = await ask(shopper, order, "payment/confirm", {"payment_key": payment_key,
                                                                  "amount": order["total_amount"]})  # fmt: skip
    assert_refused(late_payment, current="cancelled", requested="paid")
    charged = await sandbox_gateway(shopper.client).get_payment(payment_key)
    assert charged.status is PaymentStatus.READY  # the card was never charged


# --- Cancels --------------------------------------------------------------------------------------------------


async def test_cancelling_an_unpaid_virtual_account_order_gives_the_stock_back_and_closes_its_account(
    catalog: Catalog, shopper: Shopper, messages: Messages
) -> None:
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 2, catalog.variant("M1-GR-F"): 1},
                        payment_method="virtual_account")  # fmt: skip
    assert (await catalog.stock("H1-BK-M"), await catalog.stock("M1-GR-F")) == (8, 9)

    cancelled = ok(await ask(shopper, order, "cancel", {"reason": "다른 상품으로 다시 주문할게요"}))

    assert [part["status"] for part in cancelled["mall_orders"]] == ["cancelled", "cancelled"]
    assert all(moves(part)[-1] == ("awaiting_deposit", "cancelled", "shopper") for part in cancelled["mall_orders"])
    assert (await catalog.stock("H1-BK-M"), await catalog.stock("M1-GR-F")) == (10, 10)
    assert (await gateway_payment(shopper.client, order)).status is PaymentStatus.CANCELED
    assert cancelled["payment"]["status"] == "CANCELED"
    assert cancelled["payment"]["refunded_amount"] == 0  # nothing had been paid
    assert await messages.events(shopper.user_id) == ["order_received", "deposit_requested", "cancelled", "cancelled"]


async def test_cancelling_one_mall_s_part_of_a_card_order_refunds_its_items_and_its_shipping_fee(
    catalog: Catalog, shopper: Shopper, messages: Messages, session: AsyncSession
) -> None:
    haru, mono = catalog.malls.haru, catalog.malls.mono
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1, catalog.variant("M1-GR-F"): 1})
    assert order["total_amount"] == 39000 + 3000 + 45000 + 3000
    await pay_by_card(shopper, order)

    answer = ok(await ask(shopper, order, "cancel", {"mall_order_id": part_of(order, haru)["id"]}))

    cancelled, untouched = part_of(answer, haru), part_of(answer, mono)
    assert (cancelled["status"], cancelled["refunded_amount"]) == ("cancelled", 42000)
    assert moves(cancelled)[-1] == ("paid", "cancelled", "shopper")
    assert (untouched["status"], untouched["refunded_amount"]) == ("paid", 0)
    assert moves(untouched)[-1] == ("awaiting_payment", "paid", "gateway")
    at_gateway = await gateway_payment(shopper.client, order)
    assert (at_gateway.status, at_gateway.balance_amount) == (PaymentStatus.PARTIAL_CANCELED, 90000 - 42000)
    assert (answer["payment"]["status"], answer["payment"]["refunded_amount"]) == ("PARTIAL_CANCELED", 42000)
    assert (await catalog.stock("H1-BK-M"), await catalog.stock("M1-GR-F")) == (10, 9)
    assert await messages.events(shopper.user_id) == [
        "order_received", "payment_confirmed", "cancelled", "refund_completed",
    ]  # fmt: skip
    [refund] = await sent_parameters(session, shopper, "refund_completed")
    assert (refund["amount"], refund["refund_method"]) == ("42,000", "카드 결제 취소")


async def test_then_cancelling_the_rest_refunds_what_is_left_and_nothing_twice(
    catalog: Catalog, shopper: Shopper
) -> None:
    haru, mono = catalog.malls.haru, catalog.malls.mono
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1, catalog.variant("M1-GR-F"): 1})
    await pay_by_card(shopper, order)
    ok(await ask(shopper, order, "cancel", {"mall_order_id": part_of(order, haru)["id"]}))

    answer = ok(await ask(shopper, order, "cancel"))

    assert [part["status"] for part in answer["mall_orders"]] == ["cancelled", "cancelled"]
    assert (part_of(answer, haru)["refunded_amount"], part_of(answer, mono)["refunded_amount"]) == (42000, 48000)
    at_gateway = await gateway_payment(shopper.client, order)
    assert (at_gateway.status, at_gateway.balance_amount) == (PaymentStatus.CANCELED, 0)
    assert answer["payment"]["refunded_amount"] == answer["total_amount"]


async def test_one_part_of_an_order_waiting_for_its_deposit_cannot_be_cancelled_alone(
    catalog: Catalog, shopper: Shopper
) -> None:
    haru = catalog.malls.haru
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1, catalog.variant("M1-GR-F"): 1},
                        payment_method="virtual_account")  # fmt: skip

    refused = await ask(shopper, order, "cancel", {"mall_order_id": part_of(order, haru)["id"]})

    assert refused.status_code == 409, refused.text
    assert "cancelled whole" in refused.json()["detail"]  # its one account takes one amount
    after = await shopper.order(order["id"])
    assert [part["status"] for part in after["mall_orders"]] == ["awaiting_deposit", "awaiting_deposit"]
    assert (await catalog.stock("H1-BK-M"), await catalog.stock("M1-GR-F")) == (9, 9)
    assert (await gateway_payment(shopper.client, order)).status is PaymentStatus.WAITING_FOR_DEPOSIT


async def test_a_mall_out_of_stock_cancels_its_part_the_stock_comes_back_and_the_shopper_is_refunded(
    catalog: Catalog, shopper: Shopper, messages: Messages
) -> None:
    haru, mono = catalog.malls.haru, catalog.malls.mono
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1, catalog.variant("M1-GR-F"): 2})
    assert order["total_amount"] == 42000 + 90000  # 모노마켓 ships 90,000 won of knits free
    await pay_by_card(shopper, order)
    knit = part_of(order, mono)["id"]
    await mono.accept(knit)

    answer = ok(await act(mono, knit, "cancel", {"reason": "out of stock: 재고 부족"}))

    assert (answer["status"], answer["refunded_amount"]) == ("cancelled", 90000)
    assert await catalog.stock("M1-GR-F") == 10
    after = await shopper.order(order["id"])
    assert moves(part_of(after, mono))[-1] == ("preparing", "cancelled", "mall")
    assert part_of(after, mono)["timeline"][-1]["reason"] == "out of stock: 재고 부족"
    assert part_of(after, haru)["status"] == "paid"
    assert (await gateway_payment(shopper.client, order)).balance_amount == 42000
    assert await messages.events(shopper.user_id) == [
        "order_received", "payment_confirmed", "cancelled", "refund_completed",
    ]  # fmt: skip


# --- Returns and exchanges ------------------------------------------------------------------------------------


async def test_a_return_within_seven_days_is_refunded_exactly_the_returned_lines_once_the_mall_receives_it(
    catalog: Catalog, shopper: Shopper, messages: Messages, session: AsyncSession
) -> None:
    haru = catalog.malls.haru
    order = await delivered_order(shopper, catalog, {"H1-BK-M": 1, "H2-BE-M": 2})
    assert order["total_amount"] == 39000 + 2 * 29000  # free shipping
    [part] = order["mall_orders"]
    slacks = next(line for line in part["lines"] if line["sku"] == "H2-BE-M")
    await delivered_days_ago(session, part, 6.9)

    one_pair = [{"line_id": slacks["id"], "quantity": 1}]
    requested = await ask(
        shopper, order, "returns", {"mall_order_id": part["id"], "reason": "색이 달라요", "lines": one_pair}
    )

    assert requested.status_code == 201, requested.text
    [return_] = part_of(requested.json(), haru)["after_sales"]
    assert (return_["kind"], return_["status"], return_["refund_amount"]) == ("return", "requested", 29000)
    assert part_of(requested.json(), haru)["status"] == "return_requested"
    assert (await messages.events(shopper.user_id))[-1] == "return_received"
    listed = await haru.orders(status="return_requested")
    assert [item["after_sales"][0]["id"] for item in listed] == [return_["id"]]

    received = ok(await act(haru, part["id"], f"returns/{return_['id']}/receive"))

    assert (received["status"], received["refunded_amount"]) == ("refunded", 29000)
    at_gateway = await gateway_payment(shopper.client, order)
    assert (at_gateway.status, at_gateway.balance_amount) == (PaymentStatus.PARTIAL_CANCELED, 97000 - 29000)
    after = part_of(await shopper.order(order["id"]), haru)
    assert moves(after)[-3:] == [
        ("delivered", "return_requested", "shopper"),
        ("return_requested", "returned", "mall"),
        ("returned", "refunded", "system"),
    ]
    assert after["after_sales"][0]["status"] == "refunded"
    assert (await messages.events(shopper.user_id))[-1] == "refund_completed"
    [refund] = await sent_parameters(session, shopper, "refund_completed")
    assert refund["amount"] == "29,000"
    again = await act(haru, part["id"], f"returns/{return_['id']}/receive")
    assert_refused(again, current="refunded", requested="returned")
    assert (await gateway_payment(shopper.client, order)).balance_amount == 97000 - 29000


async def test_a_line_cannot_be_returned_more_times_than_it_was_bought(catalog: Catalog, shopper: Shopper) -> None:
    order = await delivered_order(shopper, catalog, {"H1-BK-M": 1, "H2-BE-M": 2})
    [part] = order["mall_orders"]
    dress = next(line for line in part["lines"] if line["sku"] == "H1-BK-M")
    slacks = next(line for line in part["lines"] if line["sku"] == "H2-BE-M")

    def return_of(*lines: tuple[dict[str, Any], int]) -> dict[str, Any]:
        return {"mall_order_id": part["id"], "reason": "불량",
                "lines": [{"line_id": line["id"], "quantity": quantity} for line, quantity in lines]}  # fmt: skip

    too_many = await ask(shopper, order, "returns", return_of((slacks, 3)))
    listed_twice = await ask(shopper, order, "returns", return_of((dress, 1), (dress, 1)))

    for refused in (too_many, listed_twice):
        assert refused.status_code == 409, refused.text
    after = await shopper.order(order["id"])
    assert (after["mall_orders"][0]["status"], after["mall_orders"][0]["after_sales"]) == ("delivered", [])
    both_slacks = await ask(shopper, order, "returns", return_of((slacks, 1), (slacks, 1)))
    assert both_slacks.status_code == 201, both_slacks.text
    assert both_slacks.json()["mall_orders"][0]["after_sales"][0]["refund_amount"] == 2 * 29000


async def test_returns_and_exchanges_are_refused_eight_days_after_delivery(
    catalog: Catalog, shopper: Shopper, session: AsyncSession
) -> None:
    order = await delivered_order(shopper, catalog, {"H1-BK-M": 1})
    [part] = order["mall_orders"]
    line = part["lines"][0]["id"]
    await delivered_days_ago(session, part, 8)

    late_return = await ask(shopper, order, "returns", {
        "mall_order_id": part["id"], "reason": "마음이 바뀌었어요", "lines": [{"line_id": line, "quantity": 1}],
    })  # fmt: skip
    late_exchange = await ask(shopper, order, "exchanges", {
        "mall_order_id": part["id"], "reason": "사이즈 교환", "lines": [
            {"line_id": line, "quantity": 1, "variant_id": str(catalog.variant("H1-IV-M"))}],
    })  # fmt: skip

    for refused in (late_return, late_exchange):
        assert refused.status_code == 409, refused.text
        assert "7 days" in refused.json()["detail"]
    after = await shopper.order(order["id"])
    assert (after["mall_orders"][0]["status"], after["mall_orders"][0]["after_sales"]) == ("delivered", [])
    assert await catalog.stock("H1-IV-M") == 3


async def test_an_exchange_reserves_the_other_colour_and_the_mall_ships_it_as_a_new_parcel(
    catalog: Catalog, shopper: Shopper, messages: Messages, session: AsyncSession
) -> None:
    haru = catalog.malls.haru
    order = await delivered_order(shopper, catalog, {"H1-BK-M": 1})
    [part] = order["mall_orders"]
    line = part["lines"][0]["id"]

    def exchange_for(sku: str) -> dict[str, Any]:
        return {"mall_order_id": part["id"], "reason": "다른 색으로 바꿀게요",
                "lines": [{"line_id": line, "quantity": 1, "variant_id": str(catalog.variant(sku))}]}  # fmt: skip

    other_product = await ask(shopper, order, "exchanges", exchange_for("H2-BE-M"))
    sold_out_size = await ask(shopper, order, "exchanges", exchange_for("H1-BK-L"))
    assert other_product.status_code == 409, other_product.text
    assert "same product" in other_product.json()["detail"]
    assert sold_out_size.status_code == 409, sold_out_size.text
    assert (await catalog.stock("H2-BE-M"), await catalog.stock("H1-BK-L")) == (20, 0)

    requested = await ask(shopper, order, "exchanges", exchange_for("H1-IV-M"))

    assert requested.status_code == 201, requested.text
    assert await catalog.stock("H1-IV-M") == 2
    [exchange] = part_of(requested.json(), haru)["after_sales"]
    assert (exchange["kind"], exchange["status"], exchange["refund_amount"]) == ("exchange", "requested", 0)
    assert exchange["lines"] == [{"line_id": line, "quantity": 1, "variant_id": str(catalog.variant("H1-IV-M"))}]
    assert part_of(requested.json(), haru)["status"] == "exchange_requested"

    shipped = await haru.ship(part["id"], carrier="hanjin", tracking_number="512345678901")
    assert (shipped["status"], shipped["carrier"], shipped["tracking_number"]) == (
        "exchange_shipped", "hanjin", "512345678901",
    )  # fmt: skip
    assert shipped["after_sales"][0]["status"] == "shipped"
    delivered = await haru.deliver(part["id"])

    assert delivered["status"] == "delivered"
    after = part_of(await shopper.order(order["id"]), haru)
    assert moves(after)[-3:] == [
        ("delivered", "exchange_requested", "shopper"),
        ("exchange_requested", "exchange_shipped", "mall"),
        ("exchange_shipped", "delivered", "mall"),
    ]
    shipping = await sent_parameters(session, shopper, "shipping_started")
    assert [(sent["carrier"], sent["tracking_number"]) for sent in shipping] == [
        ("CJ대한통운", TRACKING), ("한진택배", "512345678901"),
    ]  # fmt: skip
    assert (await messages.events(shopper.user_id)).count("delivered") == 2
    assert (await gateway_payment(shopper.client, order)).balance_amount == 42000  # nothing refunded


# --- Purchase confirmation ------------------------------------------------------------------------------------


async def test_the_shopper_confirms_the_delivered_parts_only(catalog: Catalog, shopper: Shopper) -> None:
    haru, mono = catalog.malls.haru, catalog.malls.mono
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1, catalog.variant("M1-GR-F"): 1})
    await pay_by_card(shopper, order)
    for mall in (haru, mono):
        await mall.accept(part_of(order, mall)["id"])
        await mall.ship(part_of(order, mall)["id"], tracking_number=TRACKING)
    await haru.deliver(part_of(order, haru)["id"])

    confirmed = ok(await ask(shopper, order, "confirm"))

    assert moves(part_of(confirmed, haru))[-1] == ("delivered", "confirmed", "shopper")
    assert part_of(confirmed, mono)["status"] == "shipped"
    nothing_left = await ask(shopper, order, "confirm")
    assert nothing_left.status_code == 409, nothing_left.text


async def test_the_worker_confirms_a_purchase_seven_days_after_delivery(
    catalog: Catalog, shopper: Shopper, session: AsyncSession, engine: AsyncEngine
) -> None:
    week_old = await delivered_order(shopper, catalog, {"H1-BK-M": 1})
    recent = await delivered_order(shopper, catalog, {"H2-BE-M": 1})
    await delivered_days_ago(session, week_old["mall_orders"][0], 7.01)
    await delivered_days_ago(session, recent["mall_orders"][0], 6.99)

    await run_order_deadlines(shopper.client, engine)

    [confirmed] = (await shopper.order(week_old["id"]))["mall_orders"]
    assert moves(confirmed)[-1] == ("delivered", "confirmed", "system")
    assert confirmed["timeline"][-1]["reason"] == "배송 완료 후 자동 구매확정"
    assert (await shopper.order(recent["id"]))["mall_orders"][0]["status"] == "delivered"


# --- The worker's deadlines -----------------------------------------------------------------------------------


async def due_now(session: AsyncSession, order: dict[str, Any]) -> None:
    """The virtual account's due date passes."""
    moment = utc_now() - datetime.timedelta(minutes=1)
    await session.execute(sa.update(Payment).where(Payment.order_id == order["id"]).values(due_at=moment))
    await session.commit()


async def test_the_worker_cancels_an_unpaid_virtual_account_order_at_its_due_date_and_gives_its_stock_back(
    catalog: Catalog, shopper: Shopper, messages: Messages, session: AsyncSession, engine: AsyncEngine
) -> None:
    overdue = await place_order(shopper, {catalog.variant("H1-BK-M"): 2, catalog.variant("M1-GR-F"): 1},
                          payment_method="virtual_account")  # fmt: skip
    in_time = await place_order(shopper, {catalog.variant("H1-BK-M"): 1}, payment_method="virtual_account")
    await due_now(session, overdue)

    await run_order_deadlines(shopper.client, engine)

    cancelled = await shopper.order(overdue["id"])
    for part in cancelled["mall_orders"]:
        assert moves(part)[-1] == ("awaiting_deposit", "cancelled", "system")
        assert part["timeline"][-1]["reason"] == "입금 기한 만료"
    assert (await catalog.stock("H1-BK-M"), await catalog.stock("M1-GR-F")) == (9, 10)
    assert (await gateway_payment(shopper.client, overdue)).status is PaymentStatus.CANCELED
    assert (await shopper.order(in_time["id"]))["mall_orders"][0]["status"] == "awaiting_deposit"
    assert (await gateway_payment(shopper.client, in_time)).status is PaymentStatus.WAITING_FOR_DEPOSIT
    assert (await messages.events(shopper.user_id)).count("cancelled") == 2


async def test_the_worker_finds_a_deposit_whose_webhook_was_lost_and_marks_the_order_paid(
    catalog: Catalog, shopper: Shopper, messages: Messages, session: AsyncSession, engine: AsyncEngine
) -> None:
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1}, payment_method="virtual_account")
    callback = await sandbox_gateway(shopper.client).deposit(order["number"])  # its webhook never arrives
    await due_now(session, order)

    await run_order_deadlines(shopper.client, engine)

    paid = await shopper.order(order["id"])
    assert moves(paid["mall_orders"][0])[-1] == ("awaiting_deposit", "paid", "gateway")
    assert paid["payment"]["status"] == "DONE"
    assert await catalog.stock("H1-BK-M") == 9
    late = ok(await shopper.client.post("/webhooks/payments/sandbox", content=callback))
    assert late["result"] != "paid"
    assert (await messages.events(shopper.user_id)).count("deposit_confirmed") == 1
    assert [part["status"] for part in (await shopper.order(order["id"]))["mall_orders"]] == ["paid"]


async def test_the_worker_cancels_a_card_order_not_paid_within_the_card_minutes(
    catalog: Catalog, shopper: Shopper, session: AsyncSession, engine: AsyncEngine, services: Services
) -> None:
    abandoned = await place_order(shopper, {catalog.variant("H1-BK-M"): 1})
    paying = await place_order(shopper, {catalog.variant("H1-BK-M"): 1})
    for order, minutes in ((abandoned, 6), (paying, 4)):
        moment = utc_now() - datetime.timedelta(minutes=minutes)
        await session.execute(sa.update(Order).where(Order.id == order["id"]).values(created_at=moment))
    await session.commit()
    worker_settings = load_settings(services.environ(SHOA_ORDERS_CARD_MINUTES="5"), env_file=None)

    await run_order_deadlines(shopper.client, engine, settings=worker_settings)

    cancelled = await shopper.order(abandoned["id"])
    assert moves(cancelled["mall_orders"][0])[-1] == ("awaiting_payment", "cancelled", "system")
    assert cancelled["mall_orders"][0]["timeline"][-1]["reason"] == "결제 시간 초과"
    assert cancelled["payment"]["status"] == "EXPIRED"
    assert (await shopper.order(paying["id"]))["mall_orders"][0]["status"] == "awaiting_payment"
    assert await catalog.stock("H1-BK-M") == 9
