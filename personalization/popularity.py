"""Each product's popularity, for the search's popularity order: everyone's time-decayed engagement, written to
``products.popularity`` by the worker.

The value is kept on a scale that time does not change: ``log2(score as of t) + t / half_life`` (``t`` in seconds
since 1970). Every decayed score halves each half-life, so for a product nobody engages with the value stays
put while its score fades, and any two products compare as their scores do at any moment. So only products
with new engagement are written (the roll-up hands them on), never the whole catalog once a minute, and a
product whose engagement faded keeps a value that still orders it right. One step is a doubling of engagement.
A product nobody ever engaged with has 0, below every engaged one (whose values are in the thousands); so does one
engaged by a single person, however often (the worker passes scores gated by ``scores.people_gated``, decision 0039).

A written product also gets a search-outbox row, so Meilisearch sorts by the new value too. ``updated_at`` is
left alone: popularity is shoppers' behaviour, not a change of the mall's content. Rows a mall's sync holds are
skipped, not waited for, and written after the next roll-up.

Changing the half-life changes the scale: values written before and after compare wrongly until every engaged
product has been written again (``UPDATE products SET popularity = 0``, then the scores' next changes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from catalog.models import Product, SearchOutbox

if TYPE_CHECKING:
    import datetime
    import uuid
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from personalization.scores import Decay

CHANGED = 0.05
"""Values closer than this to the stored one are not written (about 3.5% of engagement)."""

_products = cast("sa.Table", Product.__table__)
_outbox = cast("sa.Table", SearchOutbox.__table__)


def popularity_value(score: float, *, at: float, decay: Decay) -> float:
    """The stored value of a decayed ``score`` as of ``at`` (Unix time); 0 for no engagement."""
    if score <= 0:
        return 0.0
    return round(math.log2(score) + at / decay.half_life_seconds, 4)


@dataclass(frozen=True)
class Published:
    written: int
    skipped: list[uuid.UUID]
    """Held by another transaction (a mall's sync): to be written after the next roll-up."""


async def publish_popularity(
    session: AsyncSession, pooled: Sequence[tuple[uuid.UUID, float]], decay: Decay, *, now: datetime.datetime
) -> Published:
    """Write the popularity of the products in ``pooled`` (everyone's scores as of ``now`` that the roll-up
    saved: those with new engagement) whose value moved by ``CHANGED`` or more."""
    at = now.timestamp()
    fresh = {product_id: popularity_value(score, at=at, decay=decay) for product_id, score in pooled}
    if not fresh:
        return Published(0, [])
    stored = sa.select(_products.c.id, _products.c.popularity).where(
        _products.c.id == sa.any_(sa.literal(list(fresh), ARRAY(sa.Uuid())))
    )
    held = dict((await session.execute(stored)).all())
    due = {pid: value for pid, value in fresh.items() if pid in held and abs(held[pid] - value) >= CHANGED}
    if not due:
        return Published(0, [])
    pairs = sa.select(
        sa.func.unnest(sa.literal(list(due), ARRAY(sa.Uuid()))).label("product_id"),
        sa.func.unnest(sa.literal(list(due.values()), ARRAY(sa.Double()))).label("popularity"),
    ).subquery("pairs")
    # Rows a mall's sync holds are skipped, not waited for: this can neither slow a sync down nor deadlock with
    # one. The caller has the next roll-up take them again.
    locked = (
        sa.select(_products.c.id, pairs.c.popularity)
        .join(pairs, pairs.c.product_id == _products.c.id)
        .with_for_update(of=_products, skip_locked=True)
        .subquery("locked")
    )
    update = (
        sa.update(_products)
        .where(_products.c.id == locked.c.id)
        .values(popularity=locked.c.popularity, updated_at=_products.c.updated_at)
        .returning(_products.c.id)
    )
    written = list(await session.scalars(update))
    if written:
        rows = sa.select(sa.func.unnest(sa.literal(written, ARRAY(sa.Uuid()))), sa.literal("upsert"))
        await session.execute(sa.insert(_outbox).from_select(["product_id", "action"], rows))
    done = set(written)
    return Published(len(written), [pid for pid in due if pid not in done])
