"""Search errors: the engine behind search is out of reach, or refused what it was sent."""

from __future__ import annotations

from typing import Any

from catalog.errors import CatalogError

RETRY_AFTER_SECONDS = 5


class SearchUnavailableError(CatalogError):
    """Meilisearch did not answer, answered an error, or failed a task.

    Shoppers get a fixed ``detail`` (503, ``Retry-After``); ``reason`` says what went wrong, for logs and for
    operators (``str()`` of the error is the reason).
    """

    code = "search-unavailable"
    status = 503
    title = "Search is unavailable"
    retry_after = RETRY_AFTER_SECONDS

    def __init__(self, reason: str) -> None:
        super().__init__("Search is not answering right now; try again shortly.")
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class IndexWriterBusyError(SearchUnavailableError):
    """Another process holds the Tantivy index's writer (another worker): this one leaves indexing to it."""


class SearchTaskFailedError(SearchUnavailableError):
    """A Meilisearch task (settings, documents) finished as ``failed``, or did not finish in time."""

    def __init__(self, reason: str, *, task: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.task = task or {}
