"""Checkout: one order, one payment, one mall-order per mall, the stock taken in the same transaction.

The ``Idempotency-Key`` is claimed first, in the checkout's own transaction (its row is inserted before
anything else, so a second request with the same key waits for the first to end, then finds its order): the
same key and body give the same order back for 24 hours, another body a 409. Prices are read again under the
variants' locks; a price that moved since the shopper saw it, stock that ran out or a product no longer for
sale is a 409 naming each line, and nothing is taken. A virtual account is asked of the gateway before the
transaction commits: if the gateway cannot open one, nothing was ordered.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from uuid_utils.compat import uuid7

from accounts.models import User
from orders import stock
from orders.cart import line_problem, shipping_fee
from orders.errors import (
    CheckoutConflictError,
    EmptyCartError,
    IdempotencyKeyReusedError,
    OrderError,
    PaymentDeclinedError,
    PaymentGatewayDownError,
    UnpaidLimitError,
)
from orders.models import (
    Actor,
    CartItem,
    CheckoutKey,
    MallOrder,
    MallOrderStatus,
    Order,
    OrderLine,
    Payment,
    Transition,
)
from orders.payments.base import GatewayUnavailableError, PaymentMethod, PaymentRefusedError, PaymentStatus
from orders.payments.toss import known_bank

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from orders.messages import OrderMessages
    from orders.payments.base import PaymentGateway
    from orders.schemas import CheckoutIn

logger = logging.getLogger(__name__)

KEY_HOURS = 24
"""How long a checkout's ``Idempotency-Key`` gives its order back."""
NAME_LIMIT = 60


@dataclass(frozen=True, kw_only=True)
class CheckoutRules:
    deposit_hours: int = 72
    """How long a virtual account waits for its deposit (the due date); unpaid orders are cancelled after."""
    default_bank: str = "신한은행"
    unpaid_units_per_product: int = 10
    """Units of one product a shopper may hold in orders not paid yet, this checkout's included: without a cap one
    shopper could take a hot item's whole stock with unpaid virtual-account orders and keep it for days."""


@dataclass(frozen=True, kw_only=True)
class Placed:
    order_id: uuid.UUID
    created: bool
    """False when the key was seen before: the first checkout's order, unchanged."""
    written: Written | None = None
    """A new order's rows as this checkout wrote them, for its answer without reading them back."""


@dataclass(frozen=True, kw_only=True)
class Written:
    order: Order
    payment: Payment
    parts: list[WrittenPart]


@dataclass(frozen=True, kw_only=True)
class WrittenPart:
    mall_order: MallOrder
    mall_name: str
    lines: list[OrderLine]
    step: Transition


def request_hash(body: CheckoutIn) -> str:
    return hashlib.sha256(msgspec.json.encode(body, order="sorted")).hexdigest()


async def checkout(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    body: CheckoutIn,
    key: str,
    gateway: PaymentGateway,
    messages: OrderMessages,
    rules: CheckoutRules,
    now: datetime.datetime,
) -> Placed:
    """Place the order in the caller's transaction (the caller commits). Raises for a conflict, a reused key or
    a gateway that refused or did not answer; the caller then rolls back and nothing is taken."""
    if body.payment_method == PaymentMethod.VIRTUAL_ACCOUNT.value and body.refund_account is None:
        msg = "a virtual-account order needs refund_account: the shopper's own account, for a cancel or a return"
        raise OrderError(msg, field="refund_account")
    if body.refund_account is not None and not known_bank(body.refund_account.bank):
        msg = f"refund_account.bank {body.refund_account.bank!r} is not a Korean bank we know (신한은행, 국민은행 …)"
        raise OrderError(msg, field="refund_account.bank")
    digest = request_hash(body)
    seen = await session.get(CheckoutKey, (user_id, key))
    if seen is not None:
        if seen.created_at >= now - datetime.timedelta(hours=KEY_HOURS):
            raise KeySeenError(key)  # a repeat: its order comes back, whatever the cart holds now
        await session.delete(seen)  # older than the promise: the key may name a new checkout
        await session.flush()
    lines = await _requested_lines(session, user_id, body)
    found = await stock.variants(session, {line[0] for line in lines}, lock=True)
    problems = []
    for variant_id, quantity, seen_price in lines:
        if problem := line_problem(found.get(variant_id), quantity, seen_price=seen_price):
            left = found[variant_id].stock if variant_id in found else 0
            problems.append({"variant_id": str(variant_id), "problem": problem, "stock_left": left,
                             "unit_price": found[variant_id].unit_price if variant_id in found else None})  # fmt: skip
    if problems:
        raise CheckoutConflictError(_conflict_text(problems), lines=problems)
    await _check_unpaid_units(session, user_id, lines, found, limit=rules.unpaid_units_per_product)
    plan = _plan(lines, found)
    # The order row first (the key points at it), then the key: a concurrent request with the same key waits
    # here for this transaction, and finds the key taken.
    order = Order(
        id=uuid7(), number=await _next_number(session, now), user_id=user_id, name=plan.name,
        payment_method=body.payment_method, items_amount=plan.items_amount, shipping_amount=plan.shipping_amount,
        total_amount=plan.items_amount + plan.shipping_amount, address=msgspec.to_builtins(body.address),
        created_at=now,
    )  # fmt: skip
    session.add(order)
    await session.flush()
    claimed = await session.scalar(
        insert(CheckoutKey)
        .values(user_id=user_id, key=key, request_hash=digest, order_id=order.id, created_at=now)
        .on_conflict_do_nothing()
        .returning(CheckoutKey.order_id)
    )
    if claimed is None:
        raise KeySeenError(key)
    await stock.take(session, {variant_id: quantity for variant_id, quantity, _ in lines})
    parts = _write_parts(session, order, plan, now=now)
    if body.lines is None:
        await session.execute(sa.delete(CartItem).where(CartItem.user_id == user_id))
    else:
        bought = [variant_id for variant_id, _, _ in lines]
        await session.execute(sa.delete(CartItem).where(CartItem.user_id == user_id, CartItem.variant_id.in_(bought)))
    payment = await _open_payment(order, body, gateway, rules)
    session.add(payment)
    await messages.received(session, order)
    if payment.account_number is not None and payment.due_at is not None:
        await messages.deposit_requested(session, order, bank=payment.bank or "", account_number=payment.account_number,
                                         deadline=payment.due_at)  # fmt: skip
    await session.flush()  # ids and defaults, for the answer
    return Placed(order_id=order.id, created=True, written=Written(order=order, payment=payment, parts=parts))


async def replayed(session: AsyncSession, *, user_id: uuid.UUID, key: str, body: CheckoutIn) -> Placed:
    """The order a key already placed (after :func:`checkout` raised for it and the caller rolled back)."""
    row = await session.get(CheckoutKey, (user_id, key))
    if row is None:  # the first request rolled back meanwhile: the key is free again
        raise IdempotencyKeyReusedError("a checkout with this key was still in progress; send it again")
    if row.request_hash != request_hash(body):
        raise IdempotencyKeyReusedError(
            "this Idempotency-Key placed another order with another body; use a new key for a new checkout"
        )
    return Placed(order_id=row.order_id, created=False)


class KeySeenError(OrderError):
    """The key was claimed before: the caller rolls back and answers :func:`replayed` (never an answer itself)."""

    code = "idempotency-key-seen"
    status = 409


async def _requested_lines(
    session: AsyncSession, user_id: uuid.UUID, body: CheckoutIn
) -> list[tuple[uuid.UUID, int, int | None]]:
    if body.lines is not None:
        if not body.lines:
            raise OrderError("lines is empty; leave it out to order the cart", field="lines")
        merged: dict[uuid.UUID, tuple[int, int | None]] = {}
        for line in body.lines:
            if line.variant_id in merged:
                raise OrderError(f"variant {line.variant_id} is listed twice", field="lines")
            merged[line.variant_id] = (line.quantity, line.unit_price)
        return [(variant_id, quantity, price) for variant_id, (quantity, price) in merged.items()]
    items = (await session.execute(
        sa.select(CartItem.variant_id, CartItem.quantity, CartItem.unit_price).where(CartItem.user_id == user_id)
    )).all()  # fmt: skip
    if not items:
        raise EmptyCartError("the cart is empty; put something in it, or send lines", field="lines")
    return [(variant_id, quantity, price) for variant_id, quantity, price in items]


async def _check_unpaid_units(
    session: AsyncSession,
    user_id: uuid.UUID,
    lines: list[tuple[uuid.UUID, int, int | None]],
    found: dict[uuid.UUID, stock.StockedVariant],
    *,
    limit: int,
) -> None:
    """Refuse a checkout that would leave the shopper holding more than ``limit`` units of one product in unpaid
    orders. Her checkouts queue on her account's row first: two of hers at once, locking different options, would
    each count before the other committed. (Taken after the variants' locks, never before: no deadlock.)"""
    await session.execute(sa.select(User.id).where(User.id == user_id).with_for_update(key_share=True))
    asked: dict[uuid.UUID, int] = {}
    for variant_id, quantity, _ in lines:
        product_id = found[variant_id].product_id
        asked[product_id] = asked.get(product_id, 0) + quantity
    unpaid = (MallOrderStatus.AWAITING_PAYMENT.value, MallOrderStatus.AWAITING_DEPOSIT.value)
    rows = await session.execute(
        sa.select(OrderLine.product_id, sa.func.sum(OrderLine.quantity))
        .join(MallOrder, MallOrder.id == OrderLine.mall_order_id)
        .join(Order, Order.id == MallOrder.order_id)
        .where(Order.user_id == user_id, MallOrder.status.in_(unpaid), OrderLine.product_id.in_(list(asked)))
        .group_by(OrderLine.product_id)
    )
    held = {product_id: int(total) for product_id, total in rows}
    for variant_id, _, _ in lines:
        product_id = found[variant_id].product_id
        waiting = held.get(product_id, 0)
        if waiting + asked[product_id] > limit:
            msg = (
                f"nothing was ordered: at most {limit} of one product may wait for your payment, and "
                f"{found[variant_id].product_name} would have {waiting + asked[product_id]} ({waiting} in orders not "
                "paid yet); pay or cancel those first"
            )
            raise UnpaidLimitError(msg, field="lines")


async def _next_number(session: AsyncSession, now: datetime.datetime) -> str:
    sequence = await session.scalar(sa.select(sa.func.nextval("order_number_seq")))
    kst = now.astimezone(datetime.timezone(datetime.timedelta(hours=9)))
    return f"SH{kst:%Y%m%d}-{sequence:06d}"


@dataclass(frozen=True, kw_only=True)
class _Plan:
    """What a checkout will write, worked out before anything is: each mall's lines, amount and fee."""

    by_mall: dict[uuid.UUID, tuple[list[tuple[stock.StockedVariant, int]], int, int]]
    """Mall id → (its variants and quantities, its items' amount, its shipping fee)."""
    items_amount: int
    shipping_amount: int
    name: str


def _plan(lines: list[tuple[uuid.UUID, int, int | None]], found: dict[uuid.UUID, stock.StockedVariant]) -> _Plan:
    grouped: dict[uuid.UUID, list[tuple[stock.StockedVariant, int]]] = {}
    for variant_id, quantity, _ in lines:
        variant = found[variant_id]
        grouped.setdefault(variant.mall_id, []).append((variant, quantity))
    by_mall = {}
    for mall_id, bought in grouped.items():
        items_amount = sum(variant.unit_price * quantity for variant, quantity in bought)
        first = bought[0][0]
        fee = shipping_fee(items_amount, fee=first.shipping_fee, threshold=first.free_shipping_threshold)
        by_mall[mall_id] = (bought, items_amount, fee)
    return _Plan(
        by_mall=by_mall,
        items_amount=sum(items for _, items, _ in by_mall.values()),
        shipping_amount=sum(fee for _, _, fee in by_mall.values()),
        name=_order_name([variant.product_name for bought in grouped.values() for variant, _ in bought]),
    )


def _write_parts(session: AsyncSession, order: Order, plan: _Plan, *, now: datetime.datetime) -> list[WrittenPart]:
    """One mall-order per mall, with its lines and its first step."""
    status = (
        MallOrderStatus.AWAITING_DEPOSIT
        if order.payment_method == PaymentMethod.VIRTUAL_ACCOUNT.value
        else MallOrderStatus.AWAITING_PAYMENT
    )
    parts: list[WrittenPart] = []
    for mall_id, (bought, items_amount, fee) in plan.by_mall.items():
        mall_order = MallOrder(id=uuid7(), order_id=order.id, mall_id=mall_id, status=status.value,
                               items_amount=items_amount, shipping_fee=fee, refunded_amount=0, created_at=now,
                               updated_at=now)  # fmt: skip
        part_lines = [
            OrderLine(id=uuid7(), mall_order_id=mall_order.id, variant_id=variant.id, product_id=variant.product_id,
                      product_name=variant.product_name, sku=variant.sku, options=variant.options,
                      unit_price=variant.unit_price, quantity=quantity)
            for variant, quantity in bought
        ]  # fmt: skip
        step = Transition(mall_order_id=mall_order.id, from_status=None, to_status=status.value,
                          actor=Actor.SHOPPER.value, reason="", at=now)  # fmt: skip
        session.add(mall_order)
        session.add_all(part_lines)
        session.add(step)
        parts.append(WrittenPart(mall_order=mall_order, mall_name=bought[0][0].mall_name, lines=part_lines, step=step))
    return parts


def _order_name(names: list[str]) -> str:
    """``린넨 셔츠 원피스 외 2건``, within the gateway's and the messages' limits."""
    first = names[0] if len(names[0]) <= NAME_LIMIT - 8 else names[0][: NAME_LIMIT - 9] + "…"
    return first if len(names) == 1 else f"{first} 외 {len(names) - 1}건"


async def _open_payment(order: Order, body: CheckoutIn, gateway: PaymentGateway, rules: CheckoutRules) -> Payment:
    payment = Payment(order_id=order.id, gateway=gateway.name, method=order.payment_method,
                      status=PaymentStatus.READY.value, amount=order.total_amount,
                      balance_amount=order.total_amount)  # fmt: skip
    if order.payment_method != PaymentMethod.VIRTUAL_ACCOUNT.value:
        return payment  # the app opens the payment window with the order number and amount, then confirms
    payment.refund_account = msgspec.to_builtins(body.refund_account)
    try:
        issued = await gateway.issue_virtual_account(
            order_id=order.number,
            order_name=order.name,
            amount=order.total_amount,
            customer_name=body.depositor_name or body.address.recipient,
            bank=body.bank or rules.default_bank,
            valid_hours=rules.deposit_hours,
            idempotency_key=f"issue:{order.number}",
        )
    except PaymentRefusedError as exc:
        msg = f"the gateway refused the virtual account: {exc.message}"
        raise PaymentDeclinedError(msg, gateway_code=exc.code) from None
    except GatewayUnavailableError as exc:
        logger.warning("order %s: no virtual account (%s); nothing was ordered", order.number, exc)
        raise PaymentGatewayDownError("the payment gateway did not answer; nothing was ordered, try again") from None
    account = issued.virtual_account
    if account is None or issued.secret is None:
        raise PaymentGatewayDownError("the payment gateway answered without an account; nothing was ordered")
    if issued.order_id != order.number or issued.total_amount != order.total_amount:
        # Its account would take another order's deposit: the shopper would pay, and this order never be paid.
        logger.error("order %s: the gateway answered with an account for %s of %d won; nothing was ordered",
                     order.number, issued.order_id, issued.total_amount)  # fmt: skip
        raise PaymentGatewayDownError("the payment gateway answered for another payment; nothing was ordered")
    payment.payment_key = issued.payment_key
    payment.status = issued.status.value
    payment.secret = issued.secret
    payment.bank = account.bank_name
    payment.account_number = account.account_number
    payment.account_holder = account.holder
    payment.due_at = account.due_at
    return payment


def _conflict_text(problems: list[dict[str, object]]) -> str:
    words = {
        "price_changed": "its price changed",
        "out_of_stock": "it is sold out",
        "not_enough_stock": "not enough are left",
        "not_for_sale": "it is not for sale now",
        "unknown_variant": "no such product option",
    }
    parts = [f"{problem['variant_id']}: {words[str(problem['problem'])]}" for problem in problems]
    return "nothing was ordered; " + "; ".join(parts)
