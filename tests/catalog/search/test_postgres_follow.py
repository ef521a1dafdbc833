"""The PostgreSQL engine answers from memory, and still every search sees every change committed before it.

Each test keeps one engine across changes, as an API process does: the first search reads the catalog, later
ones read what changed. Changes come through the partner API and through plain SQL in other connections
(an operator's fix, a transaction that commits late), since the triggers, not the API, are what it follows.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import keys
from catalog.search.answers import answer
from catalog.search.columns import CatalogColumns, MallRow, ProductRow
from catalog.search.engine import SearchQuery, SearchResults
from catalog.search.postgres import PostgresSearch
from catalog.search.text import index_terms
from tests.catalog.search.conftest import PartnerMall
from tests.catalog.search.test_contract import item
from tests.factories import create_mall

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncEngine

    from tests.client import ShoaClient


class Shop:
    def __init__(self, engine: AsyncEngine, mall: PartnerMall) -> None:
        self.engine = engine
        self.mall = mall
        self.search_engine = PostgresSearch(min_recent=2)  # compacts after every few changes

    async def search(self, **fields: Any) -> SearchResults:
        async with AsyncSession(self.engine) as session:
            return await self.search_engine.search(session, SearchQuery(per_page=50, **fields))

    async def names(self, **fields: Any) -> set[str]:
        return {hit.name for hit in (await self.search(**fields)).items}

    async def sql(self, statement: str, **params: Any) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(sa.text(statement), params)


@pytest.fixture
async def shop(engine: AsyncEngine, session: AsyncSession, client: ShoaClient) -> AsyncIterator[Shop]:
    mall = await create_mall(session, name="메종 드 린")
    issued = await keys.issue_key(session, mall_id=mall.id, name="sync", scopes=["catalog:write"])
    await session.commit()
    shop = Shop(engine, PartnerMall(client, mall.id, issued.key))
    yield shop
    await shop.search_engine.aclose()


def later(product: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**product, "source_updated_at": "2026-11-21T10:00:00+09:00", **changes}


SHIRT = item("A1", "오버핏 린넨셔츠", "상의/셔츠", price=39000, colors=("화이트",))
PANTS = item("A2", "린넨 와이드팬츠", "하의/와이드팬츠", price=45000, colors=("베이지",))
SKIRT = item("A3", "데님 롱스커트", "하의/스커트", price=52000, colors=("블루",))


async def test_partner_changes_after_the_first_search_show_in_the_next(shop: Shop) -> None:
    await shop.mall.sync(SHIRT, PANTS)
    assert await shop.names(text="린넨") == {"오버핏 린넨셔츠", "린넨 와이드팬츠"}

    await shop.mall.sync(SKIRT, later(SHIRT, name="오버핏 코튼셔츠"), later(PANTS, status="hidden"))
    assert await shop.names(text="린넨") == set()
    assert await shop.names(text="셔츠") == {"오버핏 코튼셔츠"}
    assert await shop.names() == {"오버핏 코튼셔츠", "데님 롱스커트"}

    response = await shop.mall.client.patch(
        "/partner/v1/products/A3",
        headers=shop.mall.headers,
        json={"variants": [{"sku": "A3-0", "price": 30000, "stock": 0}]},
    )
    assert response.status_code == 200, response.text
    (skirt,) = (await shop.search(text="스커트")).items
    assert (skirt.price_from, skirt.in_stock) == (30000, False)
    assert await shop.names(in_stock=True) == {"오버핏 코튼셔츠"}

    await shop.mall.delete("A1")
    answer = await shop.search()
    assert [hit.name for hit in answer.items] == ["데님 롱스커트"]
    assert answer.total == 1
    assert {facet.value for facet in answer.facets.color} == {"블루"}


async def test_a_transaction_that_commits_late_is_never_skipped(shop: Shop) -> None:
    """A transaction that began writing first but commits last has the smaller transaction id: a search that
    only asked for ids past the largest it had seen would lose its change for ever."""
    shirt_id, pants_id = await shop.mall.sync(SHIRT, PANTS)
    assert await shop.names(text="데님") == set()
    rename = "UPDATE products SET name = :name, search_name = :terms, search_text = :terms WHERE id = :id"

    async with shop.engine.connect() as slow:
        await slow.execute(sa.text(rename), {"name": "데님 셔츠", "terms": index_terms("데님 셔츠"), "id": shirt_id})
        await shop.sql(rename, name="데님 팬츠", terms=index_terms("데님 팬츠"), id=pants_id)
        assert await shop.names(text="데님") == {"데님 팬츠"}  # the slow one has not committed yet
        await slow.commit()

    assert await shop.names(text="데님") == {"데님 셔츠", "데님 팬츠"}


async def test_malls_paused_renamed_and_rows_deleted_or_truncated_by_sql(shop: Shop) -> None:
    shirt_id, _ = await shop.mall.sync(SHIRT, PANTS)
    assert len(await shop.names()) == 2

    await shop.sql("UPDATE malls SET status = 'paused' WHERE id = :id", id=shop.mall.id)
    assert await shop.names() == set()
    await shop.sql("UPDATE malls SET status = 'active', name = '린 아뜰리에' WHERE id = :id", id=shop.mall.id)
    answer = await shop.search(text="셔츠")
    assert [hit.mall.name for hit in answer.items] == ["린 아뜰리에"]
    assert [facet.label for facet in answer.facets.mall] == ["린 아뜰리에"]

    await shop.sql("DELETE FROM products WHERE id = :id", id=shirt_id)
    assert await shop.names() == {"린넨 와이드팬츠"}
    await shop.sql("TRUNCATE products CASCADE")
    assert await shop.names() == set()
    await shop.mall.sync(SKIRT)
    assert await shop.names() == {"데님 롱스커트"}


async def test_concurrent_searches_never_go_back_in_time(shop: Shop) -> None:
    """Searches overlap while a price changes again and again: each sees at least the price committed before
    it began, however the engine's overlapping reads of the changes finish."""
    (shirt_id,) = await shop.mall.sync(SHIRT)
    await shop.search()
    committed = 10_000
    seen: list[tuple[int, int]] = []

    async def write() -> None:
        nonlocal committed
        for price in range(10_001, 10_041):
            await shop.sql("UPDATE products SET price_from = :price WHERE id = :id", price=price, id=shirt_id)
            committed = price

    async def read() -> None:
        for _ in range(40):
            before = committed
            (hit,) = (await shop.search()).items
            seen.append((before, hit.price_from))

    await asyncio.gather(write(), *(read() for _ in range(4)))
    assert all(found >= before for before, found in seen), [pair for pair in seen if pair[1] < pair[0]]
    assert (await shop.search()).items[0].price_from == 10_040


def test_an_older_read_applied_last_never_replaces_a_newer_one() -> None:
    """Overlapping searches read the changes concurrently, and their reads may finish in any order."""
    columns = CatalogColumns()
    mall = MallRow(uuid.uuid4(), "메종 드 린", "active", search_seq=1)
    product = _linen_shirt(mall)
    columns.apply_mall(mall)
    columns.apply_product(product._replace(price_from=29000, colors=["블랙"], search_seq=7))
    columns.apply_product(product)
    columns.apply_mall(mall._replace(name="옛 이름", search_seq=0))
    answer_ = answer(columns, SearchQuery(text="린넨"))
    assert [(hit.price_from, hit.mall.name) for hit in answer_.items] == [(29000, "메종 드 린")]
    assert [facet.value for facet in answer_.facets.color] == ["블랙"]


def test_a_write_that_keeps_the_words_leaves_the_term_postings_alone() -> None:
    """The worker rewrites the popularity of every product shoppers engage with; prices and stock change
    all day. Only a change of words may bring the term postings nearer a compaction."""
    columns = CatalogColumns()
    mall = MallRow(uuid.uuid4(), "메종 드 린", "active", search_seq=1)
    product = _linen_shirt(mall)
    columns.apply_mall(mall)
    columns.load([product], [])
    columns.finish_load()
    for seq in range(6, 50):
        columns.apply_product(product._replace(popularity=float(seq), price_from=39000 - seq, search_seq=seq))
    assert (columns.text.pending, columns.name_terms.pending) == (0, 0)
    assert [hit.price_from for hit in answer(columns, SearchQuery(text="린넨", sort="popularity")).items] == [38951]

    renamed = index_terms("코튼셔츠")
    columns.apply_product(product._replace(name="코튼셔츠", search_name=renamed, search_text=renamed, search_seq=50))
    assert (columns.text.pending, columns.name_terms.pending) == (1, 1)
    assert answer(columns, SearchQuery(text="린넨")).items == []
    assert [hit.name for hit in answer(columns, SearchQuery(text="코튼")).items] == ["코튼셔츠"]
    columns.remove_product(product.id, seq=51)
    assert answer(columns, SearchQuery(text="코튼")).items == []
    # Back, with the words it had: they are indexed again.
    columns.apply_product(product._replace(name="코튼셔츠", search_name=renamed, search_text=renamed, search_seq=52))
    assert [hit.name for hit in answer(columns, SearchQuery(text="코튼")).items] == ["코튼셔츠"]


def _linen_shirt(mall: MallRow) -> ProductRow:
    """A product row as the engine reads it, written at ``search_seq`` 5."""
    return ProductRow(
        id=uuid.uuid4(), mall_id=mall.id, name="린넨셔츠", image_url=None, category_path="상의/셔츠", style_tags=[],
        colors=["화이트"], sizes=["M"], target_gender="female", target_age_bands=[], price_min=39000,
        price_from=39000, currency="KRW", in_stock=True, exclusive=False, status="on_sale", popularity=0.0,
        search_name=index_terms("린넨셔츠"), search_text=index_terms("린넨셔츠"), search_seq=5,
    )  # fmt: skip
