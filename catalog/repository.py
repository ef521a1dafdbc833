"""Every catalog query lives here.

The hot read queries are built once, with bound parameters, so SQLAlchemy reuses their compiled form and
cache key instead of rebuilding both on every request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from catalog.models import Mall, MallStatus, Product, Variant
from catalog.schemas import MallSummary, PartnerProduct

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
