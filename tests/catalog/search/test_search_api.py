"""``GET /v1/search`` at the HTTP edge: what a client sending a bad search is told, and what is cached."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pytest

from catalog.search.engine import MAX_RESULTS
from shoa_api.routes.search import search_products
from tests.catalog.test_sync import _mall, product

if TYPE_CHECKING:
    from tests.client import ShoaClient
    from tests.conftest import SearchIndex


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"per_page": 51}, "per_page"),
        ({"per_page": 0}, "per_page"),
        ({"page": 0}, "page"),
        ({"sort": "cheapest"}, "sort"),
        ({"gender": "other"}, "gender"),
        ({"age_band": "50s"}, "age_band"),
        ({"mall": "not-a-uuid"}, "mall"),
        ({"price_min": -1}, "price_min"),
        ({"q": "가" * 201}, "q"),
    ],
)
async def test_malformed_parameters_are_named(client: ShoaClient, params: dict[str, Any], field: str) -> None:
    response = await client.get("/v1/search", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [error["field"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"category": "상의/바지"}, "unknown category 상의/바지"),
        ({"price_min": 50000, "price_max": 10000}, "price_min 50000 is above price_max 10000"),
        ({"page": 21, "per_page": 50}, f"{MAX_RESULTS:,}th result"),
    ],
)
async def test_impossible_searches_are_explained(client: ShoaClient, params: dict[str, Any], message: str) -> None:
    response = await client.get("/v1/search", params=params)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/invalid-search")
    assert message in problem["detail"]


async def test_the_deepest_page_allowed_is_answered(client: ShoaClient) -> None:
    response = await client.get("/v1/search", params={"page": 20, "per_page": 50})
    assert response.status_code == 200
    assert response.json()["items"] == []


async def test_an_empty_catalog_answers_empty_results_and_zero_buckets(client: ShoaClient) -> None:
    answer = (await client.get("/v1/search", params={"q": "린넨"})).json()
    assert (answer["items"], answer["total"], answer["total_pages"]) == ([], 0, 0)
    assert [bucket["count"] for bucket in answer["facets"]["price"]] == [0, 0, 0, 0, 0]
    assert answer["facets"]["category"] == []


async def test_punctuation_separates_words_and_is_never_a_wildcard(
    client: ShoaClient, session: Any, search_index: SearchIndex
) -> None:
    mall = await _mall(session, client)
    # Descriptions are searched too: these say nothing the queries below look for.
    await mall.sync(
        product("P1", name="100% 린넨 셔츠", description="여름 셔츠"),
        product("P2", name="린넨_셔츠", description="여름 셔츠"),
    )
    await search_index.settle()

    async def names(q: str) -> set[str]:
        return {item["name"] for item in (await client.get("/v1/search", params={"q": q})).json()["items"]}

    assert await names("100%") == {"100% 린넨 셔츠"}
    assert await names("100_") == {"100% 린넨 셔츠"}
    assert await names("린넨_셔츠") == {"100% 린넨 셔츠", "린넨_셔츠"}
    assert await names("%_%") == {"100% 린넨 셔츠", "린넨_셔츠"}  # no words: everything, as with an empty q


async def test_cached_answers_are_kept_apart_by_every_parameter(
    client: ShoaClient, session: Any, search_index: SearchIndex
) -> None:
    """The public cache is on here (5 s): searches differing in any parameter still get their own answers."""
    mall = await _mall(session, client)
    await mall.sync(
        product("P1", name="린넨 셔츠", description="여름 셔츠"),
        product("P2", name="울 코트", category_path="아우터/코트", description="겨울 코트"),
    )
    await search_index.settle()

    async def names(**params: Any) -> list[str]:
        return [item["name"] for item in (await client.get("/v1/search", params=params)).json()["items"]]

    assert await names(q="린넨") == ["린넨 셔츠"]
    assert await names(q="코트") == ["울 코트"]
    assert await names(category=["상의", "아우터"], sort="newest") == ["울 코트"]
    assert await names(category=["상의", "원피스"], sort="newest") == ["린넨 셔츠"]


def test_every_search_parameter_is_part_of_the_cache_key() -> None:
    declared = set(inspect.signature(search_products.fn).parameters) - {"state"}
    assert set(search_products.opt["cache_key_parameters"]) == declared
