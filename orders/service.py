"""Everything that moves an order after checkout: the card payment's confirmation, the gateway's webhooks, cancels,
returns and exchanges, the mall's fulfilment, the purchase confirmation, and the worker's deadlines.

Each function works in the caller's transaction (the caller commits) and locks what it moves (``FOR UPDATE``):
the order's payment first, then its mall-orders in id order, so two moves of one order queue instead of
interleaving. A move the state does not allow is a 409 naming both states (:mod:`orders.lifecycle`); each move
is recorded with its actor and enqueues its message in the same transaction (:mod:`orders.messages`). Money
goes back through the gateway's cancel API under an idempotency key of the step that returns it, so a step
retried after a crash never refunds twice.
"""

from __future__ import annotations

import datetime
import hmac
import logging
import uuid  # noqa: TC003 - a dataclass field
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from catalog.models import Variant
from insights.store import Purchase, append_purchases
from orders import stock
from orders.carriers import carrier_problem
from orders.checkout import KEY_HOURS
from orders.errors import (
    IllegalTransitionError,
    InvalidTrackingNumberError,
    MalformedWebhookError,
    OrderError,
    OrderNotFoundError,
    OrderStateError,
    PaymentDeclinedError,
    PaymentGatewayDownError,
    PaymentMismatchError,
    WebhookNotTrustedError,
    WrongPaymentMethodError,
)
from orders.lifecycle import PAID_STATES, check_move, move
from orders.models import (
    Actor,
    AfterSale,
    CheckoutKey,
    MallOrder,
    MallOrderStatus,
    Order,
    OrderLine,
    Payment,
    PaymentEvent,
)
from orders.payments.base import (
    DepositEvent,
    GatewayUnavailableError,
    PaymentMethod,
    PaymentRefusedError,
    PaymentStatus,
    RefundAccount,
    WebhookRejectedError,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from orders.messages import OrderMessages
    from orders.payments.base import Payment as GatewayPayment
    from orders.payments.base import PaymentGateway
    from orders.schemas import AfterSaleIn, ExchangeIn, ShipIn

logger = logging.getLogger(__name__)
S = MallOrderStatus


@dataclass(frozen=True, kw_only=True)
class AfterSaleRules:
    return_days: int = 7
    """Returns and exchanges are accepted this many days after delivery."""
    confirm_days: int = 7
    """A delivered part is confirmed by the worker this many days after delivery."""
    card_minutes: int = 30
    """A card order whose payment was not confirmed by then is cancelled and its stock given back."""


@dataclass(frozen=True, kw_only=True)
class Context:
    """What every move needs besides the session: the gateway, the messages, the clock."""

    gateway: PaymentGateway
    messages: OrderMessages
    now: datetime.datetime
    rules: AfterSaleRules = AfterSaleRules()


# --- Loading and locking ------------------------------------------------------------------------------------


async def locked_order(
    session: AsyncSession, order_id: uuid.UUID, *, user_id: uuid.UUID | None = None
) -> tuple[Order, Payment, list[MallOrder]]:
    """The order (the shopper's own when ``user_id`` is given) with its payment and mall-orders, locked."""
    query = sa.select(Order).where(Order.id == order_id)
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    order = await session.scalar(query)
    if order is None:
        raise OrderNotFoundError("you have no order with this id")
    payment = await session.scalar(
        sa.select(Payment)
        .where(Payment.order_id == order.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert payment is not None  # written with the order
    mall_orders = list(
        await session.scalars(
            sa.select(MallOrder).where(MallOrder.order_id == order.id).order_by(MallOrder.id).with_for_update()
            .execution_options(populate_existing=True)
        )
    )  # fmt: skip
    return order, payment, mall_orders


async def locked_mall_order(
    session: AsyncSession, mall_order_id: uuid.UUID, *, mall_id: uuid.UUID
) -> tuple[Order, Payment, list[MallOrder], MallOrder]:
    """A mall's own mall-order with its order, locked; another mall's is not found."""
    order_id = await session.scalar(
        sa.select(MallOrder.order_id).where(MallOrder.id == mall_order_id, MallOrder.mall_id == mall_id)
    )
    if order_id is None:
        raise OrderNotFoundError("your mall has no order with this id")
    order, payment, mall_orders = await locked_order(session, order_id)
    return order, payment, mall_orders, next(mo for mo in mall_orders if mo.id == mall_order_id)


# --- Payment ------------------------------------------------------------------------------------------------


async def confirm_card_payment(
    session: AsyncSession, context: Context, *, user_id: uuid.UUID, order_id: uuid.UUID, payment_key: str, amount: int
) -> None:
    """Confirm the card payment the app's payment window authorised, for the order's own amount only."""
    order, payment, mall_orders = await locked_order(session, order_id, user_id=user_id)
    if payment.method != PaymentMethod.CARD.value:
        raise WrongPaymentMethodError("this order is paid by deposit to its virtual account, not by card")
    if payment.status == PaymentStatus.DONE.value and payment.payment_key == payment_key:
        return  # confirmed already (the app retried): the same answer
    for mall_order in mall_orders:
        check_move(mall_order, S.PAID)
    if amount != order.total_amount:
        logger.warning(
            "order %s: payment confirmation refused, amount %d is not the order's %d",
            order.number, amount, order.total_amount,
        )  # fmt: skip
        raise PaymentMismatchError(f"the order's amount is {order.total_amount:,} won, not {amount:,}")
    gateway = context.gateway
    try:
        paid = await gateway.confirm_card(
            payment_key=payment_key, order_id=order.number, amount=order.total_amount,
            idempotency_key=f"confirm:{order.number}:{payment_key}",
        )  # fmt: skip
    except PaymentRefusedError as exc:
        if exc.code != "ALREADY_PROCESSED_PAYMENT":
            raise PaymentDeclinedError(
                f"the gateway refused the payment: {exc.message}", gateway_code=exc.code
            ) from None
        paid = await _read_back(gateway, payment_key)  # our earlier confirmation's answer was lost
    except GatewayUnavailableError:
        raise PaymentGatewayDownError("the payment gateway did not answer; confirm again") from None
    if (
        paid.status is not PaymentStatus.DONE
        or paid.order_id != order.number
        or paid.total_amount != order.total_amount
    ):
        logger.error("order %s: the gateway confirmed %s for %d won", order.number, paid.status, paid.total_amount)
        payment.amount_mismatch = paid.total_amount
        raise PaymentMismatchError("the gateway's payment does not match this order; it was not marked paid")
    payment.payment_key, payment.status, payment.approved_at = payment_key, paid.status.value, paid.approved_at
    payment.balance_amount = paid.balance_amount
    for mall_order in mall_orders:
        move(session, mall_order, S.PAID, actor=Actor.GATEWAY, now=context.now)
    await _store_purchases(session, order, mall_orders, at=context.now)
    await context.messages.paid(session, order, by_deposit=False)


@dataclass(frozen=True, kw_only=True)
class WebhookApplied:
    order_id: uuid.UUID
    result: str
    """What happened, in a word: ``paid``, ``already-applied``, ``cancelled``, ``amount-mismatch`` …"""


async def apply_webhook(session: AsyncSession, context: Context, body: bytes) -> WebhookApplied:
    """A gateway webhook: believed only when it names a payment we know (a deposit callback also with that
    payment's secret), and then only as far as the payment read back from the gateway says. Applied once per
    gateway transaction."""
    try:
        event = context.gateway.parse_webhook(body)
    except WebhookRejectedError as exc:
        raise MalformedWebhookError(f"not a webhook the gateway sends: {exc}") from None
    order_number = event.order_id if isinstance(event, DepositEvent) else event.payment.order_id
    order_id = await session.scalar(sa.select(Order.id).where(Order.number == order_number))
    if order_id is None:
        raise WebhookNotTrustedError("the webhook names no order of ours")
    order, payment, mall_orders = await locked_order(session, order_id)
    if isinstance(event, DepositEvent):
        if payment.secret is None or not hmac.compare_digest(payment.secret.encode(), event.secret.encode()):
            logger.warning("order %s: a deposit callback with a wrong secret was refused", order.number)
            raise WebhookNotTrustedError("the deposit callback's secret is not this payment's")
    elif payment.payment_key != event.payment.payment_key and payment.payment_key is not None:
        raise WebhookNotTrustedError("the webhook's payment is not this order's")
    if payment.payment_key is None:
        raise OrderStateError("this order has no payment at the gateway yet")
    current = await _read_back(context.gateway, payment.payment_key)
    result = await _follow_gateway(
        session, context, order=order, payment=payment, mall_orders=mall_orders, current=current
    )
    return WebhookApplied(order_id=order.id, result=result)


async def _follow_gateway(
    session: AsyncSession,
    context: Context,
    *,
    order: Order,
    payment: Payment,
    mall_orders: list[MallOrder],
    current: GatewayPayment,
) -> str:
    """Bring the order in line with the gateway's payment, read back from it."""
    waiting = [mo for mo in mall_orders if mo.status == S.AWAITING_DEPOSIT.value]
    if current.status is PaymentStatus.DONE and payment.status != PaymentStatus.DONE.value:
        if current.order_id != order.number or current.total_amount != payment.amount:
            logger.error("order %s: deposit of %d won for an order of %d; flagged, not paid",
                         order.number, current.total_amount, payment.amount)  # fmt: skip
            payment.amount_mismatch = current.total_amount
            return "amount-mismatch"
        if not await _first_time(session, payment, current, kind="deposit"):
            return "already-applied"
        payment.status, payment.approved_at = current.status.value, current.approved_at or context.now
        payment.balance_amount = current.balance_amount
        if not waiting:  # cancelled meanwhile (its deadline passed): the money goes back
            await _refund(session, context, order, payment, amount=None, key=f"late-deposit:{order.number}",
                          reason="입금 기한이 지난 주문의 입금 환불")  # fmt: skip
            return "refunded-late-deposit"
        for mall_order in waiting:
            move(session, mall_order, S.PAID, actor=Actor.GATEWAY, now=context.now)
        await _store_purchases(session, order, waiting, at=context.now)
        await context.messages.paid(session, order, by_deposit=True)
        return "paid"
    if current.status in {PaymentStatus.CANCELED, PaymentStatus.EXPIRED, PaymentStatus.ABORTED} and waiting:
        payment.status = current.status.value
        await _cancel_parts(session, context, order, waiting, actor=Actor.GATEWAY, reason="입금 기한 만료")
        return "cancelled"
    return "unchanged"


async def _store_purchases(
    session: AsyncSession, order: Order, paid: Sequence[MallOrder], *, at: datetime.datetime
) -> None:
    """The lines of the mall-orders just paid, appended to the event store as purchases in this transaction (a
    mall-order becomes paid once, and the store keeps each line once)."""
    mall_of = {mall_order.id: mall_order.mall_id for mall_order in paid}
    lines = await session.scalars(sa.select(OrderLine).where(OrderLine.mall_order_id.in_(mall_of)))
    purchases = [
        Purchase(line_id=line.id, product_id=line.product_id, mall_id=mall_of[line.mall_order_id],
                 quantity=line.quantity, amount=line.unit_price * line.quantity)
        for line in lines
    ]  # fmt: skip
    await append_purchases(session, purchases, shopper_id=order.user_id, at=at)


async def _first_time(session: AsyncSession, payment: Payment, current: GatewayPayment, *, kind: str) -> bool:
    key = current.last_transaction_key or f"{kind}:{current.payment_key}"
    added = await session.scalar(
        insert(PaymentEvent)
        .values(payment_id=payment.id, transaction_key=key, kind=kind, amount=current.total_amount)
        .on_conflict_do_nothing()
        .returning(PaymentEvent.id)
    )
    return added is not None


async def _read_back(gateway: PaymentGateway, payment_key: str) -> GatewayPayment:
    try:
        return await gateway.get_payment(payment_key)
    except PaymentRefusedError as exc:
        raise WebhookNotTrustedError(f"the gateway does not know this payment ({exc.code})") from None
    except GatewayUnavailableError:
        raise PaymentGatewayDownError("the payment gateway did not answer; nothing changed, try again") from None


async def _refund(
    session: AsyncSession,
    context: Context,
    order: Order,
    payment: Payment,
    *,
    amount: int | None,
    key: str,
    reason: str,
) -> int:
    """Give ``amount`` won back (everything left when None) through the gateway; how much went back."""
    if payment.payment_key is None or payment.status not in {
        PaymentStatus.DONE.value,
        PaymentStatus.PARTIAL_CANCELED.value,
    }:
        return 0  # nothing was paid
    try:
        after = await context.gateway.cancel(payment.payment_key, reason=reason, amount=amount, idempotency_key=key,
                                             refund_account=_refund_account(payment))  # fmt: skip
    except PaymentRefusedError as exc:
        raise PaymentDeclinedError(f"the gateway refused the refund: {exc.message}", gateway_code=exc.code) from None
    except GatewayUnavailableError:
        raise PaymentGatewayDownError("the payment gateway did not answer; nothing changed, try again") from None
    returned = payment.balance_amount - after.balance_amount
    payment.status, payment.balance_amount = after.status.value, after.balance_amount
    await context.messages.refunded(session, order, key, amount=returned, method=_refund_method(payment))
    return returned


def _refund_account(payment: Payment) -> RefundAccount | None:
    account = payment.refund_account
    if not account:
        return None
    return RefundAccount(bank=account["bank"], account_number=account["account_number"], holder=account["holder"])


def _refund_method(payment: Payment) -> str:
    return "카드 결제 취소" if payment.method == PaymentMethod.CARD.value else "환불 계좌 입금"


# --- Cancels ------------------------------------------------------------------------------------------------


async def cancel(
    session: AsyncSession,
    context: Context,
    *,
    order_id: uuid.UUID,
    user_id: uuid.UUID | None,
    mall_order_id: uuid.UUID | None,
    reason: str,
    actor: Actor,
    mall_id: uuid.UUID | None = None,
) -> None:
    """Cancel the whole order or one mall's part, before it ships: stock goes back, money paid for the part goes
    back through the gateway, the shopper is told."""
    if mall_id is not None and mall_order_id is not None:
        order, payment, mall_orders, _ = await locked_mall_order(session, mall_order_id, mall_id=mall_id)
    else:
        order, payment, mall_orders = await locked_order(session, order_id, user_id=user_id)
    if mall_order_id is None:
        parts = [mo for mo in mall_orders if mo.status != S.CANCELLED.value]
        if not parts:
            raise IllegalTransitionError("the whole order is cancelled already", current="cancelled",
                                         requested="cancelled")  # fmt: skip
    else:
        parts = [mo for mo in mall_orders if mo.id == mall_order_id]
        if not parts:
            raise OrderStateError("this order has no part with this mall_order_id", field="mall_order_id")
    for part in parts:
        check_move(part, S.CANCELLED)
    unpaid = {S.AWAITING_DEPOSIT.value, S.AWAITING_PAYMENT.value}
    still_unpaid = [mo for mo in mall_orders if mo.status in unpaid and mo not in parts]
    if any(part.status in unpaid for part in parts) and still_unpaid:
        # Its payment is for the whole amount: a virtual account takes one amount, a card window was opened for it.
        raise OrderStateError("an order not paid yet is cancelled whole; cancel it without mall_order_id")
    await _cancel_parts(session, context, order, parts, actor=actor, reason=reason, payment=payment,
                        all_parts=mall_orders)  # fmt: skip


async def _cancel_parts(
    session: AsyncSession,
    context: Context,
    order: Order,
    parts: Sequence[MallOrder],
    *,
    actor: Actor,
    reason: str,
    payment: Payment | None = None,
    all_parts: Sequence[MallOrder] = (),
) -> None:
    lines = list(await session.scalars(sa.select(OrderLine).where(OrderLine.mall_order_id.in_([p.id for p in parts]))))
    given_back: dict[uuid.UUID, int] = {}
    for line in lines:
        given_back[line.variant_id] = given_back.get(line.variant_id, 0) + line.quantity
    await stock.give_back(session, given_back)
    summaries = {part.id: _summary([line for line in lines if line.mall_order_id == part.id]) for part in parts}
    for part in parts:
        was_paid = part.status in {s.value for s in PAID_STATES}
        step = move(session, part, S.CANCELLED, actor=actor, now=context.now, reason=reason)
        await session.flush()
        await context.messages.cancelled(session, order, step, summary=summaries[part.id])
        if was_paid and payment is not None:
            amount = part.items_amount + part.shipping_fee - part.refunded_amount
            everything = all(mo.status == S.CANCELLED.value for mo in all_parts)
            returned = await _refund(session, context, order, payment, amount=None if everything else amount,
                                     key=f"cancel:{part.id}", reason=reason)  # fmt: skip
            part.refunded_amount += returned
    if payment is not None and payment.status == PaymentStatus.WAITING_FOR_DEPOSIT.value and payment.payment_key:
        # Close the account, so that no deposit arrives for a cancelled order.
        try:
            closed = await context.gateway.cancel(payment.payment_key, reason=reason, amount=None,
                                                  idempotency_key=f"close:{order.number}")  # fmt: skip
            payment.status = closed.status.value
        except (PaymentRefusedError, GatewayUnavailableError) as exc:
            logger.warning(
                "order %s: its virtual account was not closed (%s); a late deposit is refunded", order.number, exc
            )


def _summary(lines: Sequence[OrderLine]) -> str:
    if not lines:
        return ""
    first = lines[0].product_name[:40]
    return first if len(lines) == 1 else f"{first} 외 {len(lines) - 1}건"


# --- After delivery -----------------------------------------------------------------------------------------


async def request_after_sale(
    session: AsyncSession,
    context: Context,
    *,
    user_id: uuid.UUID,
    order_id: uuid.UUID,
    body: AfterSaleIn | ExchangeIn,
    kind: str,
) -> uuid.UUID:
    """A return (with a refund once the mall has the items) or an exchange (another size or colour of the same
    product, reserved now), within ``return_days`` of delivery."""
    order, _, mall_orders = await locked_order(session, order_id, user_id=user_id)
    part = next((mo for mo in mall_orders if mo.id == body.mall_order_id), None)
    if part is None:
        raise OrderStateError("this order has no part with this mall_order_id", field="mall_order_id")
    target = S.RETURN_REQUESTED if kind == "return" else S.EXCHANGE_REQUESTED
    check_move(part, target)
    if part.delivered_at is None or context.now - part.delivered_at > datetime.timedelta(
        days=context.rules.return_days
    ):
        raise OrderStateError(f"returns and exchanges are taken within {context.rules.return_days} days of delivery")
    lines = {
        line.id: line for line in await session.scalars(sa.select(OrderLine).where(OrderLine.mall_order_id == part.id))
    }
    asked: list[dict[str, object]] = []
    refund = 0
    exchanged: dict[uuid.UUID, int] = {}
    per_line: dict[uuid.UUID, int] = {}  # what is asked of each line, however many times it is listed
    for item in body.lines:
        line = lines.get(item.line_id)
        if line is None:
            raise OrderStateError(f"line {item.line_id} is not in this part of the order", field="lines")
        per_line[line.id] = per_line.get(line.id, 0) + item.quantity
        if per_line[line.id] > line.quantity:
            raise OrderStateError(f"line {item.line_id} has {line.quantity}, not {per_line[line.id]}", field="lines")
        entry: dict[str, object] = {"line_id": str(line.id), "quantity": item.quantity}
        if kind == "exchange":
            if item.variant_id is None:
                raise OrderError("an exchange names the other size or colour as variant_id", field="lines")
            if item.variant_id == line.variant_id:
                raise OrderStateError("an exchange is for another size or colour than the one bought", field="lines")
            entry["variant_id"] = str(item.variant_id)
            exchanged[item.variant_id] = exchanged.get(item.variant_id, 0) + item.quantity
            await _check_same_product(session, line, item.variant_id)
        refund += line.unit_price * item.quantity
        asked.append(entry)
    if exchanged:
        found = await stock.variants(session, exchanged, lock=True)
        short = [str(v) for v, q in exchanged.items() if v not in found or found[v].stock < q]
        if short:
            raise OrderStateError(f"not enough left of {', '.join(short)} to exchange; choose another", field="lines")
        await stock.take(session, exchanged)
    after_sale = AfterSale(mall_order_id=part.id, kind=kind, status="requested", reason=body.reason, lines=asked,
                           refund_amount=refund if kind == "return" else 0, created_at=context.now)  # fmt: skip
    session.add(after_sale)
    step = move(session, part, target, actor=Actor.SHOPPER, now=context.now, reason=body.reason)
    await session.flush()
    chosen = [lines[item.line_id] for item in body.lines]
    if kind == "return":
        await context.messages.return_received(session, order, step, summary=_summary(chosen))
    else:
        await context.messages.exchange_received(session, order, step, summary=_summary(chosen))
    return after_sale.id


async def _check_same_product(session: AsyncSession, line: OrderLine, variant_id: uuid.UUID) -> None:
    product_id = await session.scalar(sa.select(Variant.product_id).where(Variant.id == variant_id))
    if product_id != line.product_id:
        raise OrderStateError("an exchange is for another size or colour of the same product", field="lines")


async def receive_return(
    session: AsyncSession, context: Context, *, mall_id: uuid.UUID, mall_order_id: uuid.UUID, return_id: uuid.UUID
) -> None:
    """The mall has the returned items back: the part is refunded what the shopper returned."""
    order, payment, _, part = await locked_mall_order(session, mall_order_id, mall_id=mall_id)
    after_sale = await session.scalar(
        sa.select(AfterSale).where(AfterSale.id == return_id, AfterSale.mall_order_id == part.id).with_for_update()
    )
    if after_sale is None or after_sale.kind != "return":
        raise OrderNotFoundError("this order has no return with this id")
    move(session, part, S.RETURNED, actor=Actor.MALL, now=context.now)
    after_sale.status = "received"
    returned = await _refund(session, context, order, payment, amount=after_sale.refund_amount,
                             key=f"return:{after_sale.id}", reason=after_sale.reason)  # fmt: skip
    part.refunded_amount += returned
    after_sale.status = "refunded"
    move(session, part, S.REFUNDED, actor=Actor.SYSTEM, now=context.now)


async def confirm_purchase(
    session: AsyncSession, context: Context, *, user_id: uuid.UUID, order_id: uuid.UUID, mall_order_id: uuid.UUID | None
) -> None:
    """구매확정: the shopper says the delivered parts are fine (no return or exchange after)."""
    _, _, mall_orders = await locked_order(session, order_id, user_id=user_id)
    parts = [mo for mo in mall_orders if mall_order_id in {None, mo.id}]
    if mall_order_id is not None and not parts:
        raise OrderStateError("this order has no part with this mall_order_id", field="mall_order_id")
    if mall_order_id is None:
        parts = [mo for mo in parts if mo.status == S.DELIVERED.value]
        if not parts:
            raise OrderStateError("no part of this order is delivered and waiting for confirmation")
    for part in parts:
        move(session, part, S.CONFIRMED, actor=Actor.SHOPPER, now=context.now)


# --- The mall's side ----------------------------------------------------------------------------------------


async def accept(session: AsyncSession, context: Context, *, mall_id: uuid.UUID, mall_order_id: uuid.UUID) -> None:
    _, _, _, part = await locked_mall_order(session, mall_order_id, mall_id=mall_id)
    move(session, part, S.PREPARING, actor=Actor.MALL, now=context.now)


async def ship(
    session: AsyncSession, context: Context, *, mall_id: uuid.UUID, mall_order_id: uuid.UUID, body: ShipIn
) -> None:
    """Hand the parcel to a carrier (or the exchange's new item): the shopper gets the tracking number."""
    order, _, _, part = await locked_mall_order(session, mall_order_id, mall_id=mall_id)
    if problem := carrier_problem(body.carrier, body.tracking_number):
        raise InvalidTrackingNumberError(
            problem, field="carrier" if problem.startswith("carrier") else "tracking_number"
        )
    target = S.EXCHANGE_SHIPPED if part.status == S.EXCHANGE_REQUESTED.value else S.SHIPPED
    check_move(part, target)
    part.carrier, part.tracking_number = body.carrier, body.tracking_number.replace("-", "")
    step = move(session, part, target, actor=Actor.MALL, now=context.now)
    if target is S.EXCHANGE_SHIPPED:
        await session.execute(
            sa.update(AfterSale).where(AfterSale.mall_order_id == part.id, AfterSale.kind == "exchange",
                                       AfterSale.status == "requested").values(status="shipped")
        )  # fmt: skip
    await session.flush()
    await context.messages.shipped(session, order, part, step)


async def deliver(session: AsyncSession, context: Context, *, mall_id: uuid.UUID, mall_order_id: uuid.UUID) -> None:
    order, _, _, part = await locked_mall_order(session, mall_order_id, mall_id=mall_id)
    step = move(session, part, S.DELIVERED, actor=Actor.MALL, now=context.now)
    await session.flush()
    await context.messages.delivered(session, order, step)


# --- The worker's deadlines ---------------------------------------------------------------------------------


async def expire_unpaid(session: AsyncSession, context: Context, *, limit: int = 20) -> int:
    """Orders whose payment did not come in time: a virtual account past its due date (asked of the gateway
    first: a deposit whose webhook was lost still counts), a card order not confirmed within ``card_minutes``.
    Cancelled, stock given back; how many orders were looked at (each in the caller's transaction)."""
    card_deadline = context.now - datetime.timedelta(minutes=context.rules.card_minutes)
    due = list(
        await session.scalars(
            sa.select(Payment.order_id)
            .join(Order, Order.id == Payment.order_id)
            .where(
                sa.or_(
                    sa.and_(Payment.status == PaymentStatus.WAITING_FOR_DEPOSIT.value, Payment.due_at < context.now),
                    sa.and_(Payment.status == PaymentStatus.READY.value, Payment.method == PaymentMethod.CARD.value,
                            Order.created_at < card_deadline),
                )
            )
            .order_by(Payment.order_id)
            .limit(limit)
            .with_for_update(of=Payment, skip_locked=True)
        )
    )  # fmt: skip
    for order_id in due:
        order, payment, mall_orders = await locked_order(session, order_id)
        waiting = [mo for mo in mall_orders if mo.status in {S.AWAITING_DEPOSIT.value, S.AWAITING_PAYMENT.value}]
        if payment.method == PaymentMethod.VIRTUAL_ACCOUNT.value and payment.payment_key:
            current = await _read_back(context.gateway, payment.payment_key)
            if current.status is PaymentStatus.DONE:
                await _follow_gateway(
                    session, context, order=order, payment=payment, mall_orders=mall_orders, current=current
                )
                continue
        reason = "입금 기한 만료" if payment.method == PaymentMethod.VIRTUAL_ACCOUNT.value else "결제 시간 초과"
        await _cancel_parts(session, context, order, waiting, actor=Actor.SYSTEM, reason=reason, payment=payment,
                            all_parts=mall_orders)  # fmt: skip
        if payment.status == PaymentStatus.READY.value:
            payment.status = PaymentStatus.EXPIRED.value
    return len(due)


async def confirm_delivered(session: AsyncSession, context: Context, *, limit: int = 200) -> int:
    """Parts delivered ``confirm_days`` ago and not returned: confirmed by the system."""
    deadline = context.now - datetime.timedelta(days=context.rules.confirm_days)
    parts = list(
        await session.scalars(
            sa.select(MallOrder)
            .where(MallOrder.status == S.DELIVERED.value, MallOrder.delivered_at < deadline)
            .order_by(MallOrder.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for part in parts:
        move(session, part, S.CONFIRMED, actor=Actor.SYSTEM, now=context.now, reason="배송 완료 후 자동 구매확정")
    return len(parts)


async def forget_checkout_keys(session: AsyncSession, *, now: datetime.datetime) -> None:
    """Checkout keys older than their 24 hours: a key may name a new checkout again."""
    cutoff = now - datetime.timedelta(hours=KEY_HOURS)
    await session.execute(sa.delete(CheckoutKey).where(CheckoutKey.created_at < cutoff))
