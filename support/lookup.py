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
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by

from accounts.models import OAuthIdentity, User
from catalog.models import Mall, Variant
from orders.models import AfterSale, MallOrder, Order, OrderLine, Payment
from support.models import Turn

if TYPE_CHECKING:
    import datetime
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
class Deposit:
    """The order's payment as the bot tells it: the virtual account to pay into, when there is one."""

    bank: str | None
    account_number: str | None
    account_holder: str | None
    amount: int
    due_at: datetime.datetime | None


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
    payment: Deposit | None = None


def order_number_in(text: str) -> str | None:
    """The order number a message holds (``SH20261207-000123``, spaced or not), normalized."""
    found = ORDER_NUMBER.search(text)
    return None if found is None else f"SH{found[1]}-{int(found[2]):06d}"


def digits_in(text: str) -> str | None:
    """Four digits answering "the last 4 digits of the phone number" (a whole mobile number answers too)."""
    digits = re.sub(r"\D", "", text)
    if len(digits) == 4:
        return digits
    if re.fullmatch(r"(?:82|0)?1[016789]\d{7,8}", digits):
        return digits[-4:]
    return None


async def conversation_facts(
    session: AsyncSession, *, channel: str, chat_user: str, app_user_id: str | None, turn_id: uuid.UUID | None
) -> tuple[bool, uuid.UUID | None]:
    """In one statement: whether the turn ``turn_id`` was committed, and the active account this messenger user is
    linked to, if any. Asked at every message: a link made meanwhile counts at once, and one undone (the account
    erased, the contact removed) ends what it allowed, in the middle of a conversation too."""
    if channel == "kakao":
        linked = (
            sa.select(User.id)
            .join(OAuthIdentity, OAuthIdentity.user_id == User.id)
            .where(OAuthIdentity.provider == "kakao", OAuthIdentity.subject == app_user_id)
            if app_user_id
            else None
        )
    else:
        linked = sa.select(User.id).where(_CONTACT_COLUMNS[channel] == chat_user)
    columns: list[Any] = []
    if turn_id is not None:
        columns.append(sa.select(Turn.intent).where(Turn.id == turn_id).scalar_subquery())
    if linked is not None:
        columns.append(linked.where(User.status == "active").limit(1).scalar_subquery())
    if not columns:
        return False, None  # a KakaoTalk user with no Kakao login, at the first message: nothing to ask
    row = (await session.execute(sa.select(*columns))).one()
    committed = bool(row[0]) if turn_id is not None else False
    user_id: uuid.UUID | None = row[-1] if linked is not None else None
    return committed, user_id


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
    query = _PARTS.where(where).order_by(MallOrder.created_at.desc(), MallOrder.id.desc()).limit(limit)
    return [_part(row) for row in await session.execute(query)]


async def part_by_id(session: AsyncSession, mall_order_id: uuid.UUID) -> Part | None:
    row = (await session.execute(_PARTS.where(MallOrder.id == mall_order_id))).first()
    return None if row is None else _part(row)


_LINES = (
    sa.select(
        sa.func.coalesce(
            sa.func.jsonb_agg(aggregate_order_by(
                sa.func.jsonb_build_object(
                    "id", OrderLine.id, "product_id", OrderLine.product_id, "variant_id", OrderLine.variant_id,
                    "name", OrderLine.product_name, "options", OrderLine.options, "quantity", OrderLine.quantity,
                    "unit_price", OrderLine.unit_price,
                ), OrderLine.id)),
            sa.text("'[]'::jsonb"),
        )
    )
    .where(OrderLine.mall_order_id == MallOrder.id)
    .scalar_subquery()
)  # fmt: skip
_PENDING_REFUND = (
    sa.select(sa.func.coalesce(sa.func.sum(AfterSale.refund_amount), 0))
    .where(AfterSale.mall_order_id == MallOrder.id, AfterSale.kind == "return", AfterSale.status != "refunded")
    .scalar_subquery()
)
_PARTS = (
    sa.select(
        MallOrder.id, MallOrder.order_id, Order.number, Order.user_id, MallOrder.mall_id, Mall.name,
        MallOrder.status, sa.type_coerce(_LINES, JSONB), MallOrder.items_amount, MallOrder.shipping_fee,
        MallOrder.refunded_amount, MallOrder.carrier, MallOrder.tracking_number, MallOrder.delivered_at,
        MallOrder.created_at, _PENDING_REFUND, Payment.bank, Payment.account_number, Payment.account_holder,
        Payment.amount, Payment.due_at,
    )
    .join(Order, Order.id == MallOrder.order_id)
    .join(Mall, Mall.id == MallOrder.mall_id)
    .outerjoin(Payment, Payment.order_id == Order.id)
)  # fmt: skip
"""A mall-order as the bot reads it, in one statement: its lines, what its returns will refund, its payment."""


def _part(row: Any) -> Part:
    (part_id, order_id, number, user_id, mall_id, mall_name, status, lines, items_amount, shipping_fee, refunded,
     carrier, tracking, delivered_at, created_at, pending, bank, account, holder, amount, due_at) = row  # fmt: skip
    return Part(
        id=part_id,
        order_id=order_id,
        order_number=number,
        user_id=user_id,
        mall_id=mall_id,
        mall_name=mall_name,
        status=status,
        lines=[
            Line(
                id=uuid.UUID(line["id"]),
                product_id=uuid.UUID(line["product_id"]),
                variant_id=uuid.UUID(line["variant_id"]),
                name=line["name"],
                options=line["options"],
                quantity=line["quantity"],
                unit_price=line["unit_price"],
            )
            for line in lines
        ],
        items_amount=items_amount,
        shipping_fee=shipping_fee,
        refunded_amount=refunded,
        carrier=carrier,
        tracking_number=tracking,
        delivered_at=delivered_at,
        created_at=created_at,
        pending_refund=int(pending),
        payment=None
        if amount is None
        else Deposit(bank=bank, account_number=account, account_holder=holder, amount=amount, due_at=due_at),
    )


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
