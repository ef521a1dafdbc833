"""Small partner edits between full syncs: one product's price, stock or status; stock by SKU; deletion.

Each edit forgets the product's content hash, so that the mall's next full sync of the product applies in
full rather than being taken for a repeat; each leaves a search-outbox row in the same transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa

from catalog.errors import InvalidProductChangeError, ProductNotFoundError
from catalog.models import Product, ProductStatus, SearchOutbox, Variant
from catalog.product_rules import source_time_problem
from catalog.schemas import StockBatchResult, StockResult
from catalog.search.fields import refresh_stock_and_prices
from catalog.sync import lock_mall_catalog, lock_variants_of
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from catalog.schemas import ProductPatch, VariantPatch

EDITED = "edited"
"""The content hash of a product changed by an edit: it matches no batch item, so the next sync applies."""


async def patch_product(
    session: AsyncSession, *, mall_id: uuid.UUID, external_id: str, patch: ProductPatch
) -> tuple[uuid.UUID, bool]:
    """Apply ``patch``; the product's id and whether anything changed (False when the patch is stale)."""
    if patch.source_updated_at is not None and (problem := source_time_problem(patch.source_updated_at, now=utc_now())):
        raise InvalidProductChangeError(f"source_updated_at {problem}")
    await lock_mall_catalog(session, mall_id)
    await lock_variants_of(session, sa.and_(Product.mall_id == mall_id, Product.external_id == external_id))
    product = await _own_product(session, mall_id=mall_id, external_id=external_id)
    if patch.source_updated_at is not None and patch.source_updated_at < product.source_updated_at:
        return product.id, False
    variants = {
        variant.sku: variant
        for variant in await session.scalars(sa.select(Variant).where(Variant.product_id == product.id))
    }
    for position, change in enumerate(patch.variants):
        variant = variants.get(change.sku)
        if variant is None:
            msg = f"variants[{position}].sku: {change.sku} is not a variant of {external_id}"
            raise InvalidProductChangeError(msg)
        problem = _apply(variant, change)
        if problem is not None:
            raise InvalidProductChangeError(f"variants[{position}]: {problem}")
    if patch.status is not msgspec.UNSET:
        product.status = patch.status
    if patch.source_updated_at is not None:
        product.source_updated_at = patch.source_updated_at
    product.content_hash = EDITED
    session.add(SearchOutbox(product_id=product.id, action="upsert"))
    await session.flush()
    if patch.variants or patch.status is not msgspec.UNSET:
        await refresh_stock_and_prices(session, [product.id])
    return product.id, True


async def delete_product(session: AsyncSession, *, mall_id: uuid.UUID, external_id: str) -> uuid.UUID:
    """Hidden from shoppers at once and removed from the index; kept for orders and for the mall's records."""
    await lock_mall_catalog(session, mall_id)
    product = await _own_product(session, mall_id=mall_id, external_id=external_id)
    product.status = ProductStatus.HIDDEN.value
    product.in_stock = False  # as every product not on sale: nothing can be bought from it
    product.content_hash = EDITED
    session.add(SearchOutbox(product_id=product.id, action="delete"))
    await session.flush()
    return product.id


async def update_stock(session: AsyncSession, *, mall_id: uuid.UUID, items: list[VariantPatch]) -> StockBatchResult:
    await lock_mall_catalog(session, mall_id)
    skus = [item.sku for item in items]
    variants = {
        variant.sku: variant
        for variant in await session.scalars(
            sa.select(Variant).where(Variant.mall_id == mall_id, Variant.sku.in_(skus))
        )
    }
    results: list[StockResult] = []
    touched: set[uuid.UUID] = set()
    seen: set[str] = set()
    for item in items:
        variant = variants.get(item.sku)
        if item.sku in seen:
            results.append(StockResult(sku=item.sku, result="rejected", reason="this SKU appears twice in the batch"))
            continue
        seen.add(item.sku)
        if variant is None:
            results.append(StockResult(sku=item.sku, result="rejected", reason="no variant of this mall has this SKU"))
            continue
        before = (variant.price, variant.sale_price, variant.stock)
        problem = _apply(variant, item)
        if problem is not None:
            results.append(StockResult(sku=item.sku, result="rejected", reason=problem))
        elif (variant.price, variant.sale_price, variant.stock) == before:
            results.append(StockResult(sku=item.sku, result="unchanged"))
        else:
            results.append(StockResult(sku=item.sku, result="updated"))
            touched.add(variant.product_id)
    if touched:
        await session.execute(
            sa.update(Product).where(Product.id.in_(touched)).values(content_hash=EDITED, updated_at=utc_now())
        )
        await session.execute(
            sa.insert(SearchOutbox), [{"product_id": product_id, "action": "upsert"} for product_id in touched]
        )
    await session.flush()
    if touched:
        await refresh_stock_and_prices(session, touched)
    counts: dict[str, Any] = {
        kind: sum(1 for r in results if r.result == kind) for kind in ("updated", "unchanged", "rejected")
    }
    return StockBatchResult(**counts, items=results)


def _apply(variant: Variant, change: VariantPatch) -> str | None:
    """Apply a variant change in place; the reason it is invalid, if it is (and then nothing is applied)."""
    price = variant.price if change.price is msgspec.UNSET else change.price
    sale_price = variant.sale_price if change.sale_price is msgspec.UNSET else change.sale_price
    if sale_price is not None and sale_price > price:
        return f"sale price {sale_price} would exceed the price {price}"
    variant.price, variant.sale_price = price, sale_price
    if change.stock is not msgspec.UNSET:
        variant.stock = change.stock
    return None


async def _own_product(session: AsyncSession, *, mall_id: uuid.UUID, external_id: str) -> Product:
    product = await session.scalar(
        sa.select(Product).where(Product.mall_id == mall_id, Product.external_id == external_id).with_for_update()
    )
    if product is None:
        msg = f"this mall has no product {external_id}"
        raise ProductNotFoundError(msg)
    return product
