"""The worker's win-back jobs: restock waves, price drops, cart reminders. Each decides an occasion once (the
decision's row is unique by occasion) and enqueues its message through notify's outbox in the same transaction,
so a worker killed at any moment sends nothing twice and loses nothing: an uncommitted chunk is decided again.

Every job reads what is true *now* (the variant's stock, the cart line, the price), so a wave stops when the
variant sells out again, and a reminder is not sent for a line bought, removed or gone out of stock.
"""

from __future__ import annotations

import datetime
import secrets
import time
import uuid  # noqa: TC003 - the web layer resolves WinbackKit's fields at runtime
from collections.abc import Awaitable, Callable, Sequence  # noqa: TC003
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: TC002

from catalog.models import Mall, MallStatus, Product, ProductStatus, Variant
from notify.models import Message
from notify.schemas import (
    OutgoingMessage,
    Recipient,
)
from notify.service import Outbox  # noqa: TC001
from orders.models import CartItem
from orders.stock import options_text
from personalization.models import Like
from winback.models import AlertStatus, Kind, Outcome, Preferences, PriceWatch, Reason, RestockAlert, Send
from winback.policy import Rules, Verdict, advertising_reaches, advertising_verdict

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker


WAVE_CHUNK = 1000
"""Alerts a restock wave notifies per transaction: the variant's stock is read again before each chunk."""
CANDIDATES = 200
"""Price drops or cart lines decided per transaction."""
CART_AFTER = datetime.timedelta(hours=24)
CART_UNTIL = datetime.timedelta(hours=48)
"""A cart line is reminded of once, between 24 and 48 hours after it was added (a line out of stock all that
time gets none)."""
RUN_SECONDS = 5.0


@dataclass(frozen=True, kw_only=True)
class WinbackKit:
    """What the jobs need, built once per worker: the outbox, the batch recipient lookup and the rules."""

    outbox: Outbox
    recipients: Callable[[AsyncSession, Sequence[uuid.UUID]], Awaitable[dict[uuid.UUID, Recipient]]]
    """The batch recipient lookup (:data:`notify.schemas.RecipientsLookup`)."""
    rules: Rules


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _token() -> str:
    return secrets.token_urlsafe(12)


# --- Restock waves ------------------------------------------------------------------------------------------------


async def restock_waves(
    session_maker: async_sessionmaker[AsyncSession],
    kit: WinbackKit,
    *,
    clock: Callable[[], datetime.datetime],
    seconds: float = RUN_SECONDS,
    chunk: int = WAVE_CHUNK,
) -> bool:
    """Notify the waiting shoppers of every variant back in stock, in the order they asked, ``chunk`` of them per
    transaction; whether work was left when ``seconds`` ran out (a chunk at least is always sent)."""
    deadline = time.monotonic() + seconds
    async with session_maker() as session:
        variant_ids = list(
            await session.scalars(
                sa.select(RestockAlert.variant_id)
                .join(Variant, Variant.id == RestockAlert.variant_id)
                .where(RestockAlert.status == AlertStatus.WAITING.value, Variant.stock > 0)
                .distinct()
            )
        )
    for variant_id in variant_ids:
        finished = False
        while not finished:
            async with session_maker() as session, session.begin():
                finished = await _wave_chunk(session, kit, variant_id, now=clock(), chunk=chunk)
            if time.monotonic() > deadline:
                return True
    return False


async def _wave_chunk(
    session: AsyncSession, kit: WinbackKit, variant_id: uuid.UUID, *, now: datetime.datetime, chunk: int
) -> bool:
    """The next chunk of the variant's wave; whether the wave is over (nobody left waiting, or the variant is
    not buyable any more: the rest wait for its next restock)."""
    variant = (
        await session.execute(
            sa.select(Variant, Product.name, Product.id, Mall.name)
            .join(Product, Product.id == Variant.product_id)
            .join(Mall, Mall.id == Variant.mall_id)
            .where(
                Variant.id == variant_id,
                Variant.stock > 0,
                Product.status != ProductStatus.HIDDEN.value,
                Mall.status == MallStatus.ACTIVE.value,
            )
        )
    ).one_or_none()
    if variant is None:
        return True
    row, product_name, product_id, mall_name = variant
    alerts = (
        await session.execute(
            sa.select(RestockAlert.id, RestockAlert.user_id, RestockAlert.mall_id)
            .where(RestockAlert.variant_id == variant_id, RestockAlert.status == AlertStatus.WAITING.value)
            .order_by(RestockAlert.id)
            .limit(chunk)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not alerts:
        return True
    tokens = [_token() for _ in alerts]
    parameters = {
        "product_name": _fit(product_name, 60),
        "option": _fit(options_text(row.color, row.size, row.options) or "-", 40),
        "mall_name": _fit(mall_name, 40),
    }
    enqueued = await kit.outbox.enqueue_many(
        session,
        [
            OutgoingMessage(
                event="restock_available",
                idempotency_key=f"winback:restock:{alert.id}",
                parameters={**parameters, "product_url": kit.rules.link(token)},
                user_id=alert.user_id,
            )
            for alert, token in zip(alerts, tokens, strict=True)
        ],
        now=now,
    )
    await _record(
        session,
        [
            {
                "occasion": f"restock:{alert.id}",
                "kind": Kind.RESTOCK.value,
                "user_id": alert.user_id,
                "mall_id": alert.mall_id,
                "product_id": product_id,
                "variant_id": variant_id,
                # A shopper no order-message channel reaches gets nothing: recorded as such, never retried.
                "outcome": (Outcome.SENT if result.status != "unreachable" else Outcome.SUPPRESSED).value,
                "reason": None if result.status != "unreachable" else Reason.NO_CONSENT.value,
                "decided_at": now,
                "sends_at": now if result.status != "unreachable" else None,
                "message_id": result.message_id,
                "token": token,
            }
            for alert, token, result in zip(alerts, tokens, enqueued, strict=True)
        ],
    )
    await session.execute(
        sa.update(RestockAlert)
        .where(RestockAlert.id.in_([alert.id for alert in alerts]))
        .values(status=AlertStatus.NOTIFIED.value, ended_at=now)
    )
    return len(alerts) < chunk


async def _record(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Write decisions; an occasion already decided (by a worker that got there first) is left as it was. One
    statement compiled once and executed for every row (building a ``.values([...])`` of a thousand rows cost more
    than running it: the wave benchmark found 42% of its time there)."""
    if rows:
        await session.execute(insert(Send).on_conflict_do_nothing(index_elements=["occasion"]), list(rows))


# --- Advertising: price drops and cart reminders ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Occasion:
    occasion: str
    kind: Kind
    user_id: uuid.UUID
    mall_id: uuid.UUID
    product_id: uuid.UUID
    variant_id: uuid.UUID | None
    enabled: bool
    event: str
    parameters: dict[str, Any]


async def _decide(
    session: AsyncSession, kit: WinbackKit, occasions: Sequence[_Occasion], *, now: datetime.datetime
) -> None:
    """Decide each advertising occasion (in order: a shopper's second occasion of a run sees her first's
    decision in the caps) and enqueue the messages that go."""
    recipients = await kit.recipients(session, sorted({occasion.user_id for occasion in occasions}))
    for occasion in occasions:
        recipient = recipients.get(occasion.user_id)
        verdict = await advertising_verdict(
            session,
            user_id=occasion.user_id,
            product_id=occasion.product_id,
            reachable=advertising_reaches(recipient, now=now),
            enabled=occasion.enabled,
            rules=kit.rules,
            now=now,
        )
        await _decide_one(session, kit, occasion, verdict, now=now)


async def _decide_one(
    session: AsyncSession, kit: WinbackKit, occasion: _Occasion, verdict: Verdict, *, now: datetime.datetime
) -> None:
    token = _token() if verdict.outcome is Outcome.SENT else None
    send_id = await session.scalar(
        insert(Send)
        .values(
            occasion=occasion.occasion,
            kind=occasion.kind.value,
            user_id=occasion.user_id,
            mall_id=occasion.mall_id,
            product_id=occasion.product_id,
            variant_id=occasion.variant_id,
            outcome=verdict.outcome.value,
            reason=verdict.reason.value if verdict.reason else None,
            decided_at=now,
            token=token,
        )
        .on_conflict_do_nothing(index_elements=["occasion"])
        .returning(Send.id)
    )
    if send_id is None or token is None:
        return
    enqueued = await kit.outbox.enqueue(
        session,
        OutgoingMessage(
            event=occasion.event,
            idempotency_key=f"winback:{occasion.occasion}"[:200],
            parameters={
                **occasion.parameters,
                "product_url": kit.rules.link(token),
                "opt_out_url": kit.rules.opt_out_link(token),
            },
            user_id=occasion.user_id,
        ),
        now=now,
    )
    sends_at = await session.scalar(sa.select(Message.next_attempt_at).where(Message.id == enqueued.message_id))
    await session.execute(
        sa.update(Send).where(Send.id == send_id).values(message_id=enqueued.message_id, sends_at=sends_at)
    )


async def price_drops(
    session_maker: async_sessionmaker[AsyncSession], kit: WinbackKit, *, clock: Callable[[], datetime.datetime]
) -> bool:
    """Watch every liked product from the price it had when it was liked (and stop watching unliked ones), then
    decide each fall of at least the shopper's percentage below its watch price; whether work was left."""
    async with session_maker() as session, session.begin():
        now = clock()
        await session.execute(
            insert(PriceWatch)
            .from_select(
                ["user_id", "product_id", "reference_price", "since"],
                sa.select(Like.user_id, Like.product_id, Product.price_from, sa.literal(now, PriceWatch.since.type))
                .join(Product, Product.id == Like.product_id)
                .where(Product.price_from > 0),
            )
            .on_conflict_do_nothing(index_elements=["user_id", "product_id"])
        )
        await session.execute(
            sa.delete(PriceWatch).where(
                ~sa.exists().where(Like.user_id == PriceWatch.user_id, Like.product_id == PriceWatch.product_id)
            )
        )
    async with session_maker() as session, session.begin():
        now = clock()
        percent = sa.func.coalesce(Preferences.price_drop_percent, 10)
        rows = (
            await session.execute(
                sa.select(
                    PriceWatch.user_id,
                    PriceWatch.product_id,
                    PriceWatch.reference_price,
                    Product.price_from,
                    Product.name,
                    Product.mall_id,
                    Mall.name.label("mall_name"),
                    sa.func.coalesce(Preferences.price_drops, sa.true()).label("enabled"),
                )
                .join(Product, Product.id == PriceWatch.product_id)
                .join(Mall, Mall.id == Product.mall_id)
                .outerjoin(Preferences, Preferences.user_id == PriceWatch.user_id)
                .where(
                    Product.status == ProductStatus.ON_SALE.value,
                    Product.in_stock,
                    Mall.status == MallStatus.ACTIVE.value,
                    Product.price_from * 100 <= PriceWatch.reference_price * (100 - percent),
                )
                # A shopper's falls in an order no mall can move: the first ones take her week's two messages,
                # so an order by product (older listings first) would favour some malls for ever.
                .order_by(
                    PriceWatch.user_id,
                    sa.func.md5(sa.cast(PriceWatch.user_id, sa.Text) + sa.cast(PriceWatch.product_id, sa.Text)),
                )
                .limit(CANDIDATES)
                .with_for_update(of=PriceWatch, skip_locked=True)
            )
        ).all()
        occasions = [
            _Occasion(
                occasion=f"price:{row.user_id}:{row.product_id}:{row.reference_price}:{row.price_from}",
                kind=Kind.PRICE_DROP,
                user_id=row.user_id,
                mall_id=row.mall_id,
                product_id=row.product_id,
                variant_id=None,
                enabled=row.enabled,
                event="price_dropped",
                parameters={
                    "product_name": _fit(row.name, 60),
                    "mall_name": _fit(row.mall_name, 40),
                    "old_price": row.reference_price,
                    "new_price": row.price_from,
                },
            )
            for row in rows
        ]
        await _decide(session, kit, occasions, now=now)
        # Whatever was decided, the fall was: the next message needs a further fall below today's price.
        for row in rows:
            await session.execute(
                sa.update(PriceWatch)
                .where(PriceWatch.user_id == row.user_id, PriceWatch.product_id == row.product_id)
                .values(reference_price=row.price_from, since=now)
            )
    return len(rows) == CANDIDATES


async def cart_reminders(
    session_maker: async_sessionmaker[AsyncSession], kit: WinbackKit, *, clock: Callable[[], datetime.datetime]
) -> bool:
    """Decide a reminder for each cart line added 24 to 48 hours ago, still there (not bought, not removed) and
    in stock, not reminded of yet; whether work was left."""
    async with session_maker() as session, session.begin():
        now = clock()
        reminded = sa.exists().where(
            Send.user_id == CartItem.user_id,
            Send.variant_id == CartItem.variant_id,
            Send.kind == Kind.CART_REMINDER.value,
            Send.decided_at >= CartItem.added_at,
        )
        rows = (
            await session.execute(
                sa.select(
                    CartItem.user_id,
                    CartItem.variant_id,
                    CartItem.added_at,
                    Variant.color,
                    Variant.size,
                    Variant.options,
                    sa.func.coalesce(Variant.sale_price, Variant.price).label("price"),
                    Product.id.label("product_id"),
                    Product.name,
                    Product.mall_id,
                    Mall.name.label("mall_name"),
                    sa.func.coalesce(Preferences.cart_reminders, sa.true()).label("enabled"),
                )
                .join(Variant, Variant.id == CartItem.variant_id)
                .join(Product, Product.id == Variant.product_id)
                .join(Mall, Mall.id == Product.mall_id)
                .outerjoin(Preferences, Preferences.user_id == CartItem.user_id)
                .where(
                    CartItem.added_at <= now - CART_AFTER,
                    CartItem.added_at > now - CART_UNTIL,
                    Variant.stock > 0,
                    Product.status == ProductStatus.ON_SALE.value,
                    Mall.status == MallStatus.ACTIVE.value,
                    ~reminded,
                )
                .order_by(CartItem.added_at)
                .limit(CANDIDATES)
                .with_for_update(of=CartItem, skip_locked=True)
            )
        ).all()
        occasions = [
            _Occasion(
                occasion=f"cart:{row.user_id}:{row.variant_id}:{row.added_at.isoformat()}",
                kind=Kind.CART_REMINDER,
                user_id=row.user_id,
                mall_id=row.mall_id,
                product_id=row.product_id,
                variant_id=row.variant_id,
                enabled=row.enabled,
                event="cart_reminder",
                parameters={
                    "product_name": _fit(row.name, 60),
                    "option": _fit(options_text(row.color, row.size, row.options) or "-", 40),
                    "mall_name": _fit(row.mall_name, 40),
                    "price": row.price,
                },
            )
            for row in rows
        ]
        await _decide(session, kit, occasions, now=now)
    return len(rows) == CANDIDATES
