"""The fake Meilisearch's document endpoints against the v1.14 documentation: add or replace, add or update,
payload formats, deletions, the primary key, and the task that fails on a document without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.meilisearch.assertions import assert_error

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    Settle = Callable[[httpx.Response], dict[str, Any]]


def test_adding_documents_creates_the_index_with_the_given_primary_key(http: httpx.Client, settle: Settle) -> None:
    documents = [{"sku": "A-1", "id": 7, "title": "린넨셔츠"}, {"sku": "B-2", "id": 8, "title": "데님 팬츠"}]
    task = settle(http.post("/indexes/products/documents", params={"primaryKey": "sku"}, json=documents))
    assert (task["type"], task["status"]) == ("documentAdditionOrUpdate", "succeeded")
    assert task["details"] == {"receivedDocuments": 2, "indexedDocuments": 2}
    assert http.get("/indexes/products").json()["primaryKey"] == "sku"
    assert http.get("/indexes/products/documents/A-1").json() == documents[0]


def test_add_or_replace_and_add_or_update(http: httpx.Client, settle: Settle) -> None:
    settle(http.post("/indexes/products/documents", json=[{"id": 1, "title": "셔츠", "color": "white"}]))
    settle(http.post("/indexes/products/documents", json=[{"id": 1, "title": "린넨셔츠"}]))
    assert http.get("/indexes/products/documents/1").json() == {"id": 1, "title": "린넨셔츠"}
    settle(http.put("/indexes/products/documents", json=[{"id": 1, "price": 39000}, {"id": 2, "title": "팬츠"}]))
    assert http.get("/indexes/products/documents/1").json() == {"id": 1, "title": "린넨셔츠", "price": 39000}
    listed = http.get("/indexes/products/documents", params={"fields": "id"}).json()
    assert listed == {"results": [{"id": 1}, {"id": 2}], "offset": 0, "limit": 20, "total": 2}


def test_deleting_documents(http: httpx.Client, settle: Settle) -> None:
    settle(http.post("/indexes/products/documents", json=[{"id": n, "n": n} for n in range(1, 6)]))
    one = settle(http.delete("/indexes/products/documents/1"))
    assert one["details"] == {"providedIds": 1, "deletedDocuments": 1, "originalFilter": None}
    batch = settle(http.post("/indexes/products/documents/delete-batch", json=[2, "3", 99]))
    assert (batch["type"], batch["details"]) == (
        "documentDeletion",
        {"providedIds": 3, "deletedDocuments": 2, "originalFilter": None},
    )
    message = assert_error(http.get("/indexes/products/documents/2"), 404, "document_not_found")
    assert message == "Document `2` not found."
    settle(http.patch("/indexes/products/settings", json={"filterableAttributes": ["n"]}))
    by_filter = settle(http.post("/indexes/products/documents/delete", json={"filter": "n >= 5"}))
    assert by_filter["details"] == {"providedIds": 0, "deletedDocuments": 1, "originalFilter": '"n >= 5"'}
    assert [document["id"] for document in http.get("/indexes/products/documents").json()["results"]] == [4]
    everything = settle(http.delete("/indexes/products/documents"))
    assert everything["details"] == {"deletedDocuments": 1}


def test_a_document_without_the_primary_key_fails_the_whole_task(http: httpx.Client, settle: Settle) -> None:
    settle(http.post("/indexes", json={"uid": "products", "primaryKey": "id"}))
    task = settle(http.post("/indexes/products/documents", json=[{"id": 1, "title": "셔츠"}, {"title": "팬츠"}]))
    assert task["status"] == "failed"
    assert task["details"] == {"receivedDocuments": 2, "indexedDocuments": 0}
    assert task["error"] == {
        "message": 'Document doesn\'t have a `id` attribute: `{"title":"팬츠"}`.',
        "code": "missing_document_id",
        "type": "invalid_request",
        "link": "https://docs.meilisearch.com/errors#missing_document_id",
    }
    assert http.get("/indexes/products/documents").json()["total"] == 0


def test_primary_key_inference_and_bad_identifiers(http: httpx.Client, settle: Settle) -> None:
    no_candidate = settle(http.post("/indexes/a/documents", json=[{"title": "셔츠"}]))
    assert no_candidate["error"]["code"] == "index_primary_key_no_candidate_found"
    two_candidates = settle(http.post("/indexes/b/documents", json=[{"id": 1, "mall_id": 2}]))
    assert two_candidates["error"]["code"] == "index_primary_key_multiple_candidates_found"
    bad_id = settle(http.post("/indexes/c/documents", params={"primaryKey": "id"}, json=[{"id": "a b"}]))
    assert bad_id["error"]["code"] == "invalid_document_id"
    inferred = settle(http.post("/indexes/d/documents", json=[{"product_id": 1, "title": "셔츠"}]))
    assert inferred["status"] == "succeeded"
    assert http.get("/indexes/d").json()["primaryKey"] == "product_id"


def test_document_payload_errors_are_answered_at_once(http: httpx.Client) -> None:
    no_type = http.post("/indexes/products/documents", content=b"[]")
    assert_error(no_type, 415, "missing_content_type")
    wrong_type = http.post("/indexes/products/documents", content=b"id,title", headers={"Content-Type": "text/plain"})
    assert_error(wrong_type, 415, "invalid_content_type")
    broken = http.post(
        "/indexes/products/documents", content=b'[{"id": 1', headers={"Content-Type": "application/json"}
    )
    assert_error(broken, 400, "malformed_payload")
    empty = http.post("/indexes/products/documents", content=b"", headers={"Content-Type": "application/json"})
    assert assert_error(empty, 400, "missing_payload") == "A json payload is missing."


def test_ndjson_and_csv_payloads(http: httpx.Client, settle: Settle) -> None:
    ndjson = b'{"id": 1, "title": "\xeb\xa6\xb0\xeb\x84\xa8"}\n{"id": 2, "title": "pants"}\n'
    settle(http.post("/indexes/p/documents", content=ndjson, headers={"Content-Type": "application/x-ndjson"}))
    csv = b"id,title,price:number\n3,shirt,19.5\n"
    settle(http.post("/indexes/p/documents", content=csv, headers={"Content-Type": "text/csv"}))
    assert http.get("/indexes/p/documents/3").json() == {"id": "3", "title": "shirt", "price": 19.5}
    assert http.get("/indexes/p/documents/1").json() == {"id": 1, "title": "린넨"}
