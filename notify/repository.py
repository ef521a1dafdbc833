"""Every query of the outbox, read like the search outbox's: claim with ``FOR UPDATE SKIP LOCKED``, change a claimed
row only while the claim is still one's own.

A claim marks due rows ``sending`` with a lease (their ``next_attempt_at`` becomes the claim's end) and a fresh
``claim_token``; several workers claim side by side without waiting on each other. Rows whose lease ran out are
due again: their worker died or hung, and the calls it had begun (attempts still ``pending``) are marked
``unknown`` in the same transaction, so the next worker knows a provider may have them.
"""

from __future__ import annotations

import datetime  # noqa: TC003 - dataclass fields
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, distinct_on, insert
from uuid_utils.compat import uuid7

from notify.errors import InvalidCursorError
from notify.models import BULK_KEY_PREFIX, BULK_KEYS, Attempt, AttemptOutcome, ChatWindow, Message, MessageStatus
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

_messages = cast("sa.Table", Message.__table__)
_attempts = cast("sa.Table", Attempt.__table__)
_chat_windows = cast("sa.Table", ChatWindow.__table__)
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
    chat: dict[str, Any] | None = None
    """A chatbot answer's extras (:class:`notify.schemas.ChatExtras` as stored)."""
    quiet_hours: bool = False
    """Advertising without night consent: not to be sent at night in Korea (:mod:`notify.quiet_hours`)."""
    doubted_request: DoubtedRequest | None = None
    """When the call in doubt was a request for many messages (a bulk send): its key and its messages."""


@dataclass(frozen=True, kw_only=True)
class DoubtedRequest:
    """A bulk request whose answer was lost: only the same request again (same key, same messages) is safe,
    because the provider deduplicates requests, not messages."""

    key: str
    message_ids: frozenset[uuid.UUID]


MAX_BIND_PARAMETERS = 32_767
"""PostgreSQL's wire protocol numbers a statement's parameters with 16 bits, and asyncpg refuses more."""


@dataclass(frozen=True, kw_only=True)
class Existing:
    """A message already stored under an idempotency key: what enqueueing the same key again answers."""

    id: uuid.UUID
    status: str
    channel: str | None


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


async def insert_messages(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> dict[str, uuid.UUID]:
    """Insert many messages, as :func:`insert_message` does one: the new ids by idempotency key, leaving out the
    keys already stored (nothing changed for those).

    One multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` per chunk of as many rows as fit in
    :data:`MAX_BIND_PARAMETERS`: SQLAlchemy's "insertmanyvalues" compiles the one-row statement once and writes
    each chunk's ``VALUES`` list from it, where building a ``.values([...])`` statement of thousands of rows
    costs more to compile than to run. Every row names the same columns, the id and the times included, so
    that each is one parameter per row and the chunk size is known."""
    if not rows:
        return {}
    stamped = utc_now()
    complete = [{"id": uuid7(), "created_at": stamped, "updated_at": stamped, **row} for row in rows]
    statement = (
        insert(_messages)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(_messages.c.idempotency_key, _messages.c.id)
        .execution_options(insertmanyvalues_page_size=MAX_BIND_PARAMETERS // len(complete[0]))
    )
    inserted = await session.execute(statement, complete)
    return {row.idempotency_key: row.id for row in inserted}


async def message_by_key(session: AsyncSession, idempotency_key: str) -> Message | None:
    return await session.scalar(sa.select(Message).where(Message.idempotency_key == idempotency_key))


async def messages_by_keys(session: AsyncSession, idempotency_keys: Sequence[str]) -> dict[str, Existing]:
    """The stored messages of these keys, by key: one statement however many (the keys travel as one array)."""
    if not idempotency_keys:
        return {}
    rows = await session.execute(
        sa.select(_messages.c.idempotency_key, _messages.c.id, _messages.c.status, _messages.c.channel).where(
            _messages.c.idempotency_key == sa.any_(sa.literal(list(idempotency_keys), ARRAY(sa.String)))
        )
    )
    return {row.idempotency_key: Existing(id=row.id, status=row.status, channel=row.channel) for row in rows}


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime.datetime,
    lease_until: datetime.datetime,
    limit: int,
    skip_channels: Collection[str] = (),
    only_channels: Collection[str] | None = None,
) -> list[Claim]:
    """Claim up to ``limit`` due messages, oldest due first, skipping rows other workers hold and the channels
    whose provider asked us to wait (or taking only ``only_channels``).

    A message whose lost call was a bulk request comes with the other due messages of that request, past
    ``limit`` if need be: the request can only be repeated whole."""
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
    if only_channels is not None:
        due = due.where(_messages.c.channel.in_(list(only_channels)))
    claimed = await _claim(session, due, now=now, lease_until=lease_until)
    if not claimed:
        return []
    doubted = await _mark_lost_calls(session, [row.id for row in claimed])
    requests = await _doubted_requests(
        session, [row.id for row in claimed if row.id in doubted or row.doubted_provider]
    )
    missing = {member for request in requests.values() for member in request.message_ids} - {r.id for r in claimed}
    if missing:
        # The rest of a doubted request, when due and not held by another worker (whose claim then has them).
        rest = (
            sa.select(_messages.c.id)
            .where(_DUE_STATUSES, _messages.c.next_attempt_at <= now, _messages.c.id.in_(list(missing)))
            .with_for_update(skip_locked=True)
        )
        joined = await _claim(session, rest, now=now, lease_until=lease_until)
        doubted |= await _mark_lost_calls(session, [row.id for row in joined])
        claimed.extend(joined)
    by_member = {member: request for request in requests.values() for member in request.message_ids}
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
            chat=row.chat,
            quiet_hours=row.quiet_hours,
            doubted_request=by_member.get(row.id),
        )
        for row in claimed
    ]


async def _claim(
    session: AsyncSession, due: sa.Select[Any], *, now: datetime.datetime, lease_until: datetime.datetime
) -> list[sa.Row[Any]]:
    rows = due.cte("due")
    return list(
        (
            await session.execute(
                sa.update(_messages)
                .where(_messages.c.id == rows.c.id)
                .values(
                    status=MessageStatus.SENDING.value,
                    next_attempt_at=lease_until,
                    claim_token=sa.func.gen_random_uuid(),
                    updated_at=now,
                )
                .returning(_messages)
            )
        ).all()
    )


async def _mark_lost_calls(session: AsyncSession, message_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Mark the claimed messages' calls still ``pending`` (their worker died) ``unknown``, and their messages
    doubted: the providers of those calls by message id."""
    if not message_ids:
        return {}
    # Read first, write only when a call was lost: a claim then takes no write lock on the attempts at all.
    lost_calls = (
        await session.execute(
            sa.select(_attempts.c.id, _attempts.c.message_id, _attempts.c.provider).where(
                _attempts.c.message_id.in_(list(message_ids)),
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
    return doubted


async def _doubted_requests(session: AsyncSession, message_ids: Collection[uuid.UUID]) -> dict[str, DoubtedRequest]:
    """The bulk requests among the doubted messages' last calls (a call under a ``bulk:`` key),
    with every message each carried, by request key."""
    if not message_ids:
        return {}
    last_calls = (
        await session.execute(
            sa.select(_attempts.c.message_id, _attempts.c.delivery_key)
            .where(
                _attempts.c.message_id.in_(list(message_ids)),
                _attempts.c.outcome.not_in([AttemptOutcome.DELIVERED.value, AttemptOutcome.UNDELIVERED.value]),
            )
            .order_by(_attempts.c.message_id, _attempts.c.id.desc())
            .ext(distinct_on(_attempts.c.message_id))
        )
    ).all()
    keys = {call.delivery_key for call in last_calls if call.delivery_key.startswith(BULK_KEY_PREFIX)}
    if not keys:
        return {}
    members: dict[str, set[uuid.UUID]] = {}
    for key, message_id in await session.execute(
        sa.select(_attempts.c.delivery_key, _attempts.c.message_id).where(
            # Written out, as the partial index's predicate is, so that PostgreSQL uses it.
            sa.text(f"notify_attempts.{BULK_KEYS}"),
            _attempts.c.delivery_key.in_(list(keys)),
        )
    ):
        members.setdefault(key, set()).add(message_id)
    return {key: DoubtedRequest(key=key, message_ids=frozenset(ids)) for key, ids in members.items()}


@dataclass(frozen=True, kw_only=True)
class Intent:
    """A call about to be made: the claimed message, the provider and channel, and the text it will carry."""

    claim: Claim
    provider: str
    channel: str
    text: str
    delivery_key: str | None = None
    """The idempotency key the call carries, when not the message's own (a bulk request's)."""


@dataclass(frozen=True, kw_only=True)
class Change:
    """A claimed message's next state, and (when a call was made) its attempt's outcome."""

    claim: Claim
    message: Mapping[str, Any]
    attempt_id: int | None = None
    attempt: Mapping[str, Any] | None = None


ATTEMPT_RESULT_COLUMNS = ("outcome", "http_status", "result_code", "latency_ms", "provider_message_id", "detail")
"""What a call's outcome fills in on its ``pending`` attempt."""


async def write_intents(
    session: AsyncSession, intents: Sequence[Intent], *, now: datetime.datetime
) -> dict[uuid.UUID, int]:
    """Record, before the providers are called, that they are about to be: a ``pending`` attempt per call, and
    the call counted on its message. Only for the messages whose claim is still ours: the attempt ids by message
    id (a message left out was taken over by another worker and must not be sent).

    One statement for the whole batch: the messages' update (from a ``VALUES`` list) as a data-modifying CTE,
    the attempts inserted from what it returned, so an attempt exists exactly when its claim was still ours."""
    if not intents:
        return {}
    rows = _values(
        "intent",
        [("message_id", _messages.c.id), ("held_token", _messages.c.claim_token), ("provider", _attempts.c.provider),
         ("channel", _attempts.c.channel), ("text", _messages.c.text), ("delivery_key", _attempts.c.delivery_key)],
        [(i.claim.id, i.claim.claim_token, i.provider, i.channel, i.text, i.delivery_key or i.claim.delivery_key)
         for i in intents],
    )  # fmt: skip
    claimed = (
        sa.update(_messages)
        .where(
            _messages.c.id == rows.c.message_id,
            _messages.c.claim_token == rows.c.held_token,
            _messages.c.status == MessageStatus.SENDING.value,
        )
        .values(
            provider=rows.c.provider,
            text=rows.c.text,
            attempts=_messages.c.attempts + 1,
            channel_attempts=_messages.c.channel_attempts + 1,
            channel_started_at=sa.func.coalesce(_messages.c.channel_started_at, now),
            updated_at=now,
        )
        .returning(_messages.c.id, rows.c.provider, rows.c.channel, rows.c.delivery_key)
        .cte("claimed")
    )
    inserted = await session.execute(
        sa.insert(_attempts)
        .from_select(
            ["message_id", "provider", "channel", "delivery_key", "attempted_at", "outcome"],
            sa.select(
                claimed.c.id,
                claimed.c.provider,
                claimed.c.channel,
                claimed.c.delivery_key,
                sa.literal(now, type_=_attempts.c.attempted_at.type),
                sa.literal(AttemptOutcome.PENDING.value, type_=_attempts.c.outcome.type),
            ),
        )
        .returning(_attempts.c.message_id, _attempts.c.id)
    )
    return {row.message_id: row.id for row in inserted}


async def apply_changes(session: AsyncSession, changes: Sequence[Change]) -> set[uuid.UUID]:
    """Record the calls' outcomes on their attempts, whoever holds the claims now, and each message's next
    state where the claim is still ours; the ids of the messages whose claim was (the others were taken over
    after their lease ran out, and the answers are kept only on the attempts).

    A statement for the attempts and one per shape of change (an acceptance, a retry, a fallback…) for the
    messages, each over a ``VALUES`` list: a batch costs a handful of statements, not two per message."""
    answered = [change for change in changes if change.attempt_id is not None and change.attempt is not None]
    if answered:
        results = _values(
            "result",
            [("attempt_id", _attempts.c.id), *((name, _attempts.c[name]) for name in ATTEMPT_RESULT_COLUMNS)],
            [
                (change.attempt_id, *(change.attempt.get(name) for name in ATTEMPT_RESULT_COLUMNS))  # type: ignore[union-attr]
                for change in answered
            ],
        )
        await session.execute(
            sa.update(_attempts)
            .where(_attempts.c.id == results.c.attempt_id)
            .values({name: sa.cast(results.c[name], _attempts.c[name].type) for name in ATTEMPT_RESULT_COLUMNS})
        )
    shapes: dict[tuple[str, ...], list[Change]] = {}
    for change in changes:
        shapes.setdefault(tuple(sorted(change.message)), []).append(change)
    still_ours: set[uuid.UUID] = set()
    for columns, same_shape in shapes.items():
        rows = _values(
            "next_state",
            [
                ("message_id", _messages.c.id),
                ("held_token", _messages.c.claim_token),
                *((name, _messages.c[name]) for name in columns),
            ],
            [(c.claim.id, c.claim.claim_token, *(c.message[name] for name in columns)) for c in same_shape],
        )
        updated = await session.scalars(
            sa.update(_messages)
            .where(
                _messages.c.id == rows.c.message_id,
                _messages.c.claim_token == rows.c.held_token,
                _messages.c.status == MessageStatus.SENDING.value,
            )
            .values({name: sa.cast(rows.c[name], _messages.c[name].type) for name in columns})
            .returning(_messages.c.id)
        )
        still_ours.update(updated)
    return still_ours


def _values(name: str, columns: Sequence[tuple[str, sa.Column[Any]]], rows: Sequence[tuple[Any, ...]]) -> sa.FromClause:
    """Rows to join an ``UPDATE`` to: ``unnest`` of one array per column, typed as the table column it matches
    (JSON travels as text, cast back by whoever reads it: every reader casts to its column's type).

    One bound parameter per column, whatever the number of rows: the statement's text is the same for a batch of
    one and of a thousand, so SQLAlchemy compiles it once; a ``VALUES`` list of a thousand rows cost more to
    compile than to run."""
    arrays, typed = [], []
    for position, (label, column) in enumerate(columns):
        values = [row[position] for row in rows]
        if isinstance(column.type, JSONB):
            item_type: Any = sa.Text()
            values = [None if value is None else json.dumps(value) for value in values]
        else:
            item_type = column.type
        arrays.append(sa.bindparam(f"{name}_{label}", values, type_=ARRAY(item_type)))
        typed.append(sa.column(label, item_type))
    return sa.func.unnest(*arrays).table_valued(*typed).render_derived(name=name)


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


async def upsert_chat_window(
    session: AsyncSession, *, channel: str, address: str, inbound_at: datetime.datetime
) -> None:
    """Insert the window, or move its last inbound moment to ``inbound_at`` when that is later."""
    statement = insert(_chat_windows).values(channel=channel, address=address, last_inbound_at=inbound_at)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["channel", "address"],
            set_={
                "last_inbound_at": sa.func.greatest(_chat_windows.c.last_inbound_at, statement.excluded.last_inbound_at)
            },
        )
    )


async def last_inbound_at(session: AsyncSession, *, channel: str, address: str) -> datetime.datetime | None:
    return await session.scalar(
        sa.select(ChatWindow.last_inbound_at).where(ChatWindow.channel == channel, ChatWindow.address == address)
    )


def read_cursor(cursor: str) -> uuid.UUID:
    """A page cursor: the id of the last item of the previous page."""
    try:
        return uuid.UUID(cursor)
    except ValueError:
        msg = "cursor is not one this API gave out; start again without it"
        raise InvalidCursorError(msg) from None


async def stop_queued(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    events: Collection[str],
    channels: Collection[str],
    reason: str,
    now: datetime.datetime,
) -> int:
    """Mark the shopper's queued messages of ``events`` on ``channels`` unreachable (never sent); how many."""
    stopped = await session.scalars(
        sa.update(_messages)
        .where(
            _messages.c.user_id == user_id,
            _messages.c.status == MessageStatus.QUEUED.value,
            _messages.c.event.in_(list(events)),
            _messages.c.channel.in_(list(channels)),
        )
        .values(status=MessageStatus.UNREACHABLE.value, last_error=reason, updated_at=now)
        .returning(_messages.c.id)
    )
    return len(list(stopped))
