"""The whole story as a newcomer would walk it: two malls sync their products, a shopper signs up with her mobile
and agrees to AlimTalk, buys from both malls in one checkout paid by virtual account, the deposit arrives, both
malls ship with CJ대한통운 and one delivers — and every step reached her on AlimTalk, in order."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tests.orders.conftest import ADDRESS, CATALOG, PASSWORD, REFUND_ACCOUNT

if TYPE_CHECKING:
    from tests.client import ShoaClient
    from tests.orders.conftest import Malls, Messages

HARU_TRACKING = "640123456789"
MONO_TRACKING = "6401-2345-6790"
"""Malls write tracking numbers with or without dashes; the shopper reads them without."""


async def _variant_id(client: ShoaClient, product_id: str, *, color: str, size: str) -> str:
    """The shopper picks a colour and size on the product page."""
    page = await client.get(f"/v1/products/{product_id}")
    assert page.status_code == 200, page.text
    return next(str(v["id"]) for v in page.json()["variants"] if (v["color"], v["size"]) == (color, size))


def _part(order: dict[str, Any], mall_name: str) -> dict[str, Any]:
    return next(part for part in order["mall_orders"] if part["mall_name"] == mall_name)


async def test_a_shopper_buys_from_two_malls_by_deposit_and_hears_of_every_step_on_alimtalk(
    client: ShoaClient, malls: Malls, messages: Messages
) -> None:
    # Two malls sync their catalogs through the partner API.
    haru_sync = await malls.haru.sync(*CATALOG["haru"])
    mono_sync = await malls.mono.sync(*CATALOG["mono"])
    assert (haru_sync["created"], mono_sync["created"]) == (2, 2)
    dress_id = next(item["product_id"] for item in haru_sync["items"] if item["external_id"] == "H1")
    knit_id = next(item["product_id"] for item in mono_sync["items"] if item["external_id"] == "M1")

    # 지영 signs up with her mobile, then agrees to order messages on AlimTalk and prefers it.
    signed_up = await client.post(
        "/v1/auth/signup", json={"email": "jiyoung@example.kr", "phone": "010-1234-5678", "password": PASSWORD}
    )
    assert signed_up.status_code == 201, signed_up.text
    jiyoung = {"Authorization": f"Bearer {signed_up.json()['access_token']}"}
    jiyoung_id = uuid.UUID(signed_up.json()["profile"]["id"])
    consented = await client.patch(
        "/v1/me", headers=jiyoung, json={"consents": {"alimtalk": True}, "preferred_messenger": "alimtalk"}
    )
    assert consented.status_code == 200, consented.text

    # One item of each mall in the cart: each mall's part is under its free-shipping threshold.
    dress = await _variant_id(client, dress_id, color="블랙", size="M")
    knit = await _variant_id(client, knit_id, color="그레이", size="FREE")
    for variant_id in (dress, knit):
        put = await client.put(f"/v1/cart/items/{variant_id}", headers=jiyoung, json={"quantity": 1})
        assert put.status_code == 200, put.text
    cart = (await client.get("/v1/cart", headers=jiyoung)).json()
    assert [(mall["mall_name"], mall["items_amount"], mall["shipping_fee"]) for mall in cart["malls"]] == [
        ("하루일상", 39000, 3000),
        ("모노마켓", 45000, 3000),
    ]
    assert (cart["total_amount"], cart["orderable"]) == (90000, True)

    # Checkout by virtual account: one order, one account for the whole amount, a part per mall.
    placed = await client.post(
        "/v1/orders",
        headers=jiyoung | {"Idempotency-Key": str(uuid.uuid4())},
        json={"address": ADDRESS, "payment_method": "virtual_account", "refund_account": REFUND_ACCOUNT},
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    account = order["payment"]["virtual_account"]
    assert (order["total_amount"], account["amount"], account["bank"]) == (90000, 90000, "신한은행")
    assert account["account_number"]
    assert sorted(part["status"] for part in order["mall_orders"]) == ["awaiting_deposit", "awaiting_deposit"]
    assert (await client.get("/v1/cart", headers=jiyoung)).json()["malls"] == []

    # She transfers the money; the gateway's deposit callback arrives.
    callback = await client.app.state.orders.gateway.deposit(order["number"])
    webhook = await client.post(
        "/webhooks/payments/sandbox", content=callback, headers={"Content-Type": "application/json"}
    )
    assert webhook.status_code == 200, webhook.text
    assert webhook.json() == {"result": "paid"}

    # Each mall sees its own paid part, accepts it and ships it with CJ대한통운; 하루일상's parcel arrives.
    for mall, tracking_number in ((malls.haru, HARU_TRACKING), (malls.mono, MONO_TRACKING)):
        (paid,) = await mall.orders(status="paid")
        assert paid["order_number"] == order["number"]
        assert paid["address"]["road_address"] == ADDRESS["road_address"]
        await mall.accept(paid["id"])
        shipped = await mall.ship(paid["id"], carrier="cj", tracking_number=tracking_number)
        assert shipped["status"] == "shipped"
    (haru_part,) = await malls.haru.orders(status="shipped")
    assert (await malls.haru.deliver(haru_part["id"]))["status"] == "delivered"

    # The messages go out: everything reached her on AlimTalk, in the order it happened.
    await messages.send()
    received = await messages.received(jiyoung_id)
    assert [(message.channel, message.address) for message in received] == [("alimtalk", "+821012345678")] * 6
    texts = [message.text for message in received]
    assert texts[0].startswith("[Shoa] 주문이 접수됐습니다.")
    assert f"주문번호: {order['number']}" in texts[0]
    assert "결제금액: 90,000원" in texts[0]
    assert texts[1].startswith("[Shoa] 입금을 기다리고 있습니다.")
    assert "입금은행: 신한은행" in texts[1]
    assert f"계좌번호: {account['account_number']}" in texts[1]
    assert "입금금액: 90,000원" in texts[1]
    assert texts[2].startswith("[Shoa] 입금이 확인됐습니다.")
    assert "입금금액: 90,000원" in texts[2]
    for text, tracking_number in ((texts[3], "640123456789"), (texts[4], "640123456790")):
        assert text.startswith("[Shoa] 상품 배송이 시작됐습니다.")
        assert "택배사: CJ대한통운" in text
        assert f"운송장번호: {tracking_number}" in text
    assert received[3].buttons == [
        {"name": "배송 조회", "url": f"https://trace.cjlogistics.com/next/tracking.html?wblNo={HARU_TRACKING}"}
    ]
    assert texts[5].startswith("[Shoa] 상품 배송이 완료됐습니다.")
    assert f"주문번호: {order['number']}" in texts[5]

    # The app's message list shows the same six, newest first, as taken by AlimTalk.
    listed = (await client.get("/v1/me/messages", headers=jiyoung)).json()["items"]
    assert [item["event"] for item in reversed(listed)] == [
        "order_received", "deposit_requested", "deposit_confirmed", "shipping_started", "shipping_started",
        "delivered",
    ]  # fmt: skip
    assert {(item["channel"], item["status"]) for item in listed} == {("alimtalk", "accepted")}
    assert [item["text"].splitlines()[0] for item in reversed(listed)] == [text.splitlines()[0] for text in texts]

    # The order page: each mall's part with its state, carrier, tracking link and timeline.
    seen = (await client.get(f"/v1/orders/{order['id']}", headers=jiyoung)).json()
    assert seen["payment"]["status"] == "DONE"
    haru, mono = _part(seen, "하루일상"), _part(seen, "모노마켓")
    assert (haru["status"], haru["carrier_name"], haru["tracking_number"]) == ("delivered", "CJ대한통운", HARU_TRACKING)
    assert haru["tracking_url"] == f"https://trace.cjlogistics.com/next/tracking.html?wblNo={HARU_TRACKING}"
    assert haru["delivered_at"] is not None
    assert [(step["to_status"], step["actor"]) for step in haru["timeline"]] == [
        ("awaiting_deposit", "shopper"), ("paid", "gateway"), ("preparing", "mall"), ("shipped", "mall"),
        ("delivered", "mall"),
    ]  # fmt: skip
    assert (mono["status"], mono["carrier_name"], mono["tracking_number"]) == ("shipped", "CJ대한통운", "640123456790")
    assert mono["tracking_url"] == "https://trace.cjlogistics.com/next/tracking.html?wblNo=640123456790"
    assert [step["to_status"] for step in mono["timeline"]] == ["awaiting_deposit", "paid", "preparing", "shipped"]
    assert [line["product_name"] for line in haru["lines"] + mono["lines"]] == ["린넨 셔츠 원피스", "오버핏 울 니트"]

    # And her order list has it, with both parts' states.
    (listed_order,) = (await client.get("/v1/orders", headers=jiyoung)).json()["items"]
    assert (listed_order["id"], listed_order["number"], listed_order["total_amount"]) == (
        order["id"], order["number"], 90000,
    )  # fmt: skip
    assert sorted(listed_order["statuses"]) == ["delivered", "shipped"]
