"""What a shopper gets from ``GET /v1/search``, whichever engine serves it: every case runs on both.

The catalog: two listed malls and a paused one, a dozen products in Korean, Japanese and English.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from catalog.models import MallStatus, Product, SearchOutbox

if TYPE_CHECKING:
    from tests.catalog.search.conftest import Backend, PartnerMall

UPDATED = "2026-11-20T10:00:00+09:00"


def item(
    external_id: str,
    name: str,
    category: str,
    *,
    price: int,
    sale_price: int | None = None,
    colors: tuple[str, ...] = ("블랙",),
    sizes: tuple[str, ...] = ("M",),
    stock: int = 10,
    **fields: Any,
) -> dict[str, Any]:
    variants = [
        {
            "sku": f"{external_id}-{index}",
            "color": color,
            "size": size,
            "price": price,
            "sale_price": sale_price,
            "stock": stock,
        }
        for index, (color, size) in enumerate((c, s) for c in colors for s in sizes)
    ]
    return {
        "external_id": external_id,
        "name": name,
        "category_path": category,
        "target_gender": "female",
        "image_urls": [f"https://img.shoa.test/{external_id}.jpg"],
        "source_updated_at": UPDATED,
        "variants": variants,
        **fields,
    }


class Catalog:
    """The products by a short name, and their ids once synced."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.ids: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.mall_a: PartnerMall
        self.mall_b: PartnerMall

    async def load(self) -> None:
        self.mall_a = await self.backend.mall("메종 드 린")
        self.mall_b = await self.backend.mall("도쿄 클로젯")
        paused = await self.backend.mall("잠시휴업", status=MallStatus.PAUSED)
        a_items = {
            "linen_shirt": item(
                "A1",
                "오버핏 린넨셔츠",
                "상의/셔츠",
                price=39000,
                sale_price=29000,
                colors=("화이트", "베이지"),
                sizes=("S", "M"),
                style_tags=["미니멀", "오피스룩"],
                target_age_bands=["20s_late", "30s_early"],
            ),
            "denim_skirt": item(
                "A2",
                "데님 롱스커트",
                "하의/스커트",
                price=52000,
                colors=("블루",),
                style_tags=["캐주얼"],
                target_age_bands=["10s", "20s_early"],
            ),
            "blazer": item(
                "A3",
                "Classic Linen Blazer",
                "아우터/블레이저",
                price=129000,
                target_gender="male",
                style_tags=["클래식", "댄디"],
                exclusive=True,
                colors=("네이비",),
                sizes=("L",),
            ),
            "hidden": item("A4", "린넨 셔츠 비공개", "상의/셔츠", price=30000, status="hidden"),
            "dress": item("A5", "플라워 원피스", "원피스/미디원피스", price=68000, style_tags=["러블리"]),
        }
        b_items = {
            "linen_pants": item(
                "B1", "린넨 & 코튼 와이드팬츠", "하의/와이드팬츠", price=45000, colors=("베이지",),
                sizes=("M", "L"), style_tags=["캐주얼"],
            ),
            "japanese_shirt": item(
                "B2", "リネンシャツ ホワイト", "상의/셔츠", price=88000, target_gender="unisex", colors=("화이트",),
            ),
            "cardigan": item(
                "B3", "미니멀 니트 가디건", "상의/가디건", price=35000, stock=0, style_tags=["미니멀"],
                colors=("그레이",),
            ),
            "office_slacks": item(
                "B4", "오피스룩 슬랙스", "하의/슬랙스", price=15000, style_tags=["베이직"], colors=("블랙",),
            ),
        }  # fmt: skip
        for mall, items in ((self.mall_a, a_items), (self.mall_b, b_items)):
            ids = await mall.sync(*items.values())
            self.ids.update(zip(items, ids, strict=True))
            self.names.update((key, value["name"]) for key, value in items.items())
        await paused.sync(item("C1", "린넨셔츠 휴업중", "상의/셔츠", price=30000))
        await self.backend.settle()

    def keys(self, answer: dict[str, Any]) -> list[str]:
        by_id = {product_id: key for key, product_id in self.ids.items()}
        return [by_id.get(hit["id"], f"unknown {hit['name']}") for hit in answer["items"]]

    async def found(self, **params: Any) -> set[str]:
        return set(self.keys(await self.backend.search(per_page=50, **params)))


@pytest.fixture
async def catalog(backend: Backend) -> Catalog:
    catalog = Catalog(backend)
    await catalog.load()
    return catalog


VISIBLE = {
    "linen_shirt",
    "denim_skirt",
    "blazer",
    "dress",
    "linen_pants",
    "japanese_shirt",
    "cardigan",
    "office_slacks",
}


async def test_without_words_every_visible_product_is_found_and_never_a_hidden_one(catalog: Catalog) -> None:
    answer = await catalog.backend.search(per_page=50)
    assert set(catalog.keys(answer)) == VISIBLE
    assert answer["total"] == len(VISIBLE)
    assert "휴업중" not in str(answer)
    assert "비공개" not in str(answer)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("린넨", {"linen_shirt", "linen_pants", "blazer"}),  # part of 린넨셔츠, and linen as a synonym
        ("팬츠", {"linen_pants"}),  # the end of a compound word (와이드팬츠)
        ("셔츠", {"linen_shirt", "japanese_shirt"}),  # in a name, or the category
        ("リネン", {"japanese_shirt"}),  # Japanese, part of a word
        ("lin", {"blazer"}),  # the last word is a prefix
        ("lineen", {"blazer"}),  # a typo in a word of five letters or more
        ("clasic", {"blazer"}),
        # Issue 16: 데님 is a material and 청바지 an item (jeans); a denim skirt is not jeans.
        ("데님", {"denim_skirt"}),
        ("denim", {"denim_skirt"}),  # synonyms: 데님 / denim
        ("청바지", set()),
        ("jeans", set()),
        ("dress", {"dress"}),  # 원피스 / dress
        ("가디건", {"cardigan"}),
        ("오피스룩", {"office_slacks", "linen_shirt"}),  # in a name, or a style tag
        ("베이지", {"linen_shirt", "linen_pants"}),  # colours are searchable
        ("스커트", {"denim_skirt"}),
        ("수영복", set()),
    ],
)
async def test_words_find_products_in_korean_japanese_and_english(catalog: Catalog, q: str, expected: set[str]) -> None:
    assert await catalog.found(q=q) == expected


@pytest.mark.parametrize(
    ("q", "first", "others"),
    [
        ("린넨 셔츠", "linen_shirt", {"japanese_shirt", "linen_pants", "blazer"}),
        ("LINEN blazer", "blazer", {"linen_shirt", "linen_pants"}),  # case does not matter
    ],
)
async def test_every_word_ranks_first_and_some_words_still_answer(
    catalog: Catalog, q: str, first: str, others: set[str]
) -> None:
    """Issue 16: a product holding every word comes first; products holding some of the words follow rather than
    an emptier page (which of them depends on the engine: Meilisearch drops the commonest word first)."""
    found = catalog.keys(await catalog.backend.search(q=q))
    assert found[0] == first
    assert set(found[1:]) <= others


async def test_a_word_in_the_name_ranks_above_the_same_word_in_a_tag(catalog: Catalog) -> None:
    answer = await catalog.backend.search(q="오피스룩")
    assert catalog.keys(answer) == ["office_slacks", "linen_shirt"]


async def test_matches_are_highlighted_and_the_rest_is_escaped(catalog: Catalog) -> None:
    hits = {hit["id"]: hit for hit in (await catalog.backend.search(q="린넨"))["items"]}
    shirt = hits[catalog.ids["linen_shirt"]]["highlighted_name"]
    assert "<em>린넨" in shirt
    assert re.sub("</?em>", "", shirt) == "오버핏 린넨셔츠"
    pants = hits[catalog.ids["linen_pants"]]["highlighted_name"]
    assert pants == "<em>린넨</em> &amp; 코튼 와이드팬츠"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"category": "상의"}, {"linen_shirt", "japanese_shirt", "cardigan"}),  # a top level holds its children
        ({"category": "상의/셔츠"}, {"linen_shirt", "japanese_shirt"}),
        ({"category": ["상의/셔츠", "원피스"]}, {"linen_shirt", "japanese_shirt", "dress"}),
        ({"price_min": 40000, "price_max": 90000}, {"denim_skirt", "dress", "linen_pants", "japanese_shirt"}),
        ({"price_max": 29000}, {"linen_shirt", "office_slacks"}),  # the sale price is what counts
        ({"gender": "male"}, {"blazer", "japanese_shirt"}),  # unisex goes to both
        (
            {"gender": "female"},
            {"linen_shirt", "denim_skirt", "dress", "linen_pants", "japanese_shirt", "cardigan", "office_slacks"},
        ),
        # Declared for the band, or for no band in particular.
        ({"age_band": "10s"}, VISIBLE - {"linen_shirt"}),
        ({"age_band": "30s_early"}, VISIBLE - {"denim_skirt"}),
        ({"style": "미니멀"}, {"linen_shirt", "cardigan"}),
        ({"style": ["러블리", "댄디"]}, {"dress", "blazer"}),
        ({"color": "베이지"}, {"linen_shirt", "linen_pants"}),
        ({"size": "L"}, {"blazer", "linen_pants"}),
        ({"in_stock": "true"}, VISIBLE - {"cardigan"}),
        ({"exclusive": "true"}, {"blazer"}),
        ({"q": "린넨", "category": "하의", "color": "베이지"}, {"linen_pants"}),
    ],
)
async def test_filters_narrow_the_products(catalog: Catalog, params: dict[str, Any], expected: set[str]) -> None:
    assert await catalog.found(**params) == expected


async def test_the_mall_filter(catalog: Catalog) -> None:
    assert await catalog.found(mall=str(catalog.mall_b.id)) == {
        "linen_pants",
        "japanese_shirt",
        "cardigan",
        "office_slacks",
    }


async def test_sorts_by_price_newest_and_popularity(catalog: Catalog) -> None:
    search = catalog.backend.search
    by_price = ["office_slacks", "linen_shirt", "cardigan", "linen_pants", "denim_skirt", "dress", "japanese_shirt"]
    assert catalog.keys(await search(sort="price_asc", per_page=50)) == [*by_price, "blazer"]
    assert catalog.keys(await search(sort="price_desc", per_page=50)) == ["blazer", *reversed(by_price)]
    newest = ["office_slacks", "cardigan", "japanese_shirt", "linen_pants", "dress", "blazer", "denim_skirt"]
    assert catalog.keys(await search(sort="newest", per_page=50)) == [*newest, "linen_shirt"]

    # Shoppers' engagement (kept by personalization) orders the popularity sort.
    session = catalog.backend.session
    for key, popularity in (("dress", 9.0), ("blazer", 5.0), ("cardigan", 1.0)):
        product_id = catalog.ids[key]
        await session.execute(sa.update(Product).where(Product.id == product_id).values(popularity=popularity))
        session.add(SearchOutbox(product_id=product_id, action="upsert"))
    await session.commit()
    await catalog.backend.settle()
    ranked = catalog.keys(await search(sort="popularity", per_page=50))
    assert ranked[:3] == ["dress", "blazer", "cardigan"]
    assert ranked[3:] == [key for key in [*newest, "linen_shirt"] if key not in {"dress", "blazer", "cardigan"}]


async def test_facets_count_every_match(catalog: Catalog) -> None:
    facets = (await catalog.backend.search(q="린넨"))["facets"]

    def counts(name: str) -> dict[str, int]:
        return {entry["value"]: entry["count"] for entry in facets[name]}

    assert counts("category") == {
        "상의": 1,
        "상의/셔츠": 1,
        "하의": 1,
        "하의/와이드팬츠": 1,
        "아우터": 1,
        "아우터/블레이저": 1,
    }
    assert counts("mall") == {str(catalog.mall_a.id): 2, str(catalog.mall_b.id): 1}
    assert {entry["value"]: entry["label"] for entry in facets["mall"]} == {
        str(catalog.mall_a.id): "메종 드 린",
        str(catalog.mall_b.id): "도쿄 클로젯",
    }
    assert facets["mall"][0]["value"] == str(catalog.mall_a.id)  # most products first
    assert counts("style") == {"미니멀": 1, "오피스룩": 1, "캐주얼": 1, "클래식": 1, "댄디": 1}
    assert counts("color") == {"화이트": 1, "베이지": 2, "네이비": 1}
    assert counts("size") == {"S": 1, "M": 2, "L": 2}
    assert facets["price"] == [
        {"value": "0-20000", "count": 0},
        {"value": "20000-40000", "count": 1},
        {"value": "40000-70000", "count": 1},
        {"value": "70000-100000", "count": 0},
        {"value": "100000-", "count": 1},
    ]


async def test_filters_apply_to_the_facet_counts(catalog: Catalog) -> None:
    facets = (await catalog.backend.search(category="하의"))["facets"]
    assert {entry["value"]: entry["count"] for entry in facets["category"]} == {
        "하의": 3,
        "하의/스커트": 1,
        "하의/와이드팬츠": 1,
        "하의/슬랙스": 1,
    }


async def test_pages_cover_every_match_once(catalog: Catalog) -> None:
    seen: list[str] = []
    for page in (1, 2, 3):
        answer = await catalog.backend.search(sort="newest", per_page=3, page=page)
        assert (answer["page"], answer["per_page"], answer["total"], answer["total_pages"]) == (page, 3, 8, 3)
        seen += catalog.keys(answer)
    assert len(seen) == 8
    assert set(seen) == VISIBLE
    assert (await catalog.backend.search(per_page=3, page=4))["items"] == []


async def test_a_hit_has_what_a_product_tile_needs(catalog: Catalog) -> None:
    (hit,) = (await catalog.backend.search(q="오버핏"))["items"]
    assert hit == {
        "id": catalog.ids["linen_shirt"],
        "name": "오버핏 린넨셔츠",
        "highlighted_name": "<em>오버핏</em> 린넨셔츠",
        "image_url": "https://img.shoa.test/A1.jpg",
        "category_path": "상의/셔츠",
        "price": 39000,
        "price_from": 29000,
        "currency": "KRW",
        "in_stock": True,
        "exclusive": False,
        "mall": {"id": str(catalog.mall_a.id), "name": "메종 드 린"},
    }


async def test_deleted_hidden_and_paused_products_leave_the_results(catalog: Catalog) -> None:
    backend = catalog.backend
    await catalog.mall_a.delete("A1")
    hidden = item("B1", "린넨 & 코튼 와이드팬츠", "하의/와이드팬츠", price=45000, status="hidden")
    hidden["source_updated_at"] = "2026-11-21T10:00:00+09:00"
    await catalog.mall_b.sync(hidden)
    # Not even before the index catches up: a hidden product is never shown.
    assert await catalog.found(q="린넨") == {"blazer"}
    await backend.settle()
    answer = await backend.search(q="린넨")
    assert catalog.keys(answer) == ["blazer"]
    assert answer["total"] == 1


async def test_stock_and_price_changes_show_in_results(catalog: Catalog) -> None:
    response = await catalog.backend.client.put(
        "/partner/v1/stock",
        headers=catalog.mall_b.headers,
        json={"items": [{"sku": "B3-0", "stock": 3}, {"sku": "B4-0", "price": 99000, "sale_price": 79000}]},
    )
    assert response.status_code == 200, response.text
    await catalog.backend.settle()
    assert "cardigan" in await catalog.found(in_stock="true")
    (slacks,) = (await catalog.backend.search(q="슬랙스"))["items"]
    assert (slacks["price"], slacks["price_from"]) == (99000, 79000)
