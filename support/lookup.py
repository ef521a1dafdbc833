"""What the bot reads of the order data: who a messenger user is, whether an order number and phone digits prove
an order, and a shopper's mall-orders as the bot shows them.

A messenger user is recognized at once when an account holds their id: the LINE user id LINE login set (one
provider, so it equals the Messaging API's), the Instagram or TalkTalk id saved among the account's contacts,
or, on KakaoTalk, the ``appUserId`` Kakao adds to skill requests of users who logged in to Shoa with Kakao (the
link they made once, at their first Kakao login). Closed accounts are never recognized.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from accounts.models import OAuthIdentity, User
from catalog.models import Mall, Variant
from orders.models import AfterSale, MallOrder, Order, OrderLine, Payment

if TYPE_CHECKING:
    import datetime
    import uuid
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

RECENT_PARTS = 5
"""Mall-orders offered when the shopper has to choose: Kakao's list card holds five."""
ORDER_NUMBER = re.compile(r"SH\s*-?\s*(\d{8})\s*-?\s*(\d{1,6})", re.IGNORECASE)
_CONTACT_COLUMNS = {"line": User.line_user_id, "instagram": User.instagram_id, "talktalk": User.talktalk_id}


@dataclass(frozen=True, kw_only=True)
class Line:
    id: uuid.UUID
    product_id: uuid.UUID
    variant_id: uuid.UUID
    name: str
    options: str
    quantity: int
    unit_price: int


@dataclass(frozen=True, kw_only=True)
class Part:
    """A mall-order as the bot shows and acts on it."""

    id: uuid.UUID
    order_id: uuid.UUID
    order_number: str
    user_id: uuid.UUID
    mall_id: uuid.UUID
    mall_name: str
    status: str
    lines: list[Line]
    items_amount: int
    shipping_fee: int
    refunded_amount: int
    carrier: str | None
    tracking_number: str | None
    delivered_at: datetime.datetime | None
    created_at: datetime.datetime
    pending_refund: int = 0
    """What requested returns will refund once the mall has the items back."""
    payment: Payment | None = field(default=None, compare=False)

    @property
    def summary(self) -> str:
        if not self.lines:
            return self.order_number
        first = self.lines[0].name[:30]
        return first if len(self.lines) == 1 else f"{first} 외 {len(self.lines) - 1}건"


def order_number_in(text: str) -> str | None:
    """The order number a message holds (``SH20261207-000123``, spaced or not), normalized."""
    found = ORDER_NUMBER.search(text)
    return None if found is None else f"SH{found[1]}-{int(found[2]):06d}"


def digits_in(text: str) -> str | None:
    """Four digits answering "the last 4 digits of the phone number"."""
    digits = re.sub(r"\D", "", text)
    return digits if len(digits) == 4 else None


async def linked_user(
    session: AsyncSession, *, channel: str, chat_user: str, app_user_id: str | None = None
) -> uuid.UUID | None:
    """The active account this messenger user is linked to, if any."""
    if channel == "kakao":
        if not app_user_id:
            return None
        query = (
            sa.select(User.id)
            .join(OAuthIdentity, OAuthIdentity.user_id == User.id)
            .where(OAuthIdentity.provider == "kakao", OAuthIdentity.subject == app_user_id)
        )
    else:
        query = sa.select(User.id).where(_CONTACT_COLUMNS[channel] == chat_user)
    found: uuid.UUID | None = await session.scalar(query.where(User.status == "active").limit(1))
    return found


async def prove(session: AsyncSession, *, order_number: str, digits: str) -> Order | None:
    """The order with this number whose delivery phone ends in ``digits``; None otherwise (the same None for a
    wrong number and wrong digits, so an answer never tells which)."""
    order = await session.scalar(sa.select(Order).where(Order.number == order_number))
    phone = re.sub(r"\D", "", str(order.address.get("phone", ""))) if order is not None else ""
    matches = hmac.compare_digest(phone[-4:].encode(), digits.encode()) and len(phone) >= 4
    return order if order is not None and matches else None


async def recent_parts(
    session: AsyncSession, *, user_id: uuid.UUID | None, order_ids: Sequence[uuid.UUID], limit: int = RECENT_PARTS * 4
) -> list[Part]:
    """The asker's mall-orders, newest first: every order of a linked account, or the proven orders."""
    if user_id is None and not order_ids:
        return []
    where = Order.user_id == user_id if user_id is not None else Order.id.in_(order_ids)
    rows = (
        await session.execute(
            sa.select(MallOrder, Order.number, Order.user_id, Mall.name)
            .join(Order, Order.id == MallOrder.order_id)
            .join(Mall, Mall.id == MallOrder.mall_id)
            .where(where)
            .order_by(MallOrder.created_at.desc(), MallOrder.id.desc())
            .limit(limit)
        )
    ).all()
    return await _parts(session, rows)


async def part_by_id(session: AsyncSession, mall_order_id: uuid.UUID) -> Part | None:
    rows = (
        await session.execute(
            sa.select(MallOrder, Order.number, Order.user_id, Mall.name)
            .join(Order, Order.id == MallOrder.order_id)
            .join(Mall, Mall.id == MallOrder.mall_id)
            .where(MallOrder.id == mall_order_id)
        )
    ).all()
    parts = await _parts(session, rows)
    return parts[0] if parts else None


async def _parts(session: AsyncSession, rows: Sequence[Any]) -> list[Part]:
    """Rows of (mall-order, order number, shopper, mall name) as parts, with their lines, refunds and payment."""
    ids = [row[0].id for row in rows]
    if not ids:
        return []
    lines: dict[uuid.UUID, list[Line]] = {}
    for line in await session.scalars(
        sa.select(OrderLine).where(OrderLine.mall_order_id.in_(ids)).order_by(OrderLine.id)
    ):
        lines.setdefault(line.mall_order_id, []).append(
            Line(
                id=line.id,
                product_id=line.product_id,
                variant_id=line.variant_id,
                name=line.product_name,
                options=line.options,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
        )
    pending: dict[uuid.UUID, int] = {}
    for after_sale in await session.scalars(
        sa.select(AfterSale).where(
            AfterSale.mall_order_id.in_(ids), AfterSale.kind == "return", AfterSale.status != "refunded"
        )
    ):
        pending[after_sale.mall_order_id] = pending.get(after_sale.mall_order_id, 0) + after_sale.refund_amount
    order_ids = {row[0].order_id for row in rows}
    payments = {p.order_id: p for p in await session.scalars(sa.select(Payment).where(Payment.order_id.in_(order_ids)))}
    return [
        Part(
            id=mall_order.id,
            order_id=mall_order.order_id,
            order_number=number,
            user_id=user_id,
            mall_id=mall_order.mall_id,
            mall_name=mall_name,
            status=mall_order.status,
            lines=lines.get(mall_order.id, []),
            items_amount=mall_order.items_amount,
            shipping_fee=mall_order.shipping_fee,
            refunded_amount=mall_order.refunded_amount,
            carrier=mall_order.carrier,
            tracking_number=mall_order.tracking_number,
            delivered_at=mall_order.delivered_at,
            created_at=mall_order.created_at,
            pending_refund=pending.get(mall_order.id, 0),
            payment=payments.get(mall_order.order_id),
        )
        for mall_order, number, user_id, mall_name in rows
    ]


async def other_options(session: AsyncSession, line: Line) -> list[tuple[uuid.UUID, str]]:
    """The product's other variants in stock, as (id, how the shopper reads it), for an exchange."""
    variants = await session.scalars(
        sa.select(Variant)
        .where(Variant.product_id == line.product_id, Variant.id != line.variant_id, Variant.stock >= line.quantity)
        .order_by(Variant.position, Variant.id)
        .limit(10)
    )
    return [(variant.id, _option_name(variant)) for variant in variants]


def _option_name(variant: Variant) -> str:
    return " / ".join(part for part in (variant.color, variant.size) if part) or variant.sku
