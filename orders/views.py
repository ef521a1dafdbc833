"""Orders as the shopper and the mall read them: every mall-order's state, lines, carrier and timeline."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from catalog.models import Mall
from orders.carriers import CARRIERS
from orders.errors import InvalidCursorError, OrderNotFoundError
from orders.models import AfterSale, MallOrder, Order, OrderLine, Payment, Transition
from orders.schemas import (
    AfterSaleOut,
    MallOrderOut,
    OrderLineOut,
    OrderOut,
    OrderPage,
    OrderSummary,
    PartnerMallOrder,
    PartnerMallOrderPage,
    PartnerOrderLine,
    PaymentOut,
    TransitionOut,
    VirtualAccountOut,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from orders.checkout import Written


async def order_out(session: AsyncSession, order_id: uuid.UUID, *, user_id: uuid.UUID) -> OrderOut:
    """The shopper's order; another shopper's is not found (404), never forbidden: its existence is not told."""
    order = await session.scalar(sa.select(Order).where(Order.id == order_id, Order.user_id == user_id))
    if order is None:
        raise OrderNotFoundError("you have no order with this id")
    payment = await session.scalar(sa.select(Payment).where(Payment.order_id == order.id))
    assert payment is not None  # written with the order
    parts = list(
        await session.execute(
            sa.select(MallOrder, Mall.name).join(Mall, Mall.id == MallOrder.mall_id)
            .where(MallOrder.order_id == order.id).order_by(MallOrder.id)
        )
    )  # fmt: skip
    ids = [mall_order.id for mall_order, _ in parts]
    lines = await _by_mall_order(session, OrderLine, ids, OrderLine.id)
    steps = await _by_mall_order(session, Transition, ids, Transition.id)
    after_sales = await _by_mall_order(session, AfterSale, ids, AfterSale.created_at)
    refunded = sum(mall_order.refunded_amount for mall_order, _ in parts)
    return _order_out(order, payment_out(order, payment, refunded=refunded), [
        _mall_order_out(mall_order, name, lines.get(mall_order.id, []), steps.get(mall_order.id, []),
                        after_sales.get(mall_order.id, []))
        for mall_order, name in parts
    ])  # fmt: skip


def written_out(written: Written) -> OrderOut:
    """A new order's answer, from the rows its checkout wrote (nothing read back)."""
    order = written.order
    return _order_out(order, payment_out(order, written.payment, refunded=0), [
        _mall_order_out(part.mall_order, part.mall_name, part.lines, [part.step], []) for part in written.parts
    ])  # fmt: skip


def _order_out(order: Order, payment: PaymentOut, mall_orders: list[MallOrderOut]) -> OrderOut:
    return OrderOut(
        id=order.id,
        number=order.number,
        name=order.name,
        created_at=order.created_at,
        items_amount=order.items_amount,
        shipping_amount=order.shipping_amount,
        total_amount=order.total_amount,
        address=order.address,
        payment=payment,
        mall_orders=mall_orders,
    )


def payment_out(order: Order, payment: Payment, *, refunded: int) -> PaymentOut:
    account = None
    if payment.account_number is not None and payment.due_at is not None:
        account = VirtualAccountOut(bank=payment.bank or "", account_number=payment.account_number,
                                    holder=payment.account_holder or "", amount=payment.amount,
                                    due_at=payment.due_at)  # fmt: skip
    return PaymentOut(
        method=payment.method,  # type: ignore[arg-type]
        gateway=payment.gateway,
        status=payment.status,
        amount=payment.amount,
        refunded_amount=refunded,
        gateway_order_id=order.number,
        order_name=order.name,
        virtual_account=account,
        approved_at=payment.approved_at,
        amount_mismatch=payment.amount_mismatch,
    )


async def list_orders(session: AsyncSession, *, user_id: uuid.UUID, cursor: str | None, limit: int) -> OrderPage:
    """The shopper's orders, newest first, in pages."""
    query = sa.select(Order).where(Order.user_id == user_id).order_by(Order.id.desc()).limit(limit + 1)
    if cursor is not None:
        query = query.where(Order.id < read_cursor(cursor))
    orders = list(await session.scalars(query))
    page, more = orders[:limit], len(orders) > limit
    statuses: dict[uuid.UUID, list[str]] = {}
    if page:
        rows = await session.execute(
            sa.select(MallOrder.order_id, MallOrder.status)
            .where(MallOrder.order_id.in_([order.id for order in page])).order_by(MallOrder.id)
        )  # fmt: skip
        for order_id, status in rows:
            statuses.setdefault(order_id, []).append(status)
    items = [
        OrderSummary(id=order.id, number=order.number, name=order.name, created_at=order.created_at,
                     total_amount=order.total_amount, statuses=statuses.get(order.id, []))  # type: ignore[arg-type]
        for order in page
    ]  # fmt: skip
    return OrderPage(items=items, next_cursor=str(page[-1].id) if more else None)


async def partner_orders(
    session: AsyncSession,
    *,
    mall_id: uuid.UUID,
    status: str | None,
    cursor: str | None,
    limit: int,
    only: uuid.UUID | None = None,
) -> PartnerMallOrderPage:
    """A mall's own mall-orders (or the one ``only``), oldest first (the order in which to ship), with what
    shipping needs."""
    query = (
        sa.select(MallOrder, Order.number, Order.address)
        .join(Order, Order.id == MallOrder.order_id)
        .where(MallOrder.mall_id == mall_id)
        .order_by(MallOrder.id)
        .limit(limit + 1)
    )
    if status is not None:
        query = query.where(MallOrder.status == status)
    if only is not None:
        query = query.where(MallOrder.id == only)
    if cursor is not None:
        query = query.where(MallOrder.id > read_cursor(cursor))
    rows = list(await session.execute(query))
    page, more = rows[:limit], len(rows) > limit
    ids = [mall_order.id for mall_order, _, _ in page]
    lines = await _by_mall_order(session, OrderLine, ids, OrderLine.id)
    after_sales = await _by_mall_order(session, AfterSale, ids, AfterSale.created_at)
    items = [
        PartnerMallOrder(
            id=mall_order.id, order_number=number, status=mall_order.status,  # type: ignore[arg-type]
            created_at=mall_order.created_at, items_amount=mall_order.items_amount,
            shipping_fee=mall_order.shipping_fee, refunded_amount=mall_order.refunded_amount,
            lines=[PartnerOrderLine(id=line.id, sku=line.sku, product_name=line.product_name, options=line.options,
                                    unit_price=line.unit_price, quantity=line.quantity)
                   for line in lines.get(mall_order.id, [])],
            address=address, carrier=mall_order.carrier, tracking_number=mall_order.tracking_number,
            after_sales=[_after_sale_out(a) for a in after_sales.get(mall_order.id, [])],
        )
        for mall_order, number, address in page
    ]  # fmt: skip
    return PartnerMallOrderPage(items=items, next_cursor=str(page[-1][0].id) if more else None)


def read_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(cursor)
    except ValueError:
        raise InvalidCursorError("cursor is not one this API gave out; start again without it") from None


_Row = TypeVar("_Row", OrderLine, Transition, AfterSale)


async def _by_mall_order(
    session: AsyncSession, model: type[_Row], ids: list[uuid.UUID], order_by: Any
) -> dict[uuid.UUID, list[_Row]]:
    """Rows of ``model`` for each of the mall-orders ``ids``, in ``order_by`` order."""
    grouped: dict[uuid.UUID, list[_Row]] = {}
    if ids:
        query = sa.select(model).where(model.mall_order_id.in_(ids)).order_by(order_by)
        for row in await session.scalars(query):
            grouped.setdefault(row.mall_order_id, []).append(row)
    return grouped


def _mall_order_out(
    mall_order: MallOrder, mall_name: str, lines: list[OrderLine], steps: list[Transition], after_sales: list[AfterSale]
) -> MallOrderOut:
    carrier = CARRIERS.get(mall_order.carrier or "")
    return MallOrderOut(
        id=mall_order.id,
        mall_id=mall_order.mall_id,
        mall_name=mall_name,
        status=mall_order.status,  # type: ignore[arg-type]
        items_amount=mall_order.items_amount,
        shipping_fee=mall_order.shipping_fee,
        refunded_amount=mall_order.refunded_amount,
        lines=[
            OrderLineOut(
                id=line.id,
                variant_id=line.variant_id,
                product_id=line.product_id,
                product_name=line.product_name,
                sku=line.sku,
                options=line.options,
                unit_price=line.unit_price,
                quantity=line.quantity,
            )
            for line in lines
        ],
        carrier=mall_order.carrier,
        carrier_name=carrier.name if carrier else None,
        tracking_number=mall_order.tracking_number,
        tracking_url=carrier.link(mall_order.tracking_number) if carrier and mall_order.tracking_number else None,
        delivered_at=mall_order.delivered_at,
        timeline=[
            TransitionOut(
                from_status=step.from_status, to_status=step.to_status, actor=step.actor, at=step.at, reason=step.reason
            )
            for step in steps
        ],
        after_sales=[_after_sale_out(after_sale) for after_sale in after_sales],
    )


def _after_sale_out(after_sale: AfterSale) -> AfterSaleOut:
    return AfterSaleOut(id=after_sale.id, kind=after_sale.kind, status=after_sale.status,  # type: ignore[arg-type]
                        reason=after_sale.reason, lines=after_sale.lines, refund_amount=after_sale.refund_amount,
                        created_at=after_sale.created_at)  # fmt: skip
