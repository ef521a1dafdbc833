"""The judged relevance set holds together: its catalog is one a mall could sync, its judgments name products a
search can show, its queries cover every kind the search issue names, and its yardstick is computed right.

No quality floor here: ``python -m bench search-quality`` measures an engine on this set.
"""

from __future__ import annotations

import datetime
import math
from collections import Counter
from typing import TYPE_CHECKING

import msgspec
import pytest

from bench.search_quality import QUERY_KINDS, RELEVANCE_DIR, load_catalog, load_relevance_set, score_query
from catalog.categories import CATEGORY_PATHS
from catalog.product_rules import parse_item
from catalog.schemas import ProductIn

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bench.search_quality import RelevanceSet


@pytest.fixture(scope="module")
def relevance() -> RelevanceSet:
    return load_relevance_set(RELEVANCE_DIR)


def products_of(relevance: RelevanceSet) -> dict[str, ProductIn]:
    return {
        product.external_id: product
        for product in (msgspec.json.decode(line.product, type=ProductIn) for line in relevance.products)
    }


def test_the_set_has_at_least_500_products_of_several_malls_and_60_queries(relevance: RelevanceSet) -> None:
    malls = Counter(line.mall for line in relevance.products)

    assert len(relevance.products) >= 500
    assert len(relevance.queries) >= 60
    assert set(malls) == {mall.slug for mall in relevance.malls}
    assert len(malls) >= 5
    assert max(malls.values()) <= len(relevance.products) / 3


def test_every_product_passes_the_partner_sync_checks(relevance: RelevanceSet) -> None:
    now = datetime.datetime.now(datetime.UTC)

    problems = {
        line.product: parsed
        for line in relevance.products
        if not isinstance(parsed := parse_item(line.product, now=now), ProductIn)
    }

    assert problems == {}


def test_ids_and_skus_are_unique_and_the_catalog_is_varied(relevance: RelevanceSet) -> None:
    external_ids = [msgspec.json.decode(line.product, type=ProductIn).external_id for line in relevance.products]
    products = products_of(relevance)
    skus = Counter(
        (line.mall, variant.sku)
        for line in relevance.products
        for variant in msgspec.json.decode(line.product, type=ProductIn).variants
    )
    statuses = Counter(product.status for product in products.values())
    no_stock = [
        p for p in products.values() if p.status == "on_sale" and all(variant.stock == 0 for variant in p.variants)
    ]

    assert len(set(external_ids)) == len(external_ids), "external ids are unique across the whole set"
    assert [sku for sku, count in skus.items() if count > 1] == []
    assert statuses["sold_out"] > 0
    assert statuses["hidden"] > 0
    assert no_stock, "some products are on sale with every variant out of stock"
    assert {product.target_gender for product in products.values()} == {"female", "male", "unisex"}
    assert len({product.category_path for product in products.values()}) >= len(CATEGORY_PATHS) // 2


def test_every_judged_product_is_in_the_catalog_and_shown(relevance: RelevanceSet) -> None:
    products = products_of(relevance)

    for query in relevance.queries:
        judged = [external_id for ids in query.judgments.values() for external_id in ids]
        assert set(query.judgments) <= {str(grade) for grade in (1, 2, 3)}, query.id
        assert len(judged) == len(set(judged)), f"{query.id}: a product judged twice"
        assert [external_id for external_id in judged if external_id not in products] == [], query.id
        # A hidden product is never shown: judging it would ask for what no engine may answer.
        assert [external_id for external_id in judged if products[external_id].status == "hidden"] == [], query.id


def test_the_queries_cover_every_kind_the_issue_names(relevance: RelevanceSet) -> None:
    kinds = Counter(kind for query in relevance.queries for kind in query.kinds)
    ids = [query.id for query in relevance.queries]
    texts = [query.query for query in relevance.queries]

    assert set(kinds) == set(QUERY_KINDS)
    assert all(count >= 3 for count in kinds.values()), kinds
    assert len(set(ids)) == len(ids)
    assert len(set(texts)) == len(texts)
    for query in relevance.queries:
        if "no-relevant" in query.kinds:
            assert query.judgments == {}, query.id
        else:
            assert query.judgments.get("3"), f"{query.id}: something is exactly what was asked"


def test_the_set_names_the_pairs_the_issue_asks_for(relevance: RelevanceSet) -> None:
    texts = {query.query for query in relevance.queries}

    # Synonyms and loanword spellings, an unspaced compound, a typo, a word inside another, other languages.
    assert {"점퍼", "잠바", "스니커즈", "스니커스", "조끼", "베스트"} <= texts
    assert {"롱스커트", "블라우즈", "바지", "ワンピース", "dress"} <= texts


def test_shorts_are_not_trousers(relevance: RelevanceSet) -> None:
    products = products_of(relevance)
    trousers = next(query for query in relevance.queries if query.query == "바지").grades

    shorts = [p.external_id for p in products.values() if p.category_path == "하의/반바지"]

    assert shorts
    assert [external_id for external_id in shorts if external_id in trousers] == []


def test_ndcg_on_a_hand_computed_example() -> None:
    # Judged: b 3, d 2, a 1. Answered: a, b, c.
    # DCG = 1/log2(2) + 3/log2(3) + 0 = 2.892789; ideal = 3/log2(2) + 2/log2(3) + 1/log2(4) = 4.761860.
    score = score_query(["a", "b", "c"], {"b": 3, "d": 2, "a": 1})

    assert 1 + 3 / math.log2(3) == pytest.approx(2.892789, abs=1e-6)
    assert score.ndcg == pytest.approx(2.892789 / 4.761860, abs=1e-6)
    assert score.precision == pytest.approx(0.1)  # one hit of grade 2 or more among the first 10
    assert score.first_relevant is False  # a is only marginal


def test_the_ideal_order_scores_one_and_nothing_found_scores_zero() -> None:
    grades = {f"p{n}": 3 if n < 12 else 2 for n in range(15)}

    assert score_query([f"p{n}" for n in range(10)], grades).ndcg == pytest.approx(1.0)
    assert score_query([f"p{n}" for n in range(14, 4, -1)], grades).ndcg == pytest.approx(
        sum(g / math.log2(r + 2) for r, g in enumerate([2, 2, 2, 3, 3, 3, 3, 3, 3, 3]))
        / sum(3 / math.log2(r + 2) for r in range(10))
    )
    empty = score_query([], grades)
    assert (empty.ndcg, empty.precision, empty.first_relevant) == (0.0, 0.0, False)


def test_a_query_with_nothing_relevant_has_no_ndcg() -> None:
    score = score_query(["a", "b"], {})

    assert score.ndcg is None
    assert score.precision == 0.0


async def test_the_whole_catalog_syncs_through_the_partner_sync(session: AsyncSession, relevance: RelevanceSet) -> None:
    external_ids = await load_catalog(session, relevance)
    await session.rollback()

    assert sorted(external_ids.values()) == sorted(products_of(relevance))
