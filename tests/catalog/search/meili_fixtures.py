"""Search on the Meilisearch fake: fixtures (import them by name into a test module) and ``index_everything``.

``tests/meilisearch/conftest.py`` serves only that folder, so the fake is started here too.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from catalog import keys
from catalog.search.indexing import index_pending
from catalog.search.meilisearch import MeilisearchEngine
from shoa_api.settings import Settings
from tests.factories import create_mall
from tests.meilisearch.fake_server import FakeMeilisearch

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from catalog.models import MallStatus
    from tests.client import ShoaClient

UPDATED = "2026-11-20T10:00:00+09:00"


@pytest.fixture
def fake_meili() -> Iterator[FakeMeilisearch]:
    with FakeMeilisearch() as fake:
        yield fake


@pytest.fixture
async def meili_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
        yield http


@pytest.fixture
def meili_engine(fake_meili: FakeMeilisearch, meili_http: httpx.AsyncClient) -> MeilisearchEngine:
    """The engine on the fake, its index not yet created (``apply_settings`` does that)."""
    return MeilisearchEngine(meili_http, url=fake_meili.url, key=fake_meili.master_key, task_timeout=5.0)


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on the test database, as the worker has them."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def index_everything(
    session_maker_or_engine: async_sessionmaker[AsyncSession] | AsyncEngine,
    meili_engine: MeilisearchEngine | Settings,
) -> int:
    """Apply the index settings, then run the indexer until the search outbox is empty, as ``shoa worker`` does;
    how many outbox rows were handled.

    ``meili_engine`` may also be the app's ``Settings`` (with ``SHOA_SEARCH_ENGINE=meilisearch``): an engine on
    ``SHOA_MEILISEARCH_URL`` is then made for the call.
    """
    session_maker = (
        async_sessionmaker(session_maker_or_engine, expire_on_commit=False)
        if isinstance(session_maker_or_engine, AsyncEngine)
        else session_maker_or_engine
    )
    if isinstance(meili_engine, Settings):
        url, key = meili_engine.meilisearch.url, meili_engine.meilisearch.key
        assert url is not None
        assert key is not None
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as http:
            return await _drain(session_maker, MeilisearchEngine(http, url=url, key=key.reveal(), task_timeout=5.0))
    return await _drain(session_maker, meili_engine)


async def _drain(session_maker: async_sessionmaker[AsyncSession], meili_engine: MeilisearchEngine) -> int:
    await meili_engine.apply_settings()
    handled = 0
    while batch := await index_pending(session_maker, meili_engine):
        handled += batch
    return handled


async def eventually(condition: Callable[[], bool], *, within: float = 5.0) -> None:
    """Wait until ``condition()`` holds (another task or thread makes it so)."""
    for _ in range(int(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    msg = f"not met within {within} s"
    raise AssertionError(msg)


# -- a partner mall syncing through the real API -------------------------------------------------------------


def product(external_id: str, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "external_id": external_id,
        "name": f"린넨 셔츠 원피스 {external_id}",
        "category_path": "원피스/셔츠원피스",
        "style_tags": ["오피스룩", "미니멀"],
        "target_gender": "female",
        "target_age_bands": ["20s_late", "30s_early"],
        "image_urls": [f"https://img.haru.kr/{external_id}/1.jpg", f"https://img.haru.kr/{external_id}/2.jpg"],
        "source_updated_at": UPDATED,
        "variants": [
            {"sku": f"{external_id}-BK-M", "color": "블랙", "size": "M", "price": 39000, "sale_price": 35100}
            | {"stock": 0},
            {"sku": f"{external_id}-IV-L", "color": "아이보리", "size": "L", "price": 41000, "stock": 4},
        ],
    }
    item.update(changes)
    return item


class PartnerMall:
    def __init__(self, client: ShoaClient, mall_id: Any, key: str) -> None:
        self.client = client
        self.id = mall_id
        self.headers = {"Authorization": f"Bearer {key}"}

    async def sync(self, *items: dict[str, Any]) -> list[str]:
        """Upsert ``items``; their product ids, in order."""
        response = await self.client.put("/partner/v1/products", headers=self.headers, json={"products": list(items)})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["rejected"] == 0, answer
        return [item["product_id"] for item in answer["items"]]

    async def patch(self, external_id: str, **changes: Any) -> None:
        response = await self.client.patch(f"/partner/v1/products/{external_id}", headers=self.headers, json=changes)
        assert response.status_code == 200, response.text

    async def delete(self, external_id: str) -> None:
        response = await self.client.delete(f"/partner/v1/products/{external_id}", headers=self.headers)
        assert response.status_code == 204, response.text


async def partner_mall(
    session: AsyncSession, client: ShoaClient, name: str = "하루일상", *, status: MallStatus | None = None
) -> PartnerMall:
    mall = await (create_mall(session, name=name) if status is None else create_mall(session, name=name, status=status))
    issued = await keys.issue_key(session, mall_id=mall.id, name="sync", scopes=["catalog:write"])
    await session.commit()
    return PartnerMall(client, mall.id, issued.key)
