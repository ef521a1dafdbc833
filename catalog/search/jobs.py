"""The worker's search job: keeps the search index (Meilisearch's, or Tantivy's on disk) in step with the catalog
through the search outbox.

``shoa_api.worker`` runs it every second, with the engine the settings chose (``None`` for the PostgreSQL engine,
which searches the tables themselves: the outbox rows are then only acknowledged).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from catalog.search.indexing import index_pending
from catalog.search.meilisearch import MeilisearchEngine

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from catalog.search.indexing import IndexWriter

BATCH_SIZE = 500
RUN_SECONDS = 5.0
"""One turn of the job sends batches until the outbox is empty or this long has passed, then lets others run."""


class SearchIndexing:
    """The outbox's pending rows, batch by batch. One per worker: the index's settings are applied once, before
    its first batch, so documents never land in an index with outdated settings."""

    def __init__(self) -> None:
        self._settings_applied = False

    async def run(self, session_maker: async_sessionmaker[AsyncSession], engine: IndexWriter | None) -> bool:
        """Index batches until the outbox is empty or ``RUN_SECONDS`` have passed; whether rows may be left."""
        if isinstance(engine, MeilisearchEngine) and not self._settings_applied:
            await engine.apply_settings()
            self._settings_applied = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RUN_SECONDS
        while await index_pending(session_maker, engine, batch_size=BATCH_SIZE) == BATCH_SIZE:
            if loop.time() >= deadline:
                return True
        return False
