"""The shopper's one cart across malls: lines grouped per mall with each mall's shipping fee, today's prices, and
what stops a line from being ordered as it is."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from orders import stock
from orders.errors import CartLineError, ProductOptionNotFoundError
from orders.models import CartItem
from orders.schemas import Cart, CartLine, CartMall
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from orders.schemas import LineProblem

MAX_LINES = 50
"""Lines one cart holds."""


def shipping_fee(items_amount: int, *, fee: int, threshold: int | None) -> int:
    """A mall's fee for ``items_amount`` won of its items in one order."""
    if items_amount == 0 or (threshold is not None and items_amount >= threshold):
        return 0
    return fee


def line_problem(variant: stock.StockedVariant | None, quantity: int, *, seen_price: int | None) -> LineProblem | None:
    if variant is None:
        return "unknown_variant"
    if not variant.for_sale:
        return "not_for_sale"
    if variant.stock == 0:
        return "out_of_stock"
    if variant.stock < quantity:
        return "not_enough_stock"
    if seen_price is not None and seen_price != variant.unit_price:
        return "price_changed"
    return None


async def get_cart(session: AsyncSession, user_id: uuid.UUID) -> Cart:
    items = list(
        await session.scalars(sa.select(CartItem).where(CartItem.user_id == user_id).order_by(CartItem.added_at))
    )
    found = await stock.variants(session, [item.variant_id for item in items], lock=False)
    by_mall: dict[uuid.UUID, CartMall] = {}
    for item in items:
        variant = found.get(item.variant_id)
        if variant is None:  # the mall deleted it: the line goes
            continue
        problem = line_problem(variant, item.quantity, seen_price=item.unit_price)
        line = CartLine(
            variant_id=variant.id,
            product_id=variant.product_id,
            product_name=variant.product_name,
            image_url=variant.image_url,
            options=variant.options,
            quantity=item.quantity,
            unit_price=variant.unit_price,
            line_amount=variant.unit_price * item.quantity,
            problem=problem,
            price_when_added=item.unit_price,
            stock_left=variant.stock if problem in {"out_of_stock", "not_enough_stock"} else None,
        )
        mall = by_mall.get(variant.mall_id)
        if mall is None:
            mall = by_mall[variant.mall_id] = CartMall(
                mall_id=variant.mall_id, mall_name=variant.mall_name, lines=[], items_amount=0, shipping_fee=0,
                free_shipping_threshold=variant.free_shipping_threshold, left_for_free_shipping=None,
            )  # fmt: skip
            mall.shipping_fee = variant.shipping_fee  # the mall's base fee, until its amount is known
        mall.lines.append(line)
    for mall in by_mall.values():
        base_fee = mall.shipping_fee
        mall.items_amount = sum(line.line_amount for line in mall.lines if line.problem is None)
        mall.shipping_fee = shipping_fee(mall.items_amount, fee=base_fee, threshold=mall.free_shipping_threshold)
        if mall.shipping_fee and mall.free_shipping_threshold is not None:
            mall.left_for_free_shipping = mall.free_shipping_threshold - mall.items_amount
    malls = list(by_mall.values())
    items_amount = sum(mall.items_amount for mall in malls)
    shipping_amount = sum(mall.shipping_fee for mall in malls)
    return Cart(
        malls=malls,
        items_amount=items_amount,
        shipping_amount=shipping_amount,
        total_amount=items_amount + shipping_amount,
        orderable=bool(malls) and all(line.problem is None for mall in malls for line in mall.lines),
    )


async def put_item(session: AsyncSession, user_id: uuid.UUID, variant_id: uuid.UUID, quantity: int) -> Cart:
    """Set a line's quantity at today's price (adding it when new); refused for a variant that cannot be bought
    at all. A quantity above the stock is kept, flagged, so the shopper sees how many are left."""
    found = (await stock.variants(session, [variant_id], lock=False)).get(variant_id)
    if found is None:
        raise ProductOptionNotFoundError("no product option has this id", field="variant_id")
    if not found.for_sale:
        raise CartLineError("this product is not for sale now", field="variant_id")
    count = await session.scalar(
        sa.select(sa.func.count()).where(CartItem.user_id == user_id, CartItem.variant_id != variant_id)
    )
    if (count or 0) >= MAX_LINES:
        raise CartLineError(f"a cart holds at most {MAX_LINES} lines; order or remove some first")
    await session.execute(
        insert(CartItem)
        .values(user_id=user_id, variant_id=variant_id, quantity=quantity, unit_price=found.unit_price,
                added_at=utc_now())
        .on_conflict_do_update(
            index_elements=[CartItem.user_id, CartItem.variant_id],
            set_={"quantity": quantity, "unit_price": found.unit_price},
        )
    )  # fmt: skip
    return await get_cart(session, user_id)


async def delete_item(session: AsyncSession, user_id: uuid.UUID, variant_id: uuid.UUID) -> Cart:
    """Remove a line; removing one that is not there changes nothing."""
    await session.execute(sa.delete(CartItem).where(CartItem.user_id == user_id, CartItem.variant_id == variant_id))
    return await get_cart(session, user_id)
