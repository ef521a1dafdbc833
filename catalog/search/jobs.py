"""The worker's search job: keeps the search index (Tantivy's on disk, or Meilisearch's) in step with the catalog
through the search outbox.

``shoa_api.worker`` runs it every second, with the engine the settings chose.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from catalog.search.errors import IndexWriterBusyError
from catalog.search.indexing import index_pending
from catalog.search.reindex import queue_every_product

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from catalog.search.indexing import IndexWriter

BATCH_SIZE = 500
RUN_SECONDS = 5.0
"""One turn of the job sends batches until the outbox is empty or this long has passed, then lets others run."""


logger = logging.getLogger(__name__)


class SearchIndexing:
    """The outbox's pending rows, batch by batch. One per worker: the index is prepared once, before its first
    batch, so documents never land in an index with outdated settings; an index created then (a new Meilisearch
    server, a new Tantivy schema version, a first start) is filled with every product."""

    def __init__(self) -> None:
        self._prepared = False
        self._standing_by = False
        self.indexed = 0
        """Outbox rows handled so far."""

    async def run(self, session_maker: async_sessionmaker[AsyncSession], engine: IndexWriter) -> bool:
        """Index batches until the outbox is empty or ``RUN_SECONDS`` have passed; whether rows may be left."""
        if not self._prepared:
            try:
                created = await engine.prepare()
            except IndexWriterBusyError:
                # The Tantivy index has one writer: with several workers, the first holds it and the others stand
                # by, trying again each turn, so one of them takes over when it stops.
                if not self._standing_by:
                    logger.info("another worker writes the search index; this one stands by")
                    self._standing_by = True
                return False
            if created:
                async with session_maker() as session, session.begin():
                    await queue_every_product(session)
            self._prepared = True
            if self._standing_by:
                logger.info("this worker now writes the search index")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RUN_SECONDS
        while (handled := await index_pending(session_maker, engine, batch_size=BATCH_SIZE)) == BATCH_SIZE:
            self.indexed += handled
            if loop.time() >= deadline:
                return True
        self.indexed += handled
        return False
