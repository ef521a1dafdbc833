"""The messengers' chatbot features on top of the provider fakes: LINE's reply API, and quick replies on LINE,
Instagram and TalkTalk, checked against each platform's documented limits.

- ``FakeLineChat``: ``POST /v2/bot/message/reply`` with ``{"replyToken", "messages": [1 to 5]}`` and the channel
  access token (reference/messaging-api, send reply message). A reply token comes with a webhook event
  (``issue_reply_token``), is single-use and expires a minute later: a used, expired or unknown one is answered
  ``400 {"message": "Invalid reply token"}`` and nothing is sent. Success: ``200 {"sentMessages": [...]}``. On
  replies and pushes alike, a message's ``quickReply`` holds 1 to 13 items ``{"type": "action", "action": {...}}``;
  a message action has a label of 1 to 20 characters and a text of 1 to 300 (using-quick-reply, message action).
- ``FakeInstagramChat``: ``message.quick_replies`` holds at most 13 items; a ``text`` one has a title and a payload
  of at most 1,000 characters (Meta truncates titles past 20 characters rather than refusing them, and so does
  the fake, in what it shows).
- ``FakeTalkTalkChat``: ``quickReply.buttonList`` on a ``textContent`` or ``compositeContent`` holds ``TEXT``,
  ``LINK`` or ``PAY`` buttons with titles of at most 10 characters (퀵 버튼); at most 10 buttons, as for the
  ``OPTION`` button the README likens them to (an assumption: the README states no count). A ``TEXT`` code has at
  most 1,000 characters.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

from tests.notify.fakes.http import Answer, Delivered, Request
from tests.notify.fakes.instagram import FakeInstagram, graph_error
from tests.notify.fakes.line import FakeLine, validate_push
from tests.notify.fakes.talktalk import FakeTalkTalk, result

REPLY_PATH = "/v2/bot/message/reply"
INVALID_REPLY_TOKEN = "Invalid reply token"


class FakeLineChat(FakeLine):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reply_token_ttl = 60.0
        self._reply_tokens: dict[str, tuple[str, float]] = {}
        """Unused reply tokens: the user each answers, and when it was issued."""

    def issue_reply_token(self, user_id: str) -> str:
        """The reply token of a webhook event from ``user_id``, as LINE sends it to the bot."""
        token = secrets.token_hex(16)
        with self._lock:
            self._reply_tokens[token] = (user_id, time.monotonic())
        return token

    def expire_reply_tokens(self) -> None:
        with self._lock:
            self._reply_tokens.clear()

    def answer(self, request: Request) -> Answer:
        if request.method == "POST" and request.path == REPLY_PATH:
            return self._reply(request)
        problem = _body_problem(request, _line_quick_reply_problems)
        return problem or super().answer(request)

    def _reply(self, request: Request) -> Answer:
        if request.header("authorization") != f"Bearer {self.channel_access_token}":
            return Answer.of_json(401, {"message": "Authentication failed."})
        try:
            body = request.json()
        except ValueError:
            return Answer.of_json(400, {"message": "The request body could not be parsed as JSON"})
        issued = self._reply_tokens.get(str(body.get("replyToken"))) if isinstance(body, dict) else None
        if issued is None or time.monotonic() - issued[1] > self.reply_token_ttl:
            return Answer.of_json(400, {"message": INVALID_REPLY_TOKEN})
        user_id = issued[0]
        messages = body.get("messages")
        problems = validate_push({"to": user_id, "messages": messages}) + _line_quick_reply_problems(body)
        if problems:
            details = [{"message": message, "property": prop} for prop, message in problems]
            return Answer.of_json(
                400, {"message": f"The request body has {len(problems)} error(s)", "details": details}
            )
        del self._reply_tokens[body["replyToken"]]
        sent = [self._sent_message() for _ in messages]
        texts = [str(message.get("text", message.get("altText", ""))) for message in messages]
        self.delivered.append(Delivered(user_id, "\n".join(texts), sent[0]["id"], body))
        return Answer.of_json(200, {"sentMessages": sent}, {"x-line-request-id": str(uuid.uuid4())})


def _line_quick_reply_problems(body: Any) -> list[tuple[str, str]]:
    messages = body.get("messages") if isinstance(body, dict) else None
    problems: list[tuple[str, str]] = []
    for index, message in enumerate(messages if isinstance(messages, list) else []):
        quick = message.get("quickReply") if isinstance(message, dict) else None
        if quick is None:
            continue
        where = f"messages[{index}].quickReply.items"
        items = quick.get("items") if isinstance(quick, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= 13:
            problems.append((where, "Size must be between 1 and 13"))
            continue
        for number, item in enumerate(items):
            action = item.get("action") if isinstance(item, dict) and item.get("type") == "action" else None
            if not isinstance(action, dict) or action.get("type") != "message":
                problems.append((f"{where}[{number}]", "Must be an action item"))
                continue
            if not 1 <= len(str(action.get("label") or "")) <= 20:
                problems.append((f"{where}[{number}].action.label", "Length must be between 1 and 20"))
            if not 1 <= len(str(action.get("text") or "")) <= 300:
                problems.append((f"{where}[{number}].action.text", "Length must be between 1 and 300"))
    return problems


def _body_problem(request: Request, check: Any) -> Answer | None:
    try:
        body = request.json()
    except ValueError:
        return None  # the provider's own parsing answers it
    problems = check(body)
    if not problems:
        return None
    details = [{"message": message, "property": prop} for prop, message in problems]
    return Answer.of_json(400, {"message": f"The request body has {len(problems)} error(s)", "details": details})


class FakeInstagramChat(FakeInstagram):
    def answer(self, request: Request) -> Answer:
        try:
            body = request.json()
        except ValueError:
            return super().answer(request)
        message = body.get("message") if isinstance(body, dict) else None
        replies = message.get("quick_replies") if isinstance(message, dict) else None
        if replies is not None:
            if not isinstance(replies, list) or not 1 <= len(replies) <= 13:
                return graph_error(400, 100, "(#100) Param message[quick_replies] must have 1 to 13 items")
            for reply in replies:
                if not isinstance(reply, dict) or reply.get("content_type") != "text":
                    return graph_error(400, 100, "(#100) Param message[quick_replies][content_type] is invalid")
                if not reply.get("title") or not reply.get("payload") or len(str(reply["payload"])) > 1000:
                    return graph_error(400, 100, "(#100) A text quick reply needs a title and a payload")
        return super().answer(request)


class FakeTalkTalkChat(FakeTalkTalk):
    def answer(self, request: Request) -> Answer:
        try:
            event = request.json()
        except ValueError:
            return super().answer(request)
        for name in ("textContent", "compositeContent"):
            content = event.get(name) if isinstance(event, dict) else None
            quick = content.get("quickReply") if isinstance(content, dict) else None
            if quick is not None and (problem := _quick_button_problem(quick)) is not None:
                return result(*problem)
        return super().answer(request)


def _quick_button_problem(quick: Any) -> tuple[str, str] | None:
    buttons = quick.get("buttonList") if isinstance(quick, dict) else None
    if not isinstance(buttons, list) or not buttons:
        return ("02", "request json 문자열 파싱 에러")
    if len(buttons) > 10:
        return ("99", "퀵 버튼 최대 10개 초과")
    for button in buttons:
        data = button.get("data") if isinstance(button, dict) else None
        if not isinstance(data, dict) or button.get("type") not in {"TEXT", "LINK", "PAY"}:
            return ("02", "request json 문자열 파싱 에러")
        if len(str(data.get("title") or "")) > 10:
            return ("99", "퀵 버튼 title 최대 길이(10자) 초과")
        if button["type"] == "TEXT" and len(str(data.get("code") or "")) > 1000:
            return ("99", "버튼 code 최대 길이(1,000자) 초과")
    return None
