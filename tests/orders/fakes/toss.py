"""``FakeToss``: Toss Payments' v1 core API as docs.tosspayments.com documents it, for the payment adapter's tests.

Every call needs ``Authorization: Basic base64("<secret key>:")`` with the fake's ``test_sk_…`` key, else ``401
UNAUTHORIZED_KEY``. Errors are ``{"code", "message"}`` with the status and Korean message of reference/error-codes.

- ``POST /v1/payments/confirm`` ``{paymentKey, orderId, amount}``: confirms a payment the payment window authorised
  (a test registers it with :meth:`FakeToss.authorize_card`). Unknown key: ``404 NOT_FOUND_PAYMENT``; a payment past
  ``IN_PROGRESS``: ``400 ALREADY_PROCESSED_PAYMENT``; an expired one: ``404 NOT_FOUND_PAYMENT_SESSION``; another
  order id or amount than authorised: ``400 INVALID_REQUEST`` (the reference lists no amount-specific code).
- ``POST /v1/virtual-accounts`` ``{amount, orderId, orderName, customerName, bank, validHours | dueDate}``: a
  ``WAITING_FOR_DEPOSIT`` payment with a fresh account number (``X…``, as Toss's test accounts are), a ``secret``
  and ``dueDate`` = now + ``validHours`` (default 168, at most 2,160). ``bank`` is a code of a bank that issues
  virtual accounts (guides/payment/virtual-account-api), else ``400 INVALID_BANK``.
- ``GET /v1/payments/{paymentKey}`` and ``GET /v1/payments/orders/{orderId}``: the Payment object.
- ``POST /v1/payments/{paymentKey}/cancel`` ``{cancelReason, cancelAmount?, refundReceiveAccount?}``: a cancel of
  the balance or part of it, recorded in ``cancels``; ``CANCELED`` at a zero balance, else ``PARTIAL_CANCELED``.
  More than the balance: ``403 NOT_CANCELABLE_AMOUNT``; nothing left: ``400 ALREADY_CANCELED_PAYMENT``; part of a
  virtual account before its deposit: ``403 NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT``; a deposited virtual
  account without ``refundReceiveAccount``: ``400 INVALID_REQUIRED_PARAM``.

Idempotency (reference/using-api/authorization): a POST's ``Idempotency-Key`` is remembered with the URL and method
(the secret key is the fake's only one); a repeat gets the first answer again and nothing is done twice, *even when
its body differs*: Toss compares no bodies. A key over 300 characters: ``400 INVALID_IDEMPOTENCY_KEY``.

Test controls: :meth:`~FakeToss.authorize_card`, :meth:`~FakeToss.deposit` (which returns the ``DEPOSIT_CALLBACK``
body Toss would post), :meth:`~FakeToss.expire`, :meth:`~FakeToss.payment_status_changed` and
:meth:`~FakeToss.payment`. Extra fault kinds: ``idempotent_request_processing`` (``409``, the first request under a
key is still running), ``garbled_success`` (a ``200`` page that is no Payment object, as a misrouted proxy gives).
The base's rate limit answers Toss's ``403 FORBIDDEN_CONSECUTIVE_REQUEST``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote

from tests.notify.fakes.http import Answer, FakeProviderServer, Request

if TYPE_CHECKING:
    from collections.abc import Callable

KST = timezone(timedelta(hours=9))
CONFIRM_PATH = "/v1/payments/confirm"
VIRTUAL_ACCOUNTS_PATH = "/v1/virtual-accounts"
_CANCEL_PATH = re.compile(r"/v1/payments/(?P<key>[^/]+)/cancel")
_ORDER_PATH = re.compile(r"/v1/payments/orders/(?P<order>[^/]+)")
_PAYMENT_PATH = re.compile(r"/v1/payments/(?P<key>[^/]+)")
_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{6,64}")
MAX_VALID_HOURS = 2160
DEFAULT_VALID_HOURS = 168
MAX_IDEMPOTENCY_KEY = 300

VIRTUAL_ACCOUNT_BANKS = frozenset(
    {"39", "34", "06", "03", "11", "31", "32", "45", "07", "88", "20", "71", "37", "89", "81"}
)
"""경남, 광주, KB국민, IBK기업, NH농협, 대구, 부산, 새마을금고, Sh수협, 신한, 우리, 우체국, 전북, 케이뱅크, 하나."""

MESSAGES = {
    "ALREADY_CANCELED_PAYMENT": "이미 취소된 결제 입니다.",
    "ALREADY_PROCESSED_PAYMENT": "이미 처리된 결제 입니다.",
    "BELOW_ZERO_AMOUNT": "금액은 0보다 커야 합니다.",
    "DUPLICATED_ORDER_ID": "이미 승인 및 취소가 진행된 중복된 주문번호 입니다. 다른 주문번호로 진행해주세요.",
    "EXCEED_MAX_VALID_HOURS": "가상 계좌의 최대 유효시간을 초과했습니다.",
    "FAILED_INTERNAL_SYSTEM_PROCESSING": "내부 시스템 처리 작업이 실패했습니다. 잠시 후 다시 시도해주세요.",
    "FORBIDDEN_CONSECUTIVE_REQUEST": "반복적인 요청은 허용되지 않습니다. 잠시 후 다시 시도해주세요.",
    "IDEMPOTENT_REQUEST_PROCESSING": "이전 멱등 요청이 처리중입니다.",
    "INVALID_BANK": "유효하지 않은 은행입니다.",
    "INVALID_IDEMPOTENCY_KEY": "멱등키는 300자 이하여야 합니다.",
    "INVALID_ORDER_ID": "`orderId`는 영문 대소문자, 숫자, 특수문자(-, _) 만 허용합니다. 6자 이상 64자 이하여야 합니다.",
    "INVALID_ORDER_NAME": "주문 이름은 100자 이하여야 합니다.",
    "INVALID_REFUND_AMOUNT": "잘못된 환불 금액입니다.",
    "INVALID_REQUEST": "잘못된 요청입니다.",
    "INVALID_REQUIRED_PARAM": "필수 파라미터가 누락되었습니다.",
    "INVALID_VALID_HOURS_WITH_DUE_DATE_AND_SINGLE": "validHours와 dueDate는 같이 사용할 수 없습니다.",
    "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT": "입금 대기중인 결제는 부분 환불이 불가합니다.",
    "NOT_CANCELABLE_AMOUNT": "취소 할 수 없는 금액 입니다.",
    "NOT_CANCELABLE_PAYMENT": "취소 할 수 없는 결제 입니다.",
    "NOT_FOUND": "존재하지 않는 정보 입니다.",
    "NOT_FOUND_HTTP_METHOD": "존재하지 않는 HTTP 메소드 접근입니다.",
    "NOT_FOUND_PAYMENT": "존재하지 않는 결제 정보 입니다.",
    "NOT_FOUND_PAYMENT_SESSION": "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다.",
    "UNAUTHORIZED_KEY": "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.",
}

CARD = "카드"
VIRTUAL_ACCOUNT = "가상계좌"


class _RefusedError(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status, self.code = status, code


@dataclass
class FakePayment:
    """One payment as the fake keeps it; :meth:`body` is the Payment object Toss answers with."""

    payment_key: str
    order_id: str
    order_name: str
    method: str
    status: str
    total_amount: int
    balance_amount: int
    requested_at: datetime
    approved_at: datetime | None = None
    last_transaction_key: str | None = None
    secret: str | None = None
    virtual_account: dict[str, Any] | None = None
    card: dict[str, Any] | None = None
    cancels: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "mId": "tosspayments",
            "version": "2022-11-16",
            "paymentKey": self.payment_key,
            "type": "NORMAL",
            "orderId": self.order_id,
            "orderName": self.order_name,
            "currency": "KRW",
            "method": self.method,
            "totalAmount": self.total_amount,
            "balanceAmount": self.balance_amount,
            "status": self.status,
            "requestedAt": _timestamp(self.requested_at),
            "approvedAt": _timestamp(self.approved_at) if self.approved_at else None,
            "useEscrow": False,
            "lastTransactionKey": self.last_transaction_key,
            "suppliedAmount": round(self.balance_amount / 1.1),
            "vat": self.balance_amount - round(self.balance_amount / 1.1),
            "cultureExpense": False,
            "taxFreeAmount": 0,
            "taxExemptionAmount": 0,
            "cancels": list(self.cancels) or None,
            "isPartialCancelable": True,
            "card": self.card,
            "virtualAccount": dict(self.virtual_account) if self.virtual_account else None,
            "secret": self.secret,
            "mobilePhone": None,
            "giftCertificate": None,
            "transfer": None,
            "metadata": None,
            "receipt": {
                "url": f"https://dashboard.tosspayments.com/receipt/redirection?transactionId={self.payment_key}"
            },
            "checkout": {"url": f"https://api.tosspayments.com/v1/payments/{self.payment_key}/checkout"},
            "easyPay": None,
            "country": "KR",
            "failure": None,
            "cashReceipt": None,
            "cashReceipts": None,
            "discount": None,
        }


class FakeToss(FakeProviderServer):
    fault_kinds: ClassVar[frozenset[str]] = frozenset({"idempotent_request_processing", "garbled_success"})

    def __init__(self, *, secret_key: str | None = None, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.secret_key = secret_key or f"test_sk_{_random(20)}"
        self.clock = clock or (lambda: datetime.now(KST))
        self.payments: dict[str, FakePayment] = {}
        """By payment key."""
        self._answered: dict[tuple[str, str, str], Answer] = {}
        """First answers by (idempotency key, method, path)."""
        self._next_account = 1

    # -- test controls ---------------------------------------------------------------------------------------

    def authorize_card(self, order_id: str, amount: int, *, order_name: str = "Shoa 주문") -> str:
        """What the payment window leaves behind once the shopper authenticated a card: an ``IN_PROGRESS`` payment
        for ``amount``, waiting for the shop's confirm. Returns its ``paymentKey``."""
        with self._lock:
            if self._find(order_id) is not None:
                raise ValueError(f"order {order_id} already has a payment")
            payment_key = _random(48)
            self.payments[payment_key] = FakePayment(
                payment_key=payment_key,
                order_id=order_id,
                order_name=order_name,
                method=CARD,
                status="IN_PROGRESS",
                total_amount=amount,
                balance_amount=amount,
                requested_at=self.clock(),
            )
            return payment_key

    def deposit(self, order_id: str) -> bytes:
        """The shopper pays the virtual account in full: the payment is ``DONE`` under a new transaction, and the
        ``DEPOSIT_CALLBACK`` body Toss would post to the shop is returned."""
        with self._lock:
            payment = self.payment(order_id)
            account = payment.virtual_account
            if account is None or payment.status != "WAITING_FOR_DEPOSIT" or account["expired"]:
                raise ValueError(f"order {order_id} has no virtual account open for a deposit")
            payment.status = "DONE"
            payment.approved_at = self.clock()
            payment.last_transaction_key = _transaction_key()
            account["depositorName"] = account["customerName"]
            return self.deposit_callback(order_id)

    def deposit_callback(self, order_id: str) -> bytes:
        """The documented ``DEPOSIT_CALLBACK`` body for the payment as it is now (flat, with no ``eventType``)."""
        with self._lock:
            payment = self.payment(order_id)
            body = {
                "createdAt": _webhook_time(self.clock()),
                "secret": payment.secret,
                "status": payment.status,
                "transactionKey": payment.last_transaction_key,
                "orderId": payment.order_id,
            }
            return json.dumps(body, ensure_ascii=False).encode()

    def payment_status_changed(self, order_id: str) -> bytes:
        """The ``PAYMENT_STATUS_CHANGED`` body for the payment as it is now."""
        with self._lock:
            payment = self.payment(order_id)
            body = {
                "eventType": "PAYMENT_STATUS_CHANGED",
                "createdAt": _webhook_time(self.clock()),
                "data": payment.body(),
            }
            return json.dumps(body, ensure_ascii=False).encode()

    def expire(self, order_id: str) -> None:
        """The deadline passes: a virtual account stops taking money but stays ``WAITING_FOR_DEPOSIT`` (Toss sends no
        webhook for it); a card payment left unconfirmed becomes ``EXPIRED``."""
        with self._lock:
            payment = self.payment(order_id)
            if payment.virtual_account is not None and payment.status == "WAITING_FOR_DEPOSIT":
                payment.virtual_account["expired"] = True
            elif payment.status in {"READY", "IN_PROGRESS"}:
                payment.status = "EXPIRED"
            else:
                raise ValueError(f"order {order_id} is {payment.status}: nothing to expire")

    def payment(self, order_id: str) -> FakePayment:
        with self._lock:
            payment = self._find(order_id)
            if payment is None:
                raise LookupError(f"no payment for order {order_id}")
            return payment

    # -- the API ---------------------------------------------------------------------------------------------

    def answer(self, request: Request) -> Answer:
        if request.header("authorization") != self._authorization():
            return _error(401, "UNAUTHORIZED_KEY")
        key = request.header("idempotency-key") if request.method == "POST" else None
        if key is not None and len(key) > MAX_IDEMPOTENCY_KEY:
            return _error(400, "INVALID_IDEMPOTENCY_KEY")
        if key is not None and (first := self._answered.get((key, request.method, request.path))) is not None:
            return first
        try:
            answer = Answer.of_json(200, self._route(request))
        except _RefusedError as refusal:
            answer = _error(refusal.status, refusal.code)
        if key is not None:
            self._answered[key, request.method, request.path] = answer
        return answer

    def rate_limited_answer(self, request: Request, retry_after: float | None) -> Answer:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return _error(403, "FORBIDDEN_CONSECUTIVE_REQUEST", headers)

    def server_error_answer(self, request: Request) -> Answer:
        return _error(500, "FAILED_INTERNAL_SYSTEM_PROCESSING")

    def fault_answer(self, kind: str, request: Request) -> Answer:
        if kind == "idempotent_request_processing":
            return _error(409, "IDEMPOTENT_REQUEST_PROCESSING")
        page = b"<html><body>Welcome to nginx!</body></html>"
        return Answer(200, page, {"Content-Type": "text/html"})

    def _route(self, request: Request) -> dict[str, Any]:
        path = request.path
        if path == CONFIRM_PATH:
            _require(request, "POST")
            return self._confirm(_json_body(request))
        if path == VIRTUAL_ACCOUNTS_PATH:
            _require(request, "POST")
            return self._issue_virtual_account(_json_body(request))
        if match := _CANCEL_PATH.fullmatch(path):
            _require(request, "POST")
            return self._cancel(self._payment_by_key(unquote(match["key"])), _json_body(request))
        if match := _ORDER_PATH.fullmatch(path):
            _require(request, "GET")
            payment = self._find(unquote(match["order"]))
            if payment is None:
                raise _RefusedError(404, "NOT_FOUND_PAYMENT")
            return payment.body()
        if match := _PAYMENT_PATH.fullmatch(path):
            _require(request, "GET")
            return self._payment_by_key(unquote(match["key"])).body()
        raise _RefusedError(404, "NOT_FOUND")

    def _confirm(self, body: dict[str, Any]) -> dict[str, Any]:
        payment_key, order_id = _text(body, "paymentKey"), _text(body, "orderId")
        amount = _whole_number(body, "amount")
        payment = self._payment_by_key(payment_key)
        if payment.status == "EXPIRED":
            raise _RefusedError(404, "NOT_FOUND_PAYMENT_SESSION")
        if payment.status != "IN_PROGRESS":
            raise _RefusedError(400, "ALREADY_PROCESSED_PAYMENT")
        if (payment.order_id, payment.total_amount) != (order_id, amount):
            raise _RefusedError(400, "INVALID_REQUEST")
        payment.status = "DONE"
        payment.approved_at = self.clock()
        payment.last_transaction_key = _transaction_key()
        payment.card = {
            "issuerCode": "61",
            "acquirerCode": "31",
            "number": "43301234****123*",
            "installmentPlanMonths": 0,
            "isInterestFree": False,
            "interestPayer": None,
            "approveNo": f"{secrets.randbelow(10**8):08d}",
            "useCardPoint": False,
            "cardType": "신용",
            "ownerType": "개인",
            "acquireStatus": "READY",
            "amount": amount,
        }
        return payment.body()

    def _issue_virtual_account(self, body: dict[str, Any]) -> dict[str, Any]:
        amount = _whole_number(body, "amount")
        order_id, order_name = _text(body, "orderId"), _text(body, "orderName")
        customer_name, bank = _text(body, "customerName"), _text(body, "bank")
        if amount <= 0:
            raise _RefusedError(400, "BELOW_ZERO_AMOUNT")
        if not _ORDER_ID.fullmatch(order_id):
            raise _RefusedError(400, "INVALID_ORDER_ID")
        if len(order_name) > 100:
            raise _RefusedError(400, "INVALID_ORDER_NAME")
        if bank not in VIRTUAL_ACCOUNT_BANKS:
            raise _RefusedError(400, "INVALID_BANK")
        if "validHours" in body and "dueDate" in body:
            raise _RefusedError(400, "INVALID_VALID_HOURS_WITH_DUE_DATE_AND_SINGLE")
        now = self.clock()
        if "dueDate" in body:
            due = _due_date(_text(body, "dueDate"))
        else:
            hours = _whole_number(body, "validHours") if "validHours" in body else DEFAULT_VALID_HOURS
            if not 0 < hours <= MAX_VALID_HOURS:
                raise _RefusedError(400, "EXCEED_MAX_VALID_HOURS")
            due = now + timedelta(hours=hours)
        if self._find(order_id) is not None:
            raise _RefusedError(400, "DUPLICATED_ORDER_ID")
        payment_key = _random(48)
        payment = FakePayment(
            payment_key=payment_key,
            order_id=order_id,
            order_name=order_name,
            method=VIRTUAL_ACCOUNT,
            status="WAITING_FOR_DEPOSIT",
            total_amount=amount,
            balance_amount=amount,
            requested_at=now,
            last_transaction_key=_transaction_key(),
            secret=f"ps_{_random(24)}",
            virtual_account={
                "accountType": "일반",
                "accountNumber": self._fresh_account_number(),
                "bankCode": bank,
                "customerName": customer_name,
                "dueDate": _timestamp(due),
                "refundStatus": "NONE",
                "expired": False,
                "settlementStatus": "INCOMPLETED",
                "refundReceiveAccount": None,
                "depositorName": None,
            },
        )
        self.payments[payment_key] = payment
        return payment.body()

    def _cancel(self, payment: FakePayment, body: dict[str, Any]) -> dict[str, Any]:
        reason = _text(body, "cancelReason")
        if not 0 < len(reason) <= 200:
            raise _RefusedError(400, "INVALID_REQUEST")
        amount = _whole_number(body, "cancelAmount") if body.get("cancelAmount") is not None else None
        if amount is not None and amount <= 0:
            raise _RefusedError(400, "INVALID_REFUND_AMOUNT")
        if payment.status == "CANCELED":
            raise _RefusedError(400, "ALREADY_CANCELED_PAYMENT")
        if payment.status == "WAITING_FOR_DEPOSIT":
            if amount is not None and amount != payment.balance_amount:
                raise _RefusedError(403, "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT")
        elif payment.status not in {"DONE", "PARTIAL_CANCELED"}:
            raise _RefusedError(403, "NOT_CANCELABLE_PAYMENT")
        elif payment.virtual_account is not None and not _refund_account(body.get("refundReceiveAccount")):
            raise _RefusedError(400, "INVALID_REQUIRED_PARAM")
        canceled = payment.balance_amount if amount is None else amount
        if canceled > payment.balance_amount:
            raise _RefusedError(403, "NOT_CANCELABLE_AMOUNT")
        payment.balance_amount -= canceled
        payment.status = "CANCELED" if payment.balance_amount == 0 else "PARTIAL_CANCELED"
        payment.last_transaction_key = _transaction_key()
        payment.cancels.append(
            {
                "transactionKey": payment.last_transaction_key,
                "cancelReason": reason,
                "taxExemptionAmount": 0,
                "canceledAt": _timestamp(self.clock()),
                "cardDiscountAmount": 0,
                "transferDiscountAmount": 0,
                "easyPayDiscountAmount": 0,
                "receiptKey": None,
                "cancelAmount": canceled,
                "taxFreeAmount": 0,
                "refundableAmount": payment.balance_amount,
                "cancelStatus": "DONE",
                "cancelRequestId": None,
            }
        )
        return payment.body()

    # -- helpers ---------------------------------------------------------------------------------------------

    def _authorization(self) -> str:
        return "Basic " + base64.b64encode(f"{self.secret_key}:".encode()).decode()

    def _find(self, order_id: str) -> FakePayment | None:
        return next((payment for payment in self.payments.values() if payment.order_id == order_id), None)

    def _payment_by_key(self, payment_key: str) -> FakePayment:
        payment = self.payments.get(payment_key)
        if payment is None:
            raise _RefusedError(404, "NOT_FOUND_PAYMENT")
        return payment

    def _fresh_account_number(self) -> str:
        number = f"X{self._next_account:013d}"
        self._next_account += 1
        return number


def _require(request: Request, method: str) -> None:
    if request.method != method:
        raise _RefusedError(404, "NOT_FOUND_HTTP_METHOD")


def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise _RefusedError(400, "INVALID_REQUEST") from None
    if not isinstance(body, dict):
        raise _RefusedError(400, "INVALID_REQUEST")
    return body


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _RefusedError(400, "INVALID_REQUEST")
    return value


def _whole_number(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _RefusedError(400, "INVALID_REQUEST")
    return value


def _due_date(text: str) -> datetime:
    try:
        due = datetime.fromisoformat(text)
    except ValueError:
        raise _RefusedError(400, "INVALID_REQUEST") from None
    return due if due.tzinfo is not None else due.replace(tzinfo=KST)


def _refund_account(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(value.get(name), str) and value[name] for name in ("bank", "accountNumber", "holderName")
    )


def _timestamp(moment: datetime) -> str:
    """``yyyy-MM-dd'T'HH:mm:ss±hh:mm`` in Korean time, as the Payment object writes it."""
    return moment.astimezone(KST).isoformat(timespec="seconds")


def _webhook_time(moment: datetime) -> str:
    """``yyyy-MM-dd'T'HH:mm:ss.SSSSSS`` with no offset, as webhook bodies write ``createdAt``."""
    return moment.astimezone(KST).replace(tzinfo=None).isoformat(timespec="microseconds")


def _transaction_key() -> str:
    return secrets.token_hex(16).upper()


def _random(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _error(status: int, code: str, headers: dict[str, str] | None = None) -> Answer:
    return Answer.of_json(status, {"code": code, "message": MESSAGES[code]}, headers)
