"""Catalog operations over a session the caller owns: they may flush, never commit."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from catalog import repository
from catalog.errors import MallNotFoundError
from catalog.pagination import decode_cursor, encode_cursor
from catalog.schemas import MallPage, MallSummary

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


async def list_malls(session: AsyncSession, *, cursor: str | None, limit: int) -> MallPage:
    """Listed malls in name order (가나다순), one keyset page at a time."""
    after = decode_cursor(cursor, tuple[str, uuid.UUID]) if cursor else None
    rows = await repository.list_listed_malls(session, after=after, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].name, str(page[-1].id)) if more else None
    return MallPage(items=page, next_cursor=next_cursor)


async def get_mall(session: AsyncSession, mall_id: uuid.UUID) -> MallSummary:
    mall = await repository.get_listed_mall(session, mall_id)
    if mall is None:
        msg = f"no listed mall has id {mall_id}"
        raise MallNotFoundError(msg)
    return mall
