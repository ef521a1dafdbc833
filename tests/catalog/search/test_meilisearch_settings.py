"""The worker brings the Meilisearch index to the settings declared in code, and only when they differ."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from catalog.search.errors import SearchTaskFailedError, SearchUnavailableError
from catalog.search.meilisearch_index import INDEX_SETTINGS
from tests.catalog.search import meili_fixtures
from tests.catalog.search.meili_fixtures import eventually

if TYPE_CHECKING:
    import httpx

    from catalog.search.meilisearch import MeilisearchEngine
    from tests.meilisearch.fake_server import FakeMeilisearch

fake_meili = meili_fixtures.fake_meili
meili_http = meili_fixtures.meili_http
meili_engine = meili_fixtures.meili_engine


def _writes(fake: FakeMeilisearch) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests if r.method in {"POST", "PATCH", "PUT", "DELETE"}]


async def _server(
    http: httpx.AsyncClient, fake: FakeMeilisearch, method: str, path: str, body: object = None
) -> object:
    """A request made behind the engine's back, as an operator with the master key would."""
    response = await http.request(
        method, f"{fake.url}{path}", json=body, headers={"Authorization": f"Bearer {fake.master_key}"}
    )
    assert response.is_success, response.text
    if response.status_code == 202:
        fake.wait_for_tasks()
    return response.json()


async def test_a_new_server_gets_the_products_index_with_the_declared_settings(
    meili_engine: MeilisearchEngine, fake_meili: FakeMeilisearch, meili_http: httpx.AsyncClient
) -> None:
    await meili_engine.apply_settings()

    index = await _server(meili_http, fake_meili, "GET", "/indexes/products")
    settings = await _server(meili_http, fake_meili, "GET", "/indexes/products/settings")
    assert isinstance(index, dict)
    assert index["primaryKey"] == "id"
    assert isinstance(settings, dict)
    assert settings["searchableAttributes"] == ["name", "category_names", "style_tags", "colors", "description"]
    assert settings["rankingRules"] == [
        *("words", "typo", "proximity", "attribute", "sort", "exactness"),
        "popularity:desc",
        "id:desc",
    ]
    assert sorted(settings["filterableAttributes"]) == sorted(
        [
            *("categories", "mall_id", "target_genders", "age_bands", "style_tags", "colors", "sizes"),
            *("price_from", "in_stock", "exclusive", "price_bucket"),
        ]
    )
    assert sorted(settings["sortableAttributes"]) == ["id", "popularity", "price_from"]
    assert settings["typoTolerance"]["enabled"] is True
    assert settings["typoTolerance"]["minWordSizeForTypos"] == {"oneTypo": 5, "twoTypos": 9}
    assert settings["faceting"] == {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "count"}}
    assert settings["pagination"] == {"maxTotalHits": 1000}
    assert settings["localizedAttributes"] == [
        {
            "attributePatterns": ["name", "category_names", "style_tags", "colors", "description"],
            "locales": ["kor", "jpn", "eng"],
        }
    ]
    # Synonyms are mutual: every word of a group leads to each of the others. 데님 is a material, not jeans.
    assert "jeans" in settings["synonyms"]["청바지"]
    assert "청바지" in settings["synonyms"]["jeans"]
    assert "데님" not in settings["synonyms"]["청바지"]
    assert "denim" in settings["synonyms"]["데님"]
    assert "원피스" in settings["synonyms"]["dress"]


async def test_applying_the_same_settings_again_changes_nothing(
    meili_engine: MeilisearchEngine, fake_meili: FakeMeilisearch
) -> None:
    await meili_engine.apply_settings()
    writes_before = len(_writes(fake_meili))

    await meili_engine.apply_settings()

    assert _writes(fake_meili)[writes_before:] == []


async def test_a_setting_changed_on_the_server_is_put_back_and_nothing_else_is_sent(
    meili_engine: MeilisearchEngine, fake_meili: FakeMeilisearch, meili_http: httpx.AsyncClient
) -> None:
    await meili_engine.apply_settings()
    await _server(meili_http, fake_meili, "PUT", "/indexes/products/settings/ranking-rules", ["words", "typo"])
    await _server(meili_http, fake_meili, "PATCH", "/indexes/products/settings/typo-tolerance", {"enabled": False})
    await _server(meili_http, fake_meili, "PUT", "/indexes/products/settings/synonyms", {"청바지": ["데님"]})
    requests_before = len(fake_meili.requests)

    await meili_engine.apply_settings()

    patches = [r for r in fake_meili.requests[requests_before:] if r.method == "PATCH"]
    assert [r.path for r in patches] == ["/indexes/products/settings"]
    assert sorted(patches[0].json()) == ["rankingRules", "synonyms", "typoTolerance"]
    settings = await _server(meili_http, fake_meili, "GET", "/indexes/products/settings")
    assert isinstance(settings, dict)
    assert settings["rankingRules"] == INDEX_SETTINGS["rankingRules"]
    assert settings["typoTolerance"]["enabled"] is True
    assert settings["synonyms"]["청바지"] == INDEX_SETTINGS["synonyms"]["청바지"]


async def test_settings_in_another_order_are_the_same_settings(
    meili_engine: MeilisearchEngine, fake_meili: FakeMeilisearch, meili_http: httpx.AsyncClient
) -> None:
    await meili_engine.apply_settings()
    # Meilisearch may answer unordered settings sorted; that is no change.
    sortable = sorted(INDEX_SETTINGS["sortableAttributes"], reverse=True)
    await _server(meili_http, fake_meili, "PUT", "/indexes/products/settings/sortable-attributes", sortable)
    writes_before = len(_writes(fake_meili))

    await meili_engine.apply_settings()

    assert _writes(fake_meili)[writes_before:] == []


async def test_a_failed_settings_task_is_a_clear_error_and_the_next_try_succeeds(
    meili_engine: MeilisearchEngine, fake_meili: FakeMeilisearch, meili_http: httpx.AsyncClient
) -> None:
    await _server(meili_http, fake_meili, "POST", "/indexes", {"uid": "products", "primaryKey": "id"})
    fake_meili.fail_next_tasks(1, code="internal", message="disk full")

    with pytest.raises(SearchTaskFailedError, match=r"settingsUpdate on products\) failed: internal: .*disk full"):
        await meili_engine.apply_settings()

    await meili_engine.apply_settings()
    settings = await _server(meili_http, fake_meili, "GET", "/indexes/products/settings")
    assert isinstance(settings, dict)
    assert settings["searchableAttributes"] == INDEX_SETTINGS["searchableAttributes"]


async def test_an_index_another_worker_creates_at_the_same_moment_is_no_error(
    meili_engine: MeilisearchEngine, fake_meili: FakeMeilisearch, meili_http: httpx.AsyncClient
) -> None:
    fake_meili.pause_tasks()
    response = await meili_http.post(
        f"{fake_meili.url}/indexes",
        json={"uid": "products", "primaryKey": "id"},
        headers={"Authorization": f"Bearer {fake_meili.master_key}"},
    )
    assert response.status_code == 202
    applying = asyncio.create_task(meili_engine.apply_settings())
    await eventually(lambda: sum(1 for r in fake_meili.requests if r.method == "POST" and r.path == "/indexes") == 2)

    fake_meili.resume_tasks()
    await asyncio.wait_for(applying, timeout=5)

    failed = await _server(meili_http, fake_meili, "GET", "/tasks?statuses=failed")
    assert isinstance(failed, dict)
    assert [task["error"]["code"] for task in failed["results"]] == ["index_already_exists"]
    settings = await _server(meili_http, fake_meili, "GET", "/indexes/products/settings")
    assert isinstance(settings, dict)
    assert settings["rankingRules"] == INDEX_SETTINGS["rankingRules"]


async def test_an_index_with_another_primary_key_is_refused(
    meili_engine: MeilisearchEngine, fake_meili: FakeMeilisearch, meili_http: httpx.AsyncClient
) -> None:
    await _server(meili_http, fake_meili, "POST", "/indexes", {"uid": "products", "primaryKey": "sku"})

    with pytest.raises(SearchUnavailableError, match="primary key 'sku'"):
        await meili_engine.apply_settings()


async def test_a_wrong_key_is_an_error_naming_meilisearch_s_answer(
    fake_meili: FakeMeilisearch, meili_http: httpx.AsyncClient
) -> None:
    from catalog.search.meilisearch import MeilisearchEngine  # noqa: PLC0415

    engine = MeilisearchEngine(meili_http, url=fake_meili.url, key="not-the-key")

    with pytest.raises(SearchUnavailableError, match="403 invalid_api_key"):
        await engine.apply_settings()
