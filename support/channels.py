"""The four chat platforms' webhooks, read and verified as each documents them, and the Kakao skill's answer.

- **KakaoTalk** (Kakao i Open Builder skill): requests are not signed, so the skill is set up to send a secret
  header (``X-Shoa-Skill-Secret``), and the bot id is checked when configured. The answer is the request's own
  response, a ``version: "2.0"`` SkillResponse.
- **LINE**: ``X-Line-Signature`` is the base64 HMAC-SHA256 of the raw body with the channel secret. Each text
  message event carries a ``webhookEventId`` (de-duplication) and a ``replyToken``.
- **Instagram** (Meta): the subscription check (``hub.mode=subscribe``, ``hub.verify_token``, ``hub.challenge``),
  then events signed ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>``. Each
  message has an ``mid``; the business's own messages come back as echoes and are skipped.
- **Naver TalkTalk**: events are not signed; the webhook URL registered in the partner center carries a secret
  (``?secret=``). ``open`` opens the chat (the reply window), ``send`` carries the shopper's text (or, for a
  button, its ``code``). TalkTalk gives messages no id, so its redeliveries cannot be told from a repeat.

Docs followed: Kakao i Open Builder skill request/response format (skill-response-format: simpleText ≤ 1,000
characters, listCard ≤ 5 items, quickReplies ≤ 10), LINE Messaging API webhook signature and event objects, Meta
webhooks (verification requests, event notifications' payload signature) and Instagram messaging webhook
events, navertalk/chatbot-api README (event structure, ``open``/``send``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from support.dialogue import Message
from support.errors import InvalidChatEventError, WebhookNotVerifiedError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from support.dialogue import Answer

SKILL_SECRET_HEADER = "x-shoa-skill-secret"  # noqa: S105 - a header name, not a secret
KAKAO_TEXT_MAX = 1000
KAKAO_QUICK_REPLIES = 10
KAKAO_LABEL_MAX = 14
KAKAO_LIST_ITEMS = 5
EVENT_ID_MAX = 128
"""``support_turns.event_id``'s length."""


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name), "")


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.strip().encode())


def _refuse(why: str) -> WebhookNotVerifiedError:
    return WebhookNotVerifiedError(why)


def _event_id(platform_id: str | None) -> str | None:
    """A message's platform id as a turn keeps it: Instagram's ``mid`` runs to some 170 characters, past the
    column's 128, so a long one is kept as its SHA-256 (as unique, and the same at every redelivery)."""
    if not platform_id:
        return None
    if len(platform_id) <= EVENT_ID_MAX:
        return platform_id
    return "sha256:" + hashlib.sha256(platform_id.encode()).hexdigest()


# --- KakaoTalk ------------------------------------------------------------------------------------------------


class KakaoUserProperties(msgspec.Struct):
    appUserId: str | None = None  # noqa: N815 - Kakao's name
    plusfriendUserKey: str | None = None  # noqa: N815


class KakaoUser(msgspec.Struct):
    id: Annotated[str, msgspec.Meta(min_length=1)]
    type: str = "botUserKey"
    properties: KakaoUserProperties = msgspec.field(default_factory=KakaoUserProperties)


class KakaoUserRequest(msgspec.Struct):
    utterance: str
    user: KakaoUser
    lang: str | None = None


class KakaoBot(msgspec.Struct):
    id: str = ""


class SkillRequest(msgspec.Struct):
    """A Kakao i Open Builder skill request (the fields Shoa reads; Kakao sends more)."""

    userRequest: KakaoUserRequest  # noqa: N815
    bot: KakaoBot = msgspec.field(default_factory=KakaoBot)


def kakao_message(headers: Mapping[str, str], body: bytes, *, secret: str | None, bot_id: str | None) -> Message:
    if secret is None or not _same(secret, _header(headers, SKILL_SECRET_HEADER)):
        raise _refuse(f"the skill request's {SKILL_SECRET_HEADER} header is missing or wrong")
    try:
        request = msgspec.json.decode(body, type=SkillRequest)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidChatEventError(f"not an Open Builder skill request: {exc}") from None
    if bot_id is not None and request.bot.id != bot_id:
        raise _refuse("the skill request is for another bot")
    user = request.userRequest.user
    return Message(
        channel="kakao",
        chat_user=user.id[:128],
        text=request.userRequest.utterance[:1000],
        app_user_id=user.properties.appUserId,
    )


def skill_response(answer: Answer) -> dict[str, Any]:
    """The SkillResponse: the text, the choices as a list card, the quick replies, and what the bot understood in
    ``data`` (for the channel's statistics and the block that follows)."""
    outputs: list[dict[str, Any]] = [{"simpleText": {"text": _cut(answer.text, KAKAO_TEXT_MAX)}}]
    if answer.choices:
        outputs.append(
            {
                "listCard": {
                    "header": {"title": answer.text.splitlines()[0][:30]},
                    "items": [
                        {
                            "title": choice.title[:35],
                            "description": choice.description[:40],
                            "action": "message",
                            "messageText": choice.reply,
                        }
                        for choice in answer.choices[:KAKAO_LIST_ITEMS]
                    ],
                }
            }
        )
    template: dict[str, Any] = {"outputs": outputs}
    if answer.quick_replies:
        template["quickReplies"] = [
            {"label": label[:KAKAO_LABEL_MAX], "action": "message", "messageText": label}
            for label in answer.quick_replies[:KAKAO_QUICK_REPLIES]
        ]
    data = {"intent": answer.intent.value, "mall_order_id": str(answer.part.id) if answer.part is not None else None}
    return {"version": "2.0", "template": template, "data": data}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- LINE -----------------------------------------------------------------------------------------------------


class LineSource(msgspec.Struct):  # a user id, when there is one, is checked below
    type: str
    userId: str | None = None  # noqa: N815


class LineMessage(msgspec.Struct):
    type: str
    id: str = ""
    text: str | None = None


class LineEvent(msgspec.Struct):
    type: str
    source: LineSource | None = None
    message: LineMessage | None = None
    replyToken: str | None = None  # noqa: N815
    webhookEventId: str | None = None  # noqa: N815


class LineWebhook(msgspec.Struct):
    """A LINE Messaging API webhook (the fields Shoa reads; LINE sends more)."""

    events: list[LineEvent] = []


def line_messages(
    headers: Mapping[str, str], body: bytes, *, channel_secret: str | None
) -> list[tuple[Message, str | None]]:
    """The text messages of a verified LINE webhook, each with its reply token. An empty event list is LINE's
    "verify" button, answered 200."""
    if channel_secret is None:
        raise _refuse("no LINE channel secret is configured, so no webhook can be verified")
    expected = base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()).decode()
    if not _same(expected, _header(headers, "x-line-signature")):
        raise _refuse("X-Line-Signature does not match the body")
    try:
        webhook = msgspec.json.decode(body, type=LineWebhook)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidChatEventError(f"not a LINE webhook: {exc}") from None
    found: list[tuple[Message, str | None]] = []
    for event in webhook.events:
        message, source = event.message, event.source
        if event.type != "message" or message is None or message.type != "text" or message.text is None:
            continue
        if source is None or source.type != "user" or not source.userId:
            continue  # groups and rooms are not customer service
        found.append(
            (
                Message(
                    channel="line",
                    chat_user=source.userId[:128],
                    text=message.text[:1000],
                    event_id=_event_id(event.webhookEventId or message.id),
                ),
                event.replyToken,
            )
        )
    return found


# --- Instagram ------------------------------------------------------------------------------------------------


def instagram_challenge(query: Mapping[str, str], *, verify_token: str | None) -> str:
    """The subscription check's answer: the challenge, when the mode is ``subscribe`` and the token ours."""
    if (
        verify_token is None
        or query.get("hub.mode") != "subscribe"
        or not _same(verify_token, query.get("hub.verify_token", ""))
    ):
        raise _refuse("the subscription check's hub.verify_token does not match")
    return query.get("hub.challenge", "")


class InstagramParty(msgspec.Struct):
    id: Annotated[str, msgspec.Meta(min_length=1)]


class InstagramMessage(msgspec.Struct):
    mid: str = ""
    text: str | None = None
    is_echo: bool = False


class InstagramMessaging(msgspec.Struct):
    sender: InstagramParty
    recipient: InstagramParty | None = None
    message: InstagramMessage | None = None


class InstagramEntry(msgspec.Struct):
    id: str = ""
    messaging: list[InstagramMessaging] = []


class InstagramWebhook(msgspec.Struct):
    """A Meta webhook for Instagram messaging (the fields Shoa reads; Meta sends more)."""

    object: str = ""
    entry: list[InstagramEntry] = []


def instagram_messages(headers: Mapping[str, str], body: bytes, *, app_secret: str | None) -> list[Message]:
    if app_secret is None:
        raise _refuse("no Instagram app secret is configured, so no webhook can be verified")
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    if not _same(expected, _header(headers, "x-hub-signature-256").lower()):
        raise _refuse("X-Hub-Signature-256 does not match the body")
    try:
        webhook = msgspec.json.decode(body, type=InstagramWebhook)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidChatEventError(f"not an Instagram webhook: {exc}") from None
    if webhook.object != "instagram":
        return []
    return [
        Message(
            channel="instagram",
            chat_user=event.sender.id[:128],
            text=event.message.text[:1000],
            event_id=_event_id(event.message.mid),
        )
        for entry in webhook.entry
        for event in entry.messaging
        if event.message is not None and event.message.text and not event.message.is_echo
    ]


# --- Naver TalkTalk -------------------------------------------------------------------------------------------


class TalkTalkText(msgspec.Struct):
    text: str = ""
    code: str | None = None


class TalkTalkEvent(msgspec.Struct):
    """A Naver TalkTalk chatbot event (the fields Shoa reads; Naver sends more)."""

    event: str
    user: str = ""
    textContent: TalkTalkText | None = None  # noqa: N815


def talktalk_event(query: Mapping[str, str], body: bytes, *, secret: str | None) -> tuple[str | None, Message | None]:
    """Who opened the chat (an ``open`` event's user), or, for a ``send`` of text, the message (a button's
    ``code`` stands for its text). ``leave``, ``friend`` and the partner's own ``echo`` are neither."""
    if secret is None or not _same(secret, query.get("secret", "")):
        raise _refuse("the webhook URL's secret is missing or wrong")
    try:
        event = msgspec.json.decode(body, type=TalkTalkEvent)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidChatEventError(f"not a TalkTalk event: {exc}") from None
    if not event.user:
        return None, None
    if event.event == "open":
        return event.user[:128], None
    content = event.textContent
    if event.event != "send" or content is None or not (content.code or content.text).strip():
        return None, None
    text = content.code or content.text
    return None, Message(channel="talktalk", chat_user=event.user[:128], text=text[:1000])
