"""The messaging tables: the outbox of messages, every attempt and receipt of each, and the sandbox's store.

A message is one row from its enqueueing (in the caller's transaction) to its end: delivered, failed for good,
dead-lettered or unreachable. The worker never deletes one: the rows are the shopper's message history
(``GET /v1/me/messages``) and the operators' record. Recipients are kept by id, without a foreign key to the
accounts' table: notify serves any service and knows no other domain's tables.
"""

from __future__ import annotations

import datetime
import enum
import uuid
from typing import Any

import sqlalchemy as sa
from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from uuid_utils.compat import uuid7

from shoa_kernel.clock import utc_now


class MessageStatus(enum.StrEnum):
    QUEUED = "queued"
    """Waiting for its ``next_attempt_at``."""
    SENDING = "sending"
    """Claimed by a worker until ``next_attempt_at`` (its lease); a crashed worker's claim runs out and is taken
    again."""
    ACCEPTED = "accepted"
    """The provider took it; a receipt may still say delivered or failed."""
    DELIVERED = "delivered"
    FAILED = "failed"
    """Refused for good on its last channel (invalid recipient, template rejected, blocked…)."""
    DEAD = "dead"
    """Given up after the last retry, or in doubt after a crash on a provider that cannot deduplicate: listed by
    ``shoa messages dead`` and re-queued by ``shoa messages retry``."""
    UNREACHABLE = "unreachable"
    """No channel the shopper consented to can reach them; recorded, never sent."""


class AttemptOutcome(enum.StrEnum):
    PENDING = "pending"
    """Written just before the provider is called: the intent, so that a crash before its result is known."""
    ACCEPTED = "accepted"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"
    """The worker stopped (or the provider adapter raised) before the answer was recorded: the provider may or
    may not have the message."""
    DELIVERED = "delivered"
    """A receipt: the provider delivered it."""
    UNDELIVERED = "undelivered"
    """A receipt: the provider could not deliver it."""


BULK_KEY_PREFIX = "bulk:"
"""A bulk request's key (:mod:`notify.worker`), never a message's own."""
BULK_KEYS = f"delivery_key LIKE '{BULK_KEY_PREFIX}%'"
STATUSES = ", ".join(f"'{status}'" for status in MessageStatus)
OUTCOMES = ", ".join(f"'{outcome}'" for outcome in AttemptOutcome)
CHANNELS = "'alimtalk', 'sms', 'line', 'instagram', 'talktalk'"


class Message(DefaultBase):
    """One message to one person, from its enqueueing to its end."""

    __tablename__ = "notify_messages"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({STATUSES})", name="status_known"),
        sa.CheckConstraint(f"channel IN ({CHANNELS})", name="channel_known"),
        sa.CheckConstraint("locale IN ('ko', 'ja', 'en')", name="locale_known"),
        # The worker's claim: the due rows, oldest first; only those still to send are indexed.
        sa.Index(
            "ix_notify_messages_due", "next_attempt_at", postgresql_where=sa.text("status IN ('queued', 'sending')")
        ),
        # A shopper's messages, newest first (ids are time-ordered).
        sa.Index("ix_notify_messages_user_id_id", "user_id", "id"),
        sa.Index("ix_notify_messages_provider_message_id", "provider", "provider_message_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    idempotency_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    """The caller's key (an event id and the step): the same key twice is one message."""
    event: Mapped[str] = mapped_column(sa.String(40))
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    """The shopper it is for, when it was enqueued for a shopper rather than for explicit contact points."""
    locale: Mapped[str] = mapped_column(sa.String(2))
    parameters: Mapped[dict[str, str]] = mapped_column(JSONB)
    """The template's variables, already formatted for the locale (amounts, dates)."""
    route: Mapped[list[dict[str, str]]] = mapped_column(JSONB, server_default=sa.text("'[]'::jsonb"))
    """The channels still to try, in order, each ``{"channel", "address"}``; the first is the current one. Chosen
    at enqueueing among those the recipient consented to; a permanent failure moves to the next."""
    status: Mapped[str] = mapped_column(sa.String(12))
    channel: Mapped[str | None] = mapped_column(sa.String(16))
    """The channel being tried (``route[0]``); None when unreachable."""
    delivery_key: Mapped[str] = mapped_column(sa.String(240))
    """The idempotency key providers get for the current channel: the message's own on its first channel, a
    derived one on a fallback channel."""
    provider: Mapped[str | None] = mapped_column(sa.String(16))
    """The provider of the latest attempt."""
    doubted_provider: Mapped[str | None] = mapped_column(sa.String(16))
    """Set when a call on the current channel may have reached this provider without its answer being recorded
    (a worker died, an adapter raised, a read timed out): a resend must then be one the provider deduplicates.
    Cleared by an acceptance, a fallback to another channel, or an operator's retry."""
    next_attempt_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    """When a queued message is due, or when a sending one's claim runs out."""
    claim_token: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    """Changes at every claim: a worker records an answer only while the claim is still its own."""
    attempts: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    """Calls to providers, every channel together."""
    channel_attempts: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    """Calls on the current channel: what the retry limit counts."""
    channel_started_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    """The first call on the current channel: a provider's deduplication window runs from it."""
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(128))
    """The provider's id of the accepted message, which its receipts name."""
    text: Mapped[str] = mapped_column(sa.Text)
    """The text as rendered for the current channel: what the shopper reads."""
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    quiet_hours: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    """Advertising to a recipient without night consent: never sent between 21:00 and 08:00 Korea time, held
    until 08:00 instead (:mod:`notify.quiet_hours`)."""
    chat: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """A chatbot's answer only: ``{"reply_token": …, "quick_replies": [...]}``, what the messenger's reply carries
    besides the text (:class:`notify.schemas.ChatExtras`)."""
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )
    updated_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, onupdate=utc_now, server_default=sa.func.now()
    )
    accepted_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    delivered_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class Attempt(DefaultBase):
    """One call to a provider (written as ``pending`` before the call, completed after it), or one receipt."""

    __tablename__ = "notify_attempts"
    __table_args__ = (
        sa.CheckConstraint(f"outcome IN ({OUTCOMES})", name="outcome_known"),
        sa.CheckConstraint(f"channel IN ({CHANNELS})", name="channel_known"),
        # The messages of a bulk request whose answer was lost, found by its key to repeat it whole.
        sa.Index("ix_notify_attempts_bulk_key", "delivery_key", postgresql_where=sa.text(BULK_KEYS)),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("notify_messages.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    provider: Mapped[str] = mapped_column(sa.String(16))
    channel: Mapped[str] = mapped_column(sa.String(16))
    delivery_key: Mapped[str] = mapped_column(sa.String(240))
    outcome: Mapped[str] = mapped_column(sa.String(12))
    http_status: Mapped[int | None] = mapped_column(sa.SmallInteger)
    result_code: Mapped[str | None] = mapped_column(sa.String(64))
    """The provider's own code (NHN ``resultCode``, TalkTalk ``resultCode``, Meta ``error.code``…)."""
    latency_ms: Mapped[int | None] = mapped_column(sa.Integer)
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(128))
    detail: Mapped[str] = mapped_column(sa.String(500), server_default="")


class SandboxMessage(DefaultBase):
    """What the sandbox provider would have sent: ``GET /dev/messages`` lists them. Like a real provider, it
    keeps its own records, so it holds no foreign key to the outbox."""

    __tablename__ = "notify_sandbox_messages"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    """The sandbox's message id, which its receipts name."""
    delivery_key: Mapped[str] = mapped_column(sa.String(240), unique=True)
    """It deduplicates on the delivery's idempotency key, as NHN Cloud and LINE do."""
    message_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    channel: Mapped[str] = mapped_column(sa.String(16))
    address: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str | None] = mapped_column(sa.String(200))
    text: Mapped[str] = mapped_column(sa.Text)
    template_code: Mapped[str | None] = mapped_column(sa.String(40))
    sms_kind: Mapped[str | None] = mapped_column(sa.String(3))
    buttons: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=sa.text("'[]'::jsonb"))
    quick_replies: Mapped[list[str]] = mapped_column(JSONB, server_default=sa.text("'[]'::jsonb"))
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )


class ChatWindow(DefaultBase):
    """When a shopper last wrote to us on a messenger that lets a business answer only for a while after (Instagram:
    24 hours), or only once the shopper opened the chat (Naver TalkTalk). The chatbot records every inbound
    message; routing reads it."""

    __tablename__ = "notify_chat_windows"

    channel: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    address: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    last_inbound_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
