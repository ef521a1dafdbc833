"""The worker's search job: keeps the Meilisearch index in step with the catalog through the search outbox."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from catalog.search.indexing import index_pending
from catalog.search.meilisearch import MeilisearchEngine
from shoa_api.worker import Job, WorkerContext

if TYPE_CHECKING:
    import httpx

    from shoa_api.settings import Settings

BATCH_SIZE = 500
RUN_SECONDS = 5.0
"""One turn of the job sends batches until the outbox is empty or this long has passed, then lets others run."""


def meilisearch_engine(settings: Settings, http: httpx.AsyncClient) -> MeilisearchEngine | None:
    """The Meilisearch engine when it is the configured one; ``None`` for the PostgreSQL engine."""
    if settings.search.engine != "meilisearch":
        return None
    url, key = settings.meilisearch.url, settings.meilisearch.key
    assert url is not None  # checked when the settings were loaded
    assert key is not None
    return MeilisearchEngine(http, url=url, key=key.reveal())


def search_indexing_job() -> Job:
    """Every second: the outbox's pending rows, batch by batch. Index settings are applied once per process,
    before the first batch, so documents never land in an index with outdated settings."""
    settings_applied = False

    async def index_search_outbox(context: WorkerContext) -> None:
        nonlocal settings_applied
        engine = meilisearch_engine(context.settings, context.http)
        if engine is not None and not settings_applied:
            await engine.apply_settings()
            settings_applied = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RUN_SECONDS
        while (
            await index_pending(context.session_maker, engine, batch_size=BATCH_SIZE) == BATCH_SIZE
            and loop.time() < deadline
        ):
            pass

    return Job(name="search-indexing", every=1.0, run=index_search_outbox)
