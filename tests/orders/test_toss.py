"""Toss Payments against a local Toss: the documented requests, every answer read, retries done once, webhooks."""

from __future__ import annotations

import base64
import json
import socket
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from orders.payments.base import (
    DepositEvent,
    GatewayUnavailableError,
    PaymentMethod,
    PaymentRefusedError,
    PaymentStatus,
    StatusChangedEvent,
    WebhookRejectedError,
)
from orders.payments.toss import KST, TossPayments
from tests.notify.fakes.http import Fault
from tests.orders.fakes.toss import CONFIRM_PATH, VIRTUAL_ACCOUNTS_PATH, FakeToss

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from orders.payments.base import Payment

ORDER = "SH20240213-0001"
WEBHOOK_TIME = "2024-02-13T12:18:14.000000"


@pytest.fixture(autouse=True)
def clean_state() -> None:
    """These tests need no database or Redis: the suite's reset is replaced by nothing."""


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.5)) as client:
        yield client


@pytest.fixture
def toss() -> Iterator[FakeToss]:
    with FakeToss() as fake:
        fake.hang_seconds = 2.0
        yield fake


@pytest.fixture
def gateway(toss: FakeToss, http: httpx.AsyncClient) -> TossPayments:
    return TossPayments(http=http, secret_key=toss.secret_key, base_url=toss.url)


async def confirmed_card(toss: FakeToss, gateway: TossPayments, *, amount: int = 10_000) -> Payment:
    payment_key = toss.authorize_card(ORDER, amount)
    return await gateway.confirm_card(
        payment_key=payment_key, order_id=ORDER, amount=amount, idempotency_key=f"confirm:{ORDER}"
    )


async def issued_account(
    gateway: TossPayments, *, bank: str = "신한은행", amount: int = 39_000, valid_hours: int = 24
) -> Payment:
    return await gateway.issue_virtual_account(
        order_id=ORDER,
        order_name="오버핏 울 코트 외 1건",
        amount=amount,
        customer_name="김쇼아",
        bank=bank,
        valid_hours=valid_hours,
        idempotency_key=f"virtual-account:{ORDER}",
    )


def status_changed_body(toss: FakeToss, **changes: Any) -> bytes:
    """Toss's PAYMENT_STATUS_CHANGED body for the order's payment, with some Payment fields as Toss might vary them."""
    body = json.loads(toss.payment_status_changed(ORDER))
    body["data"].update(changes)
    return json.dumps(body, ensure_ascii=False).encode()


# -- confirming a card payment ---------------------------------------------------------------------------------


async def test_a_confirm_sends_the_secret_key_with_a_colon_the_idempotency_key_and_the_documented_body(
    toss: FakeToss, gateway: TossPayments
) -> None:
    payment_key = toss.authorize_card(ORDER, 10_000)

    await gateway.confirm_card(payment_key=payment_key, order_id=ORDER, amount=10_000, idempotency_key="confirm-1")

    [request] = toss.received
    assert (request.method, request.path) == ("POST", CONFIRM_PATH)
    expected = base64.b64encode(f"{toss.secret_key}:".encode()).decode()
    assert request.header("authorization") == f"Basic {expected}"
    assert request.header("idempotency-key") == "confirm-1"
    assert request.header("content-type") == "application/json"
    assert request.json() == {"paymentKey": payment_key, "orderId": ORDER, "amount": 10_000}


async def test_confirming_an_authorised_card_payment_makes_it_done(toss: FakeToss, gateway: TossPayments) -> None:
    payment = await confirmed_card(toss, gateway, amount=10_000)

    stored = toss.payment(ORDER)
    assert payment.payment_key == stored.payment_key
    assert (payment.order_id, payment.status, payment.method) == (ORDER, PaymentStatus.DONE, PaymentMethod.CARD)
    assert (payment.total_amount, payment.balance_amount) == (10_000, 10_000)
    assert payment.approved_at is not None
    assert payment.approved_at.utcoffset() == timedelta(hours=9)
    assert payment.last_transaction_key == stored.last_transaction_key is not None
    assert payment.receipt_url is not None
    assert payment.receipt_url.startswith("https://dashboard.tosspayments.com/receipt/")
    assert (payment.virtual_account, payment.secret) == (None, None)


async def test_an_amount_other_than_the_authorised_one_is_refused_and_nothing_is_approved(
    toss: FakeToss, gateway: TossPayments
) -> None:
    payment_key = toss.authorize_card(ORDER, 10_000)

    with pytest.raises(PaymentRefusedError) as refused:
        await gateway.confirm_card(payment_key=payment_key, order_id=ORDER, amount=100, idempotency_key="confirm-1")

    assert (refused.value.code, refused.value.http_status) == ("INVALID_REQUEST", 400)
    assert refused.value.message == "잘못된 요청입니다."
    assert (await gateway.get_payment(payment_key)).status is PaymentStatus.IN_PROGRESS


async def test_a_second_confirm_of_a_confirmed_payment_is_refused_as_already_processed(
    toss: FakeToss, gateway: TossPayments
) -> None:
    first = await confirmed_card(toss, gateway)

    with pytest.raises(PaymentRefusedError) as refused:
        await gateway.confirm_card(
            payment_key=first.payment_key, order_id=ORDER, amount=10_000, idempotency_key="another-key"
        )

    assert (refused.value.code, refused.value.http_status) == ("ALREADY_PROCESSED_PAYMENT", 400)


async def test_a_confirm_whose_answer_was_lost_is_retried_under_its_key_and_approved_once(
    toss: FakeToss, gateway: TossPayments
) -> None:
    payment_key = toss.authorize_card(ORDER, 10_000)
    toss.fail_next(1, Fault.LOST_ANSWER)

    with pytest.raises(GatewayUnavailableError) as lost:
        await gateway.confirm_card(payment_key=payment_key, order_id=ORDER, amount=10_000, idempotency_key="c-1")
    retried = await gateway.confirm_card(payment_key=payment_key, order_id=ORDER, amount=10_000, idempotency_key="c-1")

    assert "retry with the same idempotency key" in lost.value.message
    assert retried.status is PaymentStatus.DONE
    assert retried.last_transaction_key == toss.payment(ORDER).last_transaction_key
    assert len(toss.requests_to(CONFIRM_PATH)) == 2


async def test_an_unknown_payment_is_not_found(toss: FakeToss, gateway: TossPayments) -> None:
    with pytest.raises(PaymentRefusedError) as read:
        await gateway.get_payment("tgen_unknown_payment_key")
    with pytest.raises(PaymentRefusedError) as confirmed:
        await gateway.confirm_card(
            payment_key="tgen_unknown_payment_key", order_id=ORDER, amount=1000, idempotency_key="c-1"
        )

    assert (read.value.code, read.value.http_status) == ("NOT_FOUND_PAYMENT", 404)
    assert (confirmed.value.code, confirmed.value.http_status) == ("NOT_FOUND_PAYMENT", 404)


async def test_a_wrong_secret_key_is_refused_as_unauthorized(toss: FakeToss, http: httpx.AsyncClient) -> None:
    gateway = TossPayments(http=http, secret_key="test_sk_revoked", base_url=toss.url)

    with pytest.raises(PaymentRefusedError) as refused:
        await gateway.get_payment("any")

    assert (refused.value.code, refused.value.http_status) == ("UNAUTHORIZED_KEY", 401)


# -- no answer, or not Toss's ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [
        (Fault.SERVER_ERROR, "FAILED_INTERNAL_SYSTEM_PROCESSING", 500),
        (Fault.UNAVAILABLE, "HTTP_503", 503),
        (Fault.DISCONNECT, "RemoteProtocolError", None),
        (Fault.HANG, "ReadTimeout", None),
        ("idempotent_request_processing", "IDEMPOTENT_REQUEST_PROCESSING", 409),
        (Fault.RATE_LIMIT, "FORBIDDEN_CONSECUTIVE_REQUEST", 403),
        ("garbled_success", "UNREADABLE_ANSWER", 200),
    ],
)
async def test_errors_timeouts_dropped_connections_and_foreign_pages_are_unavailability(
    toss: FakeToss, gateway: TossPayments, fault: str, code: str, status: int | None
) -> None:
    payment_key = toss.authorize_card(ORDER, 10_000)
    toss.fail_next(1, fault)

    with pytest.raises(GatewayUnavailableError) as unavailable:
        await gateway.confirm_card(payment_key=payment_key, order_id=ORDER, amount=10_000, idempotency_key="c-1")

    assert (unavailable.value.code, unavailable.value.http_status) == (code, status)
    assert toss.payment(ORDER).status == "IN_PROGRESS"


async def test_a_closed_port_is_unavailable_and_says_nothing_reached_toss(http: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = TossPayments(http=http, secret_key="test_sk_x", base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(GatewayUnavailableError) as unavailable:
        await gateway.get_payment("any")

    assert unavailable.value.code == "ConnectError"
    assert "never reached Toss" in unavailable.value.message


# -- virtual accounts ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bank", "code", "name"),
    [
        ("신한은행", "88", "신한은행"),
        ("88", "88", "신한은행"),
        ("우리", "20", "우리은행"),
        ("KB국민은행", "06", "KB국민은행"),
    ],
)
async def test_a_virtual_account_is_issued_at_the_bank_asked_for_by_name_or_code(
    toss: FakeToss, gateway: TossPayments, bank: str, code: str, name: str
) -> None:
    before = datetime.now(KST)

    payment = await issued_account(gateway, bank=bank, valid_hours=24)

    [request] = toss.requests_to(VIRTUAL_ACCOUNTS_PATH)
    assert request.header("idempotency-key") == f"virtual-account:{ORDER}"
    assert request.json() == {
        "amount": 39_000,
        "orderId": ORDER,
        "orderName": "오버핏 울 코트 외 1건",
        "customerName": "김쇼아",
        "bank": code,
        "validHours": 24,
    }
    assert (payment.status, payment.method) == (PaymentStatus.WAITING_FOR_DEPOSIT, PaymentMethod.VIRTUAL_ACCOUNT)
    assert payment.approved_at is None
    account, stored = payment.virtual_account, toss.payment(ORDER).virtual_account
    assert account is not None
    assert stored is not None
    assert (account.bank_code, account.bank_name, account.holder) == (code, name, "김쇼아")
    assert account.account_number == stored["accountNumber"]
    assert account.account_number.startswith("X")
    assert account.due_at.tzinfo is not None
    assert (
        before + timedelta(hours=24) - timedelta(seconds=1) <= account.due_at <= datetime.now(KST) + timedelta(hours=24)
    )
    assert account.expired is False
    assert payment.secret is not None
    assert payment.secret == toss.payment(ORDER).secret


async def test_every_virtual_account_gets_its_own_number(toss: FakeToss, gateway: TossPayments) -> None:
    first = await issued_account(gateway)
    second = await gateway.issue_virtual_account(
        order_id="SH20240213-0002",
        order_name="니트 베스트",
        amount=19_000,
        customer_name="이쇼아",
        bank="20",
        valid_hours=48,
        idempotency_key="virtual-account:SH20240213-0002",
    )

    assert first.virtual_account is not None
    assert second.virtual_account is not None
    assert first.virtual_account.account_number != second.virtual_account.account_number
    assert first.secret != second.secret


async def test_a_bank_that_issues_no_virtual_accounts_is_refused(toss: FakeToss, gateway: TossPayments) -> None:
    with pytest.raises(PaymentRefusedError) as refused:
        await issued_account(gateway, bank="카카오뱅크")

    assert (refused.value.code, refused.value.http_status) == ("INVALID_BANK", 400)
    assert toss.requests_to(VIRTUAL_ACCOUNTS_PATH)[0].json()["bank"] == "90"


async def test_a_deposit_is_announced_with_the_secret_and_read_back_as_done(
    toss: FakeToss, gateway: TossPayments
) -> None:
    issued = await issued_account(gateway, amount=39_000)

    event = gateway.parse_webhook(toss.deposit(ORDER))
    paid = await gateway.get_payment(issued.payment_key)

    assert isinstance(event, DepositEvent)
    assert (event.order_id, event.status, event.secret) == (ORDER, PaymentStatus.DONE, issued.secret)
    assert (paid.status, paid.balance_amount) == (PaymentStatus.DONE, 39_000)
    assert paid.approved_at is not None
    assert event.transaction_key == paid.last_transaction_key != issued.last_transaction_key


async def test_an_expired_virtual_account_still_waits_but_says_it_expired(
    toss: FakeToss, gateway: TossPayments
) -> None:
    issued = await issued_account(gateway)

    toss.expire(ORDER)
    read = await gateway.get_payment(issued.payment_key)

    assert read.status is PaymentStatus.WAITING_FOR_DEPOSIT
    assert read.virtual_account is not None
    assert read.virtual_account.expired is True


# -- cancels ---------------------------------------------------------------------------------------------------


async def test_a_full_cancel_sends_no_amount_and_leaves_nothing(toss: FakeToss, gateway: TossPayments) -> None:
    paid = await confirmed_card(toss, gateway, amount=10_000)

    canceled = await gateway.cancel(paid.payment_key, reason="고객 변심", amount=None, idempotency_key="cancel-1")

    request = toss.requests_to(f"/v1/payments/{paid.payment_key}/cancel")[0]
    assert request.json() == {"cancelReason": "고객 변심"}
    assert request.header("idempotency-key") == "cancel-1"
    assert (canceled.status, canceled.balance_amount, canceled.total_amount) == (PaymentStatus.CANCELED, 0, 10_000)
    assert canceled.last_transaction_key != paid.last_transaction_key


async def test_partial_cancels_lower_the_balance_until_the_rest_is_cancelled(
    toss: FakeToss, gateway: TossPayments
) -> None:
    paid = await confirmed_card(toss, gateway, amount=10_000)

    part = await gateway.cancel(paid.payment_key, reason="사이즈 품절", amount=3_000, idempotency_key="cancel-1")
    rest = await gateway.cancel(paid.payment_key, reason="주문 취소", amount=None, idempotency_key="cancel-2")

    assert (part.status, part.balance_amount) == (PaymentStatus.PARTIAL_CANCELED, 7_000)
    assert toss.requests_to(f"/v1/payments/{paid.payment_key}/cancel")[0].json()["cancelAmount"] == 3_000
    assert (rest.status, rest.balance_amount) == (PaymentStatus.CANCELED, 0)
    assert [cancel["cancelAmount"] for cancel in toss.payment(ORDER).cancels] == [3_000, 7_000]


async def test_a_cancel_above_the_balance_is_refused_and_changes_nothing(toss: FakeToss, gateway: TossPayments) -> None:
    paid = await confirmed_card(toss, gateway, amount=10_000)
    await gateway.cancel(paid.payment_key, reason="사이즈 품절", amount=6_000, idempotency_key="cancel-1")

    with pytest.raises(PaymentRefusedError) as refused:
        await gateway.cancel(paid.payment_key, reason="반품", amount=5_000, idempotency_key="cancel-2")

    assert (refused.value.code, refused.value.http_status) == ("NOT_CANCELABLE_AMOUNT", 403)
    assert (await gateway.get_payment(paid.payment_key)).balance_amount == 4_000


async def test_a_cancel_retried_after_a_lost_answer_cancels_once(toss: FakeToss, gateway: TossPayments) -> None:
    paid = await confirmed_card(toss, gateway, amount=10_000)
    toss.fail_next(1, Fault.LOST_ANSWER)

    with pytest.raises(GatewayUnavailableError):
        await gateway.cancel(paid.payment_key, reason="사이즈 품절", amount=3_000, idempotency_key="cancel-1")
    retried = await gateway.cancel(paid.payment_key, reason="사이즈 품절", amount=3_000, idempotency_key="cancel-1")
    replayed = await gateway.cancel(paid.payment_key, reason="사이즈 품절", amount=3_000, idempotency_key="cancel-1")

    assert retried.balance_amount == replayed.balance_amount == 7_000
    assert len(toss.payment(ORDER).cancels) == 1
    assert len(toss.requests_to(f"/v1/payments/{paid.payment_key}/cancel")) == 3


async def test_a_key_reused_for_another_amount_gets_the_first_answer_because_toss_compares_no_bodies(
    toss: FakeToss, gateway: TossPayments
) -> None:
    paid = await confirmed_card(toss, gateway, amount=10_000)

    first = await gateway.cancel(paid.payment_key, reason="사이즈 품절", amount=3_000, idempotency_key="cancel-1")
    reused = await gateway.cancel(paid.payment_key, reason="반품", amount=5_000, idempotency_key="cancel-1")

    assert first == reused
    assert reused.balance_amount == 7_000
    assert len(toss.payment(ORDER).cancels) == 1


async def test_a_virtual_account_cannot_be_partly_cancelled_before_its_deposit(
    toss: FakeToss, gateway: TossPayments
) -> None:
    issued = await issued_account(gateway, amount=39_000)

    with pytest.raises(PaymentRefusedError) as refused:
        await gateway.cancel(issued.payment_key, reason="재고 없음", amount=9_000, idempotency_key="cancel-1")
    whole = await gateway.cancel(issued.payment_key, reason="재고 없음", amount=None, idempotency_key="cancel-2")

    assert (refused.value.code, refused.value.http_status) == ("NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT", 403)
    assert (whole.status, whole.balance_amount) == (PaymentStatus.CANCELED, 0)


# -- webhooks --------------------------------------------------------------------------------------------------


async def test_the_documented_flat_deposit_callback_and_the_wrapped_one_read_the_same(
    toss: FakeToss, gateway: TossPayments
) -> None:
    await issued_account(gateway)
    flat = json.loads(toss.deposit(ORDER))
    assert "eventType" not in flat
    wrapped = {
        "eventType": "DEPOSIT_CALLBACK",
        "createdAt": flat["createdAt"],
        "data": {key: value for key, value in flat.items() if key != "createdAt"},
    }

    from_flat = gateway.parse_webhook(json.dumps(flat).encode())
    from_wrapped = gateway.parse_webhook(json.dumps(wrapped).encode())

    assert from_flat == from_wrapped
    assert from_flat == DepositEvent(
        order_id=ORDER,
        status=PaymentStatus.DONE,
        secret=flat["secret"],
        transaction_key=flat["transactionKey"],
        created_at=flat["createdAt"],
    )


async def test_a_payment_status_change_carries_the_payment_as_a_read_back_shows_it(
    toss: FakeToss, gateway: TossPayments
) -> None:
    paid = await confirmed_card(toss, gateway)
    canceled = await gateway.cancel(paid.payment_key, reason="고객 변심", amount=None, idempotency_key="cancel-1")

    event = gateway.parse_webhook(toss.payment_status_changed(ORDER))

    assert isinstance(event, StatusChangedEvent)
    assert event.payment == canceled
    assert event.payment.status is PaymentStatus.CANCELED


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("카드", PaymentMethod.CARD),
        ("CARD", PaymentMethod.CARD),
        ("간편결제", PaymentMethod.CARD),
        (None, PaymentMethod.CARD),
        ("가상계좌", PaymentMethod.VIRTUAL_ACCOUNT),
        ("VIRTUAL_ACCOUNT", PaymentMethod.VIRTUAL_ACCOUNT),
    ],
)
async def test_korean_and_english_method_names_read_the_same(
    toss: FakeToss, gateway: TossPayments, method: str | None, expected: PaymentMethod
) -> None:
    await issued_account(gateway)

    event = gateway.parse_webhook(status_changed_body(toss, method=method))

    assert isinstance(event, StatusChangedEvent)
    assert event.payment.method is expected


async def test_a_due_date_without_an_offset_is_korean_time(toss: FakeToss, gateway: TossPayments) -> None:
    await issued_account(gateway)
    account = toss.payment(ORDER).virtual_account
    assert account is not None

    event = gateway.parse_webhook(
        status_changed_body(toss, virtualAccount={**account, "dueDate": "2024-02-20T23:59:59"})
    )

    assert isinstance(event, StatusChangedEvent)
    assert event.payment.virtual_account is not None
    assert event.payment.virtual_account.due_at == datetime(2024, 2, 20, 23, 59, 59, tzinfo=KST)
    assert event.payment.virtual_account.due_at.utcoffset() == timedelta(hours=9)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>not json</html>",
        b"[]",
        b'{"eventType": "BILLING_DELETED", "createdAt": "2024-12-01T00:00:00.000000", "data": {"billingKey": "x"}}',
        b'{"createdAt": "2024-02-13T12:18:14.000000", "status": "DONE", "orderId": "SH20240213-0001"}',
        b'{"eventType": "DEPOSIT_CALLBACK", "createdAt": "2024-02-13T12:18:14.000000", "data": "DONE"}',
        (
            b'{"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2024-02-13T12:18:14.000000",'
            b' "data": {"paymentKey": "k"}}'
        ),
        (
            b'{"createdAt": "2024-02-13T12:18:14.000000", "secret": "ps_x", "status": "PAID",'
            b' "transactionKey": "T", "orderId": "SH20240213-0001"}'
        ),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "unknown-event",
        "deposit-without-secret",
        "deposit-data-not-object",
        "incomplete-payment",
        "unknown-status",
    ],
)
def test_bodies_toss_does_not_send_are_rejected(gateway: TossPayments, body: bytes) -> None:
    with pytest.raises(WebhookRejectedError):
        gateway.parse_webhook(body)


async def test_a_payment_in_a_method_shoa_does_not_take_is_rejected(toss: FakeToss, gateway: TossPayments) -> None:
    await issued_account(gateway)

    with pytest.raises(WebhookRejectedError, match="휴대폰"):
        gateway.parse_webhook(status_changed_body(toss, method="휴대폰"))
