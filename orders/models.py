"""Order tables: carts, orders with one mall-order per mall, their lines and every transition, payments and the
gateway's events, returns and exchanges, checkout keys, and the sandbox gateway's payments.

Money is in won (no minor unit). Stock lives on ``catalog.Variant``: a checkout takes it there, in the checkout's
transaction, and a cancel gives it back there.
"""

from __future__ import annotations

import datetime
import enum
import uuid
from typing import Any

import sqlalchemy as sa
from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from uuid_utils.compat import uuid7

from shoa_kernel.clock import utc_now


class MallOrderStatus(enum.StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    """A card order whose payment the app has not confirmed yet (결제대기)."""
    AWAITING_DEPOSIT = "awaiting_deposit"
    """A virtual-account order waiting for the deposit (입금대기)."""
    PAID = "paid"
    """결제완료 / 입금확인: the mall may accept it."""
    PREPARING = "preparing"
    """상품준비중: the mall accepted it."""
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CONFIRMED = "confirmed"
    """구매확정: by the shopper, or by the worker seven days after delivery. Nothing follows."""
    CANCELLED = "cancelled"
    RETURN_REQUESTED = "return_requested"
    RETURNED = "returned"
    """The mall received the returned items back; the refund follows at once."""
    REFUNDED = "refunded"
    EXCHANGE_REQUESTED = "exchange_requested"
    EXCHANGE_SHIPPED = "exchange_shipped"


class Actor(enum.StrEnum):
    SHOPPER = "shopper"
    MALL = "mall"
    GATEWAY = "gateway"
    """The payment gateway (a confirmed payment, a deposit)."""
    SYSTEM = "system"
    """The worker (an unpaid order's deadline, the automatic purchase confirmation)."""


class CartItem(DefaultBase):
    __tablename__ = "cart_items"
    __table_args__ = (sa.CheckConstraint("quantity BETWEEN 1 AND 99", name="quantity_range"),)

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    variant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True)
    quantity: Mapped[int] = mapped_column(sa.SmallInteger)
    unit_price: Mapped[int] = mapped_column(sa.BigInteger)
    """The price the shopper saw when they last put the line: a checkout at another price asks them first."""
    added_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )


class Order(DefaultBase):
    """One checkout: one payment, one mall-order per mall."""

    __tablename__ = "orders"
    __table_args__ = (
        sa.CheckConstraint("payment_method IN ('card', 'virtual_account')", name="payment_method_known"),
        sa.CheckConstraint("total_amount = items_amount + shipping_amount", name="total_adds_up"),
        sa.Index("ix_orders_user_id_id", "user_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    number: Mapped[str] = mapped_column(sa.String(20), unique=True)
    """What the shopper, the mall and the gateway call it (``SH20261207-000042``); the gateway's ``orderId``."""
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(sa.String(100))
    """``린넨 셔츠 원피스 외 2건``: the gateway's ``orderName`` and the messages' order summary."""
    payment_method: Mapped[str] = mapped_column(sa.String(16))
    items_amount: Mapped[int] = mapped_column(sa.BigInteger)
    shipping_amount: Mapped[int] = mapped_column(sa.BigInteger)
    total_amount: Mapped[int] = mapped_column(sa.BigInteger)
    address: Mapped[dict[str, str]] = mapped_column(JSONB)
    """``{postcode, road_address, detail, recipient, phone}``."""
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )


class MallOrder(DefaultBase):
    """One mall's part of an order, fulfilled by that mall."""

    __tablename__ = "mall_orders"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('awaiting_payment', 'awaiting_deposit', 'paid', 'preparing', 'shipped', 'delivered', "
            "'confirmed', 'cancelled', 'return_requested', 'returned', 'refunded', 'exchange_requested', "
            "'exchange_shipped')",
            name="status_known",
        ),
        sa.CheckConstraint("refunded_amount BETWEEN 0 AND items_amount + shipping_fee", name="refund_bounded"),
        # A mall lists its mall-orders by status, in creation order.
        sa.Index("ix_mall_orders_mall_id_status_id", "mall_id", "status", "id"),
        sa.Index("ix_mall_orders_mall_id_id", "mall_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    order_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    mall_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("malls.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(sa.String(20))
    items_amount: Mapped[int] = mapped_column(sa.BigInteger)
    shipping_fee: Mapped[int] = mapped_column(sa.BigInteger)
    refunded_amount: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")
    carrier: Mapped[str | None] = mapped_column(sa.String(20))
    """A code of :data:`orders.carriers.CARRIERS` (``cj``, ``hanjin`` …)."""
    tracking_number: Mapped[str | None] = mapped_column(sa.String(30))
    delivered_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )
    updated_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, onupdate=utc_now, server_default=sa.func.now()
    )


class OrderLine(DefaultBase):
    """A variant bought, as it was at checkout (name, options and price are copied: the catalog moves on)."""

    __tablename__ = "order_lines"
    __table_args__ = (
        sa.CheckConstraint("quantity BETWEEN 1 AND 99", name="quantity_range"),
        sa.CheckConstraint("unit_price > 0", name="unit_price_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    mall_order_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("mall_orders.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("variants.id", ondelete="RESTRICT"))
    product_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    product_name: Mapped[str] = mapped_column(sa.String(200))
    sku: Mapped[str] = mapped_column(sa.String(64))
    options: Mapped[str] = mapped_column(sa.String(100), server_default="")
    """``블랙 / M``, as the shopper chose it."""
    unit_price: Mapped[int] = mapped_column(sa.BigInteger)
    quantity: Mapped[int] = mapped_column(sa.SmallInteger)


class Transition(DefaultBase):
    """Every state a mall-order went through: when, from what, by whom, why."""

    __tablename__ = "order_transitions"

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    mall_order_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("mall_orders.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str] = mapped_column(sa.String(20))
    actor: Mapped[str] = mapped_column(sa.String(8))
    reason: Mapped[str] = mapped_column(sa.String(500), server_default="")
    at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )


class Payment(DefaultBase):
    """The order's payment at its gateway."""

    __tablename__ = "order_payments"
    __table_args__ = (sa.UniqueConstraint("gateway", "payment_key"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    order_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    gateway: Mapped[str] = mapped_column(sa.String(16))
    method: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(20))
    """The gateway's status (``READY``, ``WAITING_FOR_DEPOSIT``, ``DONE``, ``CANCELED`` …)."""
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    balance_amount: Mapped[int] = mapped_column(sa.BigInteger)
    payment_key: Mapped[str | None] = mapped_column(sa.String(200))
    secret: Mapped[str | None] = mapped_column(sa.String(100))
    """A virtual account's webhook secret: a deposit callback without it is not believed."""
    bank: Mapped[str | None] = mapped_column(sa.String(30))
    account_number: Mapped[str | None] = mapped_column(sa.String(30))
    account_holder: Mapped[str | None] = mapped_column(sa.String(60))
    due_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    approved_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    refund_account: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    """Virtual accounts: ``{bank, account_number, holder}``, where refunds of the deposit go."""
    amount_mismatch: Mapped[int | None] = mapped_column(sa.BigInteger)
    """What the gateway said was paid when it did not match the order: flagged for an operator, never paid."""
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )
    updated_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, onupdate=utc_now, server_default=sa.func.now()
    )


class PaymentEvent(DefaultBase):
    """A gateway transaction applied to a payment (a deposit, a cancel): a webhook delivered twice is applied
    once, on its transaction key."""

    __tablename__ = "order_payment_events"
    __table_args__ = (sa.UniqueConstraint("payment_id", "transaction_key"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    payment_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("order_payments.id", ondelete="CASCADE"))
    transaction_key: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(20))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    detail: Mapped[str] = mapped_column(sa.String(500), server_default="")
    at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )


class AfterSale(DefaultBase):
    """A return or an exchange a shopper asked for, with the lines and quantities it covers."""

    __tablename__ = "order_after_sales"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('return', 'exchange')", name="kind_known"),
        sa.CheckConstraint("status IN ('requested', 'received', 'refunded', 'shipped')", name="status_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    mall_order_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("mall_orders.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(8))
    status: Mapped[str] = mapped_column(sa.String(10))
    reason: Mapped[str] = mapped_column(sa.String(500))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    """``[{line_id, quantity, variant_id?}]``: ``variant_id`` is the exchange's new size or colour."""
    refund_amount: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )


class CheckoutKey(DefaultBase):
    """A checkout's ``Idempotency-Key``: the same key and body give the same order back for 24 hours."""

    __tablename__ = "order_checkout_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    order_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("orders.id", ondelete="CASCADE"))
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now(), index=True
    )


class SandboxPayment(DefaultBase):
    """The sandbox gateway's own book (the default in ``make run``): what Toss would hold for a payment."""

    __tablename__ = "order_sandbox_payments"

    payment_key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    order_id: Mapped[str] = mapped_column(sa.String(20), unique=True)
    payment: Mapped[dict[str, Any]] = mapped_column(JSONB)
    """The payment object as the gateway would answer it."""
    idempotency: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=sa.text("'{}'::jsonb"))
    """The keys of the calls made on it, with the answers given."""
