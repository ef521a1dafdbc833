"""One interface for every payment gateway: confirm a card payment, issue a virtual account, read a payment back,
cancel (all or part), and read the gateway's webhooks.

The shapes follow Toss Payments' v1 API (the gateway Korean apps integrate; ``../shared/PROVIDERS.md``), which the
sandbox imitates. A gateway never decides anything about an order: it says what the gateway answered. A refusal
the gateway gave (a declined card, an amount that does not match, an unknown payment) is a :class:`PaymentRefusedError`
with the gateway's own code and message; a gateway that cannot be reached or answers 5xx is a
:class:`GatewayUnavailableError` (the caller may try again with the same idempotency key).
"""

from __future__ import annotations

import datetime  # noqa: TC003 - dataclass fields
import enum
from dataclasses import dataclass
from typing import Annotated, Protocol

import msgspec


class PaymentStatus(enum.StrEnum):
    """Toss Payments' payment statuses."""

    READY = "READY"
    IN_PROGRESS = "IN_PROGRESS"
    WAITING_FOR_DEPOSIT = "WAITING_FOR_DEPOSIT"
    DONE = "DONE"
    CANCELED = "CANCELED"
    PARTIAL_CANCELED = "PARTIAL_CANCELED"
    ABORTED = "ABORTED"
    EXPIRED = "EXPIRED"


class PaymentMethod(enum.StrEnum):
    CARD = "card"
    VIRTUAL_ACCOUNT = "virtual_account"


@dataclass(frozen=True, kw_only=True)
class VirtualAccount:
    bank_code: str
    """The bank's two-digit code as Toss writes it (``"20"`` 우리은행, ``"88"`` 신한은행 …)."""
    bank_name: str
    """The bank's Korean name, for the shopper's deposit request."""
    account_number: str
    holder: str
    """The account holder's name shown to the depositor (``customerName``)."""
    due_at: datetime.datetime
    """The deposit deadline (``dueDate``), timezone-aware."""
    expired: bool = False
    """The deadline passed with no deposit. Toss leaves such a payment ``WAITING_FOR_DEPOSIT`` and sends no webhook;
    only this flag (``virtualAccount.expired``) says the account no longer takes money."""


@dataclass(frozen=True, kw_only=True)
class RefundAccount:
    """Where a virtual-account payment's money goes back (Toss's ``refundReceiveAccount``): a card is refunded to
    the card, a deposit to the depositor's own bank account."""

    bank: str
    """A bank name (``신한은행``) or the gateway's code."""
    account_number: str
    holder: str


@dataclass(frozen=True, kw_only=True)
class Payment:
    """A payment as the gateway reports it."""

    payment_key: str
    order_id: str
    """The id Shoa gave the gateway (the order number, ``SH…``)."""
    status: PaymentStatus
    method: PaymentMethod
    total_amount: int
    balance_amount: int
    """What is left after cancels (``totalAmount`` minus every cancel)."""
    approved_at: datetime.datetime | None = None
    virtual_account: VirtualAccount | None = None
    secret: str | None = None
    """Virtual accounts only: the value the gateway's deposit webhook must carry to be believed."""
    last_transaction_key: str | None = None
    receipt_url: str | None = None


class DepositCallback(msgspec.Struct, rename="camel"):
    """Toss's ``DEPOSIT_CALLBACK`` webhook body: a deposit into a virtual account, with that payment's secret (which
    the sandbox's depositor sends too)."""

    created_at: str
    secret: str
    status: PaymentStatus
    transaction_key: str
    order_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{6,64}$")]
    """Toss's ``orderId`` rule: 6 to 64 letters, digits, ``-`` and ``_`` (ours are ``SH20261207-000042``)."""


@dataclass(frozen=True, kw_only=True)
class DepositEvent:
    """Toss's ``DEPOSIT_CALLBACK``: a virtual account's status changed (a deposit arrived, or it was cancelled).
    Not to be trusted as it is: its ``secret`` must match the payment's, and the payment is read back."""

    order_id: str
    status: PaymentStatus
    secret: str
    transaction_key: str
    created_at: str


@dataclass(frozen=True, kw_only=True)
class StatusChangedEvent:
    """Toss's ``PAYMENT_STATUS_CHANGED``: the payment object as it is now (read back before it is trusted)."""

    payment: Payment
    created_at: str


WebhookEvent = DepositEvent | StatusChangedEvent


class PaymentError(Exception):
    """What went wrong talking to the gateway."""

    def __init__(self, code: str, message: str, *, http_status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status


class PaymentRefusedError(PaymentError):
    """The gateway answered and said no (4xx with ``{"code", "message"}``): trying again will not change it."""


class GatewayUnavailableError(PaymentError):
    """No answer, a timeout, or a 5xx: the gateway may or may not have acted; retry with the same idempotency key."""


class WebhookRejectedError(Exception):
    """A webhook body that is not one the gateway sends (malformed, an unknown event type)."""


class PaymentGateway(Protocol):
    name: str

    async def confirm_card(self, *, payment_key: str, order_id: str, amount: int, idempotency_key: str) -> Payment:
        """Approve a card payment the app's payment window authorised, for exactly ``amount`` (Shoa's own)."""
        ...

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
        """A virtual account (무통장입금) for the order, valid ``valid_hours``; the payment waits for the deposit."""
        ...

    async def get_payment(self, payment_key: str) -> Payment:
        """The payment as the gateway has it now (how a webhook is checked before it is trusted)."""
        ...

    async def cancel(
        self,
        payment_key: str,
        *,
        reason: str,
        amount: int | None,
        idempotency_key: str,
        refund_account: RefundAccount | None = None,
    ) -> Payment:
        """Cancel the whole payment (``amount`` None) or refund part of it; the payment after the cancel. A
        deposited virtual account is refunded to ``refund_account`` (refused without one)."""
        ...

    def parse_webhook(self, body: bytes) -> WebhookEvent:
        """The event a webhook body carries; :class:`WebhookRejectedError` for anything else."""
        ...
