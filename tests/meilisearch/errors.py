"""Meilisearch's error objects: ``{"message", "code", "type", "link"}`` with the documented HTTP status.

Codes, types and statuses follow the v1.14 error reference (docs: reference/errors/error_codes and
reference/errors/overview). Messages follow the wording Meilisearch itself sends, including the deserializer's
("Invalid value type at `.limit`: expected a positive integer, but found a string: `"x"`") so a client that
logs or surfaces them sees what production would show.
"""

from __future__ import annotations

import json
from typing import Any

JsonObject = dict[str, Any]


def compact_json(value: object) -> str:
    """JSON the way Meilisearch quotes values inside messages: no spaces, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class MeiliError(Exception):
    """An error Meilisearch reports: synchronously as an HTTP answer, or in a failed task's ``error`` field."""

    def __init__(self, code: str, message: str, *, status: int = 400, error_type: str = "invalid_request") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.error_type = error_type

    def body(self) -> dict[str, str]:
        # The field order is part of the documented format (specification 0061).
        return {
            "message": self.message,
            "code": self.code,
            "type": self.error_type,
            "link": f"https://docs.meilisearch.com/errors#{self.code}",
        }


def internal_error(reason: str) -> MeiliError:
    return MeiliError("internal", f"An internal error has occurred. `{reason}`.", status=500, error_type="internal")


def missing_authorization_header() -> MeiliError:
    return MeiliError(
        "missing_authorization_header",
        "The Authorization header is missing. It must use the bearer authorization method.",
        status=401,
        error_type="auth",
    )


def invalid_api_key() -> MeiliError:
    return MeiliError("invalid_api_key", "The provided API key is invalid.", status=403, error_type="auth")


def index_not_found(uid: str) -> MeiliError:
    return MeiliError("index_not_found", f"Index `{uid}` not found.", status=404)


def invalid_index_uid(uid: str, *, at: str | None = None) -> MeiliError:
    reason = (
        f"`{uid}` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric "
        "characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."
    )
    return MeiliError("invalid_index_uid", f"Invalid value at `{at}`: {reason}" if at else reason)


def json_kind(value: object) -> str:
    """How Meilisearch's deserializer names the type it found."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a positive integer" if value >= 0 else "a negative integer"
    kinds = {type(None): "null", float: "a number", str: "a string", list: "an array"}
    return kinds.get(type(value), "an object")


def invalid_value_type(path: str, expected: str, value: object, code: str) -> MeiliError:
    return MeiliError(
        code,
        f"Invalid value type at `{path}`: expected {expected}, but found {json_kind(value)}: `{compact_json(value)}`",
    )


def invalid_value(path: str, reason: str, code: str) -> MeiliError:
    return MeiliError(code, f"Invalid value at `{path}`: {reason}")


def unknown_field(
    field: str, accepted: list[str], *, inside: str | None = None, code: str = "bad_request"
) -> MeiliError:
    where = f" inside `{inside}`" if inside else ""
    expected = ", ".join(f"`{name}`" for name in accepted)
    return MeiliError(code, f"Unknown field `{field}`{where}: expected one of {expected}")


def missing_field(field: str, code: str) -> MeiliError:
    return MeiliError(code, f"Missing field `{field}`")


def unknown_value(value: str, path: str, accepted: list[str], code: str) -> MeiliError:
    expected = ", ".join(f"`{name}`" for name in accepted)
    return MeiliError(code, f"Unknown value `{value}` at `{path}`: expected one of {expected}")


def query_parameter_error(name: str, value: str, code: str) -> MeiliError:
    return MeiliError(code, f"Invalid value in parameter `{name}`: could not parse `{value}` as a positive integer")


def check_object_fields(body: JsonObject, accepted: list[str], *, inside: str | None = None, code: str) -> None:
    """Reject the first key Meilisearch does not know, as its deserializer does (``deny_unknown_fields``)."""
    for key in body:
        if key not in accepted:
            raise unknown_field(key, accepted, inside=inside, code=code)
