"""Every query of the outbox, read like the search outbox's: claim with ``FOR UPDATE SKIP LOCKED``, change a claimed
row only while the claim is still one's own.

A claim marks due rows ``sending`` with a lease (their ``next_attempt_at`` becomes the claim's end) and a fresh
``claim_token``; several workers claim side by side without waiting on each other. Rows whose lease ran out are
due again: their worker died or hung, and the calls it had begun (attempts still ``pending``) are marked
``unknown`` in the same transaction, so the next worker knows a provider may have them.
"""

from __future__ import annotations

import datetime  # noqa: TC003 - dataclass fields
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from notify.errors import InvalidCursorError
from notify.models import Attempt, AttemptOutcome, Message, MessageStatus

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from sqlalchemy.ext.asyncio import AsyncSession

_messages = cast("sa.Table", Message.__table__)
_attempts = cast("sa.Table", Attempt.__table__)
_DUE_STATUSES = sa.text("notify_messages.status IN ('queued', 'sending')")


@dataclass(frozen=True, kw_only=True)
class Claim:
    """A message a worker holds until ``lease_until``, with what sending it needs."""

    id: uuid.UUID
    claim_token: uuid.UUID
    idempotency_key: str
    event: str
    locale: str
    parameters: dict[str, str]
    route: list[dict[str, str]]
    delivery_key: str
    attempts: int
    channel_attempts: int
    channel_started_at: datetime.datetime | None
    doubted_provider: str | None
    """The provider a call on this channel may have reached without its answer being recorded (see
    :attr:`notify.models.Message.doubted_provider`)."""


async def insert_message(session: AsyncSession, values: Mapping[str, Any]) -> uuid.UUID | None:
    """The new message's id; None when a message with the same idempotency key exists (nothing changed)."""
    statement = (
        insert(_messages)
        .values(dict(values))
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(_messages.c.id)
    )
    message_id: uuid.UUID | None = await session.scalar(statement)
    return message_id


async def message_by_key(session: AsyncSession, idempotency_key: str) -> Message | None:
    return await session.scalar(sa.select(Message).where(Message.idempotency_key == idempotency_key))


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime.datetime,
    lease_until: datetime.datetime,
    limit: int,
    skip_channels: Collection[str] = (),
) -> list[Claim]:
    """Claim up to ``limit`` due messages, oldest due first, skipping rows other workers hold and the channels
    whose provider asked us to wait."""
    due = (
        sa.select(_messages.c.id)
        # Written out, not bound: only a literal predicate lets PostgreSQL use the partial index on due rows.
        .where(_DUE_STATUSES, _messages.c.next_attempt_at <= now)
        .order_by(_messages.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if skip_channels:
        due = due.where(_messages.c.channel.not_in(list(skip_channels)))
    due_rows = due.cte("due")
    claimed = (
        await session.execute(
            sa.update(_messages)
            .where(_messages.c.id == due_rows.c.id)
            .values(
                status=MessageStatus.SENDING.value,
                next_attempt_at=lease_until,
                claim_token=sa.func.gen_random_uuid(),
                updated_at=now,
            )
            .returning(_messages)
        )
    ).all()
    if not claimed:
        return []
    # Read first, write only when a call was lost: a claim then takes no write lock on the attempts at all.
    lost_calls = (
        await session.execute(
            sa.select(_attempts.c.id, _attempts.c.message_id, _attempts.c.provider).where(
                _attempts.c.message_id.in_([row.id for row in claimed]),
                _attempts.c.outcome == AttemptOutcome.PENDING.value,
            )
        )
    ).all()
    if lost_calls:
        await session.execute(
            sa.update(_attempts)
            .where(_attempts.c.id.in_([call.id for call in lost_calls]))
            .values(outcome=AttemptOutcome.UNKNOWN.value, detail="the worker stopped before recording the answer")
        )
    doubted: dict[uuid.UUID, str] = {call.message_id: call.provider for call in lost_calls}
    for message_id, provider in doubted.items():
        await session.execute(
            sa.update(_messages).where(_messages.c.id == message_id).values(doubted_provider=provider)
        )
    return [
        Claim(
            id=row.id,
            claim_token=row.claim_token,
            idempotency_key=row.idempotency_key,
            event=row.event,
            locale=row.locale,
            parameters=row.parameters,
            route=row.route,
            delivery_key=row.delivery_key,
            attempts=row.attempts,
            channel_attempts=row.channel_attempts,
            channel_started_at=row.channel_started_at,
            doubted_provider=doubted.get(row.id, row.doubted_provider),
        )
        for row in claimed
    ]


async def update_claimed(session: AsyncSession, claim: Claim, values: Mapping[str, Any]) -> bool:
    """Change a claimed message, if the claim is still ``claim``'s (not expired and taken by another worker)."""
    updated = await session.scalar(
        sa.update(_messages)
        .where(
            _messages.c.id == claim.id,
            _messages.c.claim_token == claim.claim_token,
            _messages.c.status == MessageStatus.SENDING.value,
        )
        .values(dict(values))
        .returning(_messages.c.id)
    )
    return updated is not None


async def write_intent(
    session: AsyncSession,
    claim: Claim,
    *,
    provider: str,
    channel: str,
    text: str,
    now: datetime.datetime,
) -> int | None:
    """Record, before calling the provider, that it is about to be called: a ``pending`` attempt, and the call
    counted on the message. None (and nothing written) when the claim is no longer ours.

    One statement (the message's update as a data-modifying CTE, the attempt inserted from what it returned):
    the attempt exists exactly when the claim was still ours."""
    claimed = (
        _claimed_update(
            claim,
            {
                "provider": provider,
                "text": text,
                "attempts": _messages.c.attempts + 1,
                "channel_attempts": _messages.c.channel_attempts + 1,
                "channel_started_at": sa.func.coalesce(_messages.c.channel_started_at, now),
                "updated_at": now,
            },
        )
        .returning(_messages.c.id)
        .cte("claimed")
    )
    values = {
        "attempted_at": now,
        "provider": provider,
        "channel": channel,
        "delivery_key": claim.delivery_key,
        "outcome": AttemptOutcome.PENDING.value,
    }
    columns = [sa.literal(value, type_=_attempts.c[name].type).label(name) for name, value in values.items()]
    attempt_id: int | None = await session.scalar(
        sa.insert(_attempts)
        .from_select(["message_id", *values], sa.select(claimed.c.id, *columns))
        .returning(_attempts.c.id)
    )
    return attempt_id


async def complete_claimed(
    session: AsyncSession, claim: Claim, attempt_id: int, attempt: Mapping[str, Any], message: Mapping[str, Any]
) -> bool:
    """Record a call's outcome on its attempt, whoever holds the claim now, and the message's next state if the
    claim is still ours (whether it was): one statement, the message's update as a data-modifying CTE."""
    claimed = _claimed_update(claim, message).returning(_messages.c.id).cte("claimed")
    updated: int | None = await session.scalar(
        sa.update(_attempts)
        .where(_attempts.c.id == attempt_id)
        .values(dict(attempt))
        .returning(sa.select(sa.func.count()).select_from(claimed).scalar_subquery())
    )
    return bool(updated)


def _claimed_update(claim: Claim, values: Mapping[str, Any]) -> sa.Update:
    return (
        sa.update(_messages)
        .where(
            _messages.c.id == claim.id,
            _messages.c.claim_token == claim.claim_token,
            _messages.c.status == MessageStatus.SENDING.value,
        )
        .values(dict(values))
    )


async def add_receipt(session: AsyncSession, message: Message, values: Mapping[str, Any]) -> None:
    await session.execute(
        sa.insert(_attempts).values(
            message_id=message.id,
            provider=message.provider or "",
            channel=message.channel or "sms",
            delivery_key=message.delivery_key,
            **values,
        )
    )


async def accepted_message(session: AsyncSession, provider: str, provider_message_id: str) -> Message | None:
    """The accepted message a receipt names, locked until the receipt is applied; None when it names no message
    waiting for one (unknown, settled already, or moved on to another channel)."""
    return await session.scalar(
        sa.select(Message)
        .where(
            Message.provider == provider,
            Message.provider_message_id == provider_message_id,
            Message.status == MessageStatus.ACCEPTED.value,
        )
        .with_for_update()
    )


async def update_message(session: AsyncSession, message_id: uuid.UUID, values: Mapping[str, Any]) -> None:
    await session.execute(sa.update(_messages).where(_messages.c.id == message_id).values(dict(values)))


async def messages_of_user(
    session: AsyncSession, user_id: uuid.UUID, *, before: uuid.UUID | None, limit: int
) -> list[Message]:
    query = sa.select(Message).where(Message.user_id == user_id).order_by(Message.id.desc()).limit(limit)
    if before is not None:
        query = query.where(Message.id < before)
    return list((await session.scalars(query)).all())


async def messages_with_status(session: AsyncSession, status: MessageStatus, *, limit: int) -> list[Message]:
    query = sa.select(Message).where(Message.status == status.value).order_by(Message.updated_at.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def message_by_id(session: AsyncSession, message_id: uuid.UUID, *, lock: bool = False) -> Message | None:
    """The message as stored now (never a stale copy from the session), locked until the transaction ends when
    ``lock``."""
    query = sa.select(Message).where(Message.id == message_id).execution_options(populate_existing=True)
    return await session.scalar(query.with_for_update() if lock else query)


async def attempts_of(session: AsyncSession, message_id: uuid.UUID) -> list[Attempt]:
    query = sa.select(Attempt).where(Attempt.message_id == message_id).order_by(Attempt.id)
    return list((await session.scalars(query)).all())


async def outcome_counts(session: AsyncSession) -> list[tuple[str, str, str, int]]:
    """(provider, channel, outcome, count) over every attempt and receipt ever recorded."""
    query = sa.select(Attempt.provider, Attempt.channel, Attempt.outcome, sa.func.count()).group_by(
        Attempt.provider, Attempt.channel, Attempt.outcome
    )
    return [(provider, channel, outcome, count) for provider, channel, outcome, count in await session.execute(query)]


async def status_counts(session: AsyncSession) -> list[tuple[str, int]]:
    query = sa.select(Message.status, sa.func.count()).group_by(Message.status)
    return [(status, count) for status, count in await session.execute(query)]


def read_cursor(cursor: str) -> uuid.UUID:
    """A page cursor: the id of the last item of the previous page."""
    try:
        return uuid.UUID(cursor)
    except ValueError:
        msg = "cursor is not one this API gave out; start again without it"
        raise InvalidCursorError(msg) from None
