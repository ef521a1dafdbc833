"""What crosses notify's boundary: the message a service enqueues, the recipient it is for, and the answers of
the shopper's message list, the receipts webhook and the sandbox's list."""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Literal

import msgspec

from notify.providers.base import Channel

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from typing import TypeAlias

    from sqlalchemy.ext.asyncio import AsyncSession

Locale = Literal["ko", "ja", "en"]
ParameterValue = str | int | datetime.datetime
"""Text as it is; a whole number of won (``amount`` variables) or a moment (``datetime`` variables), formatted in
the message's locale."""
MessageStatusName = Literal["queued", "sending", "accepted", "delivered", "failed", "dead", "unreachable"]
ChannelName = Literal["alimtalk", "sms", "line", "instagram", "talktalk"]


class Recipient(msgspec.Struct, frozen=True, kw_only=True):
    """Whom a message is for and how they may be reached: what the recipient lookup answers for a shopper, or
    what a caller gives for someone without an account. A channel needs its address *and* its consent."""

    phone: str | None = None
    """E.164 (``+821012345678``): AlimTalk for a Korean mobile, SMS/LMS for any."""
    line_user_id: str | None = None
    instagram_id: str | None = None
    """The Instagram-scoped id of a shopper who wrote to us."""
    instagram_window_until: datetime.datetime | None = None
    """When Instagram's 24-hour reply window of the shopper's last message to us closes; unknown means closed."""
    talktalk_id: str | None = None
    """Known once the shopper opened a Naver TalkTalk chat with us."""
    consents: frozenset[Channel] = frozenset()
    """The channels the recipient agreed to get order messages on."""
    advertising_consents: frozenset[Channel] = frozenset()
    """The channels the recipient agreed to get advertising on (marketing consent, separate from the order
    messages' and confirmed within two years); never AlimTalk, which carries information only."""
    night_advertising: bool = False
    """Whether the recipient also agreed to advertising between 21:00 and 08:00 Korea time."""
    preferred: Channel | None = None
    locale: Locale = "ko"


if TYPE_CHECKING:
    RecipientLookup: TypeAlias = Callable[[AsyncSession, uuid.UUID], Awaitable[Recipient | None]]
    """The app's lookup of a shopper by id (``None`` for an unknown or closed account), handed to the outbox at
    start-up: notify knows no accounts table."""
    RecipientsLookup: TypeAlias = Callable[[AsyncSession, Sequence[uuid.UUID]], Awaitable[dict[uuid.UUID, Recipient]]]
    """The same lookup for many shoppers at once (unknown and closed accounts left out): what a wave of thousands
    of messages uses instead of one lookup per message (:meth:`notify.service.Outbox.enqueue_many`)."""


class ChatExtras(msgspec.Struct, frozen=True, kw_only=True):
    reply_token: str | None = None
    """LINE: the webhook's reply token; the answer goes by the reply API while LINE takes the token."""
    quick_replies: tuple[str, ...] = ()
    """Labels shown as tappable answers; a tap sends the label back as the shopper's message."""


class OutgoingMessage(msgspec.Struct, frozen=True, kw_only=True):
    """An event for one person, as a service hands it to :meth:`notify.service.Outbox.enqueue`."""

    event: str
    """The template's event kind: ``order_received``, ``shipping_started``… (``notify/templates/<event>.toml``)."""
    idempotency_key: str
    """Unique per event and step (an order's transition id, say): the same key twice is one message."""
    parameters: dict[str, ParameterValue]
    """Exactly the template's declared variables."""
    user_id: uuid.UUID | None = None
    """A shopper, resolved through the recipient lookup; or else ``recipient``."""
    recipient: Recipient | None = None
    locale: Locale | None = None
    """The language to write in; the recipient's by default."""
    chat: ChatExtras | None = None
    """A chatbot's answer on a messenger: what the reply carries besides the text (LINE, Instagram, TalkTalk)."""


class Enqueued(msgspec.Struct, frozen=True, kw_only=True):
    message_id: uuid.UUID
    created: bool
    """False when a message with the same idempotency key was there already (nothing changed)."""
    status: MessageStatusName
    channel: ChannelName | None


class ShopperMessage(msgspec.Struct, kw_only=True):
    """A message sent (or being sent) to the logged-in shopper."""

    id: uuid.UUID
    event: str
    channel: ChannelName | None
    """Where it went, or goes; ``null`` when no channel could reach the shopper."""
    status: MessageStatusName
    text: str
    created_at: datetime.datetime
    accepted_at: datetime.datetime | None
    """When the provider took it."""
    delivered_at: datetime.datetime | None
    """When the provider reported it delivered, for providers that report."""


class ShopperMessagePage(msgspec.Struct, kw_only=True):
    items: list[ShopperMessage]
    next_cursor: str | None


class ReceiptsApplied(msgspec.Struct, kw_only=True):
    received: int
    """Receipts in the report."""
    applied: int
    """Those that changed a message (the others named a message already settled, or one not ours)."""


class SandboxButton(msgspec.Struct, kw_only=True):
    name: str
    url: str


class SandboxDelivery(msgspec.Struct, kw_only=True):
    """What the sandbox provider would have sent."""

    id: uuid.UUID
    """The sandbox's message id (what a receipt names)."""
    message_id: uuid.UUID
    channel: ChannelName
    address: str
    title: str | None
    text: str
    template_code: str | None
    sms_kind: Literal["SMS", "LMS"] | None
    buttons: list[SandboxButton]
    quick_replies: list[str]
    """A chatbot answer's tappable answers, as the messenger would show them."""
    created_at: datetime.datetime


class SandboxDeliveryPage(msgspec.Struct, kw_only=True):
    items: list[SandboxDelivery]
    next_cursor: str | None


class AttemptRecord(msgspec.Struct, kw_only=True):
    """One call to a provider, or one receipt, as ``shoa messages show`` prints it."""

    attempted_at: datetime.datetime
    provider: str
    channel: str
    outcome: str
    http_status: int | None
    result_code: str | None
    latency_ms: int | None
    provider_message_id: str | None
    detail: str


class MessageRecord(msgspec.Struct, kw_only=True):
    """A message as operators see it: ``shoa messages dead`` and ``show``."""

    id: uuid.UUID
    idempotency_key: str
    event: str
    user_id: uuid.UUID | None
    status: MessageStatusName
    channel: str | None
    provider: str | None
    attempts: int
    next_attempt_at: datetime.datetime
    last_error: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    history: list[AttemptRecord] = msgspec.field(default_factory=list)
