"""The search contract suite runs every case once per engine: ``backend`` is the API with one engine behind it.

For Meilisearch the engine is the Meilisearch v1.14 protocol fake (``tests/meilisearch``) and ``settle()``
runs the worker's indexing until the search outbox is empty, as ``shoa worker`` would; Tantivy's index lives in
the test's folder and ``settle()`` runs the same indexing into it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from catalog import keys
from catalog.search.tantivy_engine import TantivyEngine
from shoa_api.app import create_app
from shoa_api.settings import load_settings
from shoa_api.wiring import index_writer
from tests.catalog.search import tantivy_fixtures
from tests.catalog.search.meili_fixtures import index_everything
from tests.client import ShoaClient
from tests.factories import create_mall
from tests.meilisearch.fake_server import FakeMeilisearch

if TYPE_CHECKING:
    import uuid
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from catalog.models import MallStatus
    from shoa_api.settings import Settings
    from tests.conftest import Services


class PartnerMall:
    def __init__(self, client: ShoaClient, mall_id: uuid.UUID, key: str) -> None:
        self.client = client
        self.id = mall_id
        self.headers = {"Authorization": f"Bearer {key}"}

    async def sync(self, *items: dict[str, Any]) -> list[str]:
        """Upsert ``items``; their product ids in order."""
        response = await self.client.put("/partner/v1/products", headers=self.headers, json={"products": list(items)})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["rejected"] == 0, answer
        return [item["product_id"] for item in answer["items"]]

    async def delete(self, external_id: str) -> None:
        response = await self.client.delete(f"/partner/v1/products/{external_id}", headers=self.headers)
        assert response.status_code == 204, response.text


class Backend:
    def __init__(
        self,
        name: str,
        client: ShoaClient,
        session: AsyncSession,
        settings: Settings,
        engine: AsyncEngine,
        tantivy: TantivyEngine | None = None,
    ) -> None:
        self.name = name
        self.client = client
        self.session = session
        self.settings = settings
        self.engine = engine
        self.tantivy = tantivy

    async def mall(self, name: str, *, status: MallStatus | None = None) -> PartnerMall:
        mall = (
            await create_mall(self.session, name=name)
            if status is None
            else await create_mall(self.session, name=name, status=status)
        )
        issued = await keys.issue_key(self.session, mall_id=mall.id, name="sync", scopes=["catalog:write"])
        await self.session.commit()
        return PartnerMall(self.client, mall.id, issued.key)

    async def settle(self) -> None:
        """Wait until searches see every catalog change made so far."""
        if self.name == "meilisearch":
            await index_everything(self.engine, self.settings)
        if self.tantivy is not None:
            await tantivy_fixtures.index_everything(self.engine, self.tantivy)

    async def search(self, **params: Any) -> dict[str, Any]:
        response = await self.client.get("/v1/search", params=params)
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture(params=["tantivy", "meilisearch"])
async def backend(
    request: pytest.FixtureRequest, services: Services, session: AsyncSession, engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[Backend]:
    overrides = {"SHOA_PUBLIC_CACHE_SECONDS": "0"}
    with FakeMeilisearch() as meili:
        if request.param == "meilisearch":
            overrides |= {
                "SHOA_SEARCH_ENGINE": "meilisearch",
                "SHOA_MEILISEARCH_URL": meili.url,
                "SHOA_MEILISEARCH_KEY": meili.master_key,
            }
        if request.param == "tantivy":
            overrides |= {"SHOA_SEARCH_DIR": str(tmp_path / "search")}
        settings = load_settings(services.environ(**overrides), env_file=None)
        async with ShoaClient(app=create_app(settings), base_url="http://shoa.test") as client:
            if request.param != "tantivy":
                yield Backend(request.param, client, session, settings, engine)
                return
            # The app searches the index read-only; the worker's writer (another instance, as in another process)
            # feeds it.
            assert isinstance(client.app.state.search_engine, TantivyEngine)
            writer = index_writer(settings, client.app.state.http)
            assert isinstance(writer, TantivyEngine)
            await writer.prepare()  # as the worker does on its first turn
            try:
                yield Backend(request.param, client, session, settings, engine, writer)
            finally:
                writer.close()
