"""Every catalog query lives here.

The hot read queries are built once, with bound parameters, so SQLAlchemy reuses their compiled form and
cache key instead of rebuilding both on every request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from catalog.models import Mall, MallStatus, Product, ProductStatus, Variant
from catalog.schemas import MallSummary, PartnerProduct, ProductCard

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

# Plain table columns, not ORM attributes: the session then runs these as Core statements, skipping the ORM's
# compile and row-loading steps that reading a few columns into structs does not need.
_malls = Mall.__table__.c
_SUMMARY_COLUMNS = (_malls.id, _malls.slug, _malls.name, _malls.description, _malls.logo_url, _malls.created_at)
_LISTED = _malls.status == MallStatus.ACTIVE.value
_NAME_ORDER = (_malls.name, _malls.id)

_FIRST_PAGE = sa.select(*_SUMMARY_COLUMNS).where(_LISTED).order_by(*_NAME_ORDER).limit(sa.bindparam("limit"))
_PAGE_AFTER = (
    sa.select(*_SUMMARY_COLUMNS)
    .where(_LISTED, sa.tuple_(*_NAME_ORDER) > sa.tuple_(sa.bindparam("name"), sa.bindparam("id")))
    .order_by(*_NAME_ORDER)
    .limit(sa.bindparam("limit"))
)
_ONE_LISTED = sa.select(*_SUMMARY_COLUMNS).where(_LISTED, _malls.id == sa.bindparam("id"))


async def list_listed_malls(
    session: AsyncSession, *, after: tuple[str, uuid.UUID] | None, limit: int
) -> list[MallSummary]:
    if after is None:
        result = await session.execute(_FIRST_PAGE, {"limit": limit})
    else:
        result = await session.execute(_PAGE_AFTER, {"name": after[0], "id": after[1], "limit": limit})
    return [MallSummary(*row) for row in result]


async def get_listed_mall(session: AsyncSession, mall_id: uuid.UUID) -> MallSummary | None:
    row = (await session.execute(_ONE_LISTED, {"id": mall_id})).first()
    return MallSummary(*row) if row is not None else None


async def count_malls(session: AsyncSession) -> int:
    return await session.scalar(sa.select(sa.func.count()).select_from(Mall)) or 0


def add_malls(session: AsyncSession, malls: Sequence[Mall]) -> None:
    session.add_all(malls)


async def list_mall_products(
    session: AsyncSession, *, mall_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[PartnerProduct]:
    variant_count = (
        sa.select(sa.func.count()).where(Variant.product_id == Product.id).correlate(Product).scalar_subquery()
    )
    query = (
        sa.select(
            Product.id,
            Product.external_id,
            Product.name,
            Product.category_path,
            Product.status,
            variant_count,
            Product.source_updated_at,
            Product.updated_at,
        )
        .where(Product.mall_id == mall_id)
        .order_by(Product.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Product.id > after)
    return [PartnerProduct(*row) for row in await session.execute(query)]


# --- What shoppers see: products that are not hidden, of malls that are listed -------------------------------

_VISIBLE = sa.and_(Product.status != ProductStatus.HIDDEN.value, Mall.status == MallStatus.ACTIVE.value)


async def visible_product(session: AsyncSession, product_id: uuid.UUID) -> tuple[Product, Mall] | None:
    row = (
        await session.execute(
            sa.select(Product, Mall).join(Mall, Mall.id == Product.mall_id).where(Product.id == product_id, _VISIBLE)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def product_variants(session: AsyncSession, product_id: uuid.UUID) -> Sequence[Variant]:
    query = sa.select(Variant).where(Variant.product_id == product_id).order_by(Variant.position, Variant.sku)
    return (await session.scalars(query)).all()


async def visible_product_cards(
    session: AsyncSession, *, mall_id: uuid.UUID, before: uuid.UUID | None, limit: int
) -> list[ProductCard]:
    """A listed mall's visible products, newest first (ids are time-ordered), as list tiles."""
    prices = (
        sa.select(
            Variant.product_id,
            sa.func.min(Variant.price).label("price"),
            sa.func.min(sa.func.coalesce(Variant.sale_price, Variant.price)).label("price_from"),
            sa.func.min(Variant.currency).label("currency"),
            sa.func.bool_or(Variant.stock > 0).label("in_stock"),
        )
        .group_by(Variant.product_id)
        .subquery()
    )
    query = (
        sa.select(
            Product.id,
            Product.name,
            Product.image_urls[1],
            prices.c.price,
            prices.c.price_from,
            prices.c.currency,
            sa.and_(prices.c.in_stock, Product.status == ProductStatus.ON_SALE.value),
            Product.exclusive,
        )
        .join(Mall, Mall.id == Product.mall_id)
        .join(prices, prices.c.product_id == Product.id)
        .where(Product.mall_id == mall_id, _VISIBLE)
        .order_by(Product.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(Product.id < before)
    return [ProductCard(*row) for row in await session.execute(query)]


async def visible_counts_by_category(session: AsyncSession) -> dict[str, int]:
    query = (
        sa.select(Product.category_path, sa.func.count())
        .join(Mall, Mall.id == Product.mall_id)
        .where(_VISIBLE)
        .group_by(Product.category_path)
    )
    return {row[0]: row[1] for row in await session.execute(query)}
