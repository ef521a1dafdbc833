"""What the catalog hands across its boundary: msgspec structs, never ORM objects."""

from __future__ import annotations

import datetime
import uuid

import msgspec


class MallSummary(msgspec.Struct, frozen=True):
    """Fields in the order of the repository's summary columns."""

    id: uuid.UUID
    slug: str
    name: str
    description: str
    logo_url: str | None
    created_at: datetime.datetime


class MallPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[MallSummary]
    next_cursor: str | None
    """Pass as ``cursor`` to get the next page; ``null`` on the last page."""
