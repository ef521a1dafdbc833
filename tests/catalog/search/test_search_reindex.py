"""``shoa search reindex``: every product's search fields rebuilt and queued, so an empty index fills again."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import TYPE_CHECKING

import sqlalchemy as sa

from catalog.models import Product, SearchOutbox
from catalog.search.reindex import reindex_products
from shoa_api.settings import child_environment
from tests.catalog.search import meili_fixtures
from tests.catalog.search.meili_fixtures import index_everything, partner_mall, product

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from catalog.search.meilisearch import MeilisearchEngine
    from tests.client import ShoaClient
    from tests.conftest import Services
    from tests.meilisearch.fake_server import FakeMeilisearch

fake_meili = meili_fixtures.fake_meili
meili_http = meili_fixtures.meili_http
meili_engine = meili_fixtures.meili_engine
sessions = meili_fixtures.sessions

_FIELDS = (
    Product.colors,
    Product.sizes,
    Product.price_min,
    Product.price_from,
    Product.in_stock,
)


async def _search_fields(session: AsyncSession) -> list[tuple[object, ...]]:
    session.expire_all()
    return [tuple(row) for row in await session.execute(sa.select(Product.external_id, *_FIELDS).order_by(Product.id))]


async def _wipe_search_fields(session: AsyncSession) -> None:
    """What a product looks like to search after a botched migration: no colours, no prices, nothing queued."""
    await session.execute(sa.update(Product).values(colors=[], sizes=[], price_min=0, price_from=0, in_stock=False))
    await session.execute(sa.delete(SearchOutbox))
    await session.commit()


async def test_reindexing_rebuilds_the_search_fields_and_refills_an_empty_index(
    client: ShoaClient,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    meili_engine: MeilisearchEngine,
    fake_meili: FakeMeilisearch,
) -> None:
    mall = await partner_mall(session, client)
    await mall.sync(*(product(f"A{n}", name=f"린넨 원피스 {n}") for n in range(5)))
    await mall.delete("A4")
    as_synced = await _search_fields(session)
    await _wipe_search_fields(session)
    progress: list[int] = []

    queued = await reindex_products(sessions, batch_size=2, progress=progress.append)

    assert queued == 5
    assert progress == [2, 4, 5]
    assert await _search_fields(session) == as_synced
    assert await index_everything(sessions, meili_engine) == 5
    assert sorted(document["name"] for document in fake_meili.documents("products")) == [
        f"린넨 원피스 {n}"
        for n in range(4)  # the deleted one stays out
    ]


async def test_shoa_search_reindex_queues_every_product(
    services: Services, client: ShoaClient, session: AsyncSession, tmp_path: Path
) -> None:
    mall = await partner_mall(session, client)
    await mall.sync(product("A1"), product("A2"), product("A3"))
    as_synced = await _search_fields(session)
    await _wipe_search_fields(session)

    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "shoa_api", "search", "reindex", "--batch-size", "2"],
        env=child_environment(services.environ()),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "3 products queued" in result.stderr
    assert await _search_fields(session) == as_synced
    assert await session.scalar(sa.select(sa.func.count()).select_from(SearchOutbox)) == 3
