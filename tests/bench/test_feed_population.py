"""The feed-quality benchmark's shoppers: tastes that differ, a week of browsing, purchases kept back."""

from __future__ import annotations

import datetime
from collections import Counter

from bench.feed_population import TASTES, CatalogItem, build_population
from catalog.categories import STYLE_TAGS
from catalog.demo import DEMO_MALLS
from catalog.demo_lines import WOMEN_ONLY_STYLES
from catalog.demo_products import generate_catalog

NOW = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)
MALLS = ("basic-lab", "grace-l", "dandy-homme", "maybe-baby")
LINES = (
    ("상의/블라우스", ("클래식", "페미닌"), "female", 59000),
    ("원피스/미니원피스", ("러블리", "데이트룩"), "female", 25000),
    ("정장/정장세트", ("클래식", "오피스룩"), "female", 189000),
    ("남성/셔츠", ("캐주얼", "베이직"), "male", 39000),
)


def catalog() -> list[CatalogItem]:
    return [
        CatalogItem(
            id=f"00000000-0000-7000-8000-{number:012d}",
            external_id=f"D{number:07d}",
            mall_id=MALLS[number % len(MALLS)],
            mall_slug=MALLS[number % len(MALLS)],
            category_path=path,
            style_tags=styles,
            target_gender=gender,
            target_age_bands=("20s_early", "20s_mid") if number % 2 else ("30s_mid", "40s_plus"),
            price_from=price,
            in_stock=number % 7 != 0,
        )
        for number, (path, styles, gender, price) in enumerate(LINES[n % len(LINES)] for n in range(400))
    ]


def test_the_same_seed_makes_the_same_population() -> None:
    first = build_population(catalog(), shoppers_per_segment=3, seed=7, now=NOW)
    again = build_population(catalog(), shoppers_per_segment=3, seed=7, now=NOW)

    assert [s.interactions for s in first.shoppers] == [s.interactions for s in again.shoppers]
    assert [s.purchases for s in first.shoppers] == [s.purchases for s in again.shoppers]


def test_browsing_stays_within_the_week_the_api_accepts_and_never_includes_a_purchase() -> None:
    population = build_population(catalog(), shoppers_per_segment=3, seed=7, now=NOW)

    interactions = population.interactions()
    assert interactions
    assert {i.kind for i in interactions} <= {"view", "click", "like", "add_to_cart"}
    assert all(NOW - datetime.timedelta(days=7) < i.occurred_at <= NOW for i in interactions)
    assert len({i.id for i in interactions}) == len(interactions)


def test_purchases_are_of_products_in_stock() -> None:
    population = build_population(catalog(), shoppers_per_segment=3, seed=7, now=NOW)
    in_stock = {item.id for item in catalog() if item.in_stock}

    bought = [p for shopper in population.shoppers for p in shopper.purchases]
    assert bought
    assert set(bought) <= in_stock


def test_segments_buy_differently() -> None:
    population = build_population(catalog(), shoppers_per_segment=10, seed=7, now=NOW)
    category = {item.id: item.category_path for item in catalog()}

    def share(segment: str, path: str) -> float:
        bought = Counter(category[p] for p in population.purchases(segment))
        return bought[path] / bought.total()

    assert share("female:40s_plus", "정장/정장세트") > 2 * share("female:20s_early", "정장/정장세트")
    assert share("female:20s_early", "원피스/미니원피스") > 2 * share("female:40s_plus", "원피스/미니원피스")
    assert share("male:30s_early", "남성/셔츠") > 0.7
    assert share("female:20s_late", "남성/셔츠") < 0.05
    assert len({t.segment for t in TASTES}) == len(TASTES)


def test_every_taste_is_over_what_the_demo_catalog_sells_to_its_gender() -> None:
    demo = [product.item for product in generate_catalog(5000, now=NOW)]
    sold = {(p["category_path"], p["target_gender"]) for p in demo}
    sellers = {(mall.slug, line.gender) for mall in DEMO_MALLS for line in mall.sells}

    for taste in TASTES:
        gender = taste.gender or "female"
        unsold = [path for path in taste.categories if not {(path, gender), (path, "unisex")} & sold]
        assert unsold == [], taste.segment
        assert all({(slug, gender), (slug, "unisex")} & sellers for slug in taste.malls), taste.segment
        assert set(taste.styles) <= STYLE_TAGS
        if gender == "male":  # no men's product carries them: a taste for them would be a taste for nothing
            assert not WOMEN_ONLY_STYLES & set(taste.styles), taste.segment
