"""Assertions shared by the fake Meilisearch's tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

ERROR_KEYS = ["message", "code", "type", "link"]


def assert_error(response: httpx.Response, status: int, code: str, error_type: str = "invalid_request") -> str:
    """The documented error object: exactly these fields in this order; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ERROR_KEYS
    assert body["code"] == code
    assert body["type"] == error_type
    assert body["link"] == f"https://docs.meilisearch.com/errors#{code}"
    message: str = body["message"]
    return message
