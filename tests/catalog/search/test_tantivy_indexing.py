"""The worker's search job on the Tantivy index: a new index fills itself, and with several workers one writes
while the others stand by, one of them taking over when it stops."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker

from catalog.models import SearchOutbox
from catalog.search.engine import SearchQuery
from catalog.search.jobs import SearchIndexing
from catalog.search.tantivy_engine import TantivyEngine
from tests.catalog.search.meili_fixtures import partner_mall, product

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.client import ShoaClient


async def _names(reader: TantivyEngine, session: AsyncSession, text: str) -> set[str]:
    return {hit.name for hit in (await reader.search(session, SearchQuery(text=text))).items}


async def test_a_new_index_is_filled_with_every_product_even_those_indexed_before(
    client: ShoaClient, session: AsyncSession, engine: AsyncEngine, tmp_path: Path
) -> None:
    mall = await partner_mall(session, client)
    await mall.sync(
        product("A1", name="린넨 셔츠", description="여름 셔츠"), product("A2", name="울 코트", description="겨울 코트")
    )
    await session.execute(sa.delete(SearchOutbox))  # indexed long ago, into an index since wiped
    await session.commit()
    writer = TantivyEngine(tmp_path / "new")
    try:
        assert await SearchIndexing().run(async_sessionmaker(engine), writer) is False
    finally:
        writer.close()

    reader = TantivyEngine(tmp_path / "new")
    assert await _names(reader, session, "린넨") == {"린넨 셔츠"}
    assert await _names(reader, session, "코트") == {"울 코트"}


async def test_a_second_worker_stands_by_and_takes_over_when_the_first_stops(
    client: ShoaClient, session: AsyncSession, engine: AsyncEngine, tmp_path: Path
) -> None:
    sessions = async_sessionmaker(engine)
    first, second = TantivyEngine(tmp_path / "shared"), TantivyEngine(tmp_path / "shared")
    first_job, second_job = SearchIndexing(), SearchIndexing()
    mall = await partner_mall(session, client)
    await first_job.run(sessions, first)  # it holds the index's writer from now on

    await mall.sync(product("A1", name="린넨 셔츠", description="여름 셔츠"))
    assert await second_job.run(sessions, second) is False  # no error: it stands by, and leaves the row
    assert await session.scalar(sa.select(sa.func.count()).select_from(SearchOutbox)) == 1
    await first_job.run(sessions, first)
    first.close()  # the first worker stops

    await mall.sync(product("A2", name="울 코트", description="겨울 코트"))
    await second_job.run(sessions, second)
    second.close()

    assert await session.scalar(sa.select(sa.func.count()).select_from(SearchOutbox)) == 0
    reader = TantivyEngine(tmp_path / "shared")
    assert await _names(reader, session, "린넨") == {"린넨 셔츠"}
    assert await _names(reader, session, "코트") == {"울 코트"}
