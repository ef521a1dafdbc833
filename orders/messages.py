"""The shopper's message for each step, enqueued through ``notify`` in the step's own transaction: a rolled-back
step sends nothing, and a step replayed (a webhook delivered twice) sends its message once.

Order-wide steps (received, deposit request, payment) are keyed on the order; a mall's steps (shipped,
delivered, cancelled, refunded, return received) on the transition that made them, so an exchange's second
shipment is a message of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from notify.schemas import OutgoingMessage
from notify.service import Outbox  # noqa: TC001 - a dataclass field, which the web layer resolves at runtime
from orders.carriers import CARRIERS

if TYPE_CHECKING:
    import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from orders.models import MallOrder, Order, Transition


@dataclass(frozen=True, kw_only=True)
class OrderMessages:
    """Enqueues each step's message; ``order_url`` has ``{number}`` where the order number goes."""

    outbox: Outbox
    order_url: str = "https://shoa.kr/orders/{number}"

    def url(self, order: Order) -> str:
        return self.order_url.format(number=order.number)

    async def received(self, session: AsyncSession, order: Order) -> None:
        await self._send(session, order, f"order:{order.id}:received", "order_received", {
            "order_number": order.number, "order_summary": order.name, "amount": order.total_amount,
            "order_url": self.url(order),
        })  # fmt: skip

    async def deposit_requested(
        self, session: AsyncSession, order: Order, *, bank: str, account_number: str, deadline: datetime.datetime
    ) -> None:
        await self._send(session, order, f"order:{order.id}:deposit-requested", "deposit_requested", {
            "order_number": order.number, "bank": bank, "account_number": account_number,
            "amount": order.total_amount, "deadline": deadline, "order_url": self.url(order),
        })  # fmt: skip

    async def paid(self, session: AsyncSession, order: Order, *, by_deposit: bool) -> None:
        event = "deposit_confirmed" if by_deposit else "payment_confirmed"
        await self._send(session, order, f"order:{order.id}:paid", event, {
            "order_number": order.number, "amount": order.total_amount, "order_url": self.url(order),
        })  # fmt: skip

    async def shipped(self, session: AsyncSession, order: Order, mall_order: MallOrder, step: Transition) -> None:
        carrier = CARRIERS[mall_order.carrier or ""]
        tracking_number = mall_order.tracking_number or ""
        await self._send(session, order, f"order-step:{step.id}", "shipping_started", {
            "order_number": order.number, "carrier": carrier.name, "tracking_number": tracking_number,
            "tracking_url": carrier.link(tracking_number),
        })  # fmt: skip

    async def delivered(self, session: AsyncSession, order: Order, step: Transition) -> None:
        await self._send(session, order, f"order-step:{step.id}", "delivered", {
            "order_number": order.number, "order_url": self.url(order),
        })  # fmt: skip

    async def cancelled(self, session: AsyncSession, order: Order, step: Transition, *, summary: str) -> None:
        await self._send(session, order, f"order-step:{step.id}", "cancelled", {
            "order_number": order.number, "order_summary": summary, "order_url": self.url(order),
        })  # fmt: skip

    async def refunded(self, session: AsyncSession, order: Order, key: str, *, amount: int, method: str) -> None:
        await self._send(session, order, f"order-refund:{key}", "refund_completed", {
            "order_number": order.number, "amount": amount, "refund_method": method, "order_url": self.url(order),
        })  # fmt: skip

    async def exchange_received(self, session: AsyncSession, order: Order, step: Transition, *, summary: str) -> None:
        await self._send(session, order, f"order-step:{step.id}", "exchange_received", {
            "order_number": order.number, "order_summary": summary, "order_url": self.url(order),
        })  # fmt: skip

    async def return_received(self, session: AsyncSession, order: Order, step: Transition, *, summary: str) -> None:
        await self._send(session, order, f"order-step:{step.id}", "return_received", {
            "order_number": order.number, "order_summary": summary, "order_url": self.url(order),
        })  # fmt: skip

    async def _send(
        self, session: AsyncSession, order: Order, key: str, event: str, parameters: dict[str, object]
    ) -> None:
        message = OutgoingMessage(
            event=event,
            idempotency_key=key,
            parameters=parameters,  # type: ignore[arg-type]
            user_id=order.user_id,  # in the shopper's locale as it is when the step happens
        )
        await self.outbox.enqueue(session, message)
