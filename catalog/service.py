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

    from catalog.models import Mall


async def list_malls(session: AsyncSession, *, cursor: str | None, limit: int) -> MallPage:
    """Listed malls in name order (가나다순), one keyset page at a time."""
    after = decode_cursor(cursor, tuple[str, uuid.UUID]) if cursor else None
    rows = await repository.list_listed_malls(session, after=after, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].name, str(page[-1].id)) if more else None
    return MallPage(items=[_summary(mall) for mall in page], next_cursor=next_cursor)


async def get_mall(session: AsyncSession, mall_id: uuid.UUID) -> MallSummary:
    mall = await repository.get_listed_mall(session, mall_id)
    if mall is None:
        msg = f"no listed mall has id {mall_id}"
        raise MallNotFoundError(msg)
    return _summary(mall)


def _summary(mall: Mall) -> MallSummary:
    return MallSummary(
        id=mall.id,
        slug=mall.slug,
        name=mall.name,
        description=mall.description,
        logo_url=mall.logo_url,
        created_at=mall.created_at,
    )
