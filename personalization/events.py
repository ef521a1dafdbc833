"""Behaviour events from the app: checked one by one, counted once, turned into segment scores.

A batch holds up to 100 events. Each is accepted, a duplicate (its client event id was seen before from the same
device or shopper, within a week) or rejected with a reason; one bad event never spoils the batch. Purchases
are refused here: the order flow records them itself, so a client cannot buy popularity.

An accepted event counts for its contributor as a person, not as an event (``personalization.scores``): past the
contributor's cap for the product and day it adds nothing to the scores, but is still accepted and stored.

Every event that passes the checks is also appended to the event store (``insights.store``) in the request's
transaction, duplicates included: the store keeps each event's identity once, so an event Redis saw in a batch
whose transaction then failed is stored by the retry, and nothing is stored twice.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from catalog.models import Mall, MallStatus, Product, ProductStatus
from insights.store import AppEvent, append_events
from personalization.errors import InvalidEventBatchError, MalformedEventsError
from personalization.scores import Contributor, Decay, Signal, add_signals
from personalization.taste import record_affinity

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from accounts.segments import Audience

MAX_EVENTS = 100
DEDUPLICATION_SECONDS = 7 * 24 * 3600
MAX_AGE = datetime.timedelta(days=7)
"""Older events are refused: the app should send what it buffered offline within a week."""
MAX_CLOCK_SKEW = datetime.timedelta(minutes=5)
SEEN_PREFIX = "shoa:feed:seen:"

EventKind = Literal["view", "click", "like", "add_to_cart", "purchase"]


class EventIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    id: uuid.UUID
    """Made by the app, once per event: a retried batch counts each event once."""
    kind: EventKind
    product_id: uuid.UUID
    occurred_at: Annotated[datetime.datetime, msgspec.Meta(tz=True)]


class EventBatch(msgspec.Struct, forbid_unknown_fields=True):
    events: list[msgspec.Raw]


class EventResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    index: int
    id: uuid.UUID | None
    result: Literal["accepted", "duplicate", "rejected"]
    reason: str | None = None


class EventBatchResult(msgspec.Struct, kw_only=True):
    accepted: int
    duplicate: int
    rejected: int
    items: list[EventResult]


@dataclass(frozen=True)
class Recorder:
    """What scoring needs: weights per kind and the decay."""

    weights: dict[str, float]
    decay: Decay


def decode_batch(body: bytes) -> list[msgspec.Raw]:
    try:
        batch = msgspec.json.decode(body, type=EventBatch)
    except msgspec.ValidationError as exc:
        msg = f'the body must be {{"events": [...]}}: {exc}'
        raise InvalidEventBatchError(msg) from exc
    except msgspec.DecodeError as exc:
        msg = f"the body is not valid JSON: {exc}"
        raise MalformedEventsError(msg) from exc
    if not batch.events:
        msg = "the batch has no events"
        raise InvalidEventBatchError(msg)
    if len(batch.events) > MAX_EVENTS:
        msg = f"a batch holds at most {MAX_EVENTS} events; this one has {len(batch.events)}"
        raise InvalidEventBatchError(msg)
    return batch.events


async def record_events(
    session: AsyncSession,
    redis: Redis,
    recorder: Recorder,
    *,
    actor: str,
    audience: Audience,
    items: list[msgspec.Raw],
    now: datetime.datetime,
    user_id: uuid.UUID | None = None,
    device_id: str | None = None,
) -> EventBatchResult:
    """Check, deduplicate, score and store ``items`` sent by ``actor`` (``user:<id>`` or ``device:<id>``) of
    ``audience``; a logged-in shopper's (``user_id``) engagement also feeds their own malls' and categories'
    affinities."""
    segment = audience.segment
    results: dict[int, EventResult] = {}
    candidates: dict[int, EventIn] = {}
    for index, raw in enumerate(items):
        event = _parse(raw)
        if isinstance(event, str):
            results[index] = EventResult(index=index, id=None, result="rejected", reason=event)
        elif (reason := _refusal(event, now)) is not None:
            results[index] = EventResult(index=index, id=event.id, result="rejected", reason=reason)
        else:
            candidates[index] = event
    shown = await _products_on_show(session, [event.product_id for event in candidates.values()])
    scored: list[tuple[int, EventIn]] = []
    for index, event in candidates.items():
        if event.product_id not in shown:
            results[index] = EventResult(index=index, id=event.id, result="rejected", reason="no such product on show")
        else:
            scored.append((index, event))
    added = await add_signals(
        redis,
        recorder.decay,
        [Signal(segment, e.product_id, recorder.weights[e.kind], e.occurred_at.timestamp()) for _, e in scored],
        now=now.timestamp(),
        once_keys=[_once_key(actor, event) for _, event in scored],
        once_seconds=DEDUPLICATION_SECONDS,
        contributor=Contributor(actor) if user_id is not None else Contributor.device(actor.removeprefix("device:")),
    )
    engaged = []
    for (index, event), first in zip(scored, added, strict=True):
        results[index] = EventResult(index=index, id=event.id, result="accepted" if first else "duplicate")
        if first:
            mall_id, category_path = shown[event.product_id]
            engaged.append((mall_id, category_path.split("/", 1)[0], recorder.weights[event.kind]))
    stored = [
        AppEvent(kind=event.kind, product_id=event.product_id, mall_id=shown[event.product_id][0],
                 category_path=shown[event.product_id][1], at=event.occurred_at, identity=_once_key(actor, event))
        for _, event in scored
    ]  # fmt: skip
    await append_events(session, stored, audience=audience, sender=actor, now=now, shopper_id=user_id,
                        device_id=device_id)  # fmt: skip
    if user_id is not None:
        await record_affinity(redis, user_id, engaged)
    ordered = [results[index] for index in sorted(results)]
    counts = {kind: sum(1 for r in ordered if r.result == kind) for kind in ("accepted", "duplicate", "rejected")}
    return EventBatchResult(**counts, items=ordered)


def _parse(raw: msgspec.Raw) -> EventIn | str:
    try:
        return msgspec.json.decode(raw, type=EventIn)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return str(exc)


def _refusal(event: EventIn, now: datetime.datetime) -> str | None:
    if event.kind == "purchase":
        return "purchases are recorded by the order flow, not sent by the app"
    if event.occurred_at > now + MAX_CLOCK_SKEW:
        return "occurred_at is in the future"
    if event.occurred_at < now - MAX_AGE:
        return f"occurred_at is more than {MAX_AGE.days} days ago"
    return None


async def _products_on_show(
    session: AsyncSession, product_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, str]]:
    """The products among ``product_ids`` shoppers may see, with their mall and category path."""
    if not product_ids:
        return {}
    query = (
        sa.select(Product.id, Product.mall_id, Product.category_path)
        .join(Mall, Mall.id == Product.mall_id)
        .where(
            Product.id == sa.any_(sa.literal(list(set(product_ids)), ARRAY(sa.Uuid()))),
            Product.status != ProductStatus.HIDDEN.value,
            Mall.status == MallStatus.ACTIVE.value,
        )
    )
    return {product_id: (mall_id, category) for product_id, mall_id, category in await session.execute(query)}


def _once_key(actor: str, event: EventIn) -> str:
    """Each event counts once; a like counts once per product, however it arrives (event or ``PUT /v1/likes``)."""
    if event.kind == "like":
        return like_once_key(actor, event.product_id)
    return f"{SEEN_PREFIX}{actor}:{event.id}"


def like_once_key(actor: str, product_id: uuid.UUID) -> str:
    return f"{SEEN_PREFIX}{actor}:like:{product_id}"
