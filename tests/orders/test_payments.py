"""Payments through the real HTTP app: the deposit webhook believed only as far as the gateway confirms it (replayed,
forged, unknown, junk, a wrong amount), the card confirmation for the server's own amount, and the same app
configured with Toss Payments against ``FakeToss`` (card, virtual account and its deposit callback, Toss down at
checkout, a partial cancel)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from orders.models import Order, SandboxPayment
from shoa_api.settings import load_settings
from tests.orders.conftest import gateway_payment, pay_by_card, place_order, sandbox_gateway
from tests.orders.fakes.toss import FakeToss

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoa_api.settings import Settings
    from tests.client import ShoaClient
    from tests.conftest import Services
    from tests.orders.conftest import Catalog, Messages, PartnerMall, Shopper

SANDBOX_WEBHOOK = "/webhooks/payments/sandbox"
TOSS_WEBHOOK = "/webhooks/payments/toss"


async def webhook(client: ShoaClient, body: bytes, *, path: str = SANDBOX_WEBHOOK) -> httpx.Response:
    return await client.post(path, content=body, headers={"Content-Type": "application/json"})


def statuses(order: dict[str, Any]) -> list[str]:
    return [part["status"] for part in order["mall_orders"]]


def part_of(order: dict[str, Any], mall: PartnerMall) -> dict[str, Any]:
    return next(part for part in order["mall_orders"] if part["mall_id"] == str(mall.id))


def assert_untrusted(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("payment-webhook-not-trusted")


async def order_count(session: AsyncSession) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(Order)) or 0)


# --- The deposit webhook --------------------------------------------------------------------------------------


async def test_a_replayed_deposit_webhook_pays_the_order_once_and_tells_the_shopper_once(
    catalog: Catalog, shopper: Shopper, messages: Messages
) -> None:
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1, catalog.variant("M1-GR-F"): 1},
                              payment_method="virtual_account")  # fmt: skip
    callback = await sandbox_gateway(shopper.client).deposit(order["number"])

    first = await webhook(shopper.client, callback)
    second = await webhook(shopper.client, callback)

    assert (first.status_code, first.json()) == (200, {"result": "paid"})
    assert second.status_code == 200, second.text
    assert second.json()["result"] != "paid"
    paid = await shopper.order(order["id"])
    assert statuses(paid) == ["paid", "paid"]
    for part in paid["mall_orders"]:
        assert [step["to_status"] for step in part["timeline"]].count("paid") == 1
    assert (await messages.events(shopper.user_id)).count("deposit_confirmed") == 1


async def test_a_forged_deposit_webhook_is_refused_and_changes_nothing(
    catalog: Catalog, shopper: Shopper, messages: Messages
) -> None:
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1}, payment_method="virtual_account")
    genuine = await sandbox_gateway(shopper.client).deposit(order["number"])  # the money is there, even
    forged = json.loads(genuine) | {"secret": "guessed-secret"}

    refused = await webhook(shopper.client, json.dumps(forged).encode())

    assert_untrusted(refused)
    after = await shopper.order(order["id"])
    assert (statuses(after), after["payment"]["status"]) == (["awaiting_deposit"], "WAITING_FOR_DEPOSIT")
    assert "deposit_confirmed" not in await messages.events(shopper.user_id)
    assert (await webhook(shopper.client, genuine)).json() == {"result": "paid"}


async def test_a_webhook_for_an_order_that_is_not_ours_is_refused(catalog: Catalog, shopper: Shopper) -> None:
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1}, payment_method="virtual_account")
    callback = json.loads(await sandbox_gateway(shopper.client).deposit(order["number"]))

    refused = await webhook(shopper.client, json.dumps(callback | {"orderId": "SH20991231-999999"}).encode())

    assert_untrusted(refused)
    assert statuses(await shopper.order(order["id"])) == ["awaiting_deposit"]


JUNK = {
    "empty": b"",
    "not JSON": b"not json at all",
    "not UTF-8": b"\xff\xfe\x00garbage",
    "a list": b"[]",
    "null": b"null",
    "an empty object": b"{}",
    "a number for the order": b'{"orderId": 42}',
    "a status Toss has not": b'{"createdAt": "2026-12-07T10:00:00.000000", "secret": "s", "status": "PAID-PROBABLY", '
    b'"transactionKey": "t", "orderId": "SH20261207-000001"}',
    "every field the wrong type": b'{"createdAt": 1, "secret": null, "status": "DONE", "transactionKey": [], '
    b'"orderId": {}}',
    "a status change without a payment": b'{"eventType": "PAYMENT_STATUS_CHANGED", "data": "nope"}',
    "ten thousand open braces": b"{" * 10_000,
}


@pytest.mark.parametrize("body", list(JUNK.values()), ids=list(JUNK))
async def test_a_junk_webhook_body_is_a_400_problem_never_a_500(client: ShoaClient, body: bytes) -> None:
    response = await webhook(client, body)

    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("malformed-payment-webhook")


async def test_a_webhook_for_a_gateway_not_configured_here_is_not_found(client: ShoaClient) -> None:
    response = await webhook(client, b"{}", path=TOSS_WEBHOOK)

    assert response.status_code == 404, response.text


async def test_a_deposit_the_gateway_reports_for_another_amount_is_flagged_and_never_paid(
    catalog: Catalog, shopper: Shopper, messages: Messages, session: AsyncSession
) -> None:
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1}, payment_method="virtual_account")
    callback = await sandbox_gateway(shopper.client).deposit(order["number"])
    row = await session.scalar(sa.select(SandboxPayment).where(SandboxPayment.order_id == order["number"]))
    assert row is not None
    row.payment = row.payment | {"total_amount": 4200, "balance_amount": 4200}  # the gateway says 4,200 came in
    await session.commit()

    answer = await webhook(shopper.client, callback)
    again = await webhook(shopper.client, callback)

    assert (answer.status_code, answer.json()) == (200, {"result": "amount-mismatch"})
    assert again.json() == {"result": "amount-mismatch"}
    after = await shopper.order(order["id"])
    assert statuses(after) == ["awaiting_deposit"]
    assert (after["payment"]["status"], after["payment"]["amount_mismatch"]) == ("WAITING_FOR_DEPOSIT", 4200)
    assert "deposit_confirmed" not in await messages.events(shopper.user_id)


# --- The card confirmation ------------------------------------------------------------------------------------


async def test_a_card_payment_is_confirmed_only_for_the_order_s_own_amount(
    catalog: Catalog, shopper: Shopper, messages: Messages
) -> None:
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1})
    payment_key = await sandbox_gateway(shopper.client).authorize_card(
        order_id=order["number"], order_name=order["name"], amount=100
    )
    path = f"/v1/orders/{order['id']}/payment/confirm"

    cheaper = await shopper.call("POST", path, {"payment_key": payment_key, "amount": 100})
    at_the_window_s_amount = await shopper.call("POST", path, {"payment_key": payment_key,
                                                                "amount": order["total_amount"]})  # fmt: skip

    assert cheaper.status_code == 409, cheaper.text
    assert cheaper.json()["type"].endswith("payment-amount-mismatch")
    assert at_the_window_s_amount.status_code == 402, at_the_window_s_amount.text  # the gateway refuses 42,000
    assert statuses(await shopper.order(order["id"])) == ["awaiting_payment"]
    assert "payment_confirmed" not in await messages.events(shopper.user_id)
    paid = await pay_by_card(shopper, order)
    assert (statuses(paid), paid["payment"]["status"]) == (["paid"], "DONE")
    assert (await gateway_payment(shopper.client, order)).total_amount == order["total_amount"]


# --- The same app with Toss Payments --------------------------------------------------------------------------


class TestWithTossPayments:
    """The app configured with ``SHOA_ORDERS_PAYMENT_GATEWAY=toss`` and FakeToss's key and URL: every fixture here
    (the malls, the shopper) talks to that app."""

    @pytest.fixture
    def toss(self) -> Iterator[FakeToss]:
        with FakeToss() as fake:
            yield fake

    @pytest.fixture
    def settings(self, services: Services, toss: FakeToss) -> Settings:
        environ = services.environ(
            SHOA_ORDERS_PAYMENT_GATEWAY="toss",
            SHOA_ORDERS_TOSS_SECRET_KEY=toss.secret_key,
            SHOA_ORDERS_TOSS_BASE_URL=toss.url,
        )
        return load_settings(environ, env_file=None)

    async def test_a_card_checkout_is_confirmed_at_toss_for_the_order_s_amount(
        self, catalog: Catalog, shopper: Shopper, toss: FakeToss, messages: Messages
    ) -> None:
        order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1, catalog.variant("M1-GR-F"): 1})
        payment_key = toss.authorize_card(order["number"], order["total_amount"], order_name=order["name"])

        paid = await shopper.call("POST", f"/v1/orders/{order['id']}/payment/confirm",
                                  {"payment_key": payment_key, "amount": order["total_amount"]})  # fmt: skip

        assert paid.status_code == 200, paid.text
        assert statuses(paid.json()) == ["paid", "paid"]
        assert (paid.json()["payment"]["gateway"], paid.json()["payment"]["status"]) == ("toss", "DONE")
        [confirm] = toss.requests_to("/v1/payments/confirm")
        assert confirm.json() == {"paymentKey": payment_key, "orderId": order["number"], "amount": 90000}
        assert confirm.header("idempotency-key")
        assert toss.payment(order["number"]).status == "DONE"
        assert (await messages.events(shopper.user_id))[-1] == "payment_confirmed"

    async def test_a_virtual_account_is_opened_at_toss_and_its_deposit_callback_pays_the_order(
        self, catalog: Catalog, shopper: Shopper, toss: FakeToss, messages: Messages
    ) -> None:
        order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1}, payment_method="virtual_account")
        account = order["payment"]["virtual_account"]
        at_toss = toss.payment(order["number"])
        assert at_toss.virtual_account is not None
        assert (account["account_number"], account["bank"], account["amount"]) == (
            at_toss.virtual_account["accountNumber"], "신한은행", 42000,
        )  # fmt: skip

        callback = toss.deposit(order["number"])
        answer = await webhook(shopper.client, callback, path=TOSS_WEBHOOK)
        replayed = await webhook(shopper.client, callback, path=TOSS_WEBHOOK)

        assert (answer.status_code, answer.json()) == (200, {"result": "paid"})
        assert replayed.status_code == 200
        assert replayed.json()["result"] != "paid"
        paid = await shopper.order(order["id"])
        assert (statuses(paid), paid["payment"]["status"]) == (["paid"], "DONE")
        read_backs = [r for r in toss.received if r.method == "GET" and r.path.endswith(at_toss.payment_key)]
        assert len(read_backs) == 2  # each callback was checked with Toss before it was believed
        assert await messages.events(shopper.user_id) == ["order_received", "deposit_requested", "deposit_confirmed"]
        forged = json.loads(callback) | {"secret": "ps_guessed"}
        assert_untrusted(await webhook(shopper.client, json.dumps(forged).encode(), path=TOSS_WEBHOOK))

    async def test_toss_down_during_a_virtual_account_checkout_orders_nothing(
        self, catalog: Catalog, shopper: Shopper, toss: FakeToss, session: AsyncSession
    ) -> None:
        toss.set_down()
        lines = [{"variant_id": str(catalog.variant("H1-BK-M")), "quantity": 2}]

        refused = await shopper.checkout(payment_method="virtual_account", lines=lines, key="checkout-1")

        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("payment-gateway-unavailable")
        assert toss.requests_to("/v1/virtual-accounts")  # it was asked
        assert await order_count(session) == 0
        assert await catalog.stock("H1-BK-M") == 10
        assert await shopper.orders() == []
        toss.set_down(down=False)
        placed = await shopper.checkout(payment_method="virtual_account", lines=lines, key="checkout-1")
        assert placed.status_code == 201, placed.text  # the key was not spent on the failed checkout
        assert await catalog.stock("H1-BK-M") == 8

    async def test_cancelling_one_mall_s_part_sends_a_partial_cancel_to_toss_under_an_idempotency_key(
        self, catalog: Catalog, shopper: Shopper, toss: FakeToss
    ) -> None:
        haru, mono = catalog.malls.haru, catalog.malls.mono
        order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1, catalog.variant("M1-GR-F"): 1})
        payment_key = toss.authorize_card(order["number"], order["total_amount"], order_name=order["name"])
        await shopper.call("POST", f"/v1/orders/{order['id']}/payment/confirm",
                           {"payment_key": payment_key, "amount": order["total_amount"]})  # fmt: skip
        dress = part_of(order, haru)["id"]

        answer = await shopper.call("POST", f"/v1/orders/{order['id']}/cancel", {"mall_order_id": dress})

        assert answer.status_code == 200, answer.text
        [cancel] = toss.requests_to(f"/v1/payments/{payment_key}/cancel")
        assert cancel.json()["cancelAmount"] == 39000 + 3000
        assert cancel.header("idempotency-key") == f"cancel:{dress}"
        at_toss = toss.payment(order["number"])
        assert (at_toss.status, at_toss.balance_amount) == ("PARTIAL_CANCELED", 90000 - 42000)
        body = answer.json()
        assert (body["payment"]["status"], body["payment"]["refunded_amount"]) == ("PARTIAL_CANCELED", 42000)
        assert body["total_amount"] - body["payment"]["refunded_amount"] == at_toss.balance_amount
        assert (part_of(body, haru)["status"], part_of(body, mono)["status"]) == ("cancelled", "paid")

    async def test_cancelling_an_unpaid_virtual_account_order_closes_its_account_at_toss(
        self, catalog: Catalog, shopper: Shopper, toss: FakeToss
    ) -> None:
        order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1}, payment_method="virtual_account")

        answer = await shopper.call("POST", f"/v1/orders/{order['id']}/cancel", {})

        assert answer.status_code == 200, answer.text
        assert (statuses(answer.json()), answer.json()["payment"]["status"]) == (["cancelled"], "CANCELED")
        assert toss.payment(order["number"]).status == "CANCELED"
        assert await catalog.stock("H1-BK-M") == 10

    async def test_a_deposit_is_refunded_at_toss_to_the_account_the_shopper_gave_at_checkout(
        self, catalog: Catalog, shopper: Shopper, toss: FakeToss, messages: Messages
    ) -> None:
        haru = catalog.malls.haru
        order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1, catalog.variant("M1-GR-F"): 1},
                                  payment_method="virtual_account")  # fmt: skip
        paid = await webhook(shopper.client, toss.deposit(order["number"]), path=TOSS_WEBHOOK)
        assert paid.json() == {"result": "paid"}
        dress = part_of(order, haru)["id"]

        answer = await shopper.call("POST", f"/v1/orders/{order['id']}/cancel", {"mall_order_id": dress})

        assert answer.status_code == 200, answer.text
        [cancel] = toss.requests_to(f"/v1/payments/{toss.payment(order['number']).payment_key}/cancel")
        # REFUND_ACCOUNT: 국민은행 is Toss's bank code 06.
        assert cancel.json()["refundReceiveAccount"] == {
            "bank": "06", "accountNumber": "123456-01-234567", "holderName": "김지영",
        }  # fmt: skip
        assert cancel.json()["cancelAmount"] == 42000
        assert toss.payment(order["number"]).balance_amount == 90000 - 42000
        assert answer.json()["payment"]["refunded_amount"] == 42000
        assert (await messages.events(shopper.user_id))[-1] == "refund_completed"
