"""What orders hand across their boundary: requests the API decodes, answers it encodes (msgspec structs)."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Literal

import msgspec

from orders.carriers import CarrierCode
from orders.payments.toss import BANK_LABELS

Quantity = Annotated[int, msgspec.Meta(ge=1, le=99)]
Won = Annotated[int, msgspec.Meta(gt=0, le=1_000_000_000)]
PaymentMethodName = Literal["card", "virtual_account"]
MallOrderStatusName = Literal[
    "awaiting_payment", "awaiting_deposit", "paid", "preparing", "shipped", "delivered", "confirmed", "cancelled",
    "return_requested", "returned", "refunded", "exchange_requested", "exchange_shipped",
]  # fmt: skip
LineProblem = Literal["price_changed", "out_of_stock", "not_enough_stock", "not_for_sale", "unknown_variant"]


# --- Cart -----------------------------------------------------------------------------------------------------


class CartItemIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    quantity: Quantity


class CartLine(msgspec.Struct, kw_only=True):
    variant_id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    image_url: str | None
    options: str
    """``블랙 / M``."""
    quantity: int
    unit_price: int
    """What one costs today (the sale price when there is one)."""
    line_amount: int
    problem: LineProblem | None
    """Why the line cannot be ordered as it is: the price changed since it was put in the cart (put it again to
    accept the new price), its stock ran out or is below the quantity, or the product is no longer sold."""
    price_when_added: int
    stock_left: int | None = None
    """When stock is short: how many are left."""


class CartMall(msgspec.Struct, kw_only=True):
    mall_id: uuid.UUID
    mall_name: str
    lines: list[CartLine]
    items_amount: int
    shipping_fee: int
    """This mall's fee for this cart: 0 once ``items_amount`` reaches the threshold."""
    free_shipping_threshold: int | None
    left_for_free_shipping: int | None
    """How many more won of this mall's items make shipping free; None when it is free or never is."""


class Cart(msgspec.Struct, kw_only=True):
    malls: list[CartMall]
    items_amount: int
    shipping_amount: int
    total_amount: int
    orderable: bool
    """True when every line can be ordered as it is."""


# --- Checkout -------------------------------------------------------------------------------------------------


class AddressIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A Korean delivery address, as the postcode search (도로명주소) gives it."""

    postcode: Annotated[str, msgspec.Meta(pattern=r"^\d{5}$", description="5-digit 우편번호")]
    road_address: Annotated[str, msgspec.Meta(min_length=5, max_length=200, examples=["서울특별시 마포구 양화로 45"])]
    detail: Annotated[str, msgspec.Meta(max_length=100, examples=["101동 1203호"])] = ""
    recipient: Annotated[str, msgspec.Meta(min_length=1, max_length=50, examples=["김하루"])]
    phone: Annotated[str, msgspec.Meta(min_length=9, max_length=20, examples=["010-1234-5678"])]


class RefundAccountIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The shopper's own bank account, where a deposit goes back if the order is cancelled or returned."""

    bank: Annotated[
        str, msgspec.Meta(min_length=2, max_length=20, examples=["신한은행"], extra_json_schema={"enum": BANK_LABELS})
    ]
    """A bank Toss knows, by name (``신한은행``), short name (``신한``) or code (``88``)."""
    account_number: Annotated[str, msgspec.Meta(pattern=r"^[0-9-]{6,20}$", examples=["110-123-456789"])]
    holder: Annotated[str, msgspec.Meta(min_length=1, max_length=30, examples=["김민지"])]


class CheckoutLineIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    variant_id: uuid.UUID
    quantity: Quantity
    unit_price: Won | None = None
    """The price the app showed; when given and the price is another now, the checkout is refused (409)."""


class CheckoutIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    address: AddressIn
    payment_method: PaymentMethodName
    lines: Annotated[list[CheckoutLineIn], msgspec.Meta(min_length=1)] | None = None
    """Explicit lines (a "buy now"); without them, the whole cart is ordered at the prices it was put at."""
    depositor_name: Annotated[str, msgspec.Meta(min_length=1, max_length=30)] | None = None
    """Virtual accounts: the name the deposit will come from (the recipient's by default)."""
    bank: Annotated[str, msgspec.Meta(min_length=2, max_length=20)] | None = None
    """Virtual accounts: the bank to open it at (a name, ``신한은행``, or Toss's code)."""
    refund_account: RefundAccountIn | None = None
    """Virtual accounts (required there): the shopper's own account, where a deposit goes back on a cancel or a
    return."""


class VirtualAccountOut(msgspec.Struct, kw_only=True):
    bank: str
    account_number: str
    holder: str
    amount: int
    due_at: datetime.datetime


class PaymentOut(msgspec.Struct, kw_only=True):
    method: PaymentMethodName
    gateway: str
    status: str
    amount: int
    refunded_amount: int
    gateway_order_id: str
    """``orderId`` for the gateway's payment window (card payments)."""
    order_name: str
    virtual_account: VirtualAccountOut | None = None
    approved_at: datetime.datetime | None = None
    amount_mismatch: int | None = None


class OrderLineOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    variant_id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    sku: str
    options: str
    unit_price: int
    quantity: int


class TransitionOut(msgspec.Struct, kw_only=True):
    from_status: str | None
    to_status: str
    actor: str
    at: datetime.datetime
    reason: str = ""


class AfterSaleOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: Literal["return", "exchange"]
    status: str
    reason: str
    lines: list[dict[str, object]]
    refund_amount: int
    created_at: datetime.datetime


class MallOrderOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    mall_id: uuid.UUID
    mall_name: str
    status: MallOrderStatusName
    items_amount: int
    shipping_fee: int
    refunded_amount: int
    lines: list[OrderLineOut]
    carrier: str | None
    carrier_name: str | None
    tracking_number: str | None
    tracking_url: str | None
    delivered_at: datetime.datetime | None
    timeline: list[TransitionOut]
    after_sales: list[AfterSaleOut]


class OrderOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    number: str
    name: str
    created_at: datetime.datetime
    items_amount: int
    shipping_amount: int
    total_amount: int
    address: dict[str, str]
    payment: PaymentOut
    mall_orders: list[MallOrderOut]


class OrderSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    number: str
    name: str
    created_at: datetime.datetime
    total_amount: int
    statuses: list[MallOrderStatusName]
    """Each mall-order's status, in the order's mall order."""


class OrderPage(msgspec.Struct, kw_only=True):
    items: list[OrderSummary]
    next_cursor: str | None


# --- Shopper actions ------------------------------------------------------------------------------------------


class PaymentConfirmIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What the gateway's payment window handed the app (Toss: ``paymentKey``, ``orderId``, ``amount``)."""

    payment_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    amount: Won


class CancelIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)] = "단순 변심"
    mall_order_id: uuid.UUID | None = None
    """One mall's part only; the whole order when absent."""


class AfterSaleLineIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    line_id: uuid.UUID
    quantity: Quantity
    variant_id: uuid.UUID | None = None
    """Exchanges: the other size or colour of the same product."""


class AfterSaleIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    mall_order_id: uuid.UUID
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    lines: Annotated[list[AfterSaleLineIn], msgspec.Meta(min_length=1, max_length=50)]


class ExchangeLineIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    line_id: uuid.UUID
    quantity: Quantity
    variant_id: uuid.UUID
    """The other size or colour of the same product."""


class ExchangeIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A return's fields, each line naming the option it is exchanged for."""

    mall_order_id: uuid.UUID
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    lines: Annotated[list[ExchangeLineIn], msgspec.Meta(min_length=1, max_length=50)]


class ConfirmIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    mall_order_id: uuid.UUID | None = None
    """One mall's part only; every delivered part when absent."""


# --- Partner --------------------------------------------------------------------------------------------------


class PartnerOrderLine(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    sku: str
    product_name: str
    options: str
    unit_price: int
    quantity: int


class PartnerMallOrder(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    order_number: str
    status: MallOrderStatusName
    created_at: datetime.datetime
    items_amount: int
    shipping_fee: int
    refunded_amount: int
    lines: list[PartnerOrderLine]
    address: dict[str, str]
    """Where to ship: ``{postcode, road_address, detail, recipient, phone}``."""
    carrier: str | None
    tracking_number: str | None
    after_sales: list[AfterSaleOut]


class PartnerMallOrderPage(msgspec.Struct, kw_only=True):
    items: list[PartnerMallOrder]
    next_cursor: str | None


class ShipIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    carrier: Annotated[CarrierCode, msgspec.Meta(examples=["cj"])]
    """``cj`` CJ대한통운, ``hanjin`` 한진택배, ``lotte`` 롯데택배, ``epost`` 우체국택배, ``logen`` 로젠택배 …"""
    tracking_number: Annotated[str, msgspec.Meta(min_length=6, max_length=30, examples=["640123456789"])]


class PartnerCancelIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500, examples=["품절"])]


class ShippingPolicyIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    shipping_fee: Annotated[int, msgspec.Meta(ge=0, le=100_000)]
    free_shipping_threshold: Annotated[int, msgspec.Meta(gt=0, le=10_000_000)] | None


class ShippingPolicyOut(msgspec.Struct, kw_only=True):
    shipping_fee: int
    free_shipping_threshold: int | None
