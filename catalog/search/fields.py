"""The search fields a product carries besides what the mall sent.

The sync computes them from each item it writes (``catalog.sync._derived_values``); edits that change variants
in place recompute prices and stock here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from catalog.models import Product, ProductStatus, Variant

if TYPE_CHECKING:
    import uuid
    from collections.abc import Collection

    from sqlalchemy.ext.asyncio import AsyncSession


async def refresh_stock_and_prices(session: AsyncSession, product_ids: Collection[uuid.UUID]) -> None:
    """Recompute prices and stock of products whose variants or status changed in place (partner edits, orders).

    ``in_stock`` means the product can be bought: it is on sale and a variant has stock. A mall that marks a
    product ``sold_out`` is believed over its stock counts, in search, the feed and on the product page alike.
    """
    totals = (
        sa.select(
            Variant.product_id,
            sa.func.min(Variant.price).label("price_min"),
            sa.func.min(sa.func.coalesce(Variant.sale_price, Variant.price)).label("price_from"),
            sa.func.bool_or(Variant.stock > 0).label("in_stock"),
        )
        .where(Variant.product_id.in_(list(product_ids)))
        .group_by(Variant.product_id)
        .subquery()
    )
    await session.execute(
        sa.update(Product)
        .where(Product.id == totals.c.product_id)
        .values(
            price_min=totals.c.price_min,
            price_from=totals.c.price_from,
            in_stock=sa.and_(totals.c.in_stock, Product.status == ProductStatus.ON_SALE.value),
        )
        .execution_options(synchronize_session=False)
    )
