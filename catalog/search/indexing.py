"""The search outbox's consumer: sends catalog changes to the search index, then forgets the rows it sent.

Every catalog write leaves ``search_outbox`` rows in its own transaction. A batch of them is handled in one
transaction that holds a transaction-scoped advisory lock, so one indexer runs at a time and an older state of a
product can never overwrite a newer one: Meilisearch runs tasks in the order they arrive and the indexer waits
for its tasks; Tantivy has one writer, the worker's. What is sent is the product's state *now* (the row's
``action`` is only a hint): shown products are upserted, hidden ones, those of malls no longer listed and those
gone are deleted. The rows are deleted only after the engine has the change durably (Meilisearch confirmed its
tasks, Tantivy committed); any failure rolls back and leaves them for the next run. A crash between sending and
committing sends the same documents again, which changes nothing (add-or-replace).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from catalog.models import SearchOutbox
from catalog.search.documents import documents_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class IndexWriter(Protocol):
    """An engine with an index of its own (Meilisearch, Tantivy): what the indexer feeds."""

    async def prepare(self) -> bool:
        """Create the index (and bring its settings up to date) if needed; whether it was created empty."""
        ...

    async def apply_changes(self, *, upserts: Sequence[dict[str, Any]], deletes: Sequence[str]) -> None:
        """Add or replace ``upserts`` and remove ``deletes`` (product ids), durably, before returning."""
        ...


INDEXER_LOCK = (0x53484F41, 1)
"""The indexer's advisory lock, in the two-key space (``SHOA``, 1): it cannot collide with one-key locks."""

_table = cast("sa.Table", SearchOutbox.__table__)
_outbox = _table.c
_CLAIM = (
    sa.select(_outbox.id, _outbox.product_id)
    .order_by(_outbox.id)
    .limit(sa.bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_ACKNOWLEDGE = sa.delete(_table).where(_outbox.id == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.BigInteger()))))
_TRY_LOCK = sa.select(
    sa.func.pg_try_advisory_xact_lock(sa.literal(INDEXER_LOCK[0], sa.Integer), sa.literal(INDEXER_LOCK[1], sa.Integer))
)


async def index_pending(
    session_maker: async_sessionmaker[AsyncSession], engine: IndexWriter, *, batch_size: int = 500
) -> int:
    """Handle the oldest ``batch_size`` outbox rows; how many were acknowledged (0 when another indexer runs).

    Raises (and keeps the rows) when the engine fails (Meilisearch does not confirm in time, Tantivy cannot
    commit).
    """
    async with session_maker() as session, session.begin():
        if not await session.scalar(_TRY_LOCK):
            return 0
        rows = (await session.execute(_CLAIM, {"limit": batch_size})).all()
        if not rows:
            return 0
        product_ids = list(dict.fromkeys(product_id for _, product_id in rows))
        documents, deleted = await documents_for(session, product_ids)
        await engine.apply_changes(upserts=documents, deletes=deleted)
        await session.execute(_ACKNOWLEDGE, {"ids": [row_id for row_id, _ in rows]})
    return len(rows)
