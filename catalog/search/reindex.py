"""Rebuild every product's derived fields and queue it for the search index (``shoa search reindex``).

For a new or emptied index (Meilisearch's, or Tantivy's after its schema changed), or after the way documents are
built has changed. Products are handled in batches, each in its own transaction with its rows locked, so a
partner sync running meanwhile either waits for the batch or is waited for, and never has its newer fields
overwritten with older ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from catalog.models import Product, SearchOutbox, Variant
from catalog.search.fields import refresh_stock_and_prices

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

_products, _variants, _outbox = (cast("sa.Table", model.__table__) for model in (Product, Variant, SearchOutbox))
_p = _products.c
_v = _variants.c
_ids = sa.bindparam("ids", type_=ARRAY(sa.Uuid()))
_OPTIONS = sa.select(_v.product_id, _v.color, _v.size).where(_v.product_id == sa.any_(_ids)).order_by(_v.position)
_UPDATE = (
    sa.update(_products)
    .where(_p.id == sa.bindparam("b_id"))
    .values(
        colors=sa.bindparam("b_colors"),
        sizes=sa.bindparam("b_sizes"),
    )
)


async def reindex_products(
    session_maker: async_sessionmaker[AsyncSession],
    *,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Recompute colours, sizes, prices and stock of every product and queue an outbox ``upsert``
    for each (the indexer deletes what shoppers may not see); how many products were queued."""
    after: uuid.UUID | None = None
    done = 0
    while True:
        async with session_maker() as session, session.begin():
            handled = await _reindex_batch(session, after=after, limit=batch_size)
        if not handled:
            return done
        done += len(handled)
        after = handled[-1]
        if progress is not None:
            progress(done)


async def _reindex_batch(session: AsyncSession, *, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    statement = sa.select(_p.id).order_by(_p.id).limit(limit)
    if after is not None:
        statement = statement.where(_p.id > after)
    products = (await session.execute(statement.with_for_update())).all()
    if not products:
        return []
    ids = [row.id for row in products]
    colors: dict[uuid.UUID, dict[str, None]] = {product_id: {} for product_id in ids}
    sizes: dict[uuid.UUID, dict[str, None]] = {product_id: {} for product_id in ids}
    for product_id, color, size in await session.execute(_OPTIONS, {"ids": ids}):
        if color:
            colors[product_id][color] = None
        if size:
            sizes[product_id][size] = None
    await session.execute(
        _UPDATE,
        [
            {
                "b_id": row.id,
                "b_colors": list(colors[row.id]),
                "b_sizes": list(sizes[row.id]),
            }
            for row in products
        ],
    )
    await refresh_stock_and_prices(session, ids)
    await session.execute(sa.insert(_outbox), [{"product_id": pid, "action": "upsert"} for pid in ids])
    return ids


async def queue_every_product(session: AsyncSession) -> None:
    """An outbox ``upsert`` for every product not queued already, for an index created empty (the indexer skips
    what shoppers may not see)."""
    queued = sa.select(_outbox.c.product_id).where(_outbox.c.product_id == _p.id).exists()
    await session.execute(
        sa.insert(_outbox).from_select(["product_id", "action"], sa.select(_p.id, sa.literal("upsert")).where(~queued))
    )
