"""Stock taken at checkout and given back on a cancel, on ``catalog.Variant`` itself, in the caller's transaction.

A checkout locks its variants in id order (``SELECT … ORDER BY id FOR UPDATE``), so two checkouts sharing
variants queue on them instead of deadlocking, then takes each line with ``stock = stock - n`` under the CHECK
``stock >= 0``: whoever comes second sees what the first left. A product whose last unit went (or came back)
has its ``in_stock`` and its search document refreshed in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from catalog.models import Mall, MallStatus, Product, ProductStatus, SearchOutbox, Variant
from catalog.search.fields import refresh_stock_and_prices

if TYPE_CHECKING:
    import uuid
    from collections.abc import Collection, Mapping

    from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, kw_only=True)
class StockedVariant:
    """A variant as a checkout sees it once locked."""

    id: uuid.UUID
    product_id: uuid.UUID
    mall_id: uuid.UUID
    sku: str
    product_name: str
    options: str
    unit_price: int
    stock: int
    for_sale: bool
    """The product is on sale and its mall listed."""
    mall_name: str
    shipping_fee: int
    free_shipping_threshold: int | None
    image_url: str | None


def options_text(color: str | None, size: str | None, options: Mapping[str, str]) -> str:
    parts = [part for part in (color, size) if part] or list(options.values())
    return " / ".join(parts)[:100]


async def variants(session: AsyncSession, ids: Collection[uuid.UUID], *, lock: bool) -> dict[uuid.UUID, StockedVariant]:
    """The variants ``ids`` with their product and mall; locked in id order until the transaction ends when
    ``lock`` (only the variant rows are locked)."""
    if not ids:
        return {}
    query = (
        sa.select(Variant, Product.name, Product.status, Product.image_urls, Mall.name, Mall.status,
                  Mall.shipping_fee, Mall.free_shipping_threshold)
        .join(Product, Product.id == Variant.product_id)
        .join(Mall, Mall.id == Variant.mall_id)
        .where(Variant.id.in_(list(ids)))
        .order_by(Variant.id)
    )  # fmt: skip
    if lock:
        query = query.with_for_update(of=Variant)
    found: dict[uuid.UUID, StockedVariant] = {}
    for variant, name, status, images, mall_name, mall_status, fee, threshold in await session.execute(query):
        found[variant.id] = StockedVariant(
            id=variant.id,
            product_id=variant.product_id,
            mall_id=variant.mall_id,
            sku=variant.sku,
            product_name=name,
            options=options_text(variant.color, variant.size, variant.options),
            unit_price=variant.sale_price or variant.price,
            stock=variant.stock,
            for_sale=status == ProductStatus.ON_SALE.value and mall_status == MallStatus.ACTIVE.value,
            mall_name=mall_name,
            shipping_fee=fee,
            free_shipping_threshold=threshold,
            image_url=images[0] if images else None,
        )
    return found


async def take(session: AsyncSession, quantities: Mapping[uuid.UUID, int]) -> None:
    """Take ``quantities`` off the (locked, checked) variants' stock."""
    await _move(session, quantities, sign=-1)


async def give_back(session: AsyncSession, quantities: Mapping[uuid.UUID, int]) -> None:
    """Return ``quantities`` to the variants' stock (a cancel, an unpaid order's deadline), the variants locked in id
    order first, as a checkout locks them: the update alone locks them in the order its plan reads them (the order
    lines' order, on a large catalog), and a cancel holding one of two variants a checkout wants while waiting for
    the other would deadlock with it."""
    if quantities:
        await session.execute(
            sa.select(Variant.id).where(Variant.id.in_(list(quantities))).order_by(Variant.id).with_for_update()
        )
    await _move(session, quantities, sign=1)


async def _move(session: AsyncSession, quantities: Mapping[uuid.UUID, int], *, sign: int) -> None:
    """Add each quantity (times ``sign``) to its variant's stock, then refresh the products whose stock crossed zero
    (emptied by a take, refilled by a give-back)."""
    if not quantities:
        return
    rows = sa.values(sa.column("id", sa.Uuid), sa.column("quantity", sa.Integer), name="moved").data(
        list(quantities.items())
    )
    crossed_zero = Variant.stock == 0 if sign < 0 else Variant.stock == rows.c.quantity
    crossed = await session.scalars(
        sa.update(Variant)
        .where(Variant.id == rows.c.id)
        .values(stock=Variant.stock + sign * rows.c.quantity)
        .returning(sa.case((crossed_zero, Variant.product_id), else_=None))
    )
    await _refresh({product_id for product_id in crossed if product_id is not None}, session)


async def _refresh(product_ids: set[uuid.UUID], session: AsyncSession) -> None:
    """Products whose stock crossed zero: their ``in_stock`` and their search documents follow."""
    if not product_ids:
        return
    await refresh_stock_and_prices(session, product_ids)
    await session.execute(sa.insert(SearchOutbox), [{"product_id": pid, "action": "upsert"} for pid in product_ids])
