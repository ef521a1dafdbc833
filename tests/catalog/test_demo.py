"""The demo catalog a newcomer, a partner or an investor sees first: every generated product passes the partner
sync, each mall sells what its name and description say, the whole category tree is stocked for women, men and
both, no mall dominates, and names read the way Korean malls write them. The same seed gives the same catalog."""

from __future__ import annotations

import datetime
import random
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from catalog.categories import CATEGORY_PATHS, CATEGORY_TREE, STYLE_TAGS
from catalog.demo import DEMO_MALLS, MAX_MALL_SHARE, seed_demo_malls
from catalog.demo_lines import WOMEN_ONLY_STYLES
from catalog.demo_products import DemoProduct, generate_catalog, generate_product, seed_demo_products, words_of
from catalog.models import Mall, Product, Variant

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncSession

NOW = datetime.datetime(2026, 11, 29, tzinfo=datetime.UTC)
SMALLEST = 600
"""The smallest catalog the other tests seed: even it reaches every category and every mall."""
MEN_AT_LEAST, UNISEX_AT_LEAST = 0.12, 0.05
SHOPPING_LINES = ("상의", "하의", "아우터", "신발", "가방", "액세서리")
"""Tops, bottoms, outerwear, shoes, bags, accessories: a full line, as top levels of the tree."""


@pytest.fixture(scope="module")
def catalog() -> list[DemoProduct]:
    return list(generate_catalog(5000, now=NOW))


def top_of(product: dict[str, Any]) -> str:
    return str(product["category_path"]).split("/")[0]


def colors_of(product: dict[str, Any]) -> set[str]:
    return {variant["color"] for variant in product["variants"]}


async def test_every_generated_product_is_accepted_by_the_sync_and_every_mall_has_some(session: AsyncSession) -> None:
    await seed_demo_malls(session)

    created = await seed_demo_products(session, products=SMALLEST)

    assert created == SMALLEST
    assert await session.scalar(sa.select(sa.func.count()).select_from(Product)) == SMALLEST
    stocked = set(await session.scalars(sa.select(Mall.slug).join(Product, Product.mall_id == Mall.id).distinct()))
    assert stocked == {mall.slug for mall in DEMO_MALLS}  # and none for the paused mall
    paths = set(await session.scalars(sa.select(Product.category_path)))
    assert paths <= CATEGORY_PATHS
    assert ((await session.scalar(sa.select(sa.func.min(Variant.price)))) or 0) > 0


async def test_there_are_at_least_thirty_listed_demo_malls(session: AsyncSession) -> None:
    await seed_demo_malls(session)

    listed = await session.scalar(sa.select(sa.func.count()).select_from(Mall).where(Mall.status == "active"))

    assert listed == len(DEMO_MALLS) >= 30


def test_the_same_seed_generates_the_same_products() -> None:
    first = [generate_product(random.Random(7), n, now=NOW) for n in range(50)]
    again = [generate_product(random.Random(7), n, now=NOW) for n in range(50)]

    assert first == again
    assert [p.item for p in generate_catalog(50, now=NOW)] == [p.item for p in generate_catalog(50, now=NOW)]
    assert [p.item for p in generate_catalog(50, now=NOW, seed=1)] != [p.item for p in generate_catalog(50, now=NOW)]
    assert all(re.search("[가-힣]", product["name"]) for product in first)  # Korean names


def test_even_the_smallest_catalog_has_products_in_every_category_of_the_tree() -> None:
    stocked = Counter(p.item["category_path"] for p in generate_catalog(SMALLEST, now=NOW))

    leaves = {f"{top}/{child}" for top, children in CATEGORY_TREE.items() for child in children}
    assert leaves - set(stocked) == set()  # every top level through its children
    assert set(stocked) <= leaves  # nothing filed at a bare top level


def test_each_mall_sells_only_the_lines_of_its_profile(catalog: list[DemoProduct]) -> None:
    profiles = {mall.slug: {(line.path, line.gender) for line in mall.sells} for mall in DEMO_MALLS}

    strays = [
        (p.mall_slug, p.item["category_path"], p.item["target_gender"])
        for p in catalog
        if (p.item["category_path"], p.item["target_gender"]) not in profiles[p.mall_slug]
    ]
    assert strays == []


JEWELLERY = {"액세서리/귀걸이", "액세서리/목걸이", "액세서리/반지"}
KNITS = {"상의/니트", "남성/니트", "상의/가디건", "상의/조끼"}
BLOUSES = "상의/블라우스"
WHAT_MALLS_SAY: list[tuple[str, str, Callable[[dict[str, Any]], bool]]] = [
    ("haneul-jewel", "jewellery only", lambda p: p["category_path"] in JEWELLERY),
    ("moonlight-bag", "bags only", lambda p: top_of(p) == "가방"),
    ("urban-walker", "shoes only", lambda p: top_of(p) == "신발"),
    ("mary-shoes", "women's shoes only", lambda p: top_of(p) == "신발" and p["target_gender"] == "female"),
    ("sopum-house", "accessories only", lambda p: top_of(p) == "액세서리"),
    ("lounge-day", "home wear only", lambda p: top_of(p) == "홈웨어"),
    ("dandy-homme", "men's items only", lambda p: p["target_gender"] == "male"),
    ("mans-daily", "men's items only", lambda p: p["target_gender"] == "male"),
    ("street-garage", "unisex items only", lambda p: p["target_gender"] == "unisex"),
    ("denim-lab", "denim only", lambda p: p["category_path"] == "하의/청바지" or "데님" in p["name"]),
    ("linen-house", "linen only", lambda p: "린넨" in p["name"]),
    ("knit-factory", "knits only", lambda p: p["category_path"] in KNITS),
    ("blanche", "white and ivory only", lambda p: colors_of(p) <= {"화이트", "아이보리", "크림", "오트밀"}),
    ("black-label", "black outerwear only", lambda p: top_of(p) == "아우터" and colors_of(p) <= {"블랙", "차콜"}),
    ("grace-l", "suits, blouses, dresses", lambda p: top_of(p) in {"정장", "원피스"} or p["category_path"] == BLOUSES),
    ("sonyeo-gamsung", "dresses and blouses", lambda p: top_of(p) == "원피스" or p["category_path"] == BLOUSES),
    ("petit-muse", "dresses and skirts", lambda p: top_of(p) == "원피스" or p["category_path"] == "하의/스커트"),
]  # fmt: skip


@pytest.mark.parametrize(("slug", "promise", "keeps"), WHAT_MALLS_SAY, ids=[f"{s}: {w}" for s, w, _ in WHAT_MALLS_SAY])
def test_a_mall_sells_what_its_name_and_description_say(
    catalog: list[DemoProduct], slug: str, promise: str, keeps: Callable[[dict[str, Any]], bool]
) -> None:
    products = [p.item for p in catalog if p.mall_slug == slug]

    assert products, f"{slug} sells nothing"
    assert [p["name"] for p in products if not keeps(p)] == [], f"{slug} should sell {promise}"


def test_no_mall_holds_more_than_fifteen_percent_and_most_are_small(catalog: list[DemoProduct]) -> None:
    shares = sorted((n / len(catalog) for n in Counter(p.mall_slug for p in catalog).values()), reverse=True)

    assert MAX_MALL_SHARE == 0.15
    assert shares[0] <= MAX_MALL_SHARE
    assert sum(shares[:5]) >= 0.3  # a few big malls …
    assert sum(share < 0.025 for share in shares) > len(shares) / 2  # … and a long tail of small ones
    assert shares[0] > 10 * shares[-1]


def test_men_have_a_full_line_beside_the_womens_catalog(catalog: list[DemoProduct]) -> None:
    men = [p.item for p in catalog if p.item["target_gender"] == "male"]
    tops = Counter(top_of(p) for p in men)

    assert len(men) >= MEN_AT_LEAST * len(catalog)
    assert len(tops) >= 6
    assert set(SHOPPING_LINES) | {"남성"} <= set(tops)
    assert max(tops.values()) < 0.5 * len(men)  # not one kind of shirt and nothing else


def test_unisex_items_exist_across_the_tree(catalog: list[DemoProduct]) -> None:
    unisex = [p.item for p in catalog if p.item["target_gender"] == "unisex"]

    assert len(unisex) >= UNISEX_AT_LEAST * len(catalog)
    assert len({top_of(p) for p in unisex}) >= 5


def test_no_product_name_says_a_word_twice(catalog: list[DemoProduct]) -> None:
    def repeats(name: str) -> bool:
        words = words_of(name)
        return any(i != j and a in b for i, a in enumerate(words) for j, b in enumerate(words))

    assert [p.item["name"] for p in catalog if repeats(p.item["name"])] == []
    assert repeats("린넨 린넨 자켓")
    assert repeats("[자체제작] 린넨 린넨셔츠")
    assert not any(
        map(repeats, ["[자체제작] 데일리 코튼 셔츠", "오버핏 울 블렌드 싱글 코트", "와이드 데님 팬츠 (3color)"])
    )


def test_names_read_like_a_korean_malls(catalog: list[DemoProduct]) -> None:
    names = [p.item["name"] for p in catalog]

    assert len(set(names)) > 0.5 * len(names)
    assert any(name.startswith("[자체제작] ") for name in names)
    counted = [p.item for p in catalog if re.search(r"\(\dcolor\)$", p.item["name"])]
    assert counted
    assert all(p["name"].endswith(f"({len(colors_of(p))}color)") for p in counted)


def test_mens_and_unisex_items_carry_no_womens_styling(catalog: list[DemoProduct]) -> None:
    for_men = [p.item for p in catalog if p.item["target_gender"] in {"male", "unisex"}]

    assert for_men
    assert [(p["name"], p["style_tags"]) for p in for_men if WOMEN_ONLY_STYLES & set(p["style_tags"])] == []
    assert {tag for p in catalog for tag in p.item["style_tags"]} <= STYLE_TAGS
    assert WOMEN_ONLY_STYLES <= STYLE_TAGS
