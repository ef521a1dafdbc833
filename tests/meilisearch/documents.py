"""Documents as Meilisearch sees them: identifiers, the primary key, and fields reached by dot notation.

Docs: learn/getting_started/primary_key (identifier format, inference from a field ending in ``id``),
reference/api/documents, and the nested-field rules of filtering and sorting (``rating.users``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from tests.meilisearch.errors import JsonObject, MeiliError, compact_json

DOCUMENT_CONTENT_TYPES = ["application/json", "application/x-ndjson", "text/csv"]
_DOCUMENT_ID = re.compile(r"[A-Za-z0-9_-]+")
_MAX_ID_BYTES = 511


def document_id(document: JsonObject, primary_key: str) -> str:
    """The document's identifier as a string key, or the task error Meilisearch reports for it."""
    if primary_key not in document:
        raise MeiliError(
            "missing_document_id", f"Document doesn't have a `{primary_key}` attribute: `{compact_json(document)}`."
        )
    return external_id(document[primary_key])


def external_id(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and _DOCUMENT_ID.fullmatch(value) and len(value.encode()) <= _MAX_ID_BYTES:
        return value
    raise MeiliError(
        "invalid_document_id",
        f"Document identifier `{compact_json(value)}` is invalid. A document identifier can be of type integer or "
        "string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can "
        "not be more than 511 bytes.",
    )


def infer_primary_key(document: JsonObject) -> str:
    """The one field whose name ends with ``id`` (case-insensitively); none or several is an error."""
    candidates = [name for name in document if name.lower().endswith("id")]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise MeiliError(
            "index_primary_key_no_candidate_found",
            "The primary key inference failed as the engine did not find any field ending with `id` in its name. "
            "Please specify the primary key manually using the `primaryKey` query parameter.",
        )
    raise MeiliError(
        "index_primary_key_multiple_candidates_found",
        f"The primary key inference failed as the engine found {len(candidates)} fields ending with `id` in their "
        f"names: '{candidates[0]}' and '{candidates[1]}'. Please specify the primary key manually using the "
        "`primaryKey` query parameter.",
    )


def lookup(node: Any, path: str) -> list[Any]:
    """Every value found at ``path``; dots go into objects, arrays of objects are searched element by element.

    A key may itself contain dots (``{"a.b": 1}``), so both spellings of a path are followed.
    """
    if isinstance(node, list):
        return [found for item in node for found in lookup(item, path)]
    if not isinstance(node, dict):
        return []
    found: list[Any] = []
    for key, child in node.items():
        if key == path:
            found.append(child)
        elif path.startswith(key + "."):
            found.extend(lookup(child, path[len(key) + 1 :]))
    return found


def leaf_values(values: list[Any]) -> list[Any]:
    """The scalars inside ``values``: array elements are flattened, objects are not values."""
    leaves: list[Any] = []
    for value in values:
        if isinstance(value, list):
            leaves.extend(leaf_values(value))
        elif not isinstance(value, dict):
            leaves.append(value)
    return leaves


def field_paths(document: JsonObject, prefix: str = "") -> list[str]:
    """Every field of the document in dot notation, objects and their children both included."""
    paths: list[str] = []
    for key, value in document.items():
        path = f"{prefix}{key}"
        paths.append(path)
        children: list[JsonObject] = []
        if isinstance(value, dict):
            children = [value]
        elif isinstance(value, list):
            children = [item for item in value if isinstance(item, dict)]
        for child in children:
            paths.extend(name for name in field_paths(child, f"{path}.") if name not in paths)
    return paths


def select_fields(document: JsonObject, attributes: set[str]) -> JsonObject:
    """The part of the document named by ``attributes`` (``*`` for all, ``a.b`` for a nested field)."""
    if "*" in attributes:
        return dict(document)
    selected: JsonObject = {}
    for key, value in document.items():
        if key in attributes:
            selected[key] = value
            continue
        nested = {name[len(key) + 1 :] for name in attributes if name.startswith(key + ".")}
        if not nested:
            continue
        if isinstance(value, dict):
            part = select_fields(value, nested)
            if part:
                selected[key] = part
        elif isinstance(value, list):
            parts = [select_fields(item, nested) for item in value if isinstance(item, dict)]
            if any(parts):
                selected[key] = [part for part in parts if part]
    return selected


def covers(attribute: str, pattern: str) -> bool:
    """Whether a setting entry (``rating``) names an attribute or one of its nested fields (``rating.users``)."""
    return attribute == pattern or attribute.startswith(pattern + ".")


def parse_documents(content_type: str | None, raw: bytes) -> list[JsonObject]:
    accepted = ", ".join(f"`{name}`" for name in DOCUMENT_CONTENT_TYPES)
    if content_type is None:
        raise MeiliError(
            "missing_content_type",
            f"A Content-Type header is missing. Accepted values for the Content-Type header are: {accepted}",
            status=415,
        )
    mime = content_type.split(";")[0].strip().lower()
    if mime not in DOCUMENT_CONTENT_TYPES:
        raise MeiliError(
            "invalid_content_type",
            f"The Content-Type `{content_type}` is invalid. Accepted values for the Content-Type header are: "
            f"{accepted}",
            status=415,
        )
    kind = {"application/json": "json", "application/x-ndjson": "ndjson", "text/csv": "csv"}[mime]
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        raise MeiliError("missing_payload", f"A {kind} payload is missing.")
    try:
        if kind == "csv":
            return _csv_documents(text)
        values = (
            [json.loads(line) for line in text.splitlines() if line.strip()] if kind == "ndjson" else json.loads(text)
        )
    except ValueError as error:
        raise MeiliError("malformed_payload", f"The `{kind}` payload provided is malformed. `{error}`.") from error
    documents = [values] if isinstance(values, dict) else values
    if not isinstance(documents, list) or not all(isinstance(document, dict) for document in documents):
        raise MeiliError(
            "malformed_payload",
            f"The `{kind}` payload provided is malformed. `Couldn't serialize document value: expected a map`.",
        )
    return documents


def _csv_documents(text: str) -> list[JsonObject]:
    """CSV with ``name:type`` headers (``string``, ``number``, ``boolean``), as the documents reference describes."""
    rows = list(csv.reader(io.StringIO(text)))
    columns = [
        header.rsplit(":", 1) if header.endswith((":number", ":boolean", ":string")) else [header, "string"]
        for header in rows[0]
    ]
    documents: list[JsonObject] = []
    for row in rows[1:]:
        document: JsonObject = {}
        for (name, kind), cell in zip(columns, row, strict=False):
            if cell == "":
                document[name] = None
            elif kind == "number":
                number = float(cell)
                document[name] = int(number) if number.is_integer() and "." not in cell else number
            elif kind == "boolean":
                document[name] = cell.lower() == "true"
            else:
                document[name] = cell
        documents.append(document)
    return documents
