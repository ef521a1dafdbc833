"""The partner API's order side: a mall sees and moves only its own mall-orders, and sets its shipping fee."""

from __future__ import annotations

import uuid
from typing import Annotated

import sqlalchemy as sa
from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.keys import PartnerIdentity
from catalog.models import Mall
from orders import service, views
from orders.errors import (
    IllegalTransitionError,
    InvalidCursorError,
    InvalidTrackingNumberError,
    OrderNotFoundError,
)
from orders.models import Actor
from orders.schemas import (
    MallOrderStatusName,
    PartnerCancelIn,
    PartnerMallOrder,
    PartnerMallOrderPage,
    ShipIn,
    ShippingPolicyIn,
    ShippingPolicyOut,
)
from shoa_api.auth import require_partner_key
from shoa_api.openapi import problems
from shoa_api.pagination import Cursor, Limit
from shoa_api.wiring import OrderKit

_NOT_FOUND = OrderNotFoundError("your mall has no order with this id")
_ILLEGAL = IllegalTransitionError(
    "this part of the order is awaiting_deposit; it cannot become preparing",
    current="awaiting_deposit",
    requested="preparing",
)
StatusFilter = Annotated[MallOrderStatusName | None, QueryParameter(description="Only mall-orders in this state")]


class PartnerOrderController(Controller):
    path = "/partner/v1"
    tags = ["partner"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [require_partner_key]  # noqa: RUF012

    @get(
        "/orders",
        operation_id="partner_list_orders",
        summary="My mall's orders, oldest first, with the items and the address to ship to",
        opt={"scope": "orders:read"},
        responses=problems(InvalidCursorError("cursor is not one this API gave out; start again without it")),
    )
    async def list_orders(
        self,
        db_read: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        status: StatusFilter = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> PartnerMallOrderPage:
        return await views.partner_orders(db_read, mall_id=partner.mall_id, status=status, cursor=cursor, limit=limit)

    @post(
        "/orders/{mall_order_id:uuid}/accept",
        operation_id="partner_accept_order",
        summary="Accept a paid order (상품준비중)",
        opt={"scope": "orders:write"},
        status_code=HTTP_200_OK,
        responses=problems(_NOT_FOUND, _ILLEGAL),
    )
    async def accept(
        self,
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        orders: NamedDependency[OrderKit],
        mall_order_id: FromPath[uuid.UUID],
    ) -> PartnerMallOrder:
        await service.accept(db, orders.context(), mall_id=partner.mall_id, mall_order_id=mall_order_id)
        return await _committed(db, partner.mall_id, mall_order_id)

    @post(
        "/orders/{mall_order_id:uuid}/ship",
        operation_id="partner_ship_order",
        summary="Ship it (or an exchange's new item): carrier and tracking number; the shopper gets them",
        opt={"scope": "orders:write"},
        status_code=HTTP_200_OK,
        responses=problems(
            _NOT_FOUND, _ILLEGAL, InvalidTrackingNumberError("a CJ대한통운 tracking number has 10 or 12 digits")
        ),
    )
    async def ship(
        self,
        data: JSONBody[ShipIn],
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        orders: NamedDependency[OrderKit],
        mall_order_id: FromPath[uuid.UUID],
    ) -> PartnerMallOrder:
        await service.ship(db, orders.context(), mall_id=partner.mall_id, mall_order_id=mall_order_id, body=data)
        return await _committed(db, partner.mall_id, mall_order_id)

    @post(
        "/orders/{mall_order_id:uuid}/deliver",
        operation_id="partner_deliver_order",
        summary="Mark it delivered (배송완료)",
        opt={"scope": "orders:write"},
        status_code=HTTP_200_OK,
        responses=problems(_NOT_FOUND, _ILLEGAL),
    )
    async def deliver(
        self,
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        orders: NamedDependency[OrderKit],
        mall_order_id: FromPath[uuid.UUID],
    ) -> PartnerMallOrder:
        await service.deliver(db, orders.context(), mall_id=partner.mall_id, mall_order_id=mall_order_id)
        return await _committed(db, partner.mall_id, mall_order_id)

    @post(
        "/orders/{mall_order_id:uuid}/cancel",
        operation_id="partner_cancel_order",
        summary="Cancel it before shipping (out of stock, say): stock restored, the shopper refunded and told",
        opt={"scope": "orders:write"},
        status_code=HTTP_200_OK,
        responses=problems(_NOT_FOUND, _ILLEGAL),
    )
    async def cancel(
        self,
        data: JSONBody[PartnerCancelIn],
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        orders: NamedDependency[OrderKit],
        mall_order_id: FromPath[uuid.UUID],
    ) -> PartnerMallOrder:
        await service.cancel(db, orders.context(), order_id=mall_order_id, user_id=None, mall_order_id=mall_order_id,
                             reason=data.reason, actor=Actor.MALL, mall_id=partner.mall_id)  # fmt: skip
        return await _committed(db, partner.mall_id, mall_order_id)

    @post(
        "/orders/{mall_order_id:uuid}/returns/{return_id:uuid}/receive",
        operation_id="partner_receive_return",
        summary="The returned items arrived: the shopper is refunded what they returned",
        opt={"scope": "orders:write"},
        status_code=HTTP_200_OK,
        responses=problems(_NOT_FOUND, _ILLEGAL),
    )
    async def receive_return(
        self,
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        orders: NamedDependency[OrderKit],
        mall_order_id: FromPath[uuid.UUID],
        return_id: FromPath[uuid.UUID],
    ) -> PartnerMallOrder:
        await service.receive_return(db, orders.context(), mall_id=partner.mall_id, mall_order_id=mall_order_id,
                                     return_id=return_id)  # fmt: skip
        return await _committed(db, partner.mall_id, mall_order_id)

    @get(
        "/mall/shipping",
        operation_id="partner_get_shipping_policy",
        summary="My mall's shipping fee and free-shipping threshold",
    )
    async def get_shipping(
        self, db_read: NamedDependency[AsyncSession], partner: NamedDependency[PartnerIdentity]
    ) -> ShippingPolicyOut:
        mall = await db_read.get_one(Mall, partner.mall_id)
        return ShippingPolicyOut(shipping_fee=mall.shipping_fee, free_shipping_threshold=mall.free_shipping_threshold)

    @put(
        "/mall/shipping",
        operation_id="partner_set_shipping_policy",
        summary="Set my mall's shipping fee and free-shipping threshold (null: never free); new carts follow",
        opt={"scope": "catalog:write"},
    )
    async def set_shipping(
        self,
        data: JSONBody[ShippingPolicyIn],
        db: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
    ) -> ShippingPolicyOut:
        await db.execute(
            sa.update(Mall)
            .where(Mall.id == partner.mall_id)
            .values(shipping_fee=data.shipping_fee, free_shipping_threshold=data.free_shipping_threshold)
        )
        await db.commit()
        return ShippingPolicyOut(shipping_fee=data.shipping_fee, free_shipping_threshold=data.free_shipping_threshold)


async def _committed(db: AsyncSession, mall_id: uuid.UUID, mall_order_id: uuid.UUID) -> PartnerMallOrder:
    await db.commit()
    page = await views.partner_orders(db, mall_id=mall_id, status=None, cursor=None, limit=1, only=mall_order_id)
    return page.items[0]
