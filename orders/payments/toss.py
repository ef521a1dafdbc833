"""Toss Payments v1: card confirms, virtual accounts (무통장입금), read-backs, cancels, and the payment webhooks.

Docs followed (docs.tosspayments.com): reference (코어 API: the Payment object, 결제 승인, paymentKey로 결제
조회, 결제 취소, 가상계좌 발급 요청), reference/using-api/authorization (Basic auth, 멱등키),
reference/using-api/webhook-events (PAYMENT_STATUS_CHANGED, DEPOSIT_CALLBACK), reference/error-codes and
codes/org-codes (은행 코드).

Idempotency: Toss remembers an ``Idempotency-Key`` per secret key, URL and HTTP method for 15 days and answers a
repeat with the first answer *whatever the body says*, so a key must name one operation on one payment (every
confirm shares one URL). A repeat that arrives while the first is still running gets ``409
IDEMPOTENT_REQUEST_PROCESSING``; that, and the codes Toss documents as "try again shortly", are unavailability here,
not refusals.

Toss answers in Korean unless asked for English (``method`` is ``카드``, ``가상계좌``); both spellings are read.
Timestamps carry ``+09:00`` except ``virtualAccount.dueDate``, which the reference writes without an offset: a
timestamp without one is Korean time.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import msgspec

from orders.payments.base import (
    DepositCallback,
    DepositEvent,
    GatewayUnavailableError,
    Payment,
    PaymentMethod,
    PaymentRefusedError,
    PaymentStatus,
    StatusChangedEvent,
    VirtualAccount,
    WebhookRejectedError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from orders.payments.base import RefundAccount, WebhookEvent

KST = datetime.timezone(datetime.timedelta(hours=9), "KST")


@dataclass(frozen=True)
class Bank:
    code: str
    """Toss's two-digit code (codes/org-codes, 은행 코드)."""
    name: str
    short_name: str
    """Toss's short Korean label (``신한``, ``국민`` …)."""
    aliases: tuple[str, ...] = ()


BANKS = (
    Bank("39", "경남은행", "경남"),
    Bank("34", "광주은행", "광주"),
    Bank("12", "단위농협", "단위농협"),
    Bank("32", "부산은행", "부산"),
    Bank("45", "새마을금고", "새마을"),
    Bank("64", "산림조합", "산림"),
    Bank("88", "신한은행", "신한"),
    Bank("48", "신협", "신협"),
    Bank("27", "씨티은행", "씨티"),
    Bank("20", "우리은행", "우리"),
    Bank("71", "우체국예금보험", "우체국"),
    Bank("50", "저축은행중앙회", "저축"),
    Bank("37", "전북은행", "전북"),
    Bank("35", "제주은행", "제주"),
    Bank("90", "카카오뱅크", "카카오"),
    Bank("89", "케이뱅크", "케이"),
    Bank("92", "토스뱅크", "토스"),
    Bank("81", "하나은행", "하나"),
    Bank("54", "홍콩상하이은행", "HSBC"),
    Bank("03", "IBK기업은행", "기업", aliases=("기업은행",)),
    Bank("06", "KB국민은행", "국민", aliases=("국민은행",)),
    Bank("31", "iM뱅크(대구)", "대구", aliases=("DGB대구은행", "대구은행", "iM뱅크")),
    Bank("02", "KDB산업은행", "산업", aliases=("산업은행",)),
    Bank("11", "NH농협은행", "농협", aliases=("농협은행",)),
    Bank("23", "SC제일은행", "SC제일"),
    Bank("07", "Sh수협은행", "수협", aliases=("수협은행",)),
)
_BANK_BY_CODE: Mapping[str, Bank] = MappingProxyType({bank.code: bank for bank in BANKS})
_BANK_CODE_BY_NAME: Mapping[str, str] = MappingProxyType(
    {label: bank.code for bank in BANKS for label in (bank.name, bank.short_name, *bank.aliases)}
)

_METHODS: Mapping[str, PaymentMethod] = MappingProxyType(
    {
        "카드": PaymentMethod.CARD,
        "CARD": PaymentMethod.CARD,
        # Easy pay (토스페이, 네이버페이 …) runs through the same payment window and confirm as a card.
        "간편결제": PaymentMethod.CARD,
        "EASY_PAY": PaymentMethod.CARD,
        "가상계좌": PaymentMethod.VIRTUAL_ACCOUNT,
        "VIRTUAL_ACCOUNT": PaymentMethod.VIRTUAL_ACCOUNT,
    }
)

_TRY_AGAIN_CODES = frozenset({"IDEMPOTENT_REQUEST_PROCESSING", "FORBIDDEN_CONSECUTIVE_REQUEST", "PROVIDER_ERROR"})
"""4xx codes whose documented meaning is "not now, try again shortly" (reference/error-codes, 멱등키 에러)."""


def bank_name(code: str) -> str:
    """The Korean name for a Toss bank code; an unlisted code is shown as such rather than refused."""
    bank = _BANK_BY_CODE.get(code)
    return bank.name if bank is not None else f"은행 코드 {code}"


BANK_LABELS: tuple[str, ...] = tuple(sorted({*_BANK_BY_CODE, *_BANK_CODE_BY_NAME}))
"""Every way to name a bank Toss knows: its code, name, short name or an old name."""


def known_bank(bank: str) -> bool:
    """Whether ``bank`` names a bank Toss knows, by code, name or short name."""
    label = bank.strip()
    return label in _BANK_BY_CODE or label in _BANK_CODE_BY_NAME


def toss_bank_code(bank: str) -> str:
    """The code Toss expects for a bank given by code or Korean name; anything else goes to Toss to judge."""
    label = bank.strip()
    if label in _BANK_BY_CODE:
        return label
    return _BANK_CODE_BY_NAME.get(label, label)


# -- the wire --------------------------------------------------------------------------------------------------


class _ConfirmRequest(msgspec.Struct, rename="camel"):
    payment_key: str
    order_id: str
    amount: int


class _VirtualAccountRequest(msgspec.Struct, rename="camel"):
    amount: int
    order_id: str
    order_name: str
    customer_name: str
    bank: str
    valid_hours: int


class _RefundReceiveAccount(msgspec.Struct, rename="camel"):
    bank: str
    """Toss's bank code."""
    account_number: str
    holder_name: str


class _CancelRequest(msgspec.Struct, rename="camel", omit_defaults=True):
    cancel_reason: str
    cancel_amount: int | None = None
    """Left out for a full cancel."""
    refund_receive_account: _RefundReceiveAccount | None = None
    """Deposited virtual accounts only: where the money goes back."""


class _Receipt(msgspec.Struct):
    url: str | None = None


class _VirtualAccountAnswer(msgspec.Struct, rename="camel"):
    account_number: str
    bank_code: str
    customer_name: str
    due_date: datetime.datetime
    expired: bool = False


class _PaymentAnswer(msgspec.Struct, rename="camel"):
    payment_key: str
    order_id: str
    status: PaymentStatus
    total_amount: int
    balance_amount: int
    method: str | None = None
    approved_at: datetime.datetime | None = None
    last_transaction_key: str | None = None
    virtual_account: _VirtualAccountAnswer | None = None
    secret: str | None = None
    receipt: _Receipt | None = None


class _ErrorAnswer(msgspec.Struct):
    code: str
    message: str


class _StatusChanged(msgspec.Struct, rename="camel"):
    created_at: str
    data: _PaymentAnswer


class _UnreadablePaymentError(ValueError):
    """A well-formed Payment object Shoa cannot represent (a method it does not take)."""


# -- the gateway -----------------------------------------------------------------------------------------------


class TossPayments:
    name = "toss"

    def __init__(
        self, *, http: httpx.AsyncClient, secret_key: str, base_url: str = "https://api.tosspayments.com"
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        credentials = base64.b64encode(f"{secret_key}:".encode()).decode("ascii")
        self._authorization = f"Basic {credentials}"

    async def confirm_card(self, *, payment_key: str, order_id: str, amount: int, idempotency_key: str) -> Payment:
        body = _ConfirmRequest(payment_key=payment_key, order_id=order_id, amount=amount)
        return await self._exchange("POST", "/v1/payments/confirm", body=body, idempotency_key=idempotency_key)

    async def issue_virtual_account(
        self,
        *,
        order_id: str,
        order_name: str,
        amount: int,
        customer_name: str,
        bank: str,
        valid_hours: int,
        idempotency_key: str,
    ) -> Payment:
        body = _VirtualAccountRequest(
            amount=amount,
            order_id=order_id,
            order_name=order_name,
            customer_name=customer_name,
            bank=toss_bank_code(bank),
            valid_hours=valid_hours,
        )
        return await self._exchange("POST", "/v1/virtual-accounts", body=body, idempotency_key=idempotency_key)

    async def get_payment(self, payment_key: str) -> Payment:
        return await self._exchange("GET", f"/v1/payments/{quote(payment_key, safe='')}")

    async def cancel(
        self,
        payment_key: str,
        *,
        reason: str,
        amount: int | None,
        idempotency_key: str,
        refund_account: RefundAccount | None = None,
    ) -> Payment:
        """A deposited virtual account's refund goes to ``refund_account`` (``refundReceiveAccount``; Toss refuses
        it without one)."""
        account = None
        if refund_account is not None:
            account = _RefundReceiveAccount(bank=toss_bank_code(refund_account.bank),
                                            account_number=refund_account.account_number,
                                            holder_name=refund_account.holder)  # fmt: skip
        body = _CancelRequest(cancel_reason=reason, cancel_amount=amount, refund_receive_account=account)
        path = f"/v1/payments/{quote(payment_key, safe='')}/cancel"
        return await self._exchange("POST", path, body=body, idempotency_key=idempotency_key)

    def parse_webhook(self, body: bytes) -> WebhookEvent:
        """``DEPOSIT_CALLBACK`` as documented (flat, no ``eventType``) or wrapped in ``{"eventType", "data"}`` as some
        integrations receive it, and ``PAYMENT_STATUS_CHANGED``; every other body is rejected."""
        try:
            document = msgspec.json.decode(body)
        except msgspec.DecodeError as error:
            raise WebhookRejectedError(f"not JSON: {error}") from error
        if not isinstance(document, dict):
            raise WebhookRejectedError("not a JSON object")
        event_type = document.get("eventType")
        try:
            if event_type is None:
                return _deposit_event(msgspec.convert(document, DepositCallback))
            if event_type == "DEPOSIT_CALLBACK":
                return _deposit_event(msgspec.convert(_unwrapped(document), DepositCallback))
            if event_type == "PAYMENT_STATUS_CHANGED":
                changed = msgspec.convert(document, _StatusChanged)
                return StatusChangedEvent(payment=_payment(changed.data), created_at=changed.created_at)
        except (msgspec.ValidationError, _UnreadablePaymentError) as error:
            raise WebhookRejectedError(f"{event_type or 'DEPOSIT_CALLBACK'} body not understood: {error}") from error
        raise WebhookRejectedError(f"unknown event type {event_type!r}")

    # -- one exchange ------------------------------------------------------------------------------------------

    async def _exchange(
        self, method: str, path: str, *, body: msgspec.Struct | None = None, idempotency_key: str | None = None
    ) -> Payment:
        headers = {"Authorization": self._authorization}
        content = None
        if body is not None:
            content = msgspec.json.encode(body)
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = await self._http.request(method, f"{self._base_url}{path}", content=content, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise GatewayUnavailableError(type(error).__name__, _why_no_answer(error)) from error
        return _read(response)


def _read(response: httpx.Response) -> Payment:
    status = response.status_code
    if 200 <= status < 300:
        try:
            return _payment(msgspec.json.decode(response.content, type=_PaymentAnswer))
        except (msgspec.DecodeError, msgspec.ValidationError, _UnreadablePaymentError) as error:
            raise GatewayUnavailableError(
                "UNREADABLE_ANSWER", f"a {status} that is not a Payment object: {error}", http_status=status
            ) from error
    try:
        refusal = msgspec.json.decode(response.content, type=_ErrorAnswer)
    except (msgspec.DecodeError, msgspec.ValidationError):
        # Not Toss speaking: a proxy's or load balancer's page. Whether Toss acted is unknown.
        excerpt = response.text[:200].strip()
        raise GatewayUnavailableError(f"HTTP_{status}", excerpt or "no body", http_status=status) from None
    if status >= 500 or status == 429 or refusal.code in _TRY_AGAIN_CODES:
        raise GatewayUnavailableError(refusal.code, refusal.message, http_status=status)
    raise PaymentRefusedError(refusal.code, refusal.message, http_status=status)


def _why_no_answer(error: Exception) -> str:
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return f"the request never reached Toss ({error!s})"
    return f"no answer; Toss may have acted, retry with the same idempotency key ({error!s})"


def _payment(answer: _PaymentAnswer) -> Payment:
    account = answer.virtual_account
    return Payment(
        payment_key=answer.payment_key,
        order_id=answer.order_id,
        status=answer.status,
        method=_method(answer.method),
        total_amount=answer.total_amount,
        balance_amount=answer.balance_amount,
        approved_at=_korean_time(answer.approved_at) if answer.approved_at is not None else None,
        virtual_account=_virtual_account(account) if account is not None else None,
        secret=answer.secret,
        last_transaction_key=answer.last_transaction_key,
        receipt_url=answer.receipt.url if answer.receipt is not None else None,
    )


def _method(method: str | None) -> PaymentMethod:
    if method is None:
        # Only a payment window left before a method was chosen has none; Shoa's window is the card flow.
        return PaymentMethod.CARD
    try:
        return _METHODS[method]
    except KeyError:
        raise _UnreadablePaymentError(f"payment method {method!r} is not one Shoa takes") from None


def _virtual_account(account: _VirtualAccountAnswer) -> VirtualAccount:
    return VirtualAccount(
        bank_code=account.bank_code,
        bank_name=bank_name(account.bank_code),
        account_number=account.account_number,
        holder=account.customer_name,
        due_at=_korean_time(account.due_date),
        expired=account.expired,
    )


def _korean_time(moment: datetime.datetime) -> datetime.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=KST)


def _unwrapped(document: dict[str, Any]) -> dict[str, Any]:
    """A wrapped deposit callback's fields: the envelope's (``createdAt``), then ``data``'s over them."""
    data = document.get("data")
    if not isinstance(data, dict):
        raise WebhookRejectedError("DEPOSIT_CALLBACK without a data object")
    envelope = {name: value for name, value in document.items() if name not in {"eventType", "data"}}
    return {**envelope, **data}


def _deposit_event(callback: DepositCallback) -> DepositEvent:
    return DepositEvent(
        order_id=callback.order_id,
        status=callback.status,
        secret=callback.secret,
        transaction_key=callback.transaction_key,
        created_at=callback.created_at,
    )
