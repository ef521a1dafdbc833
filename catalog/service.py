"""Catalog operations over a session the caller owns: they may flush, never commit."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import msgspec

from catalog import repository, sync
from catalog.categories import CATEGORY_TREE
from catalog.errors import InvalidBatchError, MalformedBatchError, MallNotFoundError, ProductNotFoundError
from catalog.models import ProductStatus
from catalog.pagination import decode_cursor, encode_cursor
from catalog.schemas import (
    LOW_STOCK,
    BatchResult,
    CategoryNode,
    MallBrief,
    MallPage,
    MallSummary,
    MallWithProducts,
    PartnerProductPage,
    ProductCardPage,
    ProductDetail,
    ProductIn,
    PublicVariant,
    StockState,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from catalog.models import Variant


async def list_malls(session: AsyncSession, *, cursor: str | None, limit: int) -> MallPage:
    """Listed malls in name order (가나다순), one keyset page at a time."""
    after = decode_cursor(cursor, tuple[str, uuid.UUID]) if cursor else None
    rows = await repository.list_listed_malls(session, after=after, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].name, str(page[-1].id)) if more else None
    return MallPage(items=page, next_cursor=next_cursor)


async def get_mall(session: AsyncSession, mall_id: uuid.UUID) -> MallSummary:
    mall = await repository.get_listed_mall(session, mall_id)
    if mall is None:
        msg = f"no listed mall has id {mall_id}"
        raise MallNotFoundError(msg)
    return mall


class SyncBatch(msgspec.Struct, forbid_unknown_fields=True):
    products: list[msgspec.Raw]


class WellFormedSyncBatch(msgspec.Struct, forbid_unknown_fields=True):
    """The usual batch, every item shaped like a product: decoded in one pass, without a second one per item."""

    products: list[ProductIn]


async def sync_products(session: AsyncSession, *, mall_id: uuid.UUID, body: bytes, max_items: int) -> BatchResult:
    """Decode a partner's batch (malformed JSON: 400; not ``{"products": [...]}``: 422), then upsert it."""
    products = _decode_batch(body)
    if not products:
        msg = "the batch has no products"
        raise InvalidBatchError(msg)
    if len(products) > max_items:
        msg = f"a batch holds at most {max_items} products; this one has {len(products)}"
        raise InvalidBatchError(msg)
    return await sync.upsert_products(session, mall_id=mall_id, items=products)


def _decode_batch(body: bytes) -> list[ProductIn] | list[msgspec.Raw]:
    try:
        return msgspec.json.decode(body, type=WellFormedSyncBatch).products
    except msgspec.DecodeError:
        pass  # some item is not a product (it gets its own answer, so items are decoded one by one), or no batch
    try:
        return msgspec.json.decode(body, type=SyncBatch).products
    except msgspec.ValidationError as exc:
        msg = f'the body must be {{"products": [...]}}: {exc}'
        raise InvalidBatchError(msg) from exc
    except msgspec.DecodeError as exc:
        msg = f"the body is not valid JSON: {exc}"
        raise MalformedBatchError(msg) from exc


async def list_partner_products(
    session: AsyncSession, *, mall_id: uuid.UUID, cursor: str | None, limit: int
) -> PartnerProductPage:
    after = decode_cursor(cursor, tuple[uuid.UUID]) if cursor else None
    rows = await repository.list_mall_products(
        session, mall_id=mall_id, after=after[0] if after else None, limit=limit + 1
    )
    page, more = rows[:limit], len(rows) > limit
    return PartnerProductPage(items=page, next_cursor=encode_cursor(str(page[-1].id)) if more else None)


async def product_detail(session: AsyncSession, product_id: uuid.UUID) -> ProductDetail:
    found = await repository.visible_product(session, product_id)
    if found is None:
        msg = f"no product {product_id} is on show"
        raise ProductNotFoundError(msg)
    product, mall = found
    on_sale = product.status == ProductStatus.ON_SALE.value
    variants = [
        _public_variant(variant, on_sale=on_sale) for variant in await repository.product_variants(session, product_id)
    ]
    in_stock = any(variant.stock_state != "sold_out" for variant in variants)
    return ProductDetail(
        id=product.id,
        name=product.name,
        description=product.description,
        category_path=product.category_path,
        style_tags=product.style_tags,
        target_gender=product.target_gender,
        target_age_bands=product.target_age_bands,
        image_urls=product.image_urls,
        exclusive=product.exclusive,
        status="on_sale" if in_stock else "sold_out",
        in_stock=in_stock,
        price_from=min(v.sale_price if v.sale_price is not None else v.price for v in variants),
        currency=variants[0].currency,
        variants=variants,
        mall=MallBrief(id=mall.id, slug=mall.slug, name=mall.name, logo_url=mall.logo_url),
    )


async def mall_with_products(
    session: AsyncSession, mall_id: uuid.UUID, *, cursor: str | None, limit: int
) -> MallWithProducts:
    mall = await get_mall(session, mall_id)
    before = decode_cursor(cursor, tuple[uuid.UUID])[0] if cursor else None
    cards = await repository.visible_product_cards(session, mall_id=mall_id, before=before, limit=limit + 1)
    page, more = cards[:limit], len(cards) > limit
    next_cursor = encode_cursor(str(page[-1].id)) if more else None
    return MallWithProducts(mall=mall, products=ProductCardPage(items=page, next_cursor=next_cursor))


async def category_tree(session: AsyncSession) -> list[CategoryNode]:
    counts = await repository.visible_counts_by_category(session)
    tree = []
    for top, children in CATEGORY_TREE.items():
        nodes = [
            CategoryNode(path=f"{top}/{child}", name=child, product_count=counts.get(f"{top}/{child}", 0))
            for child in children
        ]
        total = counts.get(top, 0) + sum(node.product_count for node in nodes)
        tree.append(CategoryNode(path=top, name=top, product_count=total, children=nodes))
    return tree


def _public_variant(variant: Variant, *, on_sale: bool) -> PublicVariant:
    """A variant as shoppers see it: every variant of a product its mall marked sold out is sold out."""
    state: StockState = (
        "sold_out" if variant.stock == 0 or not on_sale else "low_stock" if variant.stock <= LOW_STOCK else "in_stock"
    )
    return PublicVariant(
        id=variant.id,
        color=variant.color,
        size=variant.size,
        options=variant.options,
        price=variant.price,
        sale_price=variant.sale_price,
        currency=variant.currency,
        stock_state=state,
        stock_left=variant.stock if state == "low_stock" else None,
    )
