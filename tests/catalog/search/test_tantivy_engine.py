"""Searching through the Tantivy engine: products synced by a partner, indexed by the worker's indexer, found the
way Korean shoppers type, and never shown once hidden or deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from catalog.models import Product, SearchOutbox
from catalog.search import tantivy_engine as tantivy_module
from catalog.search.engine import SearchQuery
from catalog.search.errors import SearchUnavailableError
from catalog.search.tantivy_engine import TantivyEngine
from tests.catalog.search import tantivy_fixtures
from tests.catalog.search.meili_fixtures import PartnerMall, partner_mall
from tests.catalog.search.tantivy_fixtures import index_everything

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from catalog.search.engine import SearchResults
    from tests.client import ShoaClient

tantivy_engine = tantivy_fixtures.tantivy_engine

UPDATED = "2026-11-20T10:00:00+09:00"


def item(
    external_id: str, name: str, category: str = "하의/스커트", *, price: int = 39000, **fields: Any
) -> dict[str, Any]:
    colors = fields.pop("colors", ("블랙",))
    return {
        "external_id": external_id,
        "name": name,
        "category_path": category,
        "target_gender": "female",
        "image_urls": [f"https://img.shoa.test/{external_id}.jpg"],
        "source_updated_at": UPDATED,
        "variants": [
            {"sku": f"{external_id}-{n}", "color": color, "size": "M", "price": price, "stock": 5}
            for n, color in enumerate(colors)
        ],
        **fields,
    }


class Shop:
    """A partner mall, the engine and the database, as a shopper's searches meet them."""

    def __init__(self, session: AsyncSession, db: AsyncEngine, engine: TantivyEngine, mall: PartnerMall) -> None:
        self.session = session
        self.db = db
        self.engine = engine
        self.mall = mall

    async def sync(self, *items: dict[str, Any]) -> list[str]:
        ids = await self.mall.sync(*items)
        await index_everything(self.db, self.engine)
        return ids

    async def search(self, text: str = "", **params: Any) -> SearchResults:
        return await self.engine.search(self.session, SearchQuery(text=text, **params))

    async def names(self, text: str = "", **params: Any) -> list[str]:
        return [hit.name for hit in (await self.search(text, per_page=50, **params)).items]

    async def set_popularity(self, popularity: dict[str, float]) -> None:
        for product_id, value in popularity.items():
            await self.session.execute(sa.update(Product).where(Product.id == product_id).values(popularity=value))
            self.session.add(SearchOutbox(product_id=product_id, action="upsert"))
        await self.session.commit()
        await index_everything(self.db, self.engine)


@pytest.fixture
async def shop(client: ShoaClient, session: AsyncSession, engine: AsyncEngine, tantivy_engine: TantivyEngine) -> Shop:
    return Shop(session, engine, tantivy_engine, await partner_mall(session, client, "하루일상"))


async def test_a_compound_is_found_typed_with_or_without_its_space(shop: Shop) -> None:
    await shop.sync(item("A1", "데님 롱스커트"), item("A2", "플리츠 롱 스커트"), item("A3", "코튼 바지", "하의/슬랙스"))

    assert set(await shop.names("롱스커트")) == {"데님 롱스커트", "플리츠 롱 스커트"}
    assert set(await shop.names("롱 스커트")) == {"데님 롱스커트", "플리츠 롱 스커트"}
    highlighted = {hit.name: hit.highlighted_name for hit in (await shop.search("롱스커트")).items}
    assert highlighted["데님 롱스커트"] == "데님 <em>롱스커트</em>"


async def test_a_word_ranks_products_named_for_it_above_those_holding_it_inside_another_word(shop: Shop) -> None:
    shorts, *_ = await shop.sync(
        item("A1", "린넨 반바지", "하의/반바지"),
        item("A2", "와이드 바지", "하의/슬랙스"),
        item("A3", "코튼 바지", "하의/슬랙스"),
    )
    await shop.set_popularity({shorts: 50.0})  # the shorts sell best, and still are not what 바지 asks for

    assert await shop.names("바지") == ["코튼 바지", "와이드 바지", "린넨 반바지"]


async def test_a_two_word_query_ranks_products_holding_both_first_then_those_holding_the_item(shop: Shop) -> None:
    linen_pants, *_ = await shop.sync(
        item("A1", "린넨 바지", "하의/슬랙스"),
        item("A2", "린넨 셔츠", "상의/셔츠"),
        item("A3", "옥스포드 셔츠", "상의/셔츠"),
    )
    await shop.set_popularity({linen_pants: 50.0})

    # The item comes last, in Korean as in English: another shirt answers 린넨 셔츠 better than other linen.
    assert await shop.names("린넨 셔츠") == ["린넨 셔츠", "옥스포드 셔츠", "린넨 바지"]
    answer = await shop.search("린넨 수영복")
    assert {hit.name for hit in answer.items} == {"린넨 셔츠", "린넨 바지"}
    assert answer.total == 2


async def test_when_products_holding_every_word_fill_the_page_only_they_answer(shop: Shop) -> None:
    await shop.sync(
        item("A1", "린넨 셔츠", "상의/셔츠", colors=("화이트",)),
        item("A2", "오버핏 린넨 셔츠", "상의/셔츠", colors=("화이트",)),
        item("A3", "옥스포드 셔츠", "상의/셔츠", colors=("화이트",)),
    )

    # As Meilisearch's matching strategies: the other shirts would only follow, past the page asked for.
    first = await shop.search("린넨 셔츠", per_page=2)
    assert {hit.name for hit in first.items} == {"린넨 셔츠", "오버핏 린넨 셔츠"}
    assert first.total == 2
    assert first.facets.category[0].count == 2
    # A bigger page than they fill: those holding some of the words follow them.
    assert (await shop.names("린넨 셔츠"))[2:] == ["옥스포드 셔츠"]


async def test_sorted_by_price_a_search_lists_the_products_holding_every_word(shop: Shop) -> None:
    await shop.sync(
        item("A1", "울 슬랙스", "하의/슬랙스", price=49000, colors=("블랙",)),
        item("A2", "반팔 티셔츠", "상의/티셔츠", price=9000, colors=("블랙",)),
        item("A3", "와이드 슬랙스", "하의/슬랙스", price=19000, colors=("그레이",)),
    )

    assert await shop.names("블랙 슬랙스", sort="price_asc") == ["울 슬랙스"]
    # With no product holding both, those holding some of the words answer, cheapest first.
    assert await shop.names("네이비 슬랙스", sort="price_asc") == ["와이드 슬랙스", "울 슬랙스"]


async def test_a_word_only_in_the_description_ranks_below_one_in_the_name_category_tags_or_colours(
    shop: Shop,
) -> None:
    await shop.sync(
        item("A1", "스퀘어 로퍼", "신발/로퍼", colors=("블랙",), description="슬랙스와 잘 어울리는 로퍼예요"),
        item("A2", "와이드 슬랙스", "하의/슬랙스", colors=("네이비",)),
        item("A3", "밴딩 슬랙스", "하의/슬랙스", colors=("블랙",)),
    )

    assert await shop.names("블랙 슬랙스") == ["밴딩 슬랙스", "와이드 슬랙스", "스퀘어 로퍼"]
    assert await shop.names("어울리는") == ["스퀘어 로퍼"]  # descriptions are searched all the same


async def test_the_word_typed_ranks_above_its_synonyms(shop: Shop) -> None:
    skirt, chima = await shop.sync(item("A1", "플리츠 스커트"), item("A2", "플리츠 치마"))

    await shop.set_popularity({skirt: 20.0})  # popularity only breaks ties
    assert await shop.names("치마") == ["플리츠 치마", "플리츠 스커트"]
    await shop.set_popularity({chima: 40.0})
    assert await shop.names("스커트") == ["플리츠 스커트", "플리츠 치마"]


async def test_a_material_is_not_an_item(shop: Shop) -> None:
    """데님 is what a denim skirt is made of; 청바지 are jeans (issue 16)."""
    await shop.sync(
        item("A1", "데님 롱스커트"),
        item("A2", "와이드 청바지", "하의/청바지"),
        item("A3", "데님 팬츠", "하의/청바지"),
    )

    assert set(await shop.names("데님")) == {"데님 롱스커트", "데님 팬츠"}
    assert await shop.names("청바지") == ["와이드 청바지", "데님 팬츠"]


async def test_a_compound_typed_without_its_space_is_sought_as_its_words_with_their_synonyms(shop: Shop) -> None:
    await shop.sync(
        item("A1", "라운드 니트", "상의/니트"),
        item("A2", "패딩 조끼", "상의/조끼"),
        item("A3", "꽈배기 니트 베스트", "상의/조끼"),
    )

    assert await shop.names("니트조끼") == ["꽈배기 니트 베스트", "패딩 조끼", "라운드 니트"]


async def test_an_item_is_found_by_its_other_names_of_several_words(shop: Shop) -> None:
    await shop.sync(
        item("A1", "데님 셔츠", "상의/셔츠"),
        item("A2", "데님 자켓", "아우터/자켓"),
        item("A3", "크롭 청자켓", "아우터/자켓"),
    )

    assert await shop.names("청자켓") == ["크롭 청자켓", "데님 자켓"]


async def test_an_english_phrase_finds_the_korean_item(shop: Shop) -> None:
    await shop.sync(item("A1", "울 코트", "아우터/코트"), item("A2", "벨티드 트렌치코트", "아우터/트렌치코트"))

    assert await shop.names("trench coat") == ["벨티드 트렌치코트", "울 코트"]


async def test_the_last_word_of_a_name_says_what_the_product_is_and_a_shops_label_does_not(shop: Shop) -> None:
    sneakers, labelled, _ = await shop.sync(
        item("A1", "코트 스니커즈", "신발/스니커즈"),
        item("A2", "[베스트] 울 코트", "아우터/코트"),
        item("A3", "니트 베스트", "상의/조끼"),
    )
    await shop.set_popularity({sneakers: 50.0, labelled: 50.0})

    assert await shop.names("코트") == ["[베스트] 울 코트", "코트 스니커즈"]
    assert await shop.names("베스트") == ["니트 베스트", "[베스트] 울 코트"]


async def test_a_korean_typo_is_forgiven_only_when_the_word_as_typed_is_nowhere(shop: Shop) -> None:
    await shop.sync(
        item("A1", "실크 블라우스", "상의/블라우스"),
        item("A2", "베이직 티셔츠", "상의/티셔츠"),
        item("A3", "코튼 팬츠", "하의/슬랙스", colors=("베이지",)),
    )

    assert await shop.names("블라우즈") == ["실크 블라우스"]
    assert await shop.names("블라우") == ["실크 블라우스"]
    assert await shop.names("베이지") == ["코튼 팬츠"]  # not 베이직, one syllable away


async def test_equal_matches_go_by_popularity_then_the_newer_product(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await shop.sync(*(item(f"A{n}", f"{material} 니트", "상의/니트") for n, material in enumerate("울면실마")))
    await shop.set_popularity({ids[1]: 3.0, ids[2]: 7.0})
    # Fetch two hits at a time: the run of equal scores goes past them, so the engine must fetch on.
    monkeypatch.setattr(tantivy_module, "FIRST_FETCH", 2)

    first = await shop.search("니트", per_page=2)
    second = await shop.search("니트", per_page=2, page=2)

    assert [hit.name for hit in first.items + second.items] == ["실 니트", "면 니트", "마 니트", "울 니트"]
    assert (first.total, first.total_pages) == (4, 2)


async def test_sorted_pages_break_ties_by_the_newer_product(shop: Shop) -> None:
    names = [f"{material} 니트" for material in "울면실마캐"]
    ids = await shop.sync(*(item(f"A{n}", name, "상의/니트", price=39000) for n, name in enumerate(names)))
    await shop.set_popularity({ids[0]: 2.0})
    newest_first = names[::-1]

    for sort, expected in (
        ("price_asc", newest_first),
        ("price_desc", newest_first),
        ("popularity", [names[0], *newest_first[:-1]]),
    ):
        pages = [await shop.search(sort=sort, per_page=2, page=page) for page in (1, 2, 3)]
        assert [hit.name for answer in pages for hit in answer.items] == expected, sort
        assert {answer.total for answer in pages} == {5}


async def test_filters_facets_sorts_and_pages(shop: Shop) -> None:
    await shop.sync(
        item("A1", "데님 롱스커트", price=52000, colors=("블루",), style_tags=["캐주얼"]),
        item("A2", "린넨 셔츠", "상의/셔츠", price=29000, colors=("화이트", "베이지"), style_tags=["미니멀"]),
        item("A3", "린넨 와이드팬츠", "하의/와이드팬츠", price=45000, colors=("베이지",), style_tags=["캐주얼"]),
        item("A4", "린넨 블레이저", "아우터/블레이저", price=129000, exclusive=True),
    )

    assert await shop.names("린넨", categories=("하의",)) == ["린넨 와이드팬츠"]
    assert set(await shop.names(colors=("베이지",), price_max=45000)) == {"린넨 셔츠", "린넨 와이드팬츠"}
    assert await shop.names(exclusive=True) == ["린넨 블레이저"]
    assert await shop.names(sort="price_asc") == ["린넨 셔츠", "린넨 와이드팬츠", "데님 롱스커트", "린넨 블레이저"]
    assert await shop.names(sort="newest") == ["린넨 블레이저", "린넨 와이드팬츠", "린넨 셔츠", "데님 롱스커트"]
    assert await shop.names("린넨", sort="price_desc") == ["린넨 블레이저", "린넨 와이드팬츠", "린넨 셔츠"]

    second = await shop.search(sort="price_asc", per_page=3, page=2)
    assert [hit.name for hit in second.items] == ["린넨 블레이저"]
    assert (second.total, second.total_pages) == (4, 2)

    facets = (await shop.search("린넨")).facets
    assert {(f.value, f.count) for f in facets.category} == {
        ("상의", 1), ("상의/셔츠", 1), ("하의", 1), ("하의/와이드팬츠", 1), ("아우터", 1), ("아우터/블레이저", 1),
    }  # fmt: skip
    assert [(f.value, f.count) for f in facets.color] == [("베이지", 2), ("블랙", 1), ("화이트", 1)]
    assert [(f.value, f.count) for f in facets.style] == [("미니멀", 1), ("캐주얼", 1)]
    assert [(f.value, f.count, f.label) for f in facets.mall] == [(str(shop.mall.id), 3, "하루일상")]
    assert [(f.value, f.count) for f in facets.price] == [
        ("0-20000", 0), ("20000-40000", 1), ("40000-70000", 1), ("70000-100000", 0), ("100000-", 1),
    ]  # fmt: skip


async def test_names_are_escaped_around_the_highlights(shop: Shop) -> None:
    await shop.sync(item("A1", '<b>여름</b> 린넨 셔츠 & "원피스"', "원피스/셔츠원피스"))

    (hit,) = (await shop.search("린넨")).items

    assert hit.highlighted_name == "&lt;b&gt;여름&lt;/b&gt; <em>린넨</em> 셔츠 &amp; &quot;원피스&quot;"
    (listed,) = (await shop.search()).items
    assert listed.highlighted_name == "&lt;b&gt;여름&lt;/b&gt; 린넨 셔츠 &amp; &quot;원피스&quot;"


async def test_a_product_hidden_since_the_last_indexing_is_never_shown_and_a_deleted_one_leaves_the_index(
    shop: Shop,
) -> None:
    await shop.sync(item("A1", "린넨 셔츠", "상의/셔츠"), item("A2", "린넨 원피스", "원피스/미니원피스"))

    await shop.mall.patch("A1", status="hidden")  # the index has not heard of it yet
    assert await shop.names("린넨") == ["린넨 원피스"]

    await shop.mall.delete("A2")
    await index_everything(shop.db, shop.engine)
    answer = await shop.search("린넨")
    assert (answer.items, answer.total) == ([], 0)


async def test_a_reader_sees_each_commit_of_the_writer(shop: Shop, tmp_path: Path) -> None:
    reader = TantivyEngine(tmp_path / "search")  # as an API process has it: it never writes
    await shop.sync(item("A1", "린넨 셔츠", "상의/셔츠"))
    assert [hit.name for hit in (await reader.search(shop.session, SearchQuery(text="셔츠"))).items] == ["린넨 셔츠"]

    await shop.sync(item("A2", "옥스포드 셔츠", "상의/셔츠"))

    assert (await reader.search(shop.session, SearchQuery(text="셔츠"))).total == 2


async def test_searching_before_the_index_exists_is_a_retryable_error(session: AsyncSession, tmp_path: Path) -> None:
    with pytest.raises(SearchUnavailableError) as missing:
        await TantivyEngine(tmp_path / "nowhere").search(session, SearchQuery(text="린넨"))

    assert (missing.value.status, missing.value.retry_after) == (503, 5)
