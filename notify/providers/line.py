"""LINE Messaging API push and reply messages: the channel for shoppers who gave us their LINE user id (Japan
first), and the chatbot's answers to them.

Docs followed (developers.line.biz): reference/messaging-api (send push message, send reply message, message
objects, buttons template, URI and message actions, quick reply, status codes), docs/messaging-api/
retrying-api-request, handling-http-429-errors, using-quick-reply and text-character-count.

Replies: a chatbot answer carries the reply token of the shopper's message, and goes by ``POST
/v2/bot/message/reply`` (free, unlike a push). A token is single-use and expires soon after the webhook; LINE
refuses a used or expired one with ``400 {"message": "Invalid reply token"}``, and the same ``send`` then pushes
the answer, so the shopper still gets it. A reply takes no ``X-Line-Retry-Key``: it cannot be deduplicated, and
the worker never sends one twice (a retry pushes). Quick replies (at most 13 message actions, labels of at most
20 characters) ride on the last message object, on a reply and on a push alike.

Idempotency: every push carries ``X-Line-Retry-Key``, a UUID derived from the delivery's idempotency key, so
each attempt of one message sends the same key. LINE executes a key once: a retry after a timeout or a 5xx is
either executed (the first never was) or answered ``409 Conflict`` with ``x-line-accepted-request-id`` (it was),
which is an acceptance. The key holds for 24 hours after the first request; a retry later than that may send a
second message. LINE sends no delivery reports, so an accepted push is as far as we can know.

A ``429`` was not processed. Its ``message`` tells a rate or concurrency limit (transient: retried after
``Retry-After`` when sent, else the worker's back-off) from a used-up monthly message quota, which no retry
within the hour fixes: that one is permanent for this message, so the worker falls back to the next channel at
once instead of holding an order notice until next month. LINE has no error codes, so ``result_code`` carries
our label for the case (``retry_key_accepted``, ``rate_limit``, ``monthly_limit``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import httpx
import msgspec

from notify.providers.base import Channel, Delivery, Outcome, OutcomeKind, Receipt, Rendered, retry_key
from notify.providers.limits import cut_text, utf16_size
from notify.providers.transport import exchange_failed, retry_after_seconds

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from notify.providers.base import Button

MAX_MESSAGES = 5
MAX_TEXT = 5000
"""UTF-16 code units per text message."""
MAX_ALT_TEXT = 400
MAX_BUTTONS_TEXT = 160
"""Buttons template text without a title or image, in grapheme clusters."""
MAX_ACTIONS = 4
MAX_LABEL = 20
MAX_URI = 1000
"""LINE raised the URI action limit to 10,000 in October 2026; 1,000 holds under both limits."""
MAX_QUICK_REPLIES = 13
MAX_ACTION_TEXT = 300
"""A message action's ``text``: what the shopper sends by tapping it."""
INVALID_REPLY_TOKEN = "invalid reply token"  # noqa: S105 - LINE's error message, not a secret
_QUOTA_MARKERS = ("monthly limit", "target limit")


class MessageAction(msgspec.Struct, tag_field="type", tag="message"):
    label: str
    text: str


class QuickReplyItem(msgspec.Struct, tag_field="type", tag="action"):
    action: MessageAction


class QuickReply(msgspec.Struct):
    items: list[QuickReplyItem]


class TextMessage(msgspec.Struct, tag_field="type", tag="text", omit_defaults=True):
    text: str
    quick_reply: QuickReply | None = msgspec.field(default=None, name="quickReply")


class UriAction(msgspec.Struct, tag_field="type", tag="uri"):
    label: str
    uri: str


class ButtonsTemplate(msgspec.Struct, tag_field="type", tag="buttons"):
    text: str
    actions: list[UriAction]


class TemplateMessage(msgspec.Struct, tag_field="type", tag="template", rename="camel", omit_defaults=True):
    alt_text: str
    template: ButtonsTemplate
    quick_reply: QuickReply | None = None


class PushRequest(msgspec.Struct):
    to: str
    messages: list[TextMessage | TemplateMessage]


class ReplyRequest(msgspec.Struct, rename="camel"):
    reply_token: str
    messages: list[TextMessage | TemplateMessage]


class SentMessage(msgspec.Struct):
    id: str | None = None
    quote_token: str | None = msgspec.field(default=None, name="quoteToken")


class ErrorDetail(msgspec.Struct):
    message: str = ""
    property: str = ""


class LineAnswer(msgspec.Struct):
    """A push answer, success or error: ``sentMessages`` on 200 and 409, ``message``/``details`` on errors."""

    message: str = ""
    details: list[ErrorDetail] = []
    sent_messages: list[SentMessage] = msgspec.field(default_factory=list, name="sentMessages")


class LineProvider:
    name = "line"
    channels = frozenset({Channel.LINE})

    def __init__(
        self, *, http: httpx.AsyncClient, base_url: str = "https://api.line.me", channel_access_token: str
    ) -> None:
        self._http = http
        self._url = f"{base_url.rstrip('/')}/v2/bot/message/push"
        self._reply_url = f"{base_url.rstrip('/')}/v2/bot/message/reply"
        self._token = channel_access_token

    async def send(self, delivery: Delivery) -> Outcome:
        rendered = delivery.rendered
        messages = push_messages(rendered)
        if rendered.reply_token:
            replied = await self._reply(rendered.reply_token, messages)
            if replied is not None:
                return replied
        body = msgspec.json.encode(PushRequest(to=rendered.address, messages=messages))
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json",
            "X-Line-Retry-Key": str(retry_key(delivery.idempotency_key)),
        }
        try:
            response = await self._http.post(self._url, content=body, headers=headers)
        except httpx.TransportError as error:
            outcome = exchange_failed(self.name, error, deduplicated=True)
        else:
            outcome = self._classify(response)
        if rendered.reply_token:
            return dataclasses.replace(outcome, detail=f"reply token refused, pushed instead: {outcome.detail}")
        return outcome

    async def _reply(self, reply_token: str, messages: list[TextMessage | TemplateMessage]) -> Outcome | None:
        """The reply's outcome; None when LINE refused the token (used, expired or unknown), so push instead."""
        body = msgspec.json.encode(ReplyRequest(reply_token=reply_token, messages=messages))
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        try:
            response = await self._http.post(self._reply_url, content=body, headers=headers)
        except httpx.TransportError as error:
            return exchange_failed(self.name, error, deduplicated=False)
        if response.status_code == 400 and _refuses_token(_read_answer(response.content)):
            return None
        outcome = self._classify(response)
        return dataclasses.replace(outcome, detail=f"replied: {outcome.detail}")

    def parse_receipts(self, headers: Mapping[str, str], body: bytes) -> list[Receipt]:
        """LINE reports no deliveries for push messages; its webhooks are the shopper's chat, not receipts."""
        return []

    def _classify(self, response: httpx.Response) -> Outcome:
        status = response.status_code
        answer = _read_answer(response.content)
        request_id = response.headers.get("x-line-request-id")
        message_id = answer.sent_messages[0].id if answer.sent_messages else None
        if 200 <= status < 300:
            return Outcome(
                kind=OutcomeKind.ACCEPTED,
                provider=self.name,
                http_status=status,
                provider_message_id=message_id,
                detail=f"accepted (request {request_id})" if request_id else "accepted",
            )
        if status == 409:
            accepted_id = response.headers.get("x-line-accepted-request-id")
            return Outcome(
                kind=OutcomeKind.ACCEPTED,
                provider=self.name,
                http_status=status,
                result_code="retry_key_accepted",
                provider_message_id=message_id,
                detail=f"already accepted under this retry key (request {accepted_id}); not sent again",
            )
        described = _describe(answer, status)
        if status == 429:
            return self._too_many_requests(response, answer, described)
        if status >= 500 or status == 408:
            return Outcome(kind=OutcomeKind.TRANSIENT, provider=self.name, http_status=status, detail=described)
        return Outcome(
            kind=OutcomeKind.PERMANENT, provider=self.name, http_status=status, detail=_why(status, described)
        )

    def _too_many_requests(self, response: httpx.Response, answer: LineAnswer, described: str) -> Outcome:
        if any(marker in answer.message.lower() for marker in _QUOTA_MARKERS):
            return Outcome(
                kind=OutcomeKind.PERMANENT,
                provider=self.name,
                http_status=429,
                result_code="monthly_limit",
                detail=f"{described} (the channel's message quota is used up: not retried, falls back)",
            )
        return Outcome(
            kind=OutcomeKind.TRANSIENT,
            provider=self.name,
            http_status=429,
            result_code="rate_limit",
            detail=described,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )


def push_messages(rendered: Rendered) -> list[TextMessage | TemplateMessage]:
    """The text, then a buttons template for the links that fit one; links that do not fit go in the text. The
    quick replies, if any, on the last message (LINE shows them under the latest message only)."""
    buttons = [button for button in rendered.buttons if _fits_action(button)][:MAX_ACTIONS]
    leftover = [button for button in rendered.buttons if button not in buttons]
    text = rendered.text
    if leftover:
        text = "\n\n".join([text, *(f"{button.name}: {button.url}" for button in leftover)])
    slots = MAX_MESSAGES - (1 if buttons else 0)
    messages: list[TextMessage | TemplateMessage] = [TextMessage(text=part) for part in split_text(text, slots)]
    if buttons:
        first_line = next((line.strip() for line in rendered.text.splitlines() if line.strip()), "")
        heading = rendered.title or first_line or buttons[0].name
        messages.append(
            TemplateMessage(
                alt_text=cut_text(heading, MAX_ALT_TEXT, size=utf16_size),
                template=ButtonsTemplate(
                    text=cut_text(heading, MAX_BUTTONS_TEXT),
                    actions=[UriAction(label=cut_text(b.name, MAX_LABEL), uri=b.url) for b in buttons],
                ),
            )
        )
    if rendered.quick_replies:
        messages[-1].quick_reply = quick_reply(rendered.quick_replies)
    return messages


def quick_reply(labels: Sequence[str]) -> QuickReply | None:
    """Message actions for the first 13 labels: the button shows the label (cut to 20 characters), and a tap sends
    the whole label as the shopper's message."""
    items = [
        QuickReplyItem(action=MessageAction(label=cut_text(label, MAX_LABEL), text=cut_text(label, MAX_ACTION_TEXT)))
        for label in (label.strip() for label in labels)
        if label
    ][:MAX_QUICK_REPLIES]
    return QuickReply(items=items) if items else None


def split_text(text: str, slots: int) -> list[str]:
    """Text messages of at most ``MAX_TEXT`` UTF-16 units, split at line ends; the last is cut if slots run out."""
    parts: list[str] = []
    rest = text
    while utf16_size(rest) > MAX_TEXT and len(parts) < slots - 1:
        head = cut_text(rest, MAX_TEXT, size=utf16_size, ellipsis="")
        line_end = head.rfind("\n")
        if line_end > len(head) // 2:
            head = head[: line_end + 1]
        parts.append(head.rstrip())
        rest = rest[len(head) :].lstrip()
    parts.append(cut_text(rest, MAX_TEXT, size=utf16_size))
    return parts


def _fits_action(button: Button) -> bool:
    return button.url.startswith(("https://", "http://")) and len(button.url) <= MAX_URI and bool(button.name)


def _read_answer(content: bytes) -> LineAnswer:
    try:
        return msgspec.json.decode(content, type=LineAnswer)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return LineAnswer(message=content[:200].decode(errors="replace"))


def _refuses_token(answer: LineAnswer) -> bool:
    return INVALID_REPLY_TOKEN in answer.message.lower() or any(
        detail.property == "replyToken" for detail in answer.details
    )


def _describe(answer: LineAnswer, status: int) -> str:
    text = answer.message or f"HTTP {status}"
    details = "; ".join(f"{detail.property}: {detail.message}" for detail in answer.details[:5])
    return f"{text} ({details})" if details else text


def _why(status: int, described: str) -> str:
    if status == 401:
        return f"channel access token rejected: {described}"
    if status == 403:
        return f"the channel may not push messages (plan or permission): {described}"
    return described
