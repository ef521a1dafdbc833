"""Instagram direct messages through Meta's Instagram API with Instagram Login (``graph.instagram.com``).

Docs followed (developers.facebook.com): instagram-platform/instagram-api-with-instagram-login/messaging-api
(send a message: ``POST /{version}/{ig_id}/messages``, Bearer Instagram user token, text as UTF-8 of at most
1,000 bytes, answer ``{"recipient_id", "message_id"}``), messenger-platform error codes (shared by Instagram
messaging), graph-api/guides/error-handling and the Instagram messaging webhooks (``messaging_seen``,
``X-Hub-Signature-256``). Graph API v26.0 is the current version (July 2026; v21.0 ends January 2027).

A chatbot answer's quick replies go as the messaging API's ``quick_replies`` (instagram-api-with-instagram-login/
messaging-api/quick-replies): at most 13, each ``{"content_type": "text", "title", "payload"}`` with a title of at
most 20 characters (longer ones are truncated by Meta, so we cut them cleanly ourselves); a tap posts the title
as the shopper's message, with the payload (the whole label) beside it.

Only the shopper can open a conversation, and a business may answer for 24 hours after their last message. A send
outside that window fails (code 10, subcode 2534022 on Instagram, 2018278 in Messenger's table): permanent for
this channel, so the worker falls back to the next one.

Idempotency: Meta's send API has none. A send that timed out may have reached the shopper, and a retry may
show the message twice; the worker's crash rules, not this adapter, decide whether to retry such a send.

Receipts: Instagram has no delivery webhook (``message_deliveries`` is Messenger only), but ``messaging_seen``
reports a message the shopper has read, which proves it was delivered. With an ``app_secret`` these are read
and verified (``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``); without one every webhook is
rejected, since it cannot be verified. Other events on the same webhook (the shopper's own messages) are not
receipts and are skipped here.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

import httpx
import msgspec

from notify.providers.base import (
    Channel,
    Delivery,
    Outcome,
    OutcomeKind,
    Receipt,
    ReceiptRejectedError,
    Rendered,
)
from notify.providers.limits import cut_text, utf8_size
from notify.providers.transport import exchange_failed, retry_after_seconds

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

MAX_TEXT_BYTES = 1000
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
MAX_PAYLOAD = 1000
MIN_TEXT_BYTES_WITH_LINKS = 200
"""Links are added to a cut text only if at least this much of the text itself still fits."""

OUTSIDE_WINDOW_SUBCODES = frozenset({2534022, 2018278})
_RATE_LIMITED = (OutcomeKind.TRANSIENT, "rate limited")
_TEMPORARY = (OutcomeKind.TRANSIENT, "temporary failure")
ERROR_MEANINGS: dict[int, tuple[OutcomeKind, str]] = {
    1: _TEMPORARY,  # unknown error, "possibly a temporary issue"
    2: _TEMPORARY,  # service temporarily unavailable
    1200: _TEMPORARY,  # temporary send message failure
    4: _RATE_LIMITED,  # application request limit
    17: _RATE_LIMITED,  # user request limit
    32: _RATE_LIMITED,  # page request limit
    341: _RATE_LIMITED,  # application limit reached
    613: _RATE_LIMITED,  # calls to this API exceeded the rate limit
    10: (OutcomeKind.PERMANENT, "permission denied (configuration)"),
    200: (OutcomeKind.PERMANENT, "permission denied (configuration)"),  # 200-299
    190: (OutcomeKind.PERMANENT, "access token invalid or expired (configuration)"),
    100: (OutcomeKind.PERMANENT, "invalid request or unknown recipient"),
    551: (OutcomeKind.PERMANENT, "the shopper cannot receive messages"),
}
"""Graph API error codes (messenger-platform error codes, graph-api error handling) and what they mean here;
code 10 outside the reply window is told apart by its subcode."""


class Recipient(msgspec.Struct):
    id: str


class QuickReply(msgspec.Struct):
    title: str
    payload: str
    content_type: str = "text"


class TextContent(msgspec.Struct, omit_defaults=True):
    text: str
    quick_replies: list[QuickReply] | None = None


class SendRequest(msgspec.Struct):
    recipient: Recipient
    message: TextContent


class SendAnswer(msgspec.Struct):
    recipient_id: str | None = None
    message_id: str | None = None


class GraphError(msgspec.Struct):
    message: str = ""
    type: str = ""
    code: int | None = None
    error_subcode: int | None = None
    is_transient: bool | None = None
    fbtrace_id: str | None = None


class ErrorAnswer(msgspec.Struct):
    error: GraphError | None = None


class Read(msgspec.Struct):
    mid: str | None = None


class MessagingEvent(msgspec.Struct):
    read: Read | None = None


class Entry(msgspec.Struct):
    messaging: list[MessagingEvent] = []


class Webhook(msgspec.Struct):
    object: str = ""
    entry: list[Entry] = []


class InstagramProvider:
    name = "instagram"
    channels = frozenset({Channel.INSTAGRAM})

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str = "https://graph.instagram.com",
        api_version: str = "v26.0",
        ig_user_id: str,
        access_token: str,
        app_secret: str | None = None,
    ) -> None:
        self._http = http
        self._url = f"{base_url.rstrip('/')}/{api_version}/{ig_user_id}/messages"
        self._token = access_token
        self._app_secret = app_secret.encode() if app_secret else None

    async def send(self, delivery: Delivery) -> Outcome:
        rendered = delivery.rendered
        message = TextContent(text=message_text(rendered), quick_replies=quick_replies(rendered.quick_replies))
        request = SendRequest(recipient=Recipient(id=rendered.address), message=message)
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        try:
            response = await self._http.post(self._url, content=msgspec.json.encode(request), headers=headers)
        except httpx.TransportError as error:
            return exchange_failed(self.name, error, deduplicated=False)
        return self._classify(response)

    def parse_receipts(self, headers: Mapping[str, str], body: bytes) -> list[Receipt]:
        if self._app_secret is None:
            raise ReceiptRejectedError("no Instagram app secret is configured, so no webhook can be verified")
        signature = next((value for key, value in headers.items() if key.lower() == "x-hub-signature-256"), "")
        expected = "sha256=" + hmac.new(self._app_secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
            raise ReceiptRejectedError("X-Hub-Signature-256 does not match the body")
        try:
            webhook = msgspec.json.decode(body, type=Webhook)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return []  # signed by Meta but not a shape we read: nothing to record, and nothing to refuse
        if webhook.object != "instagram":
            return []
        return [
            Receipt(provider_message_id=event.read.mid, delivered=True, result_code="read", detail="seen")
            for entry in webhook.entry
            for event in entry.messaging
            if event.read is not None and event.read.mid
        ]

    def _classify(self, response: httpx.Response) -> Outcome:
        status = response.status_code
        error = _error_of(response.content)
        if 200 <= status < 300 and error is None:
            answer = _answer_of(response.content)
            return Outcome(
                kind=OutcomeKind.ACCEPTED,
                provider=self.name,
                http_status=status,
                provider_message_id=answer.message_id,
                detail="sent" if answer.message_id else "accepted without a message id",
            )
        if error is None:
            kind = OutcomeKind.TRANSIENT if status >= 500 or status in {408, 429} else OutcomeKind.PERMANENT
            return Outcome(
                kind=kind,
                provider=self.name,
                http_status=status,
                detail=f"HTTP {status}: {response.content[:200].decode(errors='replace')}",
                retry_after=_retry_after(response, kind),
            )
        kind, why = classify_error(error, status)
        return Outcome(
            kind=kind,
            provider=self.name,
            http_status=status,
            result_code=None if error.code is None else str(error.code),
            detail=f"{why}: {error.message} ({_identify(error)})",
            retry_after=_retry_after(response, kind),
        )


def classify_error(error: GraphError, status: int) -> tuple[OutcomeKind, str]:
    """What a Graph API error means for this message, with a short reason for the attempt's detail."""
    code = error.code
    if code == 10 and error.error_subcode in OUTSIDE_WINDOW_SUBCODES:
        return OutcomeKind.PERMANENT, "outside the 24-hour reply window"
    if code is not None and 200 <= code <= 299:
        code = 200
    known = ERROR_MEANINGS.get(code) if code is not None else None
    if known is not None:
        return known
    if error.is_transient or status >= 500:
        return OutcomeKind.TRANSIENT, "temporary failure"
    return OutcomeKind.PERMANENT, "refused"


def message_text(rendered: Rendered) -> str:
    """The text with each button as ``name: url`` after it, within 1,000 UTF-8 bytes; links that no longer fit
    with a fair share of the text are left out (the text is what the shopper must read)."""
    text = rendered.text
    links = [f"{button.name}: {button.url}" for button in rendered.buttons]
    while links:
        tail = ("\n\n" if text else "") + "\n".join(links)
        if utf8_size(text + tail) <= MAX_TEXT_BYTES:
            return text + tail
        room = MAX_TEXT_BYTES - utf8_size(tail)
        if room >= MIN_TEXT_BYTES_WITH_LINKS:
            return cut_text(text, room, size=utf8_size) + tail
        links.pop()
    return cut_text(text, MAX_TEXT_BYTES, size=utf8_size)


def quick_replies(labels: Sequence[str]) -> list[QuickReply] | None:
    """Text quick replies for the first 13 labels; None when there are none."""
    replies = [
        QuickReply(title=cut_text(label, MAX_QUICK_REPLY_TITLE), payload=cut_text(label, MAX_PAYLOAD))
        for label in (label.strip() for label in labels)
        if label
    ][:MAX_QUICK_REPLIES]
    return replies or None


def _error_of(content: bytes) -> GraphError | None:
    try:
        return msgspec.json.decode(content, type=ErrorAnswer).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _answer_of(content: bytes) -> SendAnswer:
    try:
        return msgspec.json.decode(content, type=SendAnswer)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return SendAnswer()


def _identify(error: GraphError) -> str:
    parts = [f"code {error.code}"]
    if error.error_subcode:
        parts.append(f"subcode {error.error_subcode}")
    if error.fbtrace_id:
        parts.append(f"fbtrace {error.fbtrace_id}")
    return ", ".join(parts)


def _retry_after(response: httpx.Response, kind: OutcomeKind) -> float | None:
    """Meta documents no ``Retry-After``; honoured when a proxy or a future API sends one."""
    if kind is not OutcomeKind.TRANSIENT:
        return None
    return retry_after_seconds(response.headers.get("retry-after"))
