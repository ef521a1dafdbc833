"""What shoppers may see now, asked of the database for one page of an index's answer.

An index lags the catalog by the indexer's turn: a product hidden or deleted a moment ago, or one of a mall paused
since, may still be in it. An engine that answers from an index checks each page here before showing it, and
leaves out facet values of malls that are no longer listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from catalog.models import Mall, MallStatus, Product, ProductStatus
from catalog.search.engine import MallRef

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

_p = Product.__table__.c
_m = Mall.__table__.c
_VISIBLE_AND_LISTED = sa.union_all(
    sa.select(_p.id, _m.id, _m.name)
    .join_from(Product.__table__, Mall.__table__, _m.id == _p.mall_id)
    .where(
        _p.id == sa.any_(sa.bindparam("product_ids", type_=ARRAY(sa.Uuid()))),
        _p.status != ProductStatus.HIDDEN.value,
        _m.status == MallStatus.ACTIVE.value,
    ),
    sa.select(sa.null(), _m.id, _m.name).where(
        _m.id == sa.any_(sa.bindparam("mall_ids", type_=ARRAY(sa.Uuid()))), _m.status == MallStatus.ACTIVE.value
    ),
)


async def visible_now(
    session: AsyncSession, product_ids: list[uuid.UUID], mall_ids: list[uuid.UUID]
) -> tuple[dict[uuid.UUID, MallRef], dict[str, str]]:
    """Which of ``product_ids`` shoppers may see (with their malls), and the names of the listed malls among
    ``mall_ids`` (by id as text); one statement, none when both are empty."""
    if not product_ids and not mall_ids:
        return {}, {}
    visible: dict[uuid.UUID, MallRef] = {}
    listed: dict[str, str] = {}
    for product_id, mall_id, mall_name in await session.execute(
        _VISIBLE_AND_LISTED, {"product_ids": product_ids, "mall_ids": mall_ids}
    ):
        if product_id is None:
            listed[str(mall_id)] = mall_name
        else:
            visible[product_id] = MallRef(mall_id, mall_name)
    return visible, listed
