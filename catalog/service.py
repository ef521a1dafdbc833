"""Catalog operations over a session the caller owns: they may flush, never commit."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import msgspec

from catalog import repository, sync
from catalog.errors import InvalidBatchError, MalformedBatchError, MallNotFoundError
from catalog.pagination import decode_cursor, encode_cursor
from catalog.schemas import BatchResult, MallPage, MallSummary, PartnerProductPage

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


class SyncBatch(msgspec.Struct, forbid_unknown_fields=True):
    products: list[msgspec.Raw]


async def sync_products(session: AsyncSession, *, mall_id: uuid.UUID, body: bytes, max_items: int) -> BatchResult:
    """Decode a partner's batch (malformed JSON: 400; not ``{"products": [...]}``: 422), then upsert it."""
    try:
        batch = msgspec.json.decode(body, type=SyncBatch)
    except msgspec.ValidationError as exc:
        msg = f'the body must be {{"products": [...]}}: {exc}'
        raise InvalidBatchError(msg) from exc
    except msgspec.DecodeError as exc:
        msg = f"the body is not valid JSON: {exc}"
        raise MalformedBatchError(msg) from exc
    if not batch.products:
        msg = "the batch has no products"
        raise InvalidBatchError(msg)
    if len(batch.products) > max_items:
        msg = f"a batch holds at most {max_items} products; this one has {len(batch.products)}"
        raise InvalidBatchError(msg)
    return await sync.upsert_products(session, mall_id=mall_id, items=batch.products)


async def list_partner_products(
    session: AsyncSession, *, mall_id: uuid.UUID, cursor: str | None, limit: int
) -> PartnerProductPage:
    after = decode_cursor(cursor, tuple[uuid.UUID]) if cursor else None
    rows = await repository.list_mall_products(
        session, mall_id=mall_id, after=after[0] if after else None, limit=limit + 1
    )
    page, more = rows[:limit], len(rows) > limit
    return PartnerProductPage(items=page, next_cursor=encode_cursor(str(page[-1].id)) if more else None)
