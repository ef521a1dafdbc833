"""One interface for every messaging provider: a rendered message in, an outcome out.

The worker renders a message for a channel, picks the provider configured for that channel, and calls
:meth:`MessagingProvider.send` once per attempt. A provider never retries by itself and never raises for what the
provider answered: it classifies the answer as an :class:`Outcome` (accepted, transient, permanent), so that the
worker alone decides on retries, back-off and fallback. Only programming errors raise.

Idempotency: ``Delivery.idempotency_key`` is the same for every attempt of one message on one channel (it is the
outbox row's key). Providers that deduplicate on the wire get it (NHN Cloud ``X-NC-API-IDEMPOTENCY-KEY``, LINE
``X-Line-Retry-Key`` as a UUID derived from it); the others cannot, and the worker's crash rules cover them.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Hashable, Mapping, Sequence


class Channel(enum.StrEnum):
    """Where a message goes. The values are the account's ``preferred_messenger`` values."""

    ALIMTALK = "alimtalk"
    SMS = "sms"
    LINE = "line"
    INSTAGRAM = "instagram"
    TALKTALK = "talktalk"


class OutcomeKind(enum.StrEnum):
    ACCEPTED = "accepted"
    """The provider took the message (or, on a retry, says it already had it)."""
    TRANSIENT = "transient"
    """Not taken now, may be later: timeouts, connection errors, 5xx, 429, the provider's own 'try again'."""
    PERMANENT = "permanent"
    """Never on this channel: invalid recipient, template rejected, blocked, outside a reply window, bad config."""


@dataclass(frozen=True, kw_only=True)
class Button:
    name: str
    url: str


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """A message as one channel carries it, already checked against the channel's limits."""

    channel: Channel
    address: str
    """E.164 phone for AlimTalk and SMS, a LINE user id, an Instagram-scoped id, a TalkTalk user id."""
    text: str
    """The whole text as the shopper reads it (AlimTalk: the template filled in; SMS/LMS: the body)."""
    title: str | None = None
    """LMS subject, and the title line where a channel shows one."""
    template_code: str | None = None
    """AlimTalk: the code Kakao approved for this template (NHN ``templateCode``, Solapi ``templateId``)."""
    template_parameters: Mapping[str, str] = field(default_factory=dict)
    """AlimTalk: the template's variables by name, without ``#{}``."""
    buttons: Sequence[Button] = ()
    sms_kind: str | None = None
    """SMS channel: ``SMS`` (at most 90 bytes in EUC-KR) or ``LMS`` (longer, with a title)."""
    fallback: Rendered | None = None
    """AlimTalk: the SMS/LMS of the same content, for providers that resend it themselves on failure."""
    reply_token: str | None = None
    """LINE: the reply token of the shopper's message this answers; sent by the reply API while LINE takes it,
    else pushed."""
    quick_replies: Sequence[str] = ()
    """LINE, Instagram, TalkTalk: labels the shopper can tap to answer; a tap sends the label as their message."""


@dataclass(frozen=True, kw_only=True)
class Delivery:
    message_id: uuid.UUID
    idempotency_key: str
    rendered: Rendered
    attempt: int = 1


@dataclass(frozen=True, kw_only=True)
class Outcome:
    kind: OutcomeKind
    provider: str
    http_status: int | None = None
    result_code: str | None = None
    """The provider's own code (NHN ``resultCode``, Solapi ``statusCode``/``errorCode``, TalkTalk ``resultCode``, Meta
    ``error.code``), as text."""
    detail: str = ""
    provider_message_id: str | None = None
    retry_after: float | None = None
    """Seconds the provider asked us to wait (``Retry-After``), for transient outcomes."""
    delivery_unknown: bool = False
    """Transient outcomes only: the request may have reached the provider (a read timeout, a connection lost after
    the request was written), so the message may already be on its way. The worker then resends only to a
    provider that deduplicates on the idempotency key, and dead-letters the message as in doubt elsewhere."""


@dataclass(frozen=True, kw_only=True)
class Receipt:
    """A delivery report the provider sent us: the message it names was delivered, or failed for good."""

    provider_message_id: str
    delivered: bool
    result_code: str | None = None
    detail: str = ""


class ReceiptRejectedError(Exception):
    """A receipt whose signature or secret does not verify: answered 401, never trusted."""


class MessagingProvider(Protocol):
    name: str
    """``nhn``, ``solapi``, ``line``, ``instagram``, ``talktalk``, ``sandbox``."""
    channels: frozenset[Channel]

    async def send(self, delivery: Delivery) -> Outcome: ...

    def parse_receipts(self, headers: Mapping[str, str], body: bytes) -> list[Receipt]:
        """Verify a delivery-report webhook as the provider documents it and read its receipts; raise
        :class:`ReceiptRejectedError` when it does not verify. Providers without receipts return ``[]``."""
        ...


@runtime_checkable
class BulkSender(Protocol):
    """A provider that takes many messages of one kind in one request (NHN Cloud: up to 1,000 AlimTalk
    recipients of one template). The worker sends a restock wave through it instead of a call per message."""

    bulk_limit: int
    """The most deliveries one request carries."""

    def bulk_group(self, rendered: Rendered) -> Hashable | None:
        """What deliveries must share to travel in one request (NHN: the AlimTalk's template code); None when
        this rendering cannot travel in a bulk request."""
        ...

    async def send_many(self, deliveries: Sequence[Delivery], *, idempotency_key: str) -> list[Outcome]:
        """Send the deliveries (of one :meth:`bulk_group`) in one request carrying ``idempotency_key``: an
        outcome for each, in their order. The same key again, with the same deliveries, must be safe: the
        worker repeats a request whose answer was lost exactly as it was."""
        ...


def retry_key(idempotency_key: str) -> uuid.UUID:
    """A stable UUID for an idempotency key, for providers that want one (LINE's ``X-Line-Retry-Key``)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"shoa:notify:{idempotency_key}")
