"""The sandbox gateway, the default in ``make run``: it keeps its payments in its own table and behaves as Toss
Payments does — confirms, virtual accounts with a secret and a due date, partial and full cancels under
idempotency keys, the same refusals (``ALREADY_PROCESSED_PAYMENT``, ``NOT_FOUND_PAYMENT``,
``NOT_CANCELABLE_AMOUNT``) — so the whole story can be walked with nothing real behind it.

Its payment window is ``POST /dev/payments/{order_id}/card`` (a ``paymentKey`` authorised for the order's amount)
and its depositor ``POST /dev/payments/{order_id}/deposit``: the deposit is booked here, and its
``DEPOSIT_CALLBACK`` body goes through the same webhook handling as Toss's (secret, read-back, once only).
Each call runs in its own transaction, as a remote gateway's would: it happens whether or not the caller's
transaction commits.
"""

from __future__ import annotations

import datetime
import json
import secrets
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa

from orders.models import SandboxPayment
from orders.payments.base import (
    DepositCallback,
    DepositEvent,
    Payment,
    PaymentMethod,
    PaymentRefusedError,
    PaymentStatus,
    RefundAccount,
    VirtualAccount,
    WebhookEvent,
    WebhookRejectedError,
)
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

BANKS = {
    "신한은행": "88", "우리은행": "20", "KB국민은행": "04", "국민은행": "04", "NH농협은행": "11", "농협은행": "11",
    "하나은행": "81", "IBK기업은행": "03", "기업은행": "03", "카카오뱅크": "90", "토스뱅크": "92", "케이뱅크": "89",
}  # fmt: skip
"""Banks the sandbox opens accounts at, by name, with Toss's codes."""
KEY_PREFIX = "sandbox_"


class SandboxGateway:
    name = "sandbox"

    def __init__(
        self, *, session_maker: async_sessionmaker[AsyncSession], clock: Callable[[], datetime.datetime] = utc_now
    ) -> None:
        self._sessions = session_maker
        self._clock = clock

    # --- The gateway interface ---

    async def confirm_card(self, *, payment_key: str, order_id: str, amount: int, idempotency_key: str) -> Payment:
        async with self._sessions() as session, session.begin():
            row = await self._row(session, payment_key, lock=True)
            stored = row.payment
            if stored["order_id"] != order_id or stored["method"] != PaymentMethod.CARD.value:
                raise PaymentRefusedError("NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다.", http_status=404)
            if stored["status"] != PaymentStatus.READY.value:
                raise PaymentRefusedError("ALREADY_PROCESSED_PAYMENT", "이미 처리된 결제 입니다.", http_status=400)
            if stored["total_amount"] != amount:
                raise PaymentRefusedError("INVALID_REQUEST", "결제 금액이 일치하지 않습니다.", http_status=400)
            now = self._clock()
            row.payment = {**stored, "status": PaymentStatus.DONE.value, "approved_at": now.isoformat(),
                           "last_transaction_key": _key("txn")}  # fmt: skip
        return _payment(row.payment_key, row.payment)

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
        bank_name = next((name for name, code in BANKS.items() if bank in {name, code}), None)
        if bank_name is None:
            raise PaymentRefusedError("INVALID_BANK", f"지원하지 않는 은행입니다: {bank}", http_status=400)
        now = self._clock()
        payment_key = _key("pay")
        stored = {
            "order_id": order_id, "order_name": order_name, "method": PaymentMethod.VIRTUAL_ACCOUNT.value,
            "status": PaymentStatus.WAITING_FOR_DEPOSIT.value, "total_amount": amount, "balance_amount": amount,
            "secret": secrets.token_urlsafe(24), "bank_name": bank_name, "bank_code": BANKS[bank_name],
            "account_number": f"9{secrets.randbelow(10**12):012d}", "holder": customer_name,
            "due_at": (now + datetime.timedelta(hours=valid_hours)).isoformat(),
        }  # fmt: skip
        async with self._sessions() as session, session.begin():
            taken = await session.scalar(sa.select(SandboxPayment).where(SandboxPayment.order_id == order_id))
            if taken is not None:
                raise PaymentRefusedError("DUPLICATED_ORDER_ID", "이미 승인 및 취소가 진행된 중복된 주문번호 입니다.")
            session.add(SandboxPayment(payment_key=payment_key, order_id=order_id, payment=stored))
        return _payment(payment_key, stored)

    async def get_payment(self, payment_key: str) -> Payment:
        async with self._sessions() as session:
            row = await self._row(session, payment_key, lock=False)
            return _payment(row.payment_key, row.payment)

    async def cancel(
        self,
        payment_key: str,
        *,
        reason: str,
        amount: int | None,
        idempotency_key: str,
        refund_account: RefundAccount | None = None,
    ) -> Payment:
        async with self._sessions() as session, session.begin():
            row = await self._row(session, payment_key, lock=True)
            if idempotency_key in row.idempotency:
                return _payment(row.payment_key, row.idempotency[idempotency_key])
            stored = dict(row.payment)
            balance = stored["balance_amount"]
            if stored["status"] == PaymentStatus.WAITING_FOR_DEPOSIT.value and amount is None:
                stored["status"] = PaymentStatus.CANCELED.value
            elif stored["status"] not in {PaymentStatus.DONE.value, PaymentStatus.PARTIAL_CANCELED.value}:
                raise PaymentRefusedError("NOT_CANCELABLE_PAYMENT", "취소 할 수 없는 결제 입니다.")
            elif stored["method"] == PaymentMethod.VIRTUAL_ACCOUNT.value and refund_account is None:
                # As Toss: a deposit goes back to a bank account, which the refund must name.
                raise PaymentRefusedError("INVALID_REQUIRED_PARAM", "필수 파라미터가 누락되었습니다.", http_status=400)
            else:
                taken = balance if amount is None else amount
                if taken > balance or taken <= 0:
                    raise PaymentRefusedError("NOT_CANCELABLE_AMOUNT", "취소 할 수 없는 금액 입니다.")
                stored["balance_amount"] = balance - taken
                full = stored["balance_amount"] == 0
                stored["status"] = (PaymentStatus.CANCELED if full else PaymentStatus.PARTIAL_CANCELED).value
                stored["last_transaction_key"] = _key("txn")
            row.payment = stored
            row.idempotency = {**row.idempotency, idempotency_key: stored}
        return _payment(payment_key, stored)

    def parse_webhook(self, body: bytes) -> WebhookEvent:
        try:
            event = msgspec.json.decode(body, type=DepositCallback)
        except msgspec.DecodeError as exc:
            raise WebhookRejectedError(str(exc)) from None
        return DepositEvent(order_id=event.order_id, status=event.status, secret=event.secret,
                            transaction_key=event.transaction_key, created_at=event.created_at)  # fmt: skip

    # --- The sandbox's own window and depositor ---

    async def authorize_card(self, *, order_id: str, order_name: str, amount: int) -> str:
        """What the payment window does when the shopper pays: a ``paymentKey`` for the app to confirm."""
        payment_key = _key("pay")
        stored = {"order_id": order_id, "order_name": order_name, "method": PaymentMethod.CARD.value,
                  "status": PaymentStatus.READY.value, "total_amount": amount, "balance_amount": amount}  # fmt: skip
        async with self._sessions() as session, session.begin():
            await session.execute(sa.delete(SandboxPayment).where(
                SandboxPayment.order_id == order_id,
                SandboxPayment.payment["status"].astext == PaymentStatus.READY.value,
            ))  # fmt: skip
            session.add(SandboxPayment(payment_key=payment_key, order_id=order_id, payment=stored))
        return payment_key

    async def deposit(self, order_id: str) -> bytes:
        """The depositor pays the whole amount into the order's account; the ``DEPOSIT_CALLBACK`` body Toss
        would POST. Refused (``NOT_FOUND_PAYMENT``) for an order without a waiting account."""
        async with self._sessions() as session, session.begin():
            row = await session.scalar(
                sa.select(SandboxPayment).where(SandboxPayment.order_id == order_id).with_for_update()
            )
            if row is None or row.payment["method"] != PaymentMethod.VIRTUAL_ACCOUNT.value:
                raise PaymentRefusedError("NOT_FOUND_PAYMENT", "입금을 기다리는 가상계좌가 없습니다.", http_status=404)
            stored = dict(row.payment)
            if stored["status"] == PaymentStatus.WAITING_FOR_DEPOSIT.value:
                now = self._clock()
                stored.update(status=PaymentStatus.DONE.value, approved_at=now.isoformat(),
                              last_transaction_key=_key("txn"))  # fmt: skip
                row.payment = stored
        callback = {"createdAt": self._clock().isoformat(), "secret": stored["secret"], "status": stored["status"],
                    "transactionKey": stored.get("last_transaction_key", ""), "orderId": order_id}  # fmt: skip
        return json.dumps(callback).encode()

    async def _row(self, session: AsyncSession, payment_key: str, *, lock: bool) -> SandboxPayment:
        query = sa.select(SandboxPayment).where(SandboxPayment.payment_key == payment_key)
        row = await session.scalar(query.with_for_update() if lock else query)
        if row is None or not payment_key.startswith(KEY_PREFIX):
            raise PaymentRefusedError("NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다.", http_status=404)
        return row


def _key(kind: str) -> str:
    return f"{KEY_PREFIX}{kind}_{secrets.token_hex(12)}"


def _payment(payment_key: str, stored: dict[str, Any]) -> Payment:
    account = None
    if stored["method"] == PaymentMethod.VIRTUAL_ACCOUNT.value:
        account = VirtualAccount(bank_code=stored["bank_code"], bank_name=stored["bank_name"],
                                 account_number=stored["account_number"], holder=stored["holder"],
                                 due_at=datetime.datetime.fromisoformat(stored["due_at"]))  # fmt: skip
    approved = stored.get("approved_at")
    return Payment(
        payment_key=payment_key,
        order_id=stored["order_id"],
        status=PaymentStatus(stored["status"]),
        method=PaymentMethod(stored["method"]),
        total_amount=stored["total_amount"],
        balance_amount=stored["balance_amount"],
        approved_at=datetime.datetime.fromisoformat(approved) if approved else None,
        virtual_account=account,
        secret=stored.get("secret"),
        last_transaction_key=stored.get("last_transaction_key"),
    )
