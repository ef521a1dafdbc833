"""The products a feed page shows: their tiles, and the parts of their score when asked.

Tiles are kept for a few seconds in the app's feed memory (``FeedMemory.tiles``), so a warm page costs no query;
a product that sold out or was hidden since its list was made is skipped when its page is served (and shows at
most those few seconds longer, as other public answers do).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from catalog.models import Mall, MallStatus, Product, ProductStatus
from personalization.feed import Explanation, FeedItem, MallBrief

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from personalization.feed import Ranked
    from personalization.memory import FeedMemory


TileRow = tuple[uuid.UUID, str, str, int, str, bool, str, uuid.UUID, str]
"""id, name, first image, price from, currency, in stock, category path, mall id, mall name."""


async def page_tiles(
    session: AsyncSession, memory: FeedMemory, ranked: list[Ranked], *, offset: int, limit: int, explain: bool
) -> tuple[list[FeedItem], int]:
    """The page's items, skipping any sold out or hidden since the list was made; how many list places it used."""
    window = ranked[offset : offset + limit + limit // 2 + 5]
    known: dict[uuid.UUID, TileRow | None] = {}
    for entry in window:
        with contextlib.suppress(KeyError):  # not known, or expired
            known[entry.candidate.product_id] = memory.tiles[entry.candidate.product_id]
    missing = [entry.candidate.product_id for entry in window if entry.candidate.product_id not in known]
    if missing:
        rows = await session.execute(
            sa.select(
                Product.id, Product.name, Product.image_urls[1], Product.price_from, Product.currency,
                Product.in_stock, Product.category_path, Mall.id, Mall.name,
            )
            .join(Mall, Mall.id == Product.mall_id)
            .where(
                Product.id == sa.any_(sa.literal(missing, ARRAY(sa.Uuid()))),
                Product.status == ProductStatus.ON_SALE.value,
                Product.in_stock,
                Mall.status == MallStatus.ACTIVE.value,
            )
        )  # fmt: skip
        fetched: dict[uuid.UUID, TileRow] = {row[0]: tuple(row) for row in rows}
        for product_id in missing:
            known[product_id] = fetched.get(product_id)
            if memory.tile_seconds > 0:
                memory.tiles[product_id] = known[product_id]
    items: list[FeedItem] = []
    used = 0
    for entry in window:
        if len(items) == limit:
            break
        used += 1
        row = known.get(entry.candidate.product_id)
        if row is None:
            continue
        items.append(
            FeedItem(
                id=row[0], name=row[1], image_url=row[2], price_from=row[3], currency=row[4], in_stock=row[5],
                category_path=row[6], mall=MallBrief(row[7], row[8]),
                explain=_explanation(entry) if explain else None,
            )
        )  # fmt: skip
    return items, used


def _explanation(entry: Ranked) -> Explanation:
    candidate = entry.candidate
    return Explanation(
        target=candidate.target,
        popularity=candidate.popularity,
        everyone=candidate.everyone,
        freshness=candidate.freshness,
        base=round(candidate.base, 4),
        mall_affinity=entry.mall_affinity,
        category_affinity=entry.category_affinity,
        bought=entry.bought,
        score=entry.score,
        rank_by_score=entry.rank_by_score,
    )
