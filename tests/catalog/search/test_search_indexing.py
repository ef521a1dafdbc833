"""The worker keeps the Meilisearch index in step with what partner malls sync, through the search outbox.

Products arrive through the real partner API; the indexer sends them to the Meilisearch fake. What shoppers
may not see leaves the index; nothing is lost when Meilisearch fails, and nothing is sent twice at once.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.models import Mall, MallStatus, Product, SearchOutbox
from catalog.search.errors import SearchTaskFailedError, SearchUnavailableError
from catalog.search.indexing import index_pending
from catalog.search.meilisearch import MeilisearchEngine
from shoa_api.settings import load_settings
from shoa_api.worker import run_worker
from tests.catalog.search import meili_fixtures
from tests.catalog.search.meili_fixtures import eventually, index_everything, partner_mall, product

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.orm import SessionTransaction

    from tests.client import ShoaClient
    from tests.conftest import Services
    from tests.meilisearch.fake_server import FakeMeilisearch

fake_meili = meili_fixtures.fake_meili
meili_http = meili_fixtures.meili_http
meili_engine = meili_fixtures.meili_engine
sessions = meili_fixtures.sessions


@pytest.fixture
async def indexed(meili_engine: MeilisearchEngine) -> MeilisearchEngine:
    """The engine with its index created and configured, as the worker leaves it before its first batch."""
    await meili_engine.apply_settings()
    return meili_engine


def _documents(fake: FakeMeilisearch) -> dict[str, dict[str, Any]]:
    return {document["name"]: document for document in fake.documents("products")}


def _document_sends(fake: FakeMeilisearch) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and r.path == "/indexes/products/documents")


async def _pending(session: AsyncSession) -> int:
    return await session.scalar(sa.select(sa.func.count()).select_from(SearchOutbox)) or 0


async def test_synced_products_become_documents_shoppers_can_filter_on(
    client: ShoaClient,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    indexed: MeilisearchEngine,
    fake_meili: FakeMeilisearch,
) -> None:
    mall = await partner_mall(session, client, "하루일상")
    dress_id, tee_id = await mall.sync(
        product("A1", name="린넨 셔츠 원피스"),
        product(
            "A2",
            name="오버핏 반팔 티셔츠",
            category_path="상의",
            target_gender="unisex",
            target_age_bands=[],
            exclusive=True,
            style_tags=[],
        ),
    )

    handled = await index_pending(sessions, indexed)

    assert handled == 2
    assert await _pending(session) == 0
    documents = _documents(fake_meili)
    dress = documents["린넨 셔츠 원피스"]
    assert dress["id"] == dress_id
    assert dress["mall_id"] == str(mall.id)
    assert dress["mall_name"] == "하루일상"
    assert dress["category_path"] == "원피스/셔츠원피스"
    assert dress["categories"] == ["원피스", "원피스/셔츠원피스"]
    assert dress["category_names"] == "원피스 셔츠원피스"
    assert dress["style_tags"] == ["오피스룩", "미니멀"]
    assert dress["colors"] == ["블랙", "아이보리"]
    assert dress["sizes"] == ["M", "L"]
    assert dress["target_genders"] == ["female"]
    assert dress["age_bands"] == ["20s_late", "30s_early"]
    assert (dress["price"], dress["price_from"], dress["price_bucket"]) == (39000, 35100, "20000-40000")
    assert (dress["currency"], dress["in_stock"], dress["exclusive"]) == ("KRW", True, False)
    assert dress["image_url"] == "https://img.haru.kr/A1/1.jpg"
    assert dress["popularity"] == 0
    assert dress["created_at"].startswith("20")
    tee = documents["오버핏 반팔 티셔츠"]
    assert tee["id"] == tee_id
    assert tee["categories"] == ["상의"]
    assert tee["target_genders"] == ["female", "male"]  # unisex: found by either
    assert tee["age_bands"] == [
        "10s",
        "20s_early",
        "20s_mid",
        "20s_late",
        "30s_early",
        "30s_mid",
        "30s_late",
        "40s_plus",
    ]
    assert tee["exclusive"] is True


async def test_an_update_replaces_the_document(
    client: ShoaClient,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    indexed: MeilisearchEngine,
    fake_meili: FakeMeilisearch,
) -> None:
    mall = await partner_mall(session, client)
    await mall.sync(product("A1", name="린넨 셔츠 원피스"))
    await index_pending(sessions, indexed)

    await mall.sync(product("A1", name="린넨 셔츠 원피스 (리오더)", source_updated_at="2026-11-21T09:00:00+09:00"))
    await mall.patch("A1", variants=[{"sku": "A1-IV-L", "stock": 0}])
    await index_pending(sessions, indexed)

    assert list(_documents(fake_meili)) == ["린넨 셔츠 원피스 (리오더)"]
    assert _documents(fake_meili)["린넨 셔츠 원피스 (리오더)"]["in_stock"] is False


async def test_deleted_and_hidden_products_leave_the_index(
    client: ShoaClient,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    indexed: MeilisearchEngine,
    fake_meili: FakeMeilisearch,
) -> None:
    mall = await partner_mall(session, client)
    await mall.sync(
        product("A1", name="삭제될 원피스"), product("A2", name="숨길 원피스"), product("A3", name="남는 원피스")
    )
    await index_pending(sessions, indexed)

    await mall.delete("A1")
    await mall.patch("A2", status="hidden")
    await mall.sync(product("A4", name="처음부터 숨긴 원피스", status="hidden"))
    handled = await index_pending(sessions, indexed)

    assert handled == 3
    assert list(_documents(fake_meili)) == ["남는 원피스"]


async def test_a_paused_mall_s_products_leave_the_index(
    client: ShoaClient,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    indexed: MeilisearchEngine,
    fake_meili: FakeMeilisearch,
) -> None:
    haru = await partner_mall(session, client, "하루일상")
    mongle = await partner_mall(session, client, "몽글")
    await haru.sync(product("H1", name="하루 원피스"))
    await mongle.sync(product("M1", name="몽글 원피스"), product("M2", name="몽글 니트"))
    await index_pending(sessions, indexed)

    # Pausing a mall queues its products, as every catalog change does (here by hand: no API pauses malls yet).
    await session.execute(sa.update(Mall).where(Mall.id == mongle.id).values(status=MallStatus.PAUSED.value))
    await session.execute(
        sa.insert(SearchOutbox).from_select(
            ["product_id", "action"], sa.select(Product.id, sa.literal("upsert")).where(Product.mall_id == mongle.id)
        )
    )
    await session.commit()
    await index_pending(sessions, indexed)

    assert list(_documents(fake_meili)) == ["하루 원피스"]


async def test_the_same_product_changed_many_times_is_sent_once_per_batch(
    client: ShoaClient,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    indexed: MeilisearchEngine,
    fake_meili: FakeMeilisearch,
) -> None:
    mall = await partner_mall(session, client)
    await mall.sync(product("A1"))
    for stock in (3, 2, 1):
        await mall.patch("A1", variants=[{"sku": "A1-IV-L", "stock": stock}])
    sends_before = len(fake_meili.requests)

    handled = await index_pending(sessions, indexed)

    assert handled == 4
    sent = [r.json() for r in fake_meili.requests[sends_before:] if r.path == "/indexes/products/documents"]
    assert [len(batch) for batch in sent] == [1]


async def test_a_large_backlog_goes_in_batches(
    client: ShoaClient,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    indexed: MeilisearchEngine,
    fake_meili: FakeMeilisearch,
) -> None:
    mall = await partner_mall(session, client)
    await mall.sync(*(product(f"A{n}", name=f"원피스 {n}") for n in range(7)))

    batches = [await index_pending(sessions, indexed, batch_size=3) for _ in range(4)]

    assert batches == [3, 3, 1, 0]
    assert len(_documents(fake_meili)) == 7


@pytest.mark.parametrize(
    "failure",
    ["server error", "connection dropped", "failed task"],
)
async def test_when_meilisearch_fails_the_rows_stay_and_the_next_run_sends_them(
    failure: str,
    client: ShoaClient,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    indexed: MeilisearchEngine,
    fake_meili: FakeMeilisearch,
) -> None:
    mall = await partner_mall(session, client)
    await mall.sync(product("A1", name="린넨 원피스"), product("A2", name="린넨 셔츠"))
    if failure == "server error":
        fake_meili.fail_next_requests(1, status=500, path_prefix="/indexes/products/documents")
    elif failure == "connection dropped":
        fake_meili.drop_next_connections(1, path_prefix="/indexes/products/documents")
    else:
        fake_meili.fail_next_tasks(1, code="internal", message="no space left on device")

    expected = SearchTaskFailedError if failure == "failed task" else SearchUnavailableError
    with pytest.raises(expected):
        await index_pending(sessions, indexed)

    assert await _pending(session) == 2
    assert _documents(fake_meili) == {}
    assert await index_pending(sessions, indexed) == 2
    assert sorted(_documents(fake_meili)) == ["린넨 셔츠", "린넨 원피스"]
    assert await _pending(session) == 0


async def test_a_task_meilisearch_does_not_finish_in_time_is_sent_again_and_the_newest_state_wins(
    client: ShoaClient,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    indexed: MeilisearchEngine,
    fake_meili: FakeMeilisearch,
    meili_http: httpx.AsyncClient,
) -> None:
    impatient = MeilisearchEngine(meili_http, url=fake_meili.url, key=fake_meili.master_key, task_timeout=0.3)
    mall = await partner_mall(session, client)
    await mall.sync(product("A1", name="린넨 원피스"))
    fake_meili.pause_tasks()

    with pytest.raises(SearchTaskFailedError, match=r"did not finish within 0\.3 s"):
        await index_pending(sessions, impatient)
    await mall.sync(product("A1", name="린넨 원피스 (리오더)", source_updated_at="2026-11-21T09:00:00+09:00"))
    fake_meili.resume_tasks()  # the late task runs now, with the older name

    assert await index_pending(sessions, indexed) == 2
    assert list(_documents(fake_meili)) == ["린넨 원피스 (리오더)"]


class _CrashBeforeCommit(AsyncSession):
    """A session whose commit fails, as when the worker dies between sending and acknowledging."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

        def crash(session: Any, transaction: SessionTransaction | None = None) -> None:
            msg = "worker killed before the commit"
            raise ConnectionResetError(msg)

        event.listen(self.sync_session, "before_commit", crash)


async def test_a_crash_after_sending_but_before_acknowledging_sends_again(
    client: ShoaClient,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    indexed: MeilisearchEngine,
    fake_meili: FakeMeilisearch,
) -> None:
    mall = await partner_mall(session, client)
    await mall.sync(product("A1", name="린넨 원피스"))
    crashing = async_sessionmaker[AsyncSession](engine, class_=_CrashBeforeCommit, expire_on_commit=False)

    with pytest.raises(ConnectionResetError):
        await index_pending(crashing, indexed)

    assert list(_documents(fake_meili)) == ["린넨 원피스"]  # it reached Meilisearch ...
    assert await _pending(session) == 1  # ... but was never acknowledged
    assert await index_pending(sessions, indexed) == 1
    assert _document_sends(fake_meili) == 2
    assert list(_documents(fake_meili)) == ["린넨 원피스"]
    assert await _pending(session) == 0


async def test_two_indexers_at_once_never_send_the_same_rows(
    client: ShoaClient,
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    indexed: MeilisearchEngine,
    fake_meili: FakeMeilisearch,
) -> None:
    mall = await partner_mall(session, client)
    await mall.sync(*(product(f"A{n}", name=f"원피스 {n}") for n in range(4)))
    fake_meili.pause_tasks()
    first = asyncio.create_task(index_pending(sessions, indexed))
    await eventually(lambda: _document_sends(fake_meili) == 1)

    second = await index_pending(sessions, indexed)  # while the first waits for Meilisearch
    fake_meili.resume_tasks()

    assert second == 0
    assert await asyncio.wait_for(first, timeout=5) == 4
    assert _document_sends(fake_meili) == 1
    assert await index_pending(sessions, indexed) == 0


async def test_index_everything_drains_the_outbox_into_a_fresh_server(
    client: ShoaClient, session: AsyncSession, engine: AsyncEngine, meili_engine: MeilisearchEngine
) -> None:
    mall = await partner_mall(session, client)
    await mall.sync(*(product(f"A{n}", name=f"원피스 {n}") for n in range(3)))
    await mall.delete("A0")

    assert await index_everything(engine, meili_engine) == 4
    assert await _pending(session) == 0


async def test_the_worker_configures_the_index_and_indexes_what_malls_sync(
    services: Services, client: ShoaClient, session: AsyncSession, fake_meili: FakeMeilisearch
) -> None:
    settings = load_settings(
        services.environ(
            SHOA_SEARCH_ENGINE="meilisearch",
            SHOA_MEILISEARCH_URL=fake_meili.url,
            SHOA_MEILISEARCH_KEY=fake_meili.master_key,
        ),
        env_file=None,
    )
    mall = await partner_mall(session, client)
    await mall.sync(product("A1", name="린넨 원피스"))
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop))
    try:
        await eventually(lambda: "products" in fake_meili.store.indexes and bool(_documents(fake_meili)), within=10)
        await mall.sync(product("A2", name="린넨 셔츠"))
        await eventually(lambda: len(_documents(fake_meili)) == 2, within=10)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)

    assert sorted(_documents(fake_meili)) == ["린넨 셔츠", "린넨 원피스"]
    assert fake_meili.store.indexes["products"].settings["rankingRules"][-2:] == ["popularity:desc", "id:desc"]
    settings_patches = [r for r in fake_meili.requests if r.method == "PATCH"]
    assert len(settings_patches) == 1  # once per worker process, not every turn
    assert await _pending(session) == 0
