"""The fake Meilisearch against the v1.14 documentation: authorization, errors, tasks, indexes, settings, faults.

Every test talks HTTP with httpx, as the search adapter will; documents are in ``test_fake_documents`` and
search in ``test_fake_search``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.meilisearch.assertions import assert_error
from tests.meilisearch.fake_server import FakeMeilisearch

if TYPE_CHECKING:
    from collections.abc import Callable

    Settle = Callable[[httpx.Response], dict[str, Any]]

# -- authorization ---------------------------------------------------------------------------------------------


def test_health_answers_without_a_key(meili: FakeMeilisearch) -> None:
    response = httpx.get(f"{meili.url}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "available"}


def test_a_missing_or_foreign_authorization_header_is_401(meili: FakeMeilisearch) -> None:
    for headers in ({}, {"Authorization": f"Basic {meili.master_key}"}):
        message = assert_error(
            httpx.get(f"{meili.url}/indexes", headers=headers), 401, "missing_authorization_header", "auth"
        )
        assert message == "The Authorization header is missing. It must use the bearer authorization method."


def test_a_wrong_key_is_403(meili: FakeMeilisearch) -> None:
    response = httpx.get(f"{meili.url}/version", headers={"Authorization": "Bearer not-the-master-key"})
    assert assert_error(response, 403, "invalid_api_key", "auth") == "The provided API key is invalid."


def test_version_with_the_master_key(http: httpx.Client) -> None:
    body = http.get("/version").json()
    assert body["pkgVersion"] == "1.14.0"
    assert set(body) == {"commitSha", "commitDate", "pkgVersion"}


# -- indexes and the task lifecycle -----------------------------------------------------------------------------


def test_index_creation_is_a_task_that_goes_enqueued_processing_succeeded(
    meili: FakeMeilisearch, http: httpx.Client
) -> None:
    meili.pause_tasks()
    accepted = http.post("/indexes", json={"uid": "products", "primaryKey": "id"})

    assert accepted.status_code == 202
    summary = accepted.json()
    assert list(summary) == ["taskUid", "indexUid", "status", "type", "enqueuedAt"]
    assert summary | {"enqueuedAt": None} == {
        "taskUid": 0,
        "indexUid": "products",
        "status": "enqueued",
        "type": "indexCreation",
        "enqueuedAt": None,
    }
    enqueued = http.get("/tasks/0").json()
    assert enqueued["status"] == "enqueued"
    assert enqueued["startedAt"] is None
    assert enqueued["batchUid"] is None
    assert_error(http.get("/indexes/products"), 404, "index_not_found")

    assert meili.begin_next_task() == 0
    processing = http.get("/tasks/0").json()
    assert processing["status"] == "processing"
    assert processing["startedAt"] is not None
    assert processing["finishedAt"] is None

    assert meili.process_tasks() == [0]
    task = http.get("/tasks/0").json()
    assert list(task) == [
        "uid",
        "batchUid",
        "indexUid",
        "status",
        "type",
        "canceledBy",
        "details",
        "error",
        "duration",
        "enqueuedAt",
        "startedAt",
        "finishedAt",
    ]
    assert task["status"] == "succeeded"
    assert task["details"] == {"primaryKey": "id"}
    assert task["error"] is None
    assert task["duration"].startswith("PT")
    assert task["duration"].endswith("S")
    assert task["enqueuedAt"] <= task["startedAt"] <= task["finishedAt"]
    index = http.get("/indexes/products").json()
    assert index["uid"] == "products"
    assert index["primaryKey"] == "id"
    assert index["createdAt"].endswith("Z")


def test_creating_an_existing_index_fails_its_task(http: httpx.Client, settle: Settle) -> None:
    settle(http.post("/indexes", json={"uid": "products"}))
    task = settle(http.post("/indexes", json={"uid": "products"}))
    assert task["status"] == "failed"
    assert task["error"]["code"] == "index_already_exists"
    assert task["error"]["message"] == "Index `products` already exists."


def test_index_uid_and_body_are_checked_at_once(http: httpx.Client) -> None:
    message = assert_error(http.post("/indexes", json={"uid": "bad uid!"}), 400, "invalid_index_uid")
    assert "`bad uid!` is not a valid index uid" in message
    assert_error(http.post("/indexes", json={"primaryKey": "id"}), 400, "missing_index_uid")
    assert_error(http.post("/indexes", json={"uid": "x", "primary": "id"}), 400, "bad_request")
    assert_error(http.post("/indexes", json={"uid": "x", "primaryKey": 3}), 400, "invalid_index_primary_key")


def test_deleting_an_index(http: httpx.Client, settle: Settle) -> None:
    settle(http.post("/indexes/products/documents", json=[{"id": 1}, {"id": 2}]))
    task = settle(http.delete("/indexes/products"))
    assert (task["type"], task["status"], task["details"]) == ("indexDeletion", "succeeded", {"deletedDocuments": 2})
    assert_error(http.get("/indexes/products"), 404, "index_not_found")
    missing = settle(http.delete("/indexes/products"))
    assert missing["status"] == "failed"
    assert missing["error"]["message"] == "Index `products` not found."


def test_changing_the_primary_key_only_while_the_index_is_empty(http: httpx.Client, settle: Settle) -> None:
    settle(http.post("/indexes", json={"uid": "products", "primaryKey": "id"}))
    changed = settle(http.patch("/indexes/products", json={"primaryKey": "sku"}))
    assert (changed["type"], changed["status"], changed["details"]) == (
        "indexUpdate",
        "succeeded",
        {"primaryKey": "sku"},
    )
    settle(http.post("/indexes/products/documents", json=[{"sku": "A-1"}]))
    refused = settle(http.patch("/indexes/products", json={"primaryKey": "id"}))
    assert refused["error"]["code"] == "index_primary_key_already_exists"
    assert refused["error"]["message"] == "Index already has a primary key: `sku`."


def test_listing_indexes(http: httpx.Client, settle: Settle) -> None:
    for uid in ("b", "a", "c"):
        settle(http.post("/indexes", json={"uid": uid}))
    page = http.get("/indexes", params={"limit": 2}).json()
    assert [index["uid"] for index in page["results"]] == ["a", "b"]
    assert (page["offset"], page["limit"], page["total"]) == (0, 2, 3)


# -- tasks -------------------------------------------------------------------------------------------------------


def test_tasks_run_in_order_for_each_index(meili: FakeMeilisearch, http: httpx.Client) -> None:
    with meili.tasks_paused():
        http.post("/indexes/products/documents", json=[{"id": 1, "title": "first"}])
        http.put("/indexes/products/documents", json=[{"id": 1, "title": "second", "color": "red"}])
        http.post("/indexes/products/documents", json=[{"id": 1, "title": "third"}])
        assert {task["status"] for task in http.get("/tasks").json()["results"]} == {"enqueued"}
    meili.wait_for_tasks()
    tasks = http.get("/tasks").json()["results"]
    assert [task["uid"] for task in tasks] == [2, 1, 0]
    assert [task["status"] for task in tasks] == ["succeeded"] * 3
    assert tasks[2]["finishedAt"] <= tasks[1]["startedAt"] <= tasks[1]["finishedAt"] <= tasks[0]["startedAt"]
    assert meili.documents("products") == [{"id": 1, "title": "third"}]


def test_task_list_filters_and_pages(http: httpx.Client, settle: Settle) -> None:
    settle(http.post("/indexes", json={"uid": "a"}))
    settle(http.post("/indexes", json={"uid": "a"}))
    settle(http.post("/indexes", json={"uid": "b"}))
    settle(http.patch("/indexes/b/settings", json={"stopWords": ["the"]}))

    failed = http.get("/tasks", params={"statuses": "failed"}).json()
    assert [task["uid"] for task in failed["results"]] == [1]
    by_index = http.get("/tasks", params={"indexUids": "b", "types": "settingsUpdate,indexCreation"}).json()
    assert [task["uid"] for task in by_index["results"]] == [3, 2]

    first = http.get("/tasks", params={"limit": 2}).json()
    assert [task["uid"] for task in first["results"]] == [3, 2]
    assert (first["total"], first["limit"], first["from"], first["next"]) == (4, 2, 3, 1)
    second = http.get("/tasks", params={"limit": 2, "from": first["next"]}).json()
    assert [task["uid"] for task in second["results"]] == [1, 0]
    assert second["next"] is None

    assert_error(http.get("/tasks", params={"statuses": "done"}), 400, "invalid_task_statuses")
    assert_error(http.get("/tasks", params={"limit": "many"}), 400, "invalid_task_limit")
    assert assert_error(http.get("/tasks/99"), 404, "task_not_found") == "Task `99` not found."


def test_a_task_made_to_fail(meili: FakeMeilisearch, http: httpx.Client, settle: Settle) -> None:
    meili.fail_next_tasks()
    failed = settle(http.post("/indexes/products/documents", json=[{"id": 1}]))
    assert failed["status"] == "failed"
    assert failed["error"] == {
        "message": "An internal error has occurred. `Simulated failure`.",
        "code": "internal",
        "type": "internal",
        "link": "https://docs.meilisearch.com/errors#internal",
    }
    assert failed["details"] == {"receivedDocuments": 1, "indexedDocuments": 0}
    assert_error(http.get("/indexes/products"), 404, "index_not_found")
    assert settle(http.post("/indexes/products/documents", json=[{"id": 1}]))["status"] == "succeeded"


# -- settings ----------------------------------------------------------------------------------------------------


def test_settings_round_trip(http: httpx.Client, settle: Settle) -> None:
    settle(http.post("/indexes", json={"uid": "products", "primaryKey": "id"}))
    defaults = http.get("/indexes/products/settings").json()
    assert defaults["rankingRules"] == ["words", "typo", "proximity", "attribute", "sort", "exactness"]
    assert defaults["typoTolerance"]["minWordSizeForTypos"] == {"oneTypo": 5, "twoTypos": 9}
    assert defaults["pagination"] == {"maxTotalHits": 1000}
    assert defaults["faceting"] == {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}}
    assert defaults["localizedAttributes"] is None

    update = {
        "searchableAttributes": ["title", "brand"],
        "filterableAttributes": ["brand", "price"],
        "sortableAttributes": ["price"],
        "rankingRules": ["words", "sort", "typo", "proximity", "attribute", "exactness", "popularity:desc"],
        "synonyms": {"청바지": ["데님", "jeans"]},
        "typoTolerance": {"disableOnAttributes": ["brand"]},
        "localizedAttributes": [{"attributePatterns": ["title"], "locales": ["kor", "jpn"]}],
        "displayedAttributes": ["id", "title", "price"],
        "pagination": {"maxTotalHits": 50},
        "faceting": {"maxValuesPerFacet": 10},
    }
    task = settle(http.patch("/indexes/products/settings", json=update))
    assert (task["type"], task["status"], task["details"]) == ("settingsUpdate", "succeeded", update)

    stored = http.get("/indexes/products/settings").json()
    for name in ("searchableAttributes", "filterableAttributes", "rankingRules", "synonyms", "localizedAttributes"):
        assert stored[name] == update[name]
    assert stored["typoTolerance"] == defaults["typoTolerance"] | {"disableOnAttributes": ["brand"]}
    assert stored["faceting"] == {"maxValuesPerFacet": 10, "sortFacetValuesBy": {"*": "alpha"}}
    assert stored["pagination"] == {"maxTotalHits": 50}
    assert http.get("/indexes/products/settings/sortable-attributes").json() == ["price"]

    settle(http.patch("/indexes/products/settings", json={"searchableAttributes": None, "typoTolerance": None}))
    reset = http.get("/indexes/products/settings").json()
    assert reset["searchableAttributes"] == ["*"]
    assert reset["typoTolerance"] == defaults["typoTolerance"]
    assert reset["filterableAttributes"] == ["brand", "price"]

    settle(http.put("/indexes/products/settings/stop-words", json=["the", "a"]))
    assert http.get("/indexes/products/settings/stop-words").json() == ["the", "a"]
    settle(http.delete("/indexes/products/settings"))
    assert http.get("/indexes/products/settings").json() == defaults


def test_updating_settings_creates_the_index(http: httpx.Client, settle: Settle) -> None:
    assert settle(http.patch("/indexes/fresh/settings", json={"filterableAttributes": ["a"]}))["status"] == "succeeded"
    assert http.get("/indexes/fresh").json()["primaryKey"] is None


def test_unknown_or_mistyped_settings_are_refused_at_once(http: httpx.Client) -> None:
    message = assert_error(http.patch("/indexes/products/settings", json={"searchable": ["title"]}), 400, "bad_request")
    assert message.startswith("Unknown field `searchable`: expected one of `displayedAttributes`, ")
    message = assert_error(
        http.patch("/indexes/products/settings", json={"filterableAttributes": "brand"}),
        400,
        "invalid_settings_filterable_attributes",
    )
    assert message == (
        'Invalid value type at `.filterableAttributes`: expected an array, but found a string: `"brand"`'
    )
    message = assert_error(
        http.patch("/indexes/products/settings", json={"rankingRules": ["words", "relevance"]}),
        400,
        "invalid_settings_ranking_rules",
    )
    assert "`relevance` ranking rule is invalid." in message
    assert_error(
        http.patch("/indexes/products/settings", json={"typoTolerance": {"enable": False}}),
        400,
        "invalid_settings_typo_tolerance",
    )
    assert_error(
        http.patch("/indexes/products/settings", json={"pagination": {"maxTotalHits": -1}}),
        400,
        "invalid_settings_pagination",
    )
    assert_error(
        http.patch(
            "/indexes/products/settings",
            json={"localizedAttributes": [{"attributePatterns": ["t"], "locales": ["xx"]}]},
        ),
        400,
        "invalid_settings_localized_attributes",
    )


def test_setting_sub_routes_take_their_documented_method(http: httpx.Client, settle: Settle) -> None:
    settle(http.post("/indexes", json={"uid": "products"}))
    assert http.patch("/indexes/products/settings/stop-words", json=["the"]).status_code == 405
    assert http.put("/indexes/products/settings/typo-tolerance", json={"enabled": False}).status_code == 405
    settle(http.patch("/indexes/products/settings/typo-tolerance", json={"enabled": False}))
    assert http.get("/indexes/products/settings/typo-tolerance").json()["enabled"] is False
    settle(http.delete("/indexes/products/settings/typo-tolerance"))
    assert http.get("/indexes/products/settings/typo-tolerance").json()["enabled"] is True
    assert http.get("/indexes/products/settings/no-such-setting").status_code == 404


def test_impossible_typo_sizes_fail_the_settings_task(http: httpx.Client, settle: Settle) -> None:
    update = {"typoTolerance": {"minWordSizeForTypos": {"oneTypo": 9, "twoTypos": 5}}}
    task = settle(http.patch("/indexes/products/settings", json=update))
    assert task["status"] == "failed"
    assert task["error"]["code"] == "invalid_settings_typo_tolerance"


# -- faults for retry tests --------------------------------------------------------------------------------------


def test_injected_server_errors(meili: FakeMeilisearch, http: httpx.Client) -> None:
    meili.fail_next_requests(2, status=503, path_prefix="/indexes")
    assert http.get("/health").status_code == 200
    first = http.get("/indexes")
    assert first.status_code == 503
    assert first.headers["Retry-After"] == "10"
    assert first.json()["code"] == "internal"
    assert http.get("/indexes").status_code == 503
    assert http.get("/indexes").status_code == 200


def test_injected_timeouts_and_dropped_connections(meili: FakeMeilisearch, http: httpx.Client) -> None:
    meili.delay_next_requests(seconds=1.0, method="GET")
    with pytest.raises(httpx.ReadTimeout):
        http.get("/indexes", timeout=0.2)
    assert http.get("/indexes").status_code == 200

    meili.drop_next_connections(method="POST")
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/indexes", json={"uid": "products"})
    assert http.post("/indexes", json={"uid": "products"}).status_code == 202
    assert [request.method for request in meili.requests[-2:]] == ["POST", "POST"]
    assert meili.requests[-1].json() == {"uid": "products"}
    assert meili.requests[-1].headers["authorization"] == f"Bearer {meili.master_key}"


def test_manual_task_processing_when_automatic_processing_is_off() -> None:
    with FakeMeilisearch(auto_process_tasks=False) as fake:
        client = httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {fake.master_key}"})
        accepted = client.post("/indexes", json={"uid": "products"})
        assert client.get(f"/tasks/{accepted.json()['taskUid']}").json()["status"] == "enqueued"
        assert fake.process_tasks() == [0]
        assert client.get("/tasks/0").json()["status"] == "succeeded"
        client.close()
