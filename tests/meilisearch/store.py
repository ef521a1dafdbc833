"""What the fake holds in memory: indexes, their settings and documents, and the writes tasks apply to them.

Docs: reference/api/indexes (index object, uid format), reference/api/documents (add or replace replaces the
whole document, add or update merges its fields, an index is created by the first document addition, the
primary key is set once: by ``primaryKey``, else inferred from the first document), learn/getting_started/
primary_key. A document write is all or nothing: one bad document fails the task and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.meilisearch.documents import document_id, field_paths, infer_primary_key
from tests.meilisearch.errors import JsonObject, MeiliError, index_not_found, invalid_index_uid
from tests.meilisearch.settings import default_settings

if TYPE_CHECKING:
    from collections.abc import Callable

_INDEX_UID = re.compile(r"[A-Za-z0-9_-]{1,400}")


def check_index_uid(uid: str, *, at: str | None = None) -> str:
    if not _INDEX_UID.fullmatch(uid):
        raise invalid_index_uid(uid, at=at)
    return uid


def rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class StoredDocument:
    internal_id: int
    """Insertion order: a replaced document keeps its place, as Meilisearch keeps its internal id."""
    body: JsonObject


@dataclass
class Index:
    uid: str
    primary_key: str | None
    created_at: dt.datetime = field(default_factory=now)
    updated_at: dt.datetime = field(default_factory=now)
    settings: JsonObject = field(default_factory=default_settings)
    documents: dict[str, StoredDocument] = field(default_factory=dict)
    field_order: list[str] = field(default_factory=list)
    """Top-level fields in the order they were first seen: what ``searchableAttributes: ["*"]`` ranks by."""
    next_internal_id: int = 0

    def view(self) -> JsonObject:
        return {
            "uid": self.uid,
            "createdAt": rfc3339(self.created_at),
            "updatedAt": rfc3339(self.updated_at),
            "primaryKey": self.primary_key,
        }

    def ordered_documents(self) -> list[tuple[int, JsonObject]]:
        return sorted((stored.internal_id, stored.body) for stored in self.documents.values())

    def known_fields(self) -> list[str]:
        """Every field path present in some document, for ``facets: ["*"]`` and the like."""
        paths: list[str] = []
        for _, document in self.ordered_documents():
            paths.extend(path for path in field_paths(document) if path not in paths)
        return paths

    def touch(self) -> None:
        self.updated_at = now()


class Store:
    def __init__(self) -> None:
        self.indexes: dict[str, Index] = {}

    def get(self, uid: str) -> Index:
        index = self.indexes.get(uid)
        if index is None:
            raise index_not_found(uid)
        return index

    def create_index(self, uid: str, primary_key: str | None) -> Index:
        if uid in self.indexes:
            raise MeiliError("index_already_exists", f"Index `{uid}` already exists.", status=409)
        index = Index(uid, primary_key)
        self.indexes[uid] = index
        return index

    def update_index(self, uid: str, primary_key: str | None) -> None:
        """The primary key can change only while the index holds no documents."""
        index = self.get(uid)
        if primary_key is not None and primary_key != index.primary_key:
            if index.documents:
                raise MeiliError(
                    "index_primary_key_already_exists", f"Index already has a primary key: `{index.primary_key}`."
                )
            index.primary_key = primary_key
        index.touch()

    def delete_index(self, uid: str) -> int:
        index = self.get(uid)
        del self.indexes[uid]
        return len(index.documents)

    def add_documents(self, uid: str, documents: list[JsonObject], primary_key: str | None, *, merge: bool) -> int:
        """Add or replace (``merge=False``) or add or update (``merge=True``); returns how many were indexed."""
        index = self.indexes.get(uid)
        key = index.primary_key if index else None
        if key is not None and primary_key is not None and primary_key != key:
            raise MeiliError("index_primary_key_already_exists", f"Index already has a primary key: `{key}`.")
        if key is None:
            key = primary_key or (infer_primary_key(documents[0]) if documents else None)
        identified = [(document_id(document, key), document) for document in documents] if key else []
        if index is None:
            index = self.create_index(uid, key)
        index.primary_key = key
        for identifier, document in identified:
            stored = index.documents.get(identifier)
            if stored is None:
                index.documents[identifier] = StoredDocument(index.next_internal_id, dict(document))
                index.next_internal_id += 1
            else:
                stored.body = {**stored.body, **document} if merge else dict(document)
            index.field_order.extend(name for name in document if name not in index.field_order)
        index.touch()
        return len(identified)

    def delete_documents(self, uid: str, identifiers: list[str]) -> int:
        index = self.get(uid)
        deleted = sum(1 for identifier in dict.fromkeys(identifiers) if index.documents.pop(identifier, None))
        index.touch()
        return deleted

    def delete_documents_where(self, uid: str, keep: Callable[[JsonObject], bool]) -> int:
        index = self.get(uid)
        doomed = [identifier for identifier, stored in index.documents.items() if not keep(stored.body)]
        return self.delete_documents(uid, doomed)

    def clear_documents(self, uid: str) -> int:
        index = self.get(uid)
        deleted = len(index.documents)
        index.documents.clear()
        index.touch()
        return deleted
