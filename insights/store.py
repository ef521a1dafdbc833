"""Appending to the event store: the app's events as ``POST /v1/events`` accepts them, purchases as mall-orders
are paid, and an erased account's events made anonymous.

Everything here runs in the caller's transaction, so an event is stored exactly when the request (or the
payment) that accepted it commits. Each event has an identity (``dedupe_key``): a UUIDv5 of the same key Redis
counts it once under (who sent it and the app's event id; for a like, who and which product), or of the paid
order line. The store keeps an identity once within ``DEDUPLICATION_WINDOW``, whatever Redis answered: a batch
retried after its transaction failed (Redis had marked its events seen, the database had not stored them) is
stored by the retry, and a batch sent twice is stored once.

An anonymous device's first stored batch also notes the device in ``insights_devices`` (first seen now, on the
database's clock), in the same statement: the rankings count a device only once it has been around
(``insights.devices``).
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from accounts.models import User
from accounts.segments import ANONYMOUS_AUDIENCE, Audience, audience_for, korea_today
from catalog.models import Product
from insights.models import Event

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

EventKind = Literal["view", "click", "like", "add_to_cart", "purchase"]
IDENTITY_NAMESPACE = uuid.UUID("0193f0a4-6c8e-7d1a-9b2c-5e4f3a2b1c0d")
"""UUIDv5 namespace of the events' identities."""
DEDUPLICATION_WINDOW = datetime.timedelta(days=15)
"""How far back an event's identity is looked for: the app's events are at most 7 days old and Redis remembers
them 7 days, so a week and a day of slack covers every duplicate Redis could report."""
APPEND_LOCK_SEED = 0x5E0A
"""Seed of the per-sender advisory lock: one sender's batches are appended one at a time."""


@dataclass(frozen=True, kw_only=True)
class AppEvent:
    """An event the app sent and ``POST /v1/events`` accepted (or found a duplicate of)."""

    kind: EventKind
    product_id: uuid.UUID
    mall_id: uuid.UUID
    category_path: str
    at: datetime.datetime
    identity: str
    """What Redis counts it once under (``personalization.events``' once key)."""


@dataclass(frozen=True, kw_only=True)
class Purchase:
    """An order line whose mall-order became paid."""

    line_id: uuid.UUID
    product_id: uuid.UUID
    mall_id: uuid.UUID
    quantity: int
    amount: int


def identity_key(identity: str) -> uuid.UUID:
    return uuid.uuid5(IDENTITY_NAMESPACE, identity)


async def append_events(
    session: AsyncSession,
    events: Sequence[AppEvent],
    *,
    audience: Audience,
    sender: str,
    now: datetime.datetime,
    shopper_id: uuid.UUID | None = None,
    device_id: str | None = None,
) -> int:
    """Store ``events`` sent by ``sender`` (``user:<id>`` or ``device:<id>``) unless their identity is stored
    already; how many were stored. An anonymous ``device_id`` not seen before is noted as first seen now."""
    unique = list({identity_key(event.identity): event for event in reversed(events)}.items())[::-1]
    if not unique:
        return 0
    # A sender's concurrent batches queue here, so the check below sees what the other one stored.
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(sender, APPEND_LOCK_SEED))))
    result = await session.execute(
        sa.text("""
            WITH seen AS (
                INSERT INTO insights_devices (device_id)
                SELECT CAST(:device_id AS varchar) WHERE CAST(:device_id AS varchar) IS NOT NULL
                                                      AND CAST(:shopper_id AS uuid) IS NULL
                ON CONFLICT DO NOTHING
            )
            INSERT INTO insights_events (at, id, kind, product_id, mall_id, category_path, segment, gender, age_band,
                                         shopper_id, device_id, dedupe_key)
            SELECT e.at, e.id, e.kind, e.product_id, e.mall_id, e.category_path, :segment, :gender, :age_band,
                   :shopper_id, :device_id, e.dedupe_key
            FROM unnest(CAST(:ats AS timestamptz[]), CAST(:ids AS uuid[]), CAST(:kinds AS text[]),
                        CAST(:products AS uuid[]), CAST(:malls AS uuid[]), CAST(:categories AS text[]),
                        CAST(:keys AS uuid[]))
                 AS e(at, id, kind, product_id, mall_id, category_path, dedupe_key)
            WHERE NOT EXISTS (SELECT FROM insights_events stored
                              WHERE stored.dedupe_key = e.dedupe_key AND stored.at >= :since)
            ON CONFLICT DO NOTHING
        """),
        {
            "segment": audience.segment,
            "gender": audience.gender,
            "age_band": audience.age_band.value if audience.age_band is not None else None,
            "shopper_id": shopper_id,
            "device_id": device_id,
            "ats": [event.at for _, event in unique],
            "ids": [uuid.uuid4() for _ in unique],
            "kinds": [event.kind for _, event in unique],
            "products": [event.product_id for _, event in unique],
            "malls": [event.mall_id for _, event in unique],
            "categories": [event.category_path for _, event in unique],
            "keys": [key for key, _ in unique],
            "since": now - DEDUPLICATION_WINDOW,
        },
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def append_purchases(
    session: AsyncSession, purchases: Sequence[Purchase], *, shopper_id: uuid.UUID, at: datetime.datetime
) -> int:
    """Store the paid order lines as purchases by ``shopper_id``'s audience as of ``at``; each line once."""
    if not purchases:
        return 0
    user = await session.get(User, shopper_id)
    if user is None or user.status != "active":
        audience, stored_shopper = ANONYMOUS_AUDIENCE, None  # erased between checkout and payment
    else:
        audience = audience_for(user.gender, user.birth_date, today=korea_today(at), birth_year=user.birth_year,
                                age_range=user.age_range)  # fmt: skip
        stored_shopper = shopper_id
    found = await session.execute(
        sa.select(Product.id, Product.category_path).where(Product.id.in_({p.product_id for p in purchases}))
    )
    categories: dict[uuid.UUID, str] = dict(found.all())
    rows = [
        {
            "at": at,
            "kind": "purchase",
            "product_id": purchase.product_id,
            "mall_id": purchase.mall_id,
            "category_path": categories.get(purchase.product_id, ""),
            "segment": audience.segment,
            "gender": audience.gender,
            "age_band": audience.age_band.value if audience.age_band is not None else None,
            "shopper_id": stored_shopper,
            "dedupe_key": identity_key(f"purchase:{purchase.line_id}"),
            "quantity": purchase.quantity,
            "amount": purchase.amount,
        }
        for purchase in purchases
    ]
    result = await session.execute(insert(Event).values(rows).on_conflict_do_nothing())
    return int(result.rowcount)  # type: ignore[attr-defined]


async def forget_shopper(session: AsyncSession, shopper_id: uuid.UUID) -> int:
    """An erased account's events stay (they are the segment's), without anything that leads back to it."""
    result = await session.execute(
        sa.update(Event).where(Event.shopper_id == shopper_id).values(shopper_id=None, dedupe_key=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
