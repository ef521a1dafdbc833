"""Messaging operations over a session the caller owns: they flush, never commit.

:meth:`Outbox.enqueue` is how any service hands notify an event: it checks the event and its parameters against
the templates, resolves the recipient, plans the route, and writes one outbox row inside the caller's
transaction. Nothing is sent from there: the worker sends committed rows only, so a caller that rolls back has
sent nothing, and the same idempotency key twice is one row (``INSERT … ON CONFLICT DO NOTHING``).
:meth:`Outbox.enqueue_many` does the same for thousands of messages in a few statements.

The rest serves the shopper (her messages), the providers (receipts), operators (dead letters, retries, the
attempts of a message), the chatbot (the reply windows its inbound messages open) and the metrics.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from notify import repository
from notify.errors import (
    InvalidRecipientError,
    MessageNotFoundError,
    MessageNotRetryableError,
    UnverifiedReceiptError,
)
from notify.models import AttemptOutcome, Message, MessageStatus
from notify.providers.base import Channel, ReceiptRejectedError
from notify.quiet_hours import held_until
from notify.rendering import INSTAGRAM_MAX_BYTES
from notify.routing import Stop, after_failure, plan_route
from notify.schemas import (
    AttemptRecord,
    Enqueued,
    MessageRecord,
    OutgoingMessage,
    ReceiptsApplied,
    ShopperMessage,
    ShopperMessagePage,
)
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    import uuid
    from collections.abc import Collection, Mapping, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from notify.providers.base import MessagingProvider, Receipt
    from notify.rendering import Templates
    from notify.schemas import Locale, Recipient, RecipientLookup, RecipientsLookup

MAX_KEY_LENGTH = 200
INSTAGRAM_REPLY_WINDOW = datetime.timedelta(hours=24)
"""Meta lets a business answer an Instagram user for 24 hours after their last message."""
TALKTALK_OPEN_UNTIL = datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC)
"""TalkTalk lets a partner write to a user who once opened a chat with it, with no time limit."""
UNREACHABLE = "no channel the recipient consented to can reach them"
UNREACHABLE_ADVERTISING = "no channel the recipient gave marketing consent to can reach them"
"""Advertising needs the recipient's marketing consent to a channel, apart from the order messages' consent."""


class Outbox:
    """Where services put messages: the templates and the recipient lookups, built once per process (the app's
    lifespan, the worker's start) and handed to whoever enqueues."""

    def __init__(
        self,
        *,
        templates: Templates,
        recipients: RecipientLookup,
        recipients_many: RecipientsLookup | None = None,
    ) -> None:
        self.templates = templates
        self._recipients = recipients
        self._recipients_many = recipients_many
        """What :meth:`enqueue_many` asks for a whole batch's shoppers at once; without it, ``recipients`` per
        shopper."""

    async def enqueue(
        self, session: AsyncSession, message: OutgoingMessage, *, now: datetime.datetime | None = None
    ) -> Enqueued:
        """Write ``message`` to the outbox in the caller's transaction; the same idempotency key again changes
        nothing. Raises, before writing anything, for an unknown event, parameters its template does not declare
        (or lacks), or a message with no recipient or two.

        Advertising goes only where the recipient gave marketing consent, else it is stored ``unreachable``; to a
        recipient without night consent it is due at 08:00 Korea time when enqueued at night."""
        now = now or utc_now()
        _check(message)
        self.templates.template(message.event)  # an unknown event raises before the recipient is looked up
        recipient = message.recipient
        if message.user_id is not None:
            recipient = await self._recipients(session, message.user_id)
        row = self._row(message, recipient, now=now)
        message_id = await repository.insert_message(session, row)
        if message_id is not None:
            return Enqueued(message_id=message_id, created=True, status=row["status"], channel=row["channel"])
        existing = await repository.message_by_key(session, message.idempotency_key)
        assert existing is not None  # the conflicting row; messages are never deleted
        return Enqueued(
            message_id=existing.id,
            created=False,
            status=existing.status,  # type: ignore[arg-type]
            channel=existing.channel,  # type: ignore[arg-type]
        )

    async def enqueue_many(
        self, session: AsyncSession, messages: Sequence[OutgoingMessage], *, now: datetime.datetime | None = None
    ) -> list[Enqueued]:
        """:meth:`enqueue` for a wave of messages (a price drop for every watcher of a product): the same checks,
        the same rows and the same answers, in the order given, as enqueueing each in turn; but the shoppers
        are looked up at once (``recipients_many``) and the rows written by a few multi-row ``INSERT … ON
        CONFLICT DO NOTHING`` statements, each as large as PostgreSQL's parameter limit allows.

        Every message is checked, and its parameters prepared, before anything is written: one refusal writes
        none of them. A key already stored, or given twice in the batch, answers ``created=False`` with the
        stored message's status, as a second :meth:`enqueue` would."""
        now = now or utc_now()
        for message in messages:
            _check(message)
            self.templates.template(message.event)
        recipients = await self._look_up_many(
            session, [message.user_id for message in messages if message.user_id is not None]
        )
        rows = [
            self._row(
                message,
                recipients.get(message.user_id) if message.user_id is not None else message.recipient,
                now=now,
            )
            for message in messages
        ]
        first_of_key: dict[str, dict[str, Any]] = {}
        for row in rows:
            first_of_key.setdefault(row["idempotency_key"], row)
        created = await repository.insert_messages(session, list(first_of_key.values()))
        existing = await repository.messages_by_keys(session, [key for key in first_of_key if key not in created])
        answers: list[Enqueued] = []
        for row in rows:
            key = row["idempotency_key"]
            if key in created:
                inserted = first_of_key[key]
                answers.append(
                    Enqueued(
                        message_id=created[key],
                        created=row is inserted,
                        status=inserted["status"],
                        channel=inserted["channel"],
                    )
                )
            else:
                stored = existing[key]  # the conflicting row; messages are never deleted
                answers.append(
                    Enqueued(
                        message_id=stored.id,
                        created=False,
                        status=stored.status,  # type: ignore[arg-type]
                        channel=stored.channel,  # type: ignore[arg-type]
                    )
                )
        return answers

    async def _look_up_many(self, session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Recipient]:
        """The recipients of these shoppers, by id (unknown and closed accounts left out): one batch lookup, or
        one lookup per shopper where the app gave no batch lookup."""
        distinct = list(dict.fromkeys(user_ids))
        if not distinct:
            return {}
        if self._recipients_many is not None:
            return await self._recipients_many(session, distinct)
        found: dict[uuid.UUID, Recipient] = {}
        for user_id in distinct:
            if (recipient := await self._recipients(session, user_id)) is not None:
                found[user_id] = recipient
        return found

    def _row(self, message: OutgoingMessage, recipient: Recipient | None, *, now: datetime.datetime) -> dict[str, Any]:
        """The outbox row of a checked message: its parameters formatted for the locale, its route planned, its
        text rendered for the first stop, and when it is due."""
        advertising = self.templates.template(message.event).advertising
        locale: Locale = message.locale or (recipient.locale if recipient is not None else "ko")
        parameters = self.templates.prepare(message.event, message.parameters, locale=locale)
        route = self._route(
            recipient, event=message.event, locale=locale, parameters=parameters, now=now, advertising=advertising
        )
        first = route[0] if route else None
        text = self.templates.render(
            message.event,
            locale=locale,
            parameters=parameters,
            channel=first.channel if first else Channel.LINE,  # the plain text, for the shopper's list
            address=first.address if first else "",
        ).text
        # Without night consent (or without anyone to have given it), advertising never goes out at night.
        quiet_hours = advertising and not (recipient is not None and recipient.night_advertising)
        due = (held_until(now) if quiet_hours and first else None) or now
        return {
            "idempotency_key": message.idempotency_key,
            "event": message.event,
            "user_id": message.user_id,
            "locale": locale,
            "parameters": parameters,
            "route": [stop.as_json() for stop in route],
            "status": (MessageStatus.QUEUED if first else MessageStatus.UNREACHABLE).value,
            "channel": first.channel.value if first else None,
            "delivery_key": message.idempotency_key,
            "next_attempt_at": due,
            "quiet_hours": quiet_hours,
            "text": text,
            "last_error": None if first else UNREACHABLE_ADVERTISING if advertising else UNREACHABLE,
            "chat": msgspec.to_builtins(message.chat) if message.chat is not None else None,
        }

    def _route(
        self,
        recipient: Recipient | None,
        *,
        event: str,
        locale: Locale,
        parameters: Mapping[str, str],
        now: datetime.datetime,
        advertising: bool,
    ) -> list[Stop]:
        if recipient is None:
            return []
        return [
            stop
            for stop in plan_route(recipient, locale=locale, now=now, advertising=advertising)
            if stop.channel is not Channel.INSTAGRAM
            or len(self._text(event, locale, parameters, stop).encode()) <= INSTAGRAM_MAX_BYTES
        ]

    def _text(self, event: str, locale: Locale, parameters: Mapping[str, str], stop: Stop) -> str:
        return self.templates.render(
            event, locale=locale, parameters=parameters, channel=stop.channel, address=stop.address
        ).text


def _check(message: OutgoingMessage) -> None:
    if (message.user_id is None) == (message.recipient is None):
        msg = "a message goes to a user_id or to an explicit recipient, exactly one of them"
        raise InvalidRecipientError(msg, field="recipient")
    if not 1 <= len(message.idempotency_key) <= MAX_KEY_LENGTH:
        msg = f"an idempotency key has 1 to {MAX_KEY_LENGTH} characters"
        raise InvalidRecipientError(msg, field="idempotency_key")


def after_permanent_failure(
    templates: Templates,
    *,
    idempotency_key: str,
    event: str,
    locale: Locale,
    parameters: Mapping[str, str],
    route: Sequence[Mapping[str, str]],
    error: str,
    now: datetime.datetime,
) -> dict[str, Any]:
    """A message's changes once its channel refused it for good: on to the next stop of its route, with the same
    content, a fresh retry count and a delivery key of its own; or ``failed`` when no stop is left (the route is
    kept, so that ``shoa messages retry`` tries the last channel again)."""
    rest = after_failure([Stop.from_json(stop) for stop in route])
    if not rest:
        return {"status": MessageStatus.FAILED.value, "last_error": error, "claim_token": None, "updated_at": now}
    following = rest[0]
    rendered = templates.render(
        event, locale=locale, parameters=parameters, channel=following.channel, address=following.address
    )
    return {
        "status": MessageStatus.QUEUED.value,
        "route": [stop.as_json() for stop in rest],
        "channel": following.channel.value,
        "delivery_key": f"{idempotency_key}:{following.channel.value}",
        "channel_attempts": 0,
        "channel_started_at": None,
        "provider_message_id": None,
        "doubted_provider": None,
        "next_attempt_at": now,
        "text": rendered.text,
        "last_error": error,
        "claim_token": None,
        "updated_at": now,
    }


async def withdraw_advertising(
    session: AsyncSession,
    templates: Templates,
    user_id: uuid.UUID,
    *,
    channels: Collection[Channel],
    now: datetime.datetime,
) -> int:
    """The shopper withdrew her marketing consent on ``channels``: advertising to her still waiting there (held
    until the morning, or due for a retry) is not sent. Recorded ``unreachable`` with the reason, as a message no
    consented channel can carry; one already in a provider's hands cannot be called back. How many were stopped."""
    advertising = [event for event in templates.events if templates.template(event).advertising]
    if not advertising or not channels:
        return 0
    return await repository.stop_queued(
        session,
        user_id=user_id,
        events=advertising,
        channels=[channel.value for channel in channels],
        reason="not sent: the shopper withdrew her consent to advertising before it went",
        now=now,
    )


async def receive_receipts(
    session: AsyncSession,
    provider: MessagingProvider,
    *,
    headers: Mapping[str, str],
    body: bytes,
    templates: Templates,
    now: datetime.datetime,
) -> ReceiptsApplied:
    """A provider's delivery report, verified as the provider documents it (:class:`UnverifiedReceiptError` when
    it does not verify: nothing in it is trusted), then applied."""
    try:
        receipts = provider.parse_receipts(headers, body)
    except ReceiptRejectedError as exc:
        raise UnverifiedReceiptError(str(exc)) from None
    return await apply_receipts(session, provider.name, receipts, templates=templates, now=now)


async def apply_receipts(
    session: AsyncSession,
    provider: str,
    receipts: Sequence[Receipt],
    *,
    templates: Templates,
    now: datetime.datetime,
) -> ReceiptsApplied:
    """Verified receipts move accepted messages to ``delivered``, or on: a message its provider could not deliver
    falls back to the next stop of its route (an AlimTalk to the SMS of the same content), else ``failed``.
    A receipt naming no accepted message (unknown, or settled by an earlier copy of the same report) changes
    nothing, so a provider may send a report twice."""
    applied = 0
    for receipt in receipts:
        message = await repository.accepted_message(session, provider, receipt.provider_message_id)
        if message is None:
            continue
        outcome = AttemptOutcome.DELIVERED if receipt.delivered else AttemptOutcome.UNDELIVERED
        await repository.add_receipt(
            session,
            message,
            {
                "attempted_at": now,
                "outcome": outcome.value,
                "result_code": receipt.result_code,
                "provider_message_id": receipt.provider_message_id,
                "detail": (receipt.detail or "receipt")[:500],
            },
        )
        if receipt.delivered:
            changes: dict[str, Any] = {"status": MessageStatus.DELIVERED.value, "delivered_at": now, "updated_at": now}
        else:
            error = f"{provider} could not deliver it (receipt {receipt.result_code or 'without a code'})"
            changes = after_permanent_failure(
                templates,
                idempotency_key=message.idempotency_key,
                event=message.event,
                locale=message.locale,  # type: ignore[arg-type]
                parameters=message.parameters,
                route=message.route,
                error=error,
                now=now,
            )
        await repository.update_message(session, message.id, changes)
        applied += 1
    return ReceiptsApplied(received=len(receipts), applied=applied)


async def note_inbound(session: AsyncSession, *, channel: Channel, address: str, now: datetime.datetime) -> None:
    """Record that ``address`` wrote to us on ``channel`` at ``now``: it opens (or extends) the channel's reply
    window. A redelivered or late webhook never moves the last inbound moment back."""
    await repository.upsert_chat_window(session, channel=channel.value, address=address, inbound_at=now)


async def reply_window_until(session: AsyncSession, *, channel: Channel, address: str) -> datetime.datetime | None:
    """Until when we may write to ``address`` on ``channel`` without them writing first: Instagram, 24 hours
    after their last message; TalkTalk, for good once they ever wrote; None when they never wrote, and for
    channels without a window (the others need no inbound message)."""
    if channel not in {Channel.INSTAGRAM, Channel.TALKTALK}:
        return None
    last = await repository.last_inbound_at(session, channel=channel.value, address=address)
    if last is None:
        return None
    return last + INSTAGRAM_REPLY_WINDOW if channel is Channel.INSTAGRAM else TALKTALK_OPEN_UNTIL


async def shopper_messages(
    session: AsyncSession, user_id: uuid.UUID, *, cursor: str | None, limit: int
) -> ShopperMessagePage:
    """The shopper's messages, newest first, a page at a time."""
    before = repository.read_cursor(cursor) if cursor is not None else None
    rows = await repository.messages_of_user(session, user_id, before=before, limit=limit + 1)
    items = [
        ShopperMessage(
            id=row.id,
            event=row.event,
            channel=row.channel,  # type: ignore[arg-type]
            status=row.status,  # type: ignore[arg-type]
            text=row.text,
            created_at=row.created_at,
            accepted_at=row.accepted_at,
            delivered_at=row.delivered_at,
        )
        for row in rows[:limit]
    ]
    return ShopperMessagePage(items=items, next_cursor=str(rows[limit - 1].id) if len(rows) > limit else None)


async def dead_letters(session: AsyncSession, *, limit: int = 100) -> list[MessageRecord]:
    """Dead-lettered messages, the latest given up first."""
    return [_record(row) for row in await repository.messages_with_status(session, MessageStatus.DEAD, limit=limit)]


async def message_record(session: AsyncSession, message_id: uuid.UUID) -> MessageRecord:
    """A message and every attempt and receipt of it, oldest first."""
    message = await repository.message_by_id(session, message_id)
    if message is None:
        msg = f"no message {message_id}"
        raise MessageNotFoundError(msg)
    record = _record(message)
    record.history = [
        AttemptRecord(
            attempted_at=attempt.attempted_at,
            provider=attempt.provider,
            channel=attempt.channel,
            outcome=attempt.outcome,
            http_status=attempt.http_status,
            result_code=attempt.result_code,
            latency_ms=attempt.latency_ms,
            provider_message_id=attempt.provider_message_id,
            detail=attempt.detail,
        )
        for attempt in await repository.attempts_of(session, message_id)
    ]
    return record


async def retry(session: AsyncSession, message_id: uuid.UUID, *, now: datetime.datetime) -> MessageRecord:
    """Queue a dead or failed message again, on its current channel with a fresh retry count.

    A dead message keeps its delivery key: if a provider that deduplicates took it after all, it recognises it
    and sends nothing. A failed one was refused, or taken and not delivered: the provider must see a new message,
    so it gets a new key (a provider would otherwise answer "already accepted" and send nothing)."""
    message = await repository.message_by_id(session, message_id, lock=True)
    if message is None:
        msg = f"no message {message_id}"
        raise MessageNotFoundError(msg)
    if message.status not in {MessageStatus.DEAD, MessageStatus.FAILED}:
        msg = f"message {message_id} is {message.status}; only dead or failed messages are retried"
        raise MessageNotRetryableError(msg)
    await repository.update_message(
        session,
        message_id,
        {
            "status": MessageStatus.QUEUED.value,
            "channel_attempts": 0,
            "next_attempt_at": now,
            "claim_token": None,
            "doubted_provider": None,  # the operator checked the provider's console
            **(
                {
                    "delivery_key": f"{message.idempotency_key}:{message.channel}:retry{message.attempts}",
                    "channel_started_at": None,
                }
                if message.status == MessageStatus.FAILED
                else {}
            ),
            "last_error": f"retried by an operator after: {message.last_error or message.status}"[:500],
            "updated_at": now,
        },
    )
    return await message_record(session, message_id)


async def delivery_counts(session: AsyncSession) -> tuple[list[tuple[str, str, str, int]], list[tuple[str, int]]]:
    """Attempts and receipts per (provider, channel, outcome), and messages per status: the metrics, counted
    from the tables themselves so that every worker's work shows in any API process."""
    return await repository.outcome_counts(session), await repository.status_counts(session)


def _record(message: Message) -> MessageRecord:
    return MessageRecord(
        id=message.id,
        idempotency_key=message.idempotency_key,
        event=message.event,
        user_id=message.user_id,
        status=message.status,  # type: ignore[arg-type]
        channel=message.channel,
        provider=message.provider,
        attempts=message.attempts,
        next_attempt_at=message.next_attempt_at,
        last_error=message.last_error,
        created_at=message.created_at,
        updated_at=message.updated_at,
    )
