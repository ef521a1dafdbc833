"""Opaque keyset cursors: the client sees a token, the query sees the last row's sort key."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

import msgspec

from catalog.errors import InvalidCursorError

T = TypeVar("T")


def encode_cursor(*key: Any) -> str:
    raw = msgspec.json.encode(list(key))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, shape: type[T]) -> T:
    """Decode a cursor made by :func:`encode_cursor` into ``shape`` (a tuple type), or refuse it."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=shape)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        msg = "cursor is not one this API gave out; start again without it"
        raise InvalidCursorError(msg) from exc
