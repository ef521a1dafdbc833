"""Naver TalkTalk chatbot send event: the channel for shoppers who opened a chat with the mall's TalkTalk account.

Docs followed: the official specification, the ``navertalk/chatbot-api`` repository's README (보내기 API, send
이벤트, textContent, compositeContent, ERROR 명세서). ``POST /chatbot/v1/event`` with the partner's
authorization key as the whole ``Authorization`` header; ``options.notification: true`` asks for a push, which
the README recommends for event-driven messages such as 배송출발.

TalkTalk answers HTTP 200 whatever happened: ``{"success": true, "resultCode": "00"}`` or ``success: false``
with ``01`` (authorization), ``02`` (JSON or a required field), ``99`` (anything else, explained only in
``resultMessage``) or ``IMG-01``…``IMG-03`` (images). ``01``, ``02`` and ``IMG-*`` are permanent. ``99`` is
retried once: it is transient on a message's first attempt and permanent after, since the README gives no way
to tell a passing failure from a lasting one. Any other HTTP status is the gateway in front, not TalkTalk's
answer, and is transient.

Links: a message with buttons goes as a ``compositeContent`` (``description`` the text, ``LINK`` buttons) when
it fits the composite limits (text ≤ 1,000, button title ≤ 18, ≤ 10 buttons); otherwise as text with the URLs in
it, which TalkTalk shows as links.

Quick buttons (퀵 버튼): a chatbot answer's quick replies ride on the ``textContent`` or ``compositeContent`` as
``"quickReply": {"buttonList": [{"type": "TEXT", "data": {"title", "code"}}]}``. The README limits a quick
button's title to 10 characters and a TEXT button's code to 1,000; it states no count, so the 10 buttons of the
``OPTION`` button it likens quick buttons to are kept. A tap sends the title as the shopper's text with the code
beside it (``textContent.code``, ``inputType: "button"``): the code carries the whole label, which a cut title
may not.

Idempotency: none, and TalkTalk returns no message id: a send that timed out may have reached the shopper, and a
retry may show the message twice (the worker's crash rules decide). Receipts: none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import msgspec

from notify.providers.base import Channel, Delivery, Outcome, OutcomeKind, Receipt, Rendered
from notify.providers.limits import cut_text
from notify.providers.transport import exchange_failed, retry_after_seconds

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

MAX_TEXT = 10_000
MAX_TITLE = 200
MAX_DESCRIPTION = 1000
MAX_BUTTON_TITLE = 18
MAX_BUTTONS = 10
MAX_QUICK_BUTTONS = 10
MAX_QUICK_BUTTON_TITLE = 10
MAX_CODE = 1000
PERMANENT_CODES = frozenset({"01", "02"})


class TextData(msgspec.Struct):
    title: str
    code: str


class TextButton(msgspec.Struct, tag_field="type", tag="TEXT"):
    data: TextData


class QuickReply(msgspec.Struct, rename="camel"):
    button_list: list[TextButton]


class TextContent(msgspec.Struct, omit_defaults=True, rename="camel"):
    text: str
    quick_reply: QuickReply | None = None


class LinkData(msgspec.Struct, rename="camel"):
    title: str
    url: str
    mobile_url: str


class LinkButton(msgspec.Struct, tag_field="type", tag="LINK"):
    data: LinkData


class Composite(msgspec.Struct, omit_defaults=True, rename="camel"):
    description: str
    button_list: list[LinkButton]
    title: str | None = None


class CompositeContent(msgspec.Struct, omit_defaults=True, rename="camel"):
    composite_list: list[Composite]
    quick_reply: QuickReply | None = None


class Options(msgspec.Struct):
    notification: bool


class SendEvent(msgspec.Struct, omit_defaults=True, rename="camel"):
    event: str
    user: str
    options: Options
    text_content: TextContent | None = None
    composite_content: CompositeContent | None = None


class EventAnswer(msgspec.Struct, rename="camel"):
    success: bool | None = None
    result_code: str | None = None
    result_message: str = ""


class TalkTalkProvider:
    name = "talktalk"
    channels = frozenset({Channel.TALKTALK})

    def __init__(
        self, *, http: httpx.AsyncClient, base_url: str = "https://gw.talk.naver.com", authorization_key: str
    ) -> None:
        self._http = http
        self._url = f"{base_url.rstrip('/')}/chatbot/v1/event"
        self._headers = {"Authorization": authorization_key, "Content-Type": "application/json;charset=UTF-8"}

    async def send(self, delivery: Delivery) -> Outcome:
        body = msgspec.json.encode(send_event(delivery.rendered))
        try:
            response = await self._http.post(self._url, content=body, headers=self._headers)
        except httpx.TransportError as error:
            return exchange_failed(self.name, error, deduplicated=False)
        return self._classify(response, attempt=delivery.attempt)

    def parse_receipts(self, headers: Mapping[str, str], body: bytes) -> list[Receipt]:
        """TalkTalk reports no deliveries; its webhook carries the shopper's chat events, not receipts."""
        return []

    def _classify(self, response: httpx.Response, *, attempt: int) -> Outcome:
        status = response.status_code
        if status != 200:
            return Outcome(
                kind=OutcomeKind.TRANSIENT,
                provider=self.name,
                http_status=status,
                detail=f"HTTP {status} from the gateway: {response.content[:200].decode(errors='replace')}",
                retry_after=retry_after_seconds(response.headers.get("retry-after")),
            )
        try:
            answer = msgspec.json.decode(response.content, type=EventAnswer)
        except (msgspec.DecodeError, msgspec.ValidationError):
            answer = EventAnswer()
        if answer.success is None:
            # Not TalkTalk's answer (a proxy's page, an empty object): TalkTalk may have sent the message, or not.
            return Outcome(
                kind=OutcomeKind.TRANSIENT,
                provider=self.name,
                http_status=status,
                detail="HTTP 200 without TalkTalk's answer; the message may have been sent",
                delivery_unknown=True,
            )
        code = answer.result_code
        if answer.success is True and code in {None, "00"}:
            return Outcome(kind=OutcomeKind.ACCEPTED, provider=self.name, http_status=status, result_code="00")
        kind, why = classify_result(code, attempt=attempt)
        return Outcome(
            kind=kind,
            provider=self.name,
            http_status=status,
            result_code=code,
            detail=f"{why}: {answer.result_message}" if answer.result_message else why,
        )


def classify_result(code: str | None, *, attempt: int) -> tuple[OutcomeKind, str]:
    """What a ``success: false`` answer means for this message, with a short reason."""
    if code == "01":
        return OutcomeKind.PERMANENT, "authorization key refused (configuration)"
    if code == "02":
        return OutcomeKind.PERMANENT, "request refused as malformed"
    if code is not None and code.startswith("IMG-"):
        return OutcomeKind.PERMANENT, "image refused"
    if code == "99" and attempt <= 1:
        return OutcomeKind.TRANSIENT, "failed (99), retried once"
    if code == "99":
        return OutcomeKind.PERMANENT, "failed again (99)"
    return OutcomeKind.PERMANENT, f"failed ({code})"


def send_event(rendered: Rendered) -> SendEvent:
    options = Options(notification=True)
    quick = quick_reply(rendered.quick_replies)
    composite = _composite(rendered)
    if composite is not None:
        composite.quick_reply = quick
        return SendEvent(event="send", user=rendered.address, options=options, composite_content=composite)
    lines = [rendered.text, *(f"{button.name}: {button.url}" for button in rendered.buttons)]
    text = "\n\n".join(line for line in lines if line)
    content = TextContent(text=cut_text(text, MAX_TEXT), quick_reply=quick)
    return SendEvent(event="send", user=rendered.address, options=options, text_content=content)


def quick_reply(labels: Sequence[str]) -> QuickReply | None:
    """TEXT quick buttons for the first 10 labels, titles cut to 10 characters, the whole label as the code."""
    buttons = [
        TextButton(data=TextData(title=cut_text(label, MAX_QUICK_BUTTON_TITLE), code=cut_text(label, MAX_CODE)))
        for label in (label.strip() for label in labels)
        if label
    ][:MAX_QUICK_BUTTONS]
    return QuickReply(button_list=buttons) if buttons else None


def _composite(rendered: Rendered) -> CompositeContent | None:
    buttons = rendered.buttons
    fits = (
        0 < len(buttons) <= MAX_BUTTONS
        and 0 < len(rendered.text) <= MAX_DESCRIPTION
        and (rendered.title is None or len(rendered.title) <= MAX_TITLE)
        and all(0 < len(button.name) <= MAX_BUTTON_TITLE for button in buttons)
        and all(button.url.startswith(("https://", "http://")) for button in buttons)
    )
    if not fits:
        return None
    links = [LinkButton(data=LinkData(title=b.name, url=b.url, mobile_url=b.url)) for b in buttons]
    return CompositeContent(
        composite_list=[Composite(title=rendered.title, description=rendered.text, button_list=links)]
    )
