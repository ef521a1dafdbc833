"""Searching through Meilisearch: what the index still holds but shoppers may no longer see stays hidden, names
are highlighted safely, odd filter values work, and an unreachable Meilisearch is a clear, retryable error."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from catalog.models import Mall, MallStatus
from catalog.search.engine import SearchQuery
from catalog.search.errors import SearchUnavailableError
from tests.catalog.search import meili_fixtures
from tests.catalog.search.meili_fixtures import index_everything, partner_mall, product

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from catalog.search.meilisearch import MeilisearchEngine
    from tests.client import ShoaClient
    from tests.meilisearch.fake_server import FakeMeilisearch

fake_meili = meili_fixtures.fake_meili
meili_http = meili_fixtures.meili_http
meili_engine = meili_fixtures.meili_engine


def _variant(
    sku: str, *, color: str = "블랙", size: str = "M", price: int = 39000, stock: int = 5
) -> dict[str, object]:
    return {"sku": sku, "color": color, "size": size, "price": price, "stock": stock}


async def test_products_hidden_since_the_last_indexing_are_not_shown(
    client: ShoaClient, session: AsyncSession, engine: AsyncEngine, meili_engine: MeilisearchEngine
) -> None:
    haru = await partner_mall(session, client, "하루일상")
    mongle = await partner_mall(session, client, "몽글")
    await haru.sync(product("H1", name="린넨 원피스"), product("H2", name="린넨 셔츠"))
    await mongle.sync(product("M1", name="린넨 자켓"))
    await index_everything(engine, meili_engine)

    # Neither change has reached the index yet.
    await haru.patch("H2", status="hidden")
    await session.execute(sa.update(Mall).where(Mall.id == mongle.id).values(status=MallStatus.PAUSED.value))
    await session.commit()
    results = await meili_engine.search(session, SearchQuery(text="린넨"))

    assert [hit.name for hit in results.items] == ["린넨 원피스"]
    assert results.items[0].mall.name == "하루일상"
    assert [facet.label for facet in results.facets.mall] == ["하루일상"]


async def test_the_page_facets_and_totals_come_back_in_the_shared_shape(
    client: ShoaClient, session: AsyncSession, engine: AsyncEngine, meili_engine: MeilisearchEngine
) -> None:
    mall = await partner_mall(session, client, "하루일상")
    await mall.sync(
        product("A1", name="린넨 원피스", variants=[_variant("A1-1", price=15000)]),
        product("A2", name="린넨 셔츠", category_path="상의/셔츠", variants=[_variant("A2-1", price=52000)]),
        product("A3", name="린넨 팬츠", category_path="하의/슬랙스", variants=[_variant("A3-1", price=120000)]),
    )
    await index_everything(engine, meili_engine)

    results = await meili_engine.search(session, SearchQuery(text="린넨", sort="price_desc", per_page=2))

    assert [hit.name for hit in results.items] == ["린넨 팬츠", "린넨 셔츠"]
    assert (results.page, results.per_page, results.total, results.total_pages) == (1, 2, 3, 2)
    hit = results.items[0]
    assert (hit.price, hit.price_from, hit.currency, hit.in_stock) == (120000, 120000, "KRW", True)
    assert hit.category_path == "하의/슬랙스"
    assert hit.image_url == "https://img.haru.kr/A3/1.jpg"
    assert hit.highlighted_name == "<em>린넨</em> 팬츠"
    assert {(f.value, f.count) for f in results.facets.category} >= {("상의", 1), ("상의/셔츠", 1), ("원피스", 1)}
    assert [(f.value, f.count) for f in results.facets.price] == [
        ("0-20000", 1),
        ("20000-40000", 0),
        ("40000-70000", 1),
        ("70000-100000", 0),
        ("100000-", 1),
    ]
    assert [(f.value, f.count, f.label) for f in results.facets.mall] == [(str(mall.id), 3, "하루일상")]


async def test_names_are_html_escaped_around_the_highlights(
    client: ShoaClient, session: AsyncSession, engine: AsyncEngine, meili_engine: MeilisearchEngine
) -> None:
    mall = await partner_mall(session, client)
    await mall.sync(product("A1", name='<b>여름</b> 린넨 셔츠 & "원피스"'))
    await index_everything(engine, meili_engine)

    results = await meili_engine.search(session, SearchQuery(text="린넨"))

    assert results.items[0].name == '<b>여름</b> 린넨 셔츠 & "원피스"'
    assert results.items[0].highlighted_name == "&lt;b&gt;여름&lt;/b&gt; <em>린넨</em> 셔츠 &amp; &quot;원피스&quot;"


async def test_filter_values_with_quotes_and_backslashes_match_exactly(
    client: ShoaClient, session: AsyncSession, engine: AsyncEngine, meili_engine: MeilisearchEngine
) -> None:
    odd = 'crème "브륄레" \\ 베이지'
    mall = await partner_mall(session, client)
    await mall.sync(
        product("A1", name="니트 가디건", variants=[_variant("A1-1", color=odd)]),
        product("A2", name="니트 조끼", variants=[_variant("A2-1", color="브륄레")]),
    )
    await index_everything(engine, meili_engine)

    results = await meili_engine.search(session, SearchQuery(colors=(odd, "없는 색"), sort="newest"))

    assert [hit.name for hit in results.items] == ["니트 가디건"]
    assert [(f.value, f.count) for f in results.facets.color] == [(odd, 1)]


async def test_an_unreachable_or_failing_meilisearch_is_a_retryable_503(
    session: AsyncSession, meili_engine: MeilisearchEngine, fake_meili: FakeMeilisearch
) -> None:
    await meili_engine.apply_settings()
    fake_meili.fail_next_requests(1, status=500, path_prefix="/indexes/products/search")
    with pytest.raises(SearchUnavailableError) as failed:
        await meili_engine.search(session, SearchQuery(text="린넨"))
    fake_meili.drop_next_connections(1, path_prefix="/indexes/products/search")
    with pytest.raises(SearchUnavailableError) as dropped:
        await meili_engine.search(session, SearchQuery(text="린넨"))

    for error in (failed.value, dropped.value):
        assert (error.status, error.code, error.retry_after) == (503, "search-unavailable", 5)
        assert "meilisearch" not in error.detail.lower()  # shoppers get no internals
    assert "500 internal" in str(failed.value)
    assert (await meili_engine.search(session, SearchQuery(text="린넨"))).items == []
