"""The shopper's cart and orders: checkout, card confirmation, cancels, returns, exchanges, purchase confirmation;
the payment gateway's webhook; and, in development, the sandbox gateway's payment window and depositor."""

from __future__ import annotations

import re
import uuid
from http import HTTPStatus
from typing import Annotated, Any

import sqlalchemy as sa
from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.service import shopper_segment
from accounts.tokens import AccessClaims
from orders import cart, checkout, service, views
from orders.errors import (
    CartLineError,
    CheckoutConflictError,
    EmptyCartError,
    IdempotencyKeyReusedError,
    IllegalTransitionError,
    InvalidCursorError,
    MalformedWebhookError,
    OrderError,
    OrderNotFoundError,
    OrderStateError,
    PaymentDeclinedError,
    PaymentGatewayDownError,
    PaymentMismatchError,
    ProductOptionNotFoundError,
    UnpaidLimitError,
    WebhookNotTrustedError,
    WrongPaymentMethodError,
)
from orders.models import Actor, MallOrder, Order, OrderLine
from orders.payments.base import DepositCallback, PaymentRefusedError
from orders.payments.sandbox import SandboxGateway
from orders.schemas import (
    AfterSaleIn,
    CancelIn,
    Cart,
    CartItemIn,
    CheckoutIn,
    ConfirmIn,
    ExchangeIn,
    OrderOut,
    OrderPage,
    PaymentConfirmIn,
)
from personalization import events
from personalization.events import Recorder
from personalization.scores import Contributor, Signal, add_signals
from shoa_api.openapi import problems
from shoa_api.pagination import Cursor, Limit
from shoa_api.wiring import OrderKit
from shoa_kernel.clock import utc_now

KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,100}")
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=True,
        schema_extra={"pattern": f"^{KEY_PATTERN.pattern}$"},
        description="Required. One per checkout the shopper means (a UUID, 1 to 100 visible ASCII characters): the "
        "same key and body give the same order back for 24 hours; the same key with another body is refused (409).",
    ),
]
_NOT_FOUND = OrderNotFoundError("you have no order with this id")
_ILLEGAL = IllegalTransitionError(
    "this part of the order is shipped; it cannot become cancelled", current="shipped", requested="cancelled"
)


class CartController(Controller):
    path = "/v1/cart"
    tags = ["orders"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(operation_id="get_cart", summary="My cart, per mall, with shipping fees and what stops a line")
    async def get_cart(self, db: NamedDependency[AsyncSession], shopper: NamedDependency[AccessClaims]) -> Cart:
        return await cart.get_cart(db, shopper.user_id)

    @put(
        "/items/{variant_id:uuid}",
        operation_id="put_cart_item",
        summary="Put a product option in my cart, or change its quantity (at today's price)",
        responses=problems(
            CartLineError("this product is not for sale now", field="variant_id"),
            ProductOptionNotFoundError("no product option has this id", field="variant_id"),
        ),
    )
    async def put_item(
        self,
        data: JSONBody[CartItemIn],
        db: NamedDependency[AsyncSession],
        shopper: NamedDependency[AccessClaims],
        variant_id: FromPath[uuid.UUID],
    ) -> Cart:
        return await cart.put_item(db, shopper.user_id, variant_id, data.quantity)

    @delete(
        "/items/{variant_id:uuid}",
        operation_id="delete_cart_item",
        summary="Take a line out of my cart",
        status_code=HTTP_200_OK,
    )
    async def delete_item(
        self, db: NamedDependency[AsyncSession], shopper: NamedDependency[AccessClaims], variant_id: FromPath[uuid.UUID]
    ) -> Cart:
        return await cart.delete_item(db, shopper.user_id, variant_id)


class OrderController(Controller):
    path = "/v1/orders"
    tags = ["orders"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post(
        operation_id="checkout",
        summary="Check out: one order over every mall, the stock reserved, paid by card or virtual account",
        description='Orders the cart (or `lines`, for a "buy now") at the prices the shopper saw. A price that '
        "changed, stock that ran out or a product no longer for sale is a 409 naming each line, and nothing is "
        "ordered. A virtual account (`virtual_account`) is opened at once and shown in `payment.virtual_account`; "
        "a card order waits for `POST /v1/orders/{id}/payment/confirm` with what the payment window returned. "
        "201 for a new order; 200 with the same order for a repeated `Idempotency-Key` and body. One shopper holds "
        "at most 10 units of one product in orders not paid yet (`SHOA_ORDERS_UNPAID_UNITS_PER_PRODUCT`): a checkout "
        "beyond that is a 409 `unpaid-limit`.",
        status_code=HTTP_201_CREATED,
        responses=problems(
            CheckoutConflictError("nothing was ordered; …: it is sold out", lines=[]),
            IdempotencyKeyReusedError("this Idempotency-Key placed another order with another body"),
            UnpaidLimitError(
                "nothing was ordered: at most 10 of one product may wait for your payment, and 린넨 셔츠 원피스 would "
                "have 12 (8 in orders not paid yet); pay or cancel those first",
                field="lines",
            ),
            EmptyCartError("the cart is empty; put something in it, or send lines", field="lines"),
            PaymentGatewayDownError("the payment gateway did not answer; nothing was ordered, try again"),
        ),
    )
    async def checkout(
        self,
        data: JSONBody[CheckoutIn],
        db: NamedDependency[AsyncSession],
        shopper: NamedDependency[AccessClaims],
        orders: NamedDependency[OrderKit],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[OrderOut]:
        if idempotency_key is None or not KEY_PATTERN.fullmatch(idempotency_key):
            msg = "send an Idempotency-Key header (1 to 100 visible ASCII characters, a UUID say), one per checkout"
            raise OrderError(msg)
        try:
            placed = await checkout.checkout(
                db, user_id=shopper.user_id, body=data, key=idempotency_key, gateway=orders.gateway,
                messages=orders.messages, rules=orders.checkout_rules, now=utc_now(),
            )  # fmt: skip
            await db.commit()
        except checkout.KeySeenError:
            await db.rollback()
            placed = await checkout.replayed(db, user_id=shopper.user_id, key=idempotency_key, body=data)
        if placed.written is not None:
            return Response(views.written_out(placed.written), status_code=HTTP_201_CREATED)
        return Response(await views.order_out(db, placed.order_id, user_id=shopper.user_id), status_code=HTTP_200_OK)

    @get(
        operation_id="list_orders",
        summary="My orders, newest first",
        responses=problems(InvalidCursorError("cursor is not one this API gave out; start again without it")),
    )
    async def list_orders(
        self,
        db_read: NamedDependency[AsyncSession],
        shopper: NamedDependency[AccessClaims],
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> OrderPage:
        return await views.list_orders(db_read, user_id=shopper.user_id, cursor=cursor, limit=limit)

    @get(
        "/{order_id:uuid}",
        operation_id="get_order",
        summary="One of my orders: every mall's part, its state, carrier and tracking link, and its timeline",
        responses=problems(_NOT_FOUND),
    )
    async def get_order(
        self, db: NamedDependency[AsyncSession], shopper: NamedDependency[AccessClaims], order_id: FromPath[uuid.UUID]
    ) -> OrderOut:
        return await views.order_out(db, order_id, user_id=shopper.user_id)

    @post(
        "/{order_id:uuid}/payment/confirm",
        operation_id="confirm_card_payment",
        summary="Confirm a card payment with what the gateway's payment window returned",
        description="The server confirms its own order amount with the gateway; an `amount` that is not the "
        "order's is refused (409) and logged. Confirming again with the same `payment_key` answers the paid order.",
        status_code=HTTP_200_OK,
        responses=problems(
            _NOT_FOUND,
            PaymentMismatchError("the order's amount is 59,000 won, not 5,900"),
            WrongPaymentMethodError("this order is paid by deposit to its virtual account, not by card"),
            PaymentDeclinedError("the gateway refused the payment: 카드사에서 거절했습니다.",
                                 gateway_code="REJECT_CARD_COMPANY"),
            PaymentGatewayDownError("the payment gateway did not answer; confirm again"),
        ),
    )  # fmt: skip
    async def confirm_payment(
        self,
        *,
        data: JSONBody[PaymentConfirmIn],
        db: NamedDependency[AsyncSession],
        redis: NamedDependency[Redis],
        recorder: NamedDependency[Recorder],
        shopper: NamedDependency[AccessClaims],
        orders: NamedDependency[OrderKit],
        order_id: FromPath[uuid.UUID],
    ) -> OrderOut:
        await service.confirm_card_payment(db, orders.context(), user_id=shopper.user_id, order_id=order_id,
                                           payment_key=data.payment_key, amount=data.amount)  # fmt: skip
        await db.commit()
        await record_purchases(db, redis, recorder, order_id)
        return await views.order_out(db, order_id, user_id=shopper.user_id)

    @post(
        "/{order_id:uuid}/cancel",
        operation_id="cancel_order",
        summary="Cancel my order, or one mall's part of it, before it ships",
        description="Stock goes back; what was paid for the part goes back through the gateway (a partial refund "
        "for one mall's part). An order not paid yet is cancelled whole.",
        status_code=HTTP_200_OK,
        responses=problems(
            _NOT_FOUND,
            _ILLEGAL,
            OrderStateError("an order not paid yet is cancelled whole; cancel it without mall_order_id"),
        ),
    )
    async def cancel(
        self,
        data: JSONBody[CancelIn],
        db: NamedDependency[AsyncSession],
        shopper: NamedDependency[AccessClaims],
        orders: NamedDependency[OrderKit],
        order_id: FromPath[uuid.UUID],
    ) -> OrderOut:
        await service.cancel(db, orders.context(), order_id=order_id, user_id=shopper.user_id,
                             mall_order_id=data.mall_order_id, reason=data.reason, actor=Actor.SHOPPER)  # fmt: skip
        await db.commit()
        return await views.order_out(db, order_id, user_id=shopper.user_id)

    @post(
        "/{order_id:uuid}/returns",
        operation_id="request_return",
        summary="Ask to return delivered items (within 7 days), with a reason",
        status_code=HTTP_201_CREATED,
        responses=problems(_NOT_FOUND, OrderStateError("returns and exchanges are taken within 7 days of delivery")),
    )
    async def request_return(
        self,
        data: JSONBody[AfterSaleIn],
        db: NamedDependency[AsyncSession],
        shopper: NamedDependency[AccessClaims],
        orders: NamedDependency[OrderKit],
        order_id: FromPath[uuid.UUID],
    ) -> OrderOut:
        await service.request_after_sale(db, orders.context(), user_id=shopper.user_id, order_id=order_id, body=data,
                                         kind="return")  # fmt: skip
        await db.commit()
        return await views.order_out(db, order_id, user_id=shopper.user_id)

    @post(
        "/{order_id:uuid}/exchanges",
        operation_id="request_exchange",
        summary="Ask to exchange delivered items for another size or colour of the same product (within 7 days)",
        status_code=HTTP_201_CREATED,
        responses=problems(
            _NOT_FOUND, OrderStateError("not enough left of the other size to exchange; choose another")
        ),
    )
    async def request_exchange(
        self,
        data: JSONBody[ExchangeIn],
        db: NamedDependency[AsyncSession],
        shopper: NamedDependency[AccessClaims],
        orders: NamedDependency[OrderKit],
        order_id: FromPath[uuid.UUID],
    ) -> OrderOut:
        await service.request_after_sale(db, orders.context(), user_id=shopper.user_id, order_id=order_id, body=data,
                                         kind="exchange")  # fmt: skip
        await db.commit()
        return await views.order_out(db, order_id, user_id=shopper.user_id)

    @post(
        "/{order_id:uuid}/confirm",
        operation_id="confirm_purchase",
        summary="Confirm the purchase (구매확정) of delivered parts: no return or exchange after",
        status_code=HTTP_200_OK,
        responses=problems(
            _NOT_FOUND, OrderStateError("no part of this order is delivered and waiting for confirmation")
        ),
    )
    async def confirm_purchase(
        self,
        data: JSONBody[ConfirmIn],
        db: NamedDependency[AsyncSession],
        shopper: NamedDependency[AccessClaims],
        orders: NamedDependency[OrderKit],
        order_id: FromPath[uuid.UUID],
    ) -> OrderOut:
        await service.confirm_purchase(db, orders.context(), user_id=shopper.user_id, order_id=order_id,
                                       mall_order_id=data.mall_order_id)  # fmt: skip
        await db.commit()
        return await views.order_out(db, order_id, user_id=shopper.user_id)


@post(
    "/webhooks/payments/{gateway:str}",
    operation_id="receive_payment_webhook",
    summary="The payment gateway's webhooks (Toss Payments: DEPOSIT_CALLBACK, PAYMENT_STATUS_CHANGED)",
    description="Believed only when it names a payment of ours (a deposit callback also with that payment's "
    "secret), and then only as far as the payment read back from the gateway says. A webhook delivered again "
    "changes nothing and answers 200. The body described is the deposit callback; with Toss, its "
    'PAYMENT_STATUS_CHANGED (`{"eventType", "createdAt", "data": Payment}`) and a deposit callback wrapped in '
    '`{"eventType": "DEPOSIT_CALLBACK", "data": …}` are read too.',
    tags=["webhooks"],
    status_code=HTTP_200_OK,
    opt={"body": DepositCallback},
    responses=problems(
        MalformedWebhookError("not a webhook the gateway sends: Object missing required field `secret`"),
        WebhookNotTrustedError("the deposit callback's secret is not this payment's"),
        OrderNotFoundError("no payment gateway called 'kakaopay' is configured here"),
        OrderStateError("this order has no payment at the gateway yet"),
    ),
)
async def receive_payment_webhook(
    request: Request[Any, Any, Any],
    *,
    db: NamedDependency[AsyncSession],
    redis: NamedDependency[Redis],
    recorder: NamedDependency[Recorder],
    orders: NamedDependency[OrderKit],
    gateway: FromPath[str],
) -> dict[str, str]:
    if gateway != orders.gateway.name:
        raise OrderNotFoundError(f"no payment gateway called {gateway!r} is configured here")
    return await _apply_webhook(db, redis, recorder, orders, await request.body())


async def _apply_webhook(
    db: AsyncSession, redis: Redis, recorder: Recorder, orders: OrderKit, body: bytes
) -> dict[str, str]:
    applied = await service.apply_webhook(db, orders.context(), body)
    await db.commit()
    if applied.result == "paid":
        await record_purchases(db, redis, recorder, applied.order_id)
    return {"result": applied.result}


@post(
    "/dev/payments/{order_id:uuid}/card",
    operation_id="dev_authorize_card",
    summary="Development only: the sandbox's payment window — a paymentKey for the order's amount",
    tags=["development"],
    status_code=HTTP_200_OK,
    responses=problems(HTTPStatus.NOT_FOUND),
)
async def dev_authorize_card(
    db: NamedDependency[AsyncSession], orders: NamedDependency[OrderKit], order_id: FromPath[uuid.UUID]
) -> dict[str, Any]:
    order = await _sandbox_order(db, orders, order_id)
    sandbox: SandboxGateway = orders.gateway  # type: ignore[assignment]
    payment_key = await sandbox.authorize_card(order_id=order.number, order_name=order.name, amount=order.total_amount)
    return {"payment_key": payment_key, "order_id": order.number, "amount": order.total_amount}


@post(
    "/dev/payments/{order_id:uuid}/deposit",
    operation_id="dev_deposit",
    summary="Development only: the depositor pays the order's virtual account; its webhook is handled as Toss's",
    tags=["development"],
    status_code=HTTP_200_OK,
    responses=problems(HTTPStatus.NOT_FOUND),
)
async def dev_deposit(
    db: NamedDependency[AsyncSession],
    redis: NamedDependency[Redis],
    recorder: NamedDependency[Recorder],
    orders: NamedDependency[OrderKit],
    order_id: FromPath[uuid.UUID],
) -> dict[str, str]:
    order = await _sandbox_order(db, orders, order_id)
    sandbox: SandboxGateway = orders.gateway  # type: ignore[assignment]
    try:
        callback = await sandbox.deposit(order.number)
    except PaymentRefusedError as exc:
        raise OrderError(f"nothing to deposit into: {exc.message}") from None
    return await _apply_webhook(db, redis, recorder, orders, callback)


async def _sandbox_order(db: AsyncSession, orders: OrderKit, order_id: uuid.UUID) -> Order:
    if not isinstance(orders.gateway, SandboxGateway):
        raise OrderNotFoundError("the sandbox gateway is not the one configured here")
    order = await db.get(Order, order_id)
    if order is None:
        raise OrderNotFoundError("no order has this id")
    return order


async def record_purchases(db: AsyncSession, redis: Redis, recorder: Recorder, order_id: uuid.UUID) -> None:
    """A paid order's products count as purchases for the shopper's segment (the server's own signal: the events
    API refuses purchases sent by apps). Counted once per order and product."""
    order = await db.get(Order, order_id)
    if order is None:
        return
    product_ids = set(
        await db.scalars(
            sa.select(OrderLine.product_id)
            .join(MallOrder, MallOrder.id == OrderLine.mall_order_id)
            .where(MallOrder.order_id == order_id)
        )
    )
    now = utc_now()
    segment = await shopper_segment(db, order.user_id, now=now)
    weight = recorder.weights["purchase"]
    await add_signals(
        redis,
        recorder.decay,
        [Signal(segment, product_id, weight, now.timestamp()) for product_id in product_ids],
        now=now.timestamp(),
        once_keys=[f"shoa:purchase:{order_id}:{product_id}" for product_id in product_ids],
        once_seconds=events.DEDUPLICATION_SECONDS,
        contributor=Contributor.buyer(order.user_id),
    )
