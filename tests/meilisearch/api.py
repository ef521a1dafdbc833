"""The Meilisearch endpoints the fake serves, independent of HTTP: each takes a parsed request, returns the answer.

Docs: reference/api/overview (``202`` + summarized task for writes, JSON bodies, content types),
reference/api/indexes, reference/api/settings, reference/api/documents, reference/api/tasks,
reference/api/health, reference/api/version. Writes are checked for what Meilisearch checks synchronously
(index uid format, payload types and content type) and otherwise enqueued; what can only be known while
processing (a missing index, a document without its primary key) fails the task.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.meilisearch.documents import parse_documents, select_fields
from tests.meilisearch.errors import (
    JsonObject,
    MeiliError,
    check_object_fields,
    compact_json,
    invalid_value_type,
    missing_field,
    query_parameter_error,
)
from tests.meilisearch.filter_matching import check_filterable, matches
from tests.meilisearch.filters import parse_filter
from tests.meilisearch.search import filterable_names, is_filterable, search
from tests.meilisearch.settings import (
    DEFAULT_SETTINGS,
    SETTING_ROUTES,
    check_settings_consistency,
    check_settings_update,
    merge_settings,
)
from tests.meilisearch.store import Store, check_index_uid
from tests.meilisearch.tasks import TASK_STATUSES, TASK_TYPES, TaskQueue

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.meilisearch.filters import Filter
    from tests.meilisearch.store import Index
    from tests.meilisearch.tasks import Task

Answer = tuple[int, Any]
VERSION = "1.14.0"


@dataclass
class Request:
    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    raw_body: bytes = b""
    content_type: str | None = None


def _accepted(task: Task) -> Answer:
    return 202, task.summary()


def _non_negative(query: dict[str, str], name: str, default: int, code: str) -> int:
    value = query.get(name)
    if value is None:
        return default
    if not value.isdigit():
        raise query_parameter_error(name, value, code)
    return int(value)


class MeilisearchApi:
    def __init__(self, store: Store, tasks: TaskQueue) -> None:
        self.store = store
        self.tasks = tasks

    def routes(self) -> list[tuple[str, str, Callable[[Request], Answer], bool]]:
        """(method, path pattern, handler, wants a JSON body)."""
        index = "/indexes/{uid}"
        return [
            ("GET", "/health", lambda _: (200, {"status": "available"}), False),
            ("GET", "/version", self.version, False),
            ("GET", "/indexes", self.list_indexes, False),
            ("POST", "/indexes", self.create_index, True),
            ("GET", index, self.get_index, False),
            ("PATCH", index, self.update_index, True),
            ("DELETE", index, self.delete_index, False),
            ("GET", f"{index}/settings", self.get_settings, False),
            ("PATCH", f"{index}/settings", self.update_settings, True),
            ("DELETE", f"{index}/settings", self.reset_settings, False),
            *self._setting_routes(f"{index}/settings"),
            ("GET", f"{index}/documents", self.list_documents, False),
            ("POST", f"{index}/documents", lambda request: self.add_documents(request, merge=False), False),
            ("PUT", f"{index}/documents", lambda request: self.add_documents(request, merge=True), False),
            ("DELETE", f"{index}/documents", self.clear_documents, False),
            ("POST", f"{index}/documents/fetch", self.fetch_documents, True),
            ("POST", f"{index}/documents/delete-batch", self.delete_batch, True),
            ("POST", f"{index}/documents/delete", self.delete_by_filter, True),
            ("GET", f"{index}/documents/{{document_id}}", self.get_document, False),
            ("DELETE", f"{index}/documents/{{document_id}}", self.delete_document, False),
            ("POST", f"{index}/search", self.search, True),
            ("GET", "/tasks", self.list_tasks, False),
            ("GET", "/tasks/{task_uid}", self.get_task, False),
        ]

    def _setting_routes(self, prefix: str) -> list[tuple[str, str, Callable[[Request], Answer], bool]]:
        """Each setting's sub-route: GET, DELETE, and PUT (lists and scalars) or PATCH (objects) to update it."""
        routes: list[tuple[str, str, Callable[[Request], Answer], bool]] = []
        for route, (setting, method) in SETTING_ROUTES.items():
            path = f"{prefix}/{route}"
            routes += [
                ("GET", path, functools.partial(self.get_setting, setting=setting), False),
                (method, path, functools.partial(self.update_setting, setting=setting), True),
                ("DELETE", path, functools.partial(self.reset_setting, setting=setting), False),
            ]
        return routes

    def _index(self, request: Request) -> Index:
        return self.store.get(check_index_uid(request.params["uid"]))

    def version(self, _: Request) -> Answer:
        return 200, {"commitSha": "0" * 40, "commitDate": "2025-04-14T00:00:00Z", "pkgVersion": VERSION}

    # -- indexes ---------------------------------------------------------------------------------------------

    def list_indexes(self, request: Request) -> Answer:
        offset = _non_negative(request.query, "offset", 0, "invalid_index_offset")
        limit = _non_negative(request.query, "limit", 20, "invalid_index_limit")
        indexes = sorted(self.store.indexes.values(), key=lambda index: index.uid)
        results = [index.view() for index in indexes[offset : offset + limit]]
        return 200, {"results": results, "offset": offset, "limit": limit, "total": len(indexes)}

    def get_index(self, request: Request) -> Answer:
        return 200, self._index(request).view()

    def create_index(self, request: Request) -> Answer:
        body = request.body
        if not isinstance(body, dict):
            raise invalid_value_type("", "an object", body, "bad_request")
        check_object_fields(body, ["uid", "primaryKey"], code="bad_request")
        if "uid" not in body:
            raise missing_field("uid", "missing_index_uid")
        if not isinstance(body["uid"], str):
            raise invalid_value_type(".uid", "a string", body["uid"], "invalid_index_uid")
        uid = check_index_uid(body["uid"], at=".uid")
        primary_key = self._primary_key(body.get("primaryKey"))

        def run() -> JsonObject:
            self.store.create_index(uid, primary_key)
            return {"primaryKey": primary_key}

        return _accepted(self.tasks.enqueue(uid, "indexCreation", {"primaryKey": primary_key}, run))

    @staticmethod
    def _primary_key(value: object) -> str | None:
        if value is not None and not isinstance(value, str):
            raise invalid_value_type(".primaryKey", "a string", value, "invalid_index_primary_key")
        return value

    def update_index(self, request: Request) -> Answer:
        uid = check_index_uid(request.params["uid"])
        body = request.body
        if not isinstance(body, dict):
            raise invalid_value_type("", "an object", body, "bad_request")
        check_object_fields(body, ["primaryKey"], code="bad_request")
        primary_key = self._primary_key(body.get("primaryKey"))

        def run() -> JsonObject:
            self.store.update_index(uid, primary_key)
            return {"primaryKey": primary_key}

        return _accepted(self.tasks.enqueue(uid, "indexUpdate", {"primaryKey": primary_key}, run))

    def delete_index(self, request: Request) -> Answer:
        uid = check_index_uid(request.params["uid"])
        task = self.tasks.enqueue(
            uid,
            "indexDeletion",
            {"deletedDocuments": None},
            lambda: {"deletedDocuments": self.store.delete_index(uid)},
            {"deletedDocuments": 0},
        )
        return _accepted(task)

    # -- settings --------------------------------------------------------------------------------------------

    def get_settings(self, request: Request) -> Answer:
        return 200, self._index(request).settings

    def _enqueue_settings(self, uid: str, update: JsonObject) -> Answer:
        def run() -> JsonObject:
            index = self.store.indexes.get(uid) or self.store.create_index(uid, None)
            merged = merge_settings(index.settings, update)
            check_settings_consistency(merged)
            index.settings = merged
            index.touch()
            return update

        return _accepted(self.tasks.enqueue(uid, "settingsUpdate", update, run))

    def update_settings(self, request: Request) -> Answer:
        uid = check_index_uid(request.params["uid"])
        return self._enqueue_settings(uid, check_settings_update(request.body))

    def reset_settings(self, request: Request) -> Answer:
        uid = check_index_uid(request.params["uid"])
        return self._enqueue_settings(uid, dict.fromkeys(DEFAULT_SETTINGS))

    def get_setting(self, request: Request, *, setting: str) -> Answer:
        return 200, self._index(request).settings[setting]

    def update_setting(self, request: Request, *, setting: str) -> Answer:
        uid = check_index_uid(request.params["uid"])
        return self._enqueue_settings(uid, check_settings_update({setting: request.body}))

    def reset_setting(self, request: Request, *, setting: str) -> Answer:
        uid = check_index_uid(request.params["uid"])
        return self._enqueue_settings(uid, {setting: None})

    # -- documents -------------------------------------------------------------------------------------------

    def add_documents(self, request: Request, *, merge: bool) -> Answer:
        uid = check_index_uid(request.params["uid"])
        documents = parse_documents(request.content_type, request.raw_body)
        primary_key = request.query.get("primaryKey")
        received = len(documents)

        def run() -> JsonObject:
            indexed = self.store.add_documents(uid, documents, primary_key, merge=merge)
            return {"receivedDocuments": received, "indexedDocuments": indexed}

        details = {"receivedDocuments": received, "indexedDocuments": None}
        failed = {"receivedDocuments": received, "indexedDocuments": 0}
        return _accepted(self.tasks.enqueue(uid, "documentAdditionOrUpdate", details, run, failed))

    def _enqueue_deletion(self, uid: str, details: JsonObject, delete: Callable[[], int]) -> Answer:
        task = self.tasks.enqueue(
            uid,
            "documentDeletion",
            details,
            lambda: {**details, "deletedDocuments": delete()},
            {**details, "deletedDocuments": 0},
        )
        return _accepted(task)

    def delete_document(self, request: Request) -> Answer:
        uid = check_index_uid(request.params["uid"])
        identifier = request.params["document_id"]
        details = {"providedIds": 1, "deletedDocuments": None, "originalFilter": None}
        return self._enqueue_deletion(uid, details, lambda: self.store.delete_documents(uid, [identifier]))

    def delete_batch(self, request: Request) -> Answer:
        uid = check_index_uid(request.params["uid"])
        if not isinstance(request.body, list):
            raise invalid_value_type("", "an array", request.body, "bad_request")
        identifiers = [str(value) for value in request.body]
        details = {"providedIds": len(identifiers), "deletedDocuments": None, "originalFilter": None}
        return self._enqueue_deletion(uid, details, lambda: self.store.delete_documents(uid, identifiers))

    def delete_by_filter(self, request: Request) -> Answer:
        uid = check_index_uid(request.params["uid"])
        body = request.body
        if not isinstance(body, dict):
            raise invalid_value_type("", "an object", body, "bad_request")
        check_object_fields(body, ["filter"], code="bad_request")
        if body.get("filter") is None:
            raise missing_field("filter", "missing_document_filter")
        condition = _document_filter(body["filter"])
        if condition is None:
            raise missing_field("filter", "missing_document_filter")

        def delete() -> int:
            _check_document_filter(condition, self.store.get(uid))
            return self.store.delete_documents_where(uid, lambda document: not matches(condition, document))

        details = {"providedIds": 0, "deletedDocuments": None, "originalFilter": compact_json(body["filter"])}
        return self._enqueue_deletion(uid, details, delete)

    def clear_documents(self, request: Request) -> Answer:
        uid = check_index_uid(request.params["uid"])
        return self._enqueue_deletion(uid, {"deletedDocuments": None}, lambda: self.store.clear_documents(uid))

    def _documents_page(
        self, index: Index, offset: int, limit: int, fields: list[str] | None, filter_value: Any
    ) -> Answer:
        documents = [document for _, document in index.ordered_documents()]
        condition = _document_filter(filter_value) if filter_value is not None else None
        if condition is not None:
            _check_document_filter(condition, index)
            documents = [document for document in documents if matches(condition, document)]
        results = [select_fields(document, set(fields or ["*"])) for document in documents[offset : offset + limit]]
        return 200, {"results": results, "offset": offset, "limit": limit, "total": len(documents)}

    def list_documents(self, request: Request) -> Answer:
        index = self._index(request)
        offset = _non_negative(request.query, "offset", 0, "invalid_document_offset")
        limit = _non_negative(request.query, "limit", 20, "invalid_document_limit")
        fields = request.query["fields"].split(",") if "fields" in request.query else None
        return self._documents_page(index, offset, limit, fields, request.query.get("filter"))

    def fetch_documents(self, request: Request) -> Answer:
        index = self._index(request)
        body = request.body
        if not isinstance(body, dict):
            raise invalid_value_type("", "an object", body, "bad_request")
        check_object_fields(body, ["offset", "limit", "fields", "filter"], code="bad_request")
        offset, limit = body.get("offset", 0), body.get("limit", 20)
        for name, value, code in (
            ("offset", offset, "invalid_document_offset"),
            ("limit", limit, "invalid_document_limit"),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise invalid_value_type(f".{name}", "a positive integer", value, code)
        return self._documents_page(index, offset, limit, body.get("fields"), body.get("filter"))

    def get_document(self, request: Request) -> Answer:
        index = self._index(request)
        identifier = request.params["document_id"]
        stored = index.documents.get(identifier)
        if stored is None:
            raise MeiliError("document_not_found", f"Document `{identifier}` not found.", status=404)
        fields = request.query["fields"].split(",") if "fields" in request.query else ["*"]
        return 200, select_fields(stored.body, set(fields))

    def search(self, request: Request) -> Answer:
        return 200, search(self._index(request), request.body)

    # -- tasks -----------------------------------------------------------------------------------------------

    def get_task(self, request: Request) -> Answer:
        raw = request.params["task_uid"]
        if not raw.isdigit():
            raise query_parameter_error("taskUid", raw, "invalid_task_uids")
        task = self.tasks.tasks.get(int(raw))
        if task is None:
            raise MeiliError("task_not_found", f"Task `{raw}` not found.", status=404)
        return 200, task.view()

    def list_tasks(self, request: Request) -> Answer:
        query = request.query
        statuses = _task_filter(query, "statuses", TASK_STATUSES, "invalid_task_statuses", "status")
        types = _task_filter(query, "types", TASK_TYPES, "invalid_task_types", "type")
        index_uids = {uid for uid in query.get("indexUids", "").split(",") if uid and uid != "*"}
        for uid in index_uids:
            check_index_uid(uid)
        raw_uids = [uid for uid in query.get("uids", "").split(",") if uid and uid != "*"]
        if any(not uid.isdigit() for uid in raw_uids):
            bad = next(uid for uid in raw_uids if not uid.isdigit())
            raise query_parameter_error("uids", bad, "invalid_task_uids")
        limit = _non_negative(query, "limit", 20, "invalid_task_limit")
        start = _non_negative(query, "from", -1, "invalid_task_from") if "from" in query else None
        matching = self.tasks.select(
            statuses=statuses, types=types, index_uids=index_uids, uids={int(uid) for uid in raw_uids}
        )
        page = [task for task in matching if start is None or task.uid <= start]
        shown, rest = page[:limit], page[limit:]
        return 200, {
            "results": [task.view() for task in shown],
            "total": len(matching),
            "limit": limit,
            "from": shown[0].uid if shown else None,
            "next": rest[0].uid if rest else None,
        }


def _task_filter(query: dict[str, str], name: str, accepted: list[str], code: str, noun: str) -> set[str]:
    values = {value for value in query.get(name, "").split(",") if value and value != "*"}
    for value in values:
        if value not in accepted:
            listed = ", ".join(f"`{item}`" for item in accepted)
            raise MeiliError(
                code,
                f"Invalid value in parameter `{name}`: `{value}` is not a valid task {noun}. "
                f"Available {noun}s are {listed}.",
            )
    return values


def _document_filter(value: object) -> Filter | None:
    try:
        return parse_filter(value)
    except MeiliError as error:
        raise MeiliError("invalid_document_filter", error.message) from error


def _check_document_filter(condition: Filter, index: Index) -> None:
    settings = index.settings
    try:
        check_filterable(condition, lambda attribute: is_filterable(settings, attribute), filterable_names(settings))
    except MeiliError as error:
        raise MeiliError("invalid_document_filter", error.message) from error
