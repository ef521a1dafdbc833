"""Search on a Tantivy index in the test's own folder: the engine fixture (import it by name into a test module)
and ``index_everything``, which runs the worker's indexer into it until the search outbox is empty."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from catalog.search.indexing import index_pending
from catalog.search.tantivy_engine import TantivyEngine

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncSession


@pytest.fixture
def tantivy_engine(tmp_path: Path) -> Iterator[TantivyEngine]:
    engine = TantivyEngine(tmp_path / "search")
    yield engine
    engine.close()


async def index_everything(
    session_maker_or_engine: async_sessionmaker[AsyncSession] | AsyncEngine, engine: TantivyEngine
) -> int:
    """Run the indexer until the search outbox is empty, as ``shoa worker`` does; how many rows it handled."""
    session_maker = (
        async_sessionmaker(session_maker_or_engine, expire_on_commit=False)
        if isinstance(session_maker_or_engine, AsyncEngine)
        else session_maker_or_engine
    )
    handled = 0
    while batch := await index_pending(session_maker, engine):
        handled += batch
    return handled
