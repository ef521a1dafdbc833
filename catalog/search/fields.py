"""The search fields a product carries besides what the mall sent: computed whenever it is written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from catalog.models import Product, Variant
from catalog.search.text import index_terms

if TYPE_CHECKING:
    import uuid
    from collections.abc import Collection

    from sqlalchemy.ext.asyncio import AsyncSession

    from catalog.schemas import ProductIn


def derived_fields(item: ProductIn) -> dict[str, Any]:
    """``search_name``, ``search_text``, colours, sizes, prices and stock of a product as the mall sent it."""
    colors = list(dict.fromkeys(v.color for v in item.variants if v.color))
    sizes = list(dict.fromkeys(v.size for v in item.variants if v.size))
    return {
        "search_name": index_terms(item.name),
        "search_text": index_terms(item.name, item.category_path.replace("/", " "), *item.style_tags, *colors),
        "colors": colors,
        "sizes": sizes,
        "price_min": min(v.price for v in item.variants),
        "price_from": min(v.price if v.sale_price is None else v.sale_price for v in item.variants),
        "currency": item.variants[0].currency,
        "in_stock": any(v.stock > 0 for v in item.variants),
    }


async def refresh_stock_and_prices(session: AsyncSession, product_ids: Collection[uuid.UUID]) -> None:
    """Recompute prices and stock of products whose variants changed in place (partner edits, orders)."""
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
        .values(price_min=totals.c.price_min, price_from=totals.c.price_from, in_stock=totals.c.in_stock)
        .execution_options(synchronize_session=False)
    )
