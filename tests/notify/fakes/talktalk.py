"""``FakeTalkTalk``: Naver TalkTalk's chatbot send API, as the ``navertalk/chatbot-api`` README specifies it.

``POST /chatbot/v1/event`` with the partner's authorization key as the whole ``Authorization`` header and a
send event ``{"event": "send", "user", one of textContent / imageContent / compositeContent, "options":
{"notification"}}``. TalkTalk answers HTTP 200 whatever happened: ``{"success": true, "resultCode": "00"}``, or
``success: false`` with ``01`` (authorization), ``02`` (JSON or a required field) or ``99`` (anything else,
described in ``resultMessage``). Checked as the README states: text ≤ 10,000 characters; a composite list of
1 to 10 composites, each with a title (≤ 200), a description (≤ 1,000) or an element list and at least two
elements, ≤ 10 buttons; a LINK button needs ``title`` (≤ 18), ``url`` and ``mobileUrl``.

Not documented, and modelled here as assumptions: a user who never opened a chat (``mark_unreachable``) gets
``99``; limits broken inside an otherwise well-formed event get ``99``; the gateway's outages and rate limits are
non-200 answers (503, 429). Extra fault kinds: ``error_99`` and ``auth`` (``01``), both before processing.
"""

from __future__ import annotations

import secrets
from typing import Any, ClassVar

from tests.notify.fakes.http import Answer, Delivered, FakeProviderServer, Request

EVENT_PATH = "/chatbot/v1/event"
_CONTENTS = ("textContent", "imageContent", "compositeContent")


def result(code: str, message: str | None = None) -> Answer:
    payload: dict[str, Any] = {"success": code == "00", "resultCode": code}
    if message is not None:
        payload["resultMessage"] = message
    return Answer.of_json(200, payload)


AUTH_ERROR = ("01", "Authorization 정보 에러")
JSON_ERROR = ("02", "request json 문자열 파싱 에러")


class FakeTalkTalk(FakeProviderServer):
    fault_kinds: ClassVar[frozenset[str]] = frozenset({"error_99", "auth"})

    def __init__(self, *, authorization_key: str | None = None) -> None:
        super().__init__()
        self.authorization_key = authorization_key or f"ct_{secrets.token_urlsafe(20)}"
        self.unreachable: set[str] = set()
        self.notifications = 0
        """Sends that asked for a push (``options.notification``)."""
        self._sequence = 0

    def mark_unreachable(self, user: str) -> None:
        with self._lock:
            self.unreachable.add(user)

    def answer(self, request: Request) -> Answer:  # noqa: PLR0911 - one answer per documented error
        if request.method != "POST" or request.path != EVENT_PATH:
            return Answer(404, b"<html><body>Not Found</body></html>", {"Content-Type": "text/html"})
        if request.header("authorization") != self.authorization_key:
            return result(*AUTH_ERROR)
        try:
            event = request.json()
        except ValueError:
            return result(*JSON_ERROR)
        if not isinstance(event, dict) or event.get("event") != "send" or not event.get("user"):
            return result(*JSON_ERROR)
        contents = [name for name in _CONTENTS if event.get(name) is not None]
        if len(contents) != 1:
            return result(*JSON_ERROR)
        problem = _content_problem(contents[0], event[contents[0]])
        if problem is not None:
            return result(*problem)
        user = event["user"]
        if user in self.unreachable:
            return result("99", "메시지를 보낼 수 없는 사용자입니다")
        self._sequence += 1
        if (event.get("options") or {}).get("notification") is True:
            self.notifications += 1
        self.delivered.append(
            Delivered(user, _visible_text(contents[0], event[contents[0]]), str(self._sequence), event)
        )
        return result("00")

    def rate_limited_answer(self, request: Request, retry_after: float | None) -> Answer:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return Answer(429, b"Too Many Requests", {"Content-Type": "text/plain", **headers})

    def server_error_answer(self, request: Request) -> Answer:
        return Answer(502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", {"Content-Type": "text/html"})

    def fault_answer(self, kind: str, request: Request) -> Answer:
        if kind == "auth":
            return result(*AUTH_ERROR)
        return result("99", "일시적인 오류가 발생했습니다")


def _content_problem(name: str, content: Any) -> tuple[str, str] | None:  # noqa: PLR0911 - one answer per documented error
    if not isinstance(content, dict):
        return JSON_ERROR
    if name == "textContent":
        text = content.get("text")
        if not isinstance(text, str):
            return JSON_ERROR
        return ("99", "textContent.text 최대 길이(10,000자) 초과") if len(text) > 10_000 else None
    if name == "imageContent":
        return None if isinstance(content.get("imageUrl"), str) else JSON_ERROR
    composites = content.get("compositeList")
    if not isinstance(composites, list) or not 1 <= len(composites) <= 10:
        return JSON_ERROR
    for composite in composites:
        problem = _composite_problem(composite)
        if problem is not None:
            return problem
    return None


def _composite_problem(composite: Any) -> tuple[str, str] | None:  # noqa: PLR0911 - one answer per documented error
    if not isinstance(composite, dict):
        return JSON_ERROR
    present = [key for key in ("title", "description", "elementList", "image", "buttonList") if composite.get(key)]
    if not {"title", "description", "elementList"} & set(present) or len(present) < 2:
        return JSON_ERROR
    if len(composite.get("title") or "") > 200 or len(composite.get("description") or "") > 1000:
        return ("99", "composite title(200자) 또는 description(1,000자) 최대 길이 초과")
    buttons = composite.get("buttonList") or []
    if not isinstance(buttons, list) or len(buttons) > 10:
        return ("99", "buttonList 최대 10개 초과")
    for button in buttons:
        data = button.get("data") if isinstance(button, dict) else None
        if not isinstance(data, dict) or button.get("type") not in {"TEXT", "LINK", "OPTION", "PAY"}:
            return JSON_ERROR
        if button["type"] == "LINK" and not all(
            isinstance(data.get(key), str) for key in ("title", "url", "mobileUrl")
        ):
            return JSON_ERROR
        if len(data.get("title") or "") > 18:
            return ("99", "버튼 title 최대 길이(18자) 초과")
    return None


def _visible_text(name: str, content: dict[str, Any]) -> str:
    if name == "textContent":
        return str(content["text"])
    if name == "imageContent":
        return str(content["imageUrl"])
    parts: list[str] = []
    for composite in content["compositeList"]:
        parts.extend(str(composite[key]) for key in ("title", "description") if composite.get(key))
        for button in composite.get("buttonList") or []:
            data = button["data"]
            parts.append(f"[{data.get('title', '')}]({data.get('url', '')})")
    return "\n".join(parts)
