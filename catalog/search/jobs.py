"""The worker's search job: keeps the search index (Tantivy's on disk, or Meilisearch's) in step with the catalog
through the search outbox.

``shoa_api.worker`` runs it every second, with the engine the settings chose.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from catalog.search.indexing import index_pending
from catalog.search.reindex import queue_every_product

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from catalog.search.indexing import IndexWriter

BATCH_SIZE = 500
RUN_SECONDS = 5.0
"""One turn of the job sends batches until the outbox is empty or this long has passed, then lets others run."""


class SearchIndexing:
    """The outbox's pending rows, batch by batch. One per worker: the index is prepared once, before its first
    batch, so documents never land in an index with outdated settings; an index created then (a new Meilisearch
    server, a new Tantivy schema version, a first start) is filled with every product."""

    def __init__(self) -> None:
        self._prepared = False
        self.indexed = 0
        """Outbox rows handled so far."""

    async def run(self, session_maker: async_sessionmaker[AsyncSession], engine: IndexWriter) -> bool:
        """Index batches until the outbox is empty or ``RUN_SECONDS`` have passed; whether rows may be left."""
        if not self._prepared:
            if await engine.prepare():
                async with session_maker() as session, session.begin():
                    await queue_every_product(session)
            self._prepared = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RUN_SECONDS
        while (handled := await index_pending(session_maker, engine, batch_size=BATCH_SIZE)) == BATCH_SIZE:
            self.indexed += handled
            if loop.time() >= deadline:
                return True
        self.indexed += handled
        return False
