"""What crosses the chatbot's boundary: the inquiries a mall reads and answers."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Literal

import msgspec

InquiryStatus = Literal["open", "answered", "closed"]


class TranscriptLine(msgspec.Struct, kw_only=True):
    from_: str = msgspec.field(name="from")
    """``shopper``, ``bot``, ``mall`` or ``shoa``."""
    text: str
    at: datetime.datetime


class InquiryReplyOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    text: str
    created_at: datetime.datetime
    message_id: uuid.UUID | None
    """The notify message carrying it to the shopper (its delivery shows in the message's record)."""


class InquiryOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status: str
    reason: str
    """Why the bot handed it over: ``asked`` (the shopper asked for a person), ``not_understood``, ``refused`` (the
    rules refused what the shopper asked), ``change_address``."""
    channel: str
    """The messenger the shopper wrote on; replies go back there."""
    locale: str
    order_number: str | None
    mall_order_id: uuid.UUID | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    closed_at: datetime.datetime | None
    transcript: list[TranscriptLine]
    replies: list[InquiryReplyOut]


class InquiryPage(msgspec.Struct, kw_only=True):
    items: list[InquiryOut]
    next_cursor: str | None
    """For the next page, when there is one."""


class ReplyIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    text: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=800,
            pattern=r"\S",
            description="What the shopper reads (not only spaces).",
            examples=["내일 오전 중 회수 기사님이 방문할 예정입니다."],
        ),
    ]
