"""The chatbot's tables: every turn of every conversation, and the inquiries it handed to a mall (or to Shoa).

A turn is one message of a shopper and the bot's answer, stored as it happened (the intent recognized, the
actions taken) with the messenger user it came from and, once the asker is known, the account, the mall-order
and the mall it is about: a mall reads the turns of its own mall-orders only. Utterances are stored with phone
numbers and the digits of an identity proof masked, and no address is ever written into a turn.

The platform's id of an inbound message (LINE ``webhookEventId``, Instagram ``mid``) is unique per channel, so a
message the platform delivers twice is answered once, whichever process sees it second.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import sqlalchemy as sa
from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from uuid_utils.compat import uuid7

import catalog.models  # noqa: F401 - registers the malls table our foreign keys name
import orders.models  # noqa: F401 - registers the mall_orders table
from shoa_kernel.clock import utc_now


class Turn(DefaultBase):
    """One shopper message and the bot's answer."""

    __tablename__ = "support_turns"
    __table_args__ = (
        sa.UniqueConstraint("channel", "event_id", name="uq_support_turns_channel_event_id"),
        sa.Index("ix_support_turns_chat_user", "channel", "chat_user", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    channel: Mapped[str] = mapped_column(sa.String(16))
    """``kakao``, ``line``, ``instagram``, ``talktalk``."""
    chat_user: Mapped[str] = mapped_column(sa.String(128))
    """The messenger's id of the asker (Kakao botUserKey, LINE user id, IGSID, TalkTalk user)."""
    event_id: Mapped[str | None] = mapped_column(sa.String(128))
    """The platform's id of the inbound message, where it gives one."""
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    mall_order_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    mall_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    utterance: Mapped[str] = mapped_column(sa.String(1000))
    intent: Mapped[str] = mapped_column(sa.String(20))
    answer: Mapped[str] = mapped_column(sa.Text)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=sa.text("'[]'::jsonb"))
    at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True), default=utc_now)


class Inquiry(DefaultBase):
    """A conversation the bot handed to people: the mall of its mall-order, or Shoa's own queue (``mall_id`` is
    None) for a question about no order."""

    __tablename__ = "support_inquiries"
    __table_args__ = (sa.Index("ix_support_inquiries_mall_status", "mall_id", "status", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    mall_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("malls.id", ondelete="CASCADE"))
    mall_order_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("mall_orders.id", ondelete="SET NULL"))
    order_number: Mapped[str | None] = mapped_column(sa.String(20))
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    channel: Mapped[str] = mapped_column(sa.String(16))
    chat_user: Mapped[str] = mapped_column(sa.String(128))
    locale: Mapped[str] = mapped_column(sa.String(2))
    reason: Mapped[str] = mapped_column(sa.String(20))
    """``asked`` (the shopper asked for a person), ``not_understood`` (twice in a row), ``refused`` (the rules
    refused an action), ``change_address``."""
    status: Mapped[str] = mapped_column(sa.String(8))
    """``open``, ``answered`` (replied to, may be replied again), ``closed``."""
    transcript: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    """The conversation until the hand-off: ``{"from": "shopper"|"bot", "text", "at"}``, masked as turns are."""
    created_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True), default=utc_now)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True), default=utc_now)
    closed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class InquiryReply(DefaultBase):
    """A person's answer to an inquiry, sent to the shopper's messenger through notify."""

    __tablename__ = "support_inquiry_replies"
    __table_args__ = (sa.UniqueConstraint("inquiry_id", "idempotency_key", name="uq_support_inquiry_replies_key"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    inquiry_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("support_inquiries.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(sa.String(8))
    """``mall`` or ``shoa``."""
    text: Mapped[str] = mapped_column(sa.String(1000))
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100))
    message_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    """The notify message carrying it; None when no messenger can carry it now (see ``shown_at``)."""
    shown_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    """When the shopper saw it in the chat: a KakaoTalk shopper the bot cannot message (no account known) is shown
    the reply before the bot's next answer."""
    created_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True), default=utc_now)
