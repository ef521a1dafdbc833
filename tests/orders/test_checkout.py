"""The shopper's side of buying: the cart per mall with its shipping fees and flagged lines, checkout of the cart or
of explicit lines, the Idempotency-Key, the race for the last units, card confirmation, and bad input refused."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from orders.models import CheckoutKey, Order, OrderLine
from tests.orders.conftest import ADDRESS, checkout_body

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient
    from tests.orders.conftest import Catalog, Messages, Shopper

PROBLEM = "application/problem+json"


async def _orders_in_table(session: AsyncSession) -> int:
    return await session.scalar(sa.select(sa.func.count()).select_from(Order)) or 0


def _mall(cart: dict[str, Any], name: str) -> dict[str, Any]:
    return next(mall for mall in cart["malls"] if mall["mall_name"] == name)


def _line(cart: dict[str, Any], variant_id: uuid.UUID) -> dict[str, Any]:
    return next(line for mall in cart["malls"] for line in mall["lines"] if line["variant_id"] == str(variant_id))


def _cart_variants(cart: dict[str, Any]) -> set[str]:
    return {line["variant_id"] for mall in cart["malls"] for line in mall["lines"]}


def _one(variant_id: uuid.UUID, quantity: int = 1, **fields: Any) -> list[dict[str, Any]]:
    return [{"variant_id": str(variant_id), "quantity": quantity, **fields}]


# --- The cart ---------------------------------------------------------------------------------------------------


async def test_the_cart_groups_lines_per_mall_each_with_its_shipping_fee(catalog: Catalog, shopper: Shopper) -> None:
    await shopper.put_item(catalog.variant("H1-BK-M"), 1)
    await shopper.put_item(catalog.variant("M1-GR-F"), 1)
    cart = await shopper.put_item(catalog.variant("H2-BE-M"), 1)

    assert [mall["mall_name"] for mall in cart["malls"]] == ["하루일상", "모노마켓"]
    haru, mono = _mall(cart, "하루일상"), _mall(cart, "모노마켓")
    assert [(line["product_name"], line["options"], line["unit_price"]) for line in haru["lines"]] == [
        ("린넨 셔츠 원피스", "블랙 / M", 39000),
        ("와이드 슬랙스", "베이지 / M", 29000),
    ]
    # 68,000 won of 하루일상's items reach its 50,000 threshold; 모노마켓's 45,000 do not.
    assert (haru["items_amount"], haru["shipping_fee"], haru["left_for_free_shipping"]) == (68000, 0, None)
    assert (mono["items_amount"], mono["shipping_fee"], mono["left_for_free_shipping"]) == (45000, 3000, 5000)
    assert (cart["items_amount"], cart["shipping_amount"], cart["total_amount"]) == (113000, 3000, 116000)
    assert cart["orderable"] is True
    assert cart == await shopper.cart()


async def test_a_mall_s_shipping_policy_charges_below_its_threshold_and_nothing_from_it(
    catalog: Catalog, shopper: Shopper
) -> None:
    mono = catalog.malls.mono
    policy = await mono.set_shipping(fee=2500, free_from=90000)

    below = _mall(await shopper.put_item(catalog.variant("M1-GR-F"), 1), "모노마켓")
    at_threshold = _mall(await shopper.put_item(catalog.variant("M1-GR-F"), 2), "모노마켓")
    await mono.set_shipping(fee=2500, free_from=None)
    never_free = _mall(await shopper.cart(), "모노마켓")
    await mono.set_shipping(fee=2500, free_from=90000)
    order = (await shopper.checkout()).json()

    assert policy == {"shipping_fee": 2500, "free_shipping_threshold": 90000}
    assert (below["items_amount"], below["shipping_fee"], below["left_for_free_shipping"]) == (45000, 2500, 45000)
    assert (at_threshold["items_amount"], at_threshold["shipping_fee"]) == (90000, 0)
    assert (never_free["shipping_fee"], never_free["left_for_free_shipping"]) == (2500, None)
    assert (order["shipping_amount"], order["total_amount"]) == (0, 90000)
    assert order["mall_orders"][0]["shipping_fee"] == 0
    assert (await mono.call("GET", "/partner/v1/mall/shipping")).json() == policy


async def test_a_price_changed_after_the_line_was_put_stops_the_checkout_naming_the_line(
    catalog: Catalog, shopper: Shopper, session: AsyncSession
) -> None:
    dress, knit = catalog.variant("H1-BK-M"), catalog.variant("M1-GR-F")
    await shopper.put_item(dress, 2)
    await shopper.put_item(knit, 1)
    await catalog.malls.haru.change_variant("H1", "H1-BK-M", price=42000)
    key = str(uuid.uuid4())

    cart = await shopper.cart()
    refused = await shopper.checkout(key=key)

    line = _line(cart, dress)
    assert (line["problem"], line["price_when_added"], line["unit_price"]) == ("price_changed", 39000, 42000)
    assert _line(cart, knit)["problem"] is None
    assert cart["orderable"] is False
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith(PROBLEM)
    problem = refused.json()
    assert problem["type"].endswith("/checkout-conflict")
    assert problem["lines"] == [{"variant_id": str(dress), "problem": "price_changed", "stock_left": 10,
                                 "unit_price": 42000}]  # fmt: skip
    assert str(dress) in problem["detail"]
    # Nothing was ordered or taken, and the cart is as it was.
    assert await _orders_in_table(session) == 0
    assert (await catalog.stock("H1-BK-M"), await catalog.stock("M1-GR-F")) == (10, 10)
    assert (await shopper.call("GET", "/v1/orders")).json()["items"] == []
    assert _cart_variants(await shopper.cart()) == {str(dress), str(knit)}

    # Putting the line again accepts the new price; then the cart orders at it (the refused key was not spent).
    accepted = _line(await shopper.put_item(dress, 2), dress)
    placed = await shopper.checkout(key=key)

    assert (accepted["problem"], accepted["price_when_added"], accepted["line_amount"]) == (None, 42000, 84000)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    haru = next(part for part in order["mall_orders"] if part["mall_name"] == "하루일상")
    assert [(line["unit_price"], line["quantity"]) for line in haru["lines"]] == [(42000, 2)]
    assert order["total_amount"] == 84000 + 45000 + 3000
    assert await catalog.stock("H1-BK-M") == 8


async def test_lines_short_of_stock_are_flagged_and_not_ordered(catalog: Catalog, shopper: Shopper) -> None:
    await shopper.put_item(catalog.variant("H1-IV-M"), 3)
    await shopper.put_item(catalog.variant("M2-IV-F"), 1)
    sold_out_size = await shopper.put_item(catalog.variant("H1-BK-L"), 1)  # stock 0: kept, flagged
    await catalog.malls.haru.change_variant("H1", "H1-IV-M", stock=2)
    await catalog.malls.mono.change_variant("M2", "M2-IV-F", stock=0)

    cart = await shopper.cart()
    refused = await shopper.checkout(payment_method="card")

    assert _line(sold_out_size, catalog.variant("H1-BK-L"))["problem"] == "out_of_stock"
    flagged = {
        sku: (_line(cart, catalog.variant(sku))["problem"], _line(cart, catalog.variant(sku))["stock_left"])
        for sku in ("H1-IV-M", "M2-IV-F", "H1-BK-L")
    }
    assert flagged == {
        "H1-IV-M": ("not_enough_stock", 2),
        "M2-IV-F": ("out_of_stock", 0),
        "H1-BK-L": ("out_of_stock", 0),
    }
    assert (cart["items_amount"], cart["total_amount"], cart["orderable"]) == (0, 0, False)
    assert refused.status_code == 409, refused.text
    named = {line["variant_id"]: (line["problem"], line["stock_left"]) for line in refused.json()["lines"]}
    assert named == {str(catalog.variant(sku)): problem for sku, problem in flagged.items()}
    assert (await catalog.stock("H1-IV-M"), await catalog.stock("M2-IV-F")) == (2, 0)


async def test_a_product_the_mall_hid_is_flagged_not_for_sale_and_cannot_be_put_again(
    catalog: Catalog, shopper: Shopper
) -> None:
    slacks, knit = catalog.variant("H2-BE-M"), catalog.variant("M1-GR-F")
    await shopper.put_item(slacks, 1)
    await shopper.put_item(knit, 1)
    hidden = await catalog.malls.haru.call("PATCH", "/partner/v1/products/H2", {"status": "hidden"})
    assert hidden.status_code == 200, hidden.text

    cart = await shopper.cart()
    refused = await shopper.checkout()
    put_again = await shopper.call("PUT", f"/v1/cart/items/{slacks}", {"quantity": 1})

    assert _line(cart, slacks)["problem"] == "not_for_sale"
    assert (_mall(cart, "하루일상")["items_amount"], _mall(cart, "하루일상")["shipping_fee"]) == (0, 0)
    assert refused.status_code == 409, refused.text
    assert [(line["variant_id"], line["problem"]) for line in refused.json()["lines"]] == [
        (str(slacks), "not_for_sale")
    ]
    assert put_again.status_code == 409, put_again.text
    assert put_again.json()["type"].endswith("/invalid-cart-line")
    assert await catalog.stock("M1-GR-F") == 10


# --- Buy now ----------------------------------------------------------------------------------------------------


async def test_buy_now_orders_only_its_lines_and_leaves_the_rest_of_the_cart(
    catalog: Catalog, shopper: Shopper
) -> None:
    dress, knit, slacks = catalog.variant("H1-BK-M"), catalog.variant("M1-GR-F"), catalog.variant("H2-BE-M")
    await shopper.put_item(dress, 1)
    await shopper.put_item(knit, 1)

    not_in_cart = await shopper.checkout(lines=_one(slacks, 2, unit_price=29000))
    after_first = await shopper.cart()
    in_cart = await shopper.checkout(lines=_one(knit))
    after_second = await shopper.cart()

    assert not_in_cart.status_code == 201, not_in_cart.text
    (part,) = not_in_cart.json()["mall_orders"]
    assert [(line["variant_id"], line["quantity"]) for line in part["lines"]] == [(str(slacks), 2)]
    assert (not_in_cart.json()["shipping_amount"], not_in_cart.json()["total_amount"]) == (0, 58000)  # free from 50,000
    assert _cart_variants(after_first) == {str(dress), str(knit)}
    assert in_cart.status_code == 201, in_cart.text
    assert _cart_variants(after_second) == {str(dress)}
    assert _line(after_second, dress)["quantity"] == 1
    assert (await catalog.stock("H2-BE-M"), await catalog.stock("M1-GR-F"), await catalog.stock("H1-BK-M")) == (
        18, 9, 10,
    )  # fmt: skip


async def test_buy_now_at_a_price_the_app_showed_before_a_change_is_refused(
    catalog: Catalog, shopper: Shopper, session: AsyncSession
) -> None:
    await catalog.malls.mono.change_variant("M1", "M1-GR-F", sale_price=40500)

    refused = await shopper.checkout(lines=_one(catalog.variant("M1-GR-F"), unit_price=45000))

    assert refused.status_code == 409, refused.text
    assert refused.json()["lines"] == [
        {"variant_id": str(catalog.variant("M1-GR-F")), "problem": "price_changed", "stock_left": 10,
         "unit_price": 40500}
    ]  # fmt: skip
    assert await _orders_in_table(session) == 0


# --- Idempotency ------------------------------------------------------------------------------------------------


async def test_the_same_key_and_body_give_the_same_order_back_and_take_stock_once(
    catalog: Catalog, shopper: Shopper, session: AsyncSession, messages: Messages
) -> None:
    await shopper.put_item(catalog.variant("M1-GR-F"), 2)
    key = str(uuid.uuid4())

    first = await shopper.checkout(key=key)
    again = await shopper.checkout(key=key)  # the app retried after a lost answer; the cart is empty now

    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json() == first.json()
    assert await _orders_in_table(session) == 1
    assert await catalog.stock("M1-GR-F") == 8
    assert await messages.events(shopper.user_id) == ["order_received", "deposit_requested"]


async def test_the_same_key_with_another_body_is_refused(
    catalog: Catalog, shopper: Shopper, session: AsyncSession
) -> None:
    key = str(uuid.uuid4())
    first = await shopper.checkout(key=key, lines=_one(catalog.variant("M1-GR-F"), 1))

    other = await shopper.checkout(key=key, lines=_one(catalog.variant("M1-GR-F"), 2))

    assert first.status_code == 201, first.text
    assert other.status_code == 409, other.text
    assert other.headers["content-type"].startswith(PROBLEM)
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert await _orders_in_table(session) == 1
    assert await catalog.stock("M1-GR-F") == 9


async def test_a_key_older_than_a_day_names_a_new_checkout(
    catalog: Catalog, shopper: Shopper, session: AsyncSession
) -> None:
    key = str(uuid.uuid4())
    first = await shopper.checkout(key=key, lines=_one(catalog.variant("M1-GR-F"), 1))
    assert first.status_code == 201, first.text
    await session.execute(
        sa.update(CheckoutKey).values(created_at=CheckoutKey.created_at - sa.text("interval '24 hours 1 minute'"))
    )
    await session.commit()

    later = await shopper.checkout(key=key, lines=_one(catalog.variant("M1-GR-F"), 2))

    assert later.status_code == 201, later.text
    assert later.json()["id"] != first.json()["id"]
    assert await _orders_in_table(session) == 2
    assert await catalog.stock("M1-GR-F") == 10 - 1 - 2
    again = await shopper.checkout(key=key, lines=_one(catalog.variant("M1-GR-F"), 2))
    assert (again.status_code, again.json()["id"]) == (200, later.json()["id"])  # the key now names the new one


@pytest.mark.parametrize("key", [None, b"", "한글-키".encode(), b"a key with spaces", b"k" * 101])
async def test_a_checkout_without_a_usable_idempotency_key_is_a_400_problem(
    catalog: Catalog, shopper: Shopper, session: AsyncSession, key: bytes | None
) -> None:
    headers = {} if key is None else {"Idempotency-Key": key}
    body = checkout_body(lines=_one(catalog.variant("M1-GR-F")))

    refused = await shopper.call("POST", "/v1/orders", body, headers=headers)

    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert "Idempotency-Key" in refused.json()["detail"]
    assert await _orders_in_table(session) == 0
    assert await catalog.stock("M1-GR-F") == 10


async def test_two_requests_at_once_with_one_key_place_one_order_and_both_answer_it(
    catalog: Catalog, shopper: Shopper, session: AsyncSession
) -> None:
    rounds = 5
    for _ in range(rounds):
        key = str(uuid.uuid4())
        lines = _one(catalog.variant("H2-BE-M"), 1)

        answers = await asyncio.gather(shopper.checkout(key=key, lines=lines), shopper.checkout(key=key, lines=lines))

        assert sorted(answer.status_code for answer in answers) == [200, 201], [a.text for a in answers]
        assert answers[0].json() == answers[1].json()
    assert await _orders_in_table(session) == rounds
    assert await catalog.stock("H2-BE-M") == 20 - rounds


# --- The race for the last units --------------------------------------------------------------------------------


async def test_a_hundred_shoppers_racing_for_the_last_ten_units_get_exactly_ten_orders(
    client: ShoaClient,
    catalog: Catalog,
    many_shoppers: Callable[[int], Awaitable[list[Shopper]]],
    session: AsyncSession,
) -> None:
    knit = catalog.variant("M1-GR-F")  # the product's only variant: 10 left
    shoppers = await many_shoppers(100)

    answers = await asyncio.gather(*(one.checkout(payment_method="card", lines=_one(knit)) for one in shoppers))

    assert Counter(answer.status_code for answer in answers) == {201: 10, 409: 90}
    for refused in (answer for answer in answers if answer.status_code == 409):
        (line,) = refused.json()["lines"]
        assert (line["variant_id"], line["stock_left"]) == (str(knit), 0)
        assert line["problem"] in {"out_of_stock", "not_enough_stock"}
    winners = {answer.json()["id"] for answer in answers if answer.status_code == 201}
    assert len(winners) == 10
    assert await catalog.stock("M1-GR-F") == 0
    assert await _orders_in_table(session) == 10
    sold = await session.scalar(sa.select(sa.func.sum(OrderLine.quantity)).where(OrderLine.variant_id == knit))
    assert sold == 10
    assert await catalog.in_stock("M1") is False
    page = (await client.get(f"/v1/products/{catalog.products['M1']}")).json()
    assert (page["in_stock"], page["variants"][0]["stock_state"]) == (False, "sold_out")


# --- Card payments ----------------------------------------------------------------------------------------------


async def _card_order(client: ShoaClient, catalog: Catalog, shopper: Shopper) -> tuple[dict[str, Any], str]:
    """A card order for one knit (45,000 + 3,000 won) and the paymentKey its payment window returned."""
    placed = await shopper.checkout(payment_method="card", lines=_one(catalog.variant("M1-GR-F")))
    assert placed.status_code == 201, placed.text
    order = placed.json()
    gateway = client.app.state.orders.gateway
    payment_key = await gateway.authorize_card(
        order_id=order["payment"]["gateway_order_id"], order_name=order["payment"]["order_name"],
        amount=order["total_amount"],
    )  # fmt: skip
    return order, payment_key


async def test_a_card_payment_confirmed_with_the_window_s_key_pays_the_order_once(
    client: ShoaClient, catalog: Catalog, shopper: Shopper, messages: Messages
) -> None:
    order, payment_key = await _card_order(client, catalog, shopper)
    confirm = {"payment_key": payment_key, "amount": 48000}
    path = f"/v1/orders/{order['id']}/payment/confirm"

    confirmed = await shopper.call("POST", path, confirm)
    again = await shopper.call("POST", path, confirm)

    assert (order["payment"]["status"], order["mall_orders"][0]["status"]) == ("READY", "awaiting_payment")
    assert confirmed.status_code == 200, confirmed.text
    paid = confirmed.json()
    assert (paid["payment"]["status"], paid["payment"]["amount"]) == ("DONE", 48000)
    assert paid["payment"]["approved_at"] is not None
    (part,) = paid["mall_orders"]
    assert [(step["to_status"], step["actor"]) for step in part["timeline"]] == [
        ("awaiting_payment", "shopper"), ("paid", "gateway"),
    ]  # fmt: skip
    assert again.status_code == 200, again.text
    assert again.json() == paid
    assert await messages.events(shopper.user_id) == ["order_received", "payment_confirmed"]


async def test_a_card_confirmation_for_another_amount_is_refused_and_nothing_is_paid(
    client: ShoaClient, catalog: Catalog, shopper: Shopper, messages: Messages
) -> None:
    order, payment_key = await _card_order(client, catalog, shopper)
    path = f"/v1/orders/{order['id']}/payment/confirm"

    refused = await shopper.call("POST", path, {"payment_key": payment_key, "amount": 4800})
    after = await shopper.order(order["id"])

    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert refused.json()["type"].endswith("/payment-amount-mismatch")
    assert "48,000" in refused.json()["detail"]
    assert (after["payment"]["status"], after["mall_orders"][0]["status"]) == ("READY", "awaiting_payment")
    assert "payment_confirmed" not in await messages.events(shopper.user_id)
    # The window's key is still good for the order's own amount.
    right = await shopper.call("POST", path, {"payment_key": payment_key, "amount": 48000})
    assert right.status_code == 200, right.text
    assert right.json()["payment"]["status"] == "DONE"


async def test_two_confirmations_at_once_pay_the_order_once(
    client: ShoaClient, catalog: Catalog, shopper: Shopper, messages: Messages
) -> None:
    order, payment_key = await _card_order(client, catalog, shopper)
    path = f"/v1/orders/{order['id']}/payment/confirm"
    confirm = {"payment_key": payment_key, "amount": 48000}

    answers = await asyncio.gather(shopper.call("POST", path, confirm), shopper.call("POST", path, confirm))

    assert [answer.status_code for answer in answers] == [200, 200], [answer.text for answer in answers]
    assert answers[0].json() == answers[1].json()
    assert [step["to_status"] for step in answers[0].json()["mall_orders"][0]["timeline"]] == [
        "awaiting_payment", "paid",
    ]  # fmt: skip
    assert await messages.events(shopper.user_id) == ["order_received", "payment_confirmed"]


async def test_a_payment_key_authorised_for_another_order_does_not_pay_this_one(
    client: ShoaClient, catalog: Catalog, shopper: Shopper
) -> None:
    cheap = (await shopper.checkout(payment_method="card", lines=_one(catalog.variant("M2-IV-F")))).json()
    dear, _ = await _card_order(client, catalog, shopper)
    cheap_key = await client.app.state.orders.gateway.authorize_card(
        order_id=cheap["number"], order_name=cheap["name"], amount=cheap["total_amount"]
    )

    refused = await shopper.call(
        "POST", f"/v1/orders/{dear['id']}/payment/confirm", {"payment_key": cheap_key, "amount": 48000}
    )

    assert refused.status_code == 402, refused.text
    assert refused.json()["gateway_code"] == "NOT_FOUND_PAYMENT"
    assert (await shopper.order(dear["id"]))["payment"]["status"] == "READY"


async def test_another_shopper_s_order_is_not_found(
    client: ShoaClient, catalog: Catalog, shopper: Shopper, sign_up: Callable[[], Awaitable[Shopper]]
) -> None:
    order, payment_key = await _card_order(client, catalog, shopper)
    stranger = await sign_up()

    confirmed = await stranger.call(
        "POST", f"/v1/orders/{order['id']}/payment/confirm", {"payment_key": payment_key, "amount": 48000}
    )
    looked_at = await stranger.call("GET", f"/v1/orders/{order['id']}")

    assert confirmed.status_code == 404, confirmed.text
    assert confirmed.headers["content-type"].startswith(PROBLEM)
    assert looked_at.status_code == 404
    assert await stranger.orders() == []
    assert (await shopper.order(order["id"]))["payment"]["status"] == "READY"


# --- Bad input --------------------------------------------------------------------------------------------------


def _bad_bodies(knit: uuid.UUID) -> dict[str, Any]:
    """Checkout bodies that must be refused, buying ``knit`` where they buy anything."""
    one = _one(knit)
    return {
        "postcode of four digits": checkout_body(address=ADDRESS | {"postcode": "0404"}, lines=one),
        "postcode with letters": checkout_body(address=ADDRESS | {"postcode": "04O44"}, lines=one),
        "address without recipient": checkout_body(
            address={name: value for name, value in ADDRESS.items() if name != "recipient"}, lines=one
        ),
        "unknown variant": checkout_body(lines=_one(uuid.uuid4())),
        "variant id not a uuid": checkout_body(lines=[{"variant_id": "M1-GR-F", "quantity": 1}]),
        "quantity 0": checkout_body(lines=_one(knit, 0)),
        "quantity 100": checkout_body(lines=_one(knit, 100)),
        "quantity a word": checkout_body(lines=[{"variant_id": str(knit), "quantity": "하나"}]),
        "a variant twice": checkout_body(lines=one * 2),
        "empty lines": checkout_body(lines=[]),
        "an empty cart": checkout_body(),
        "unknown payment method": checkout_body(payment_method="bitcoin", lines=one),
        "unknown field": checkout_body(lines=one, coupon="WELCOME10"),
        "unknown address field": checkout_body(address=ADDRESS | {"city": "서울"}, lines=one),
        "unknown line field": checkout_body(lines=_one(knit, discount=1000)),
        "a price of 0": checkout_body(lines=_one(knit, unit_price=0)),
        "unknown bank": checkout_body(lines=one, bank="달나라은행"),
        "a deposit without a refund account": checkout_body(lines=one) | {"refund_account": None},
        "a refund account at an unknown bank": checkout_body(
            lines=one, refund_account={"bank": "달나라은행", "account_number": "110-123-456789", "holder": "김지영"}
        ),
        "a refund account number with letters": checkout_body(
            lines=one, refund_account={"bank": "신한은행", "account_number": "110-ABC-456789", "holder": "김지영"}
        ),
        "a list, not an object": [checkout_body()],
        "null": None,
    }


@pytest.mark.parametrize("case", list(_bad_bodies(uuid.uuid4())))
async def test_bad_checkout_input_is_a_problem_never_a_500(
    catalog: Catalog, shopper: Shopper, session: AsyncSession, case: str
) -> None:
    body = _bad_bodies(catalog.variant("M1-GR-F"))[case]

    refused = await shopper.call("POST", "/v1/orders", body, headers={"Idempotency-Key": str(uuid.uuid4())})

    assert 400 <= refused.status_code < 500, refused.text
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert refused.json()["detail"]
    assert await _orders_in_table(session) == 0
    assert await catalog.stock("M1-GR-F") == 10


async def test_an_unknown_variant_is_named_as_such(catalog: Catalog, shopper: Shopper) -> None:
    nowhere = uuid.uuid4()

    refused = await shopper.checkout(lines=_one(nowhere) + _one(catalog.variant("M1-GR-F")))

    assert refused.status_code == 409, refused.text
    assert refused.json()["lines"] == [
        {"variant_id": str(nowhere), "problem": "unknown_variant", "stock_left": 0, "unit_price": None}
    ]


@pytest.mark.parametrize(
    ("variant", "body", "status"),
    [
        ("M1-GR-F", {"quantity": 0}, 422),
        ("M1-GR-F", {"quantity": 100}, 422),
        ("M1-GR-F", {"quantity": 1, "note": "선물 포장"}, 422),
        ("M1-GR-F", {}, 422),
        (None, {"quantity": 1}, 404),  # no product option has this id
    ],
)
async def test_bad_cart_input_is_a_problem_and_leaves_the_cart_alone(
    catalog: Catalog, shopper: Shopper, variant: str | None, body: dict[str, Any], status: int
) -> None:
    variant_id = catalog.variant(variant) if variant else uuid.uuid4()

    refused = await shopper.call("PUT", f"/v1/cart/items/{variant_id}", body)

    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert (await shopper.cart())["malls"] == []
