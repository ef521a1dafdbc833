"""``FakeLine``: the LINE Messaging API's push endpoint, as developers.line.biz documents it.

``POST /v2/bot/message/push`` with ``Authorization: Bearer <channel access token>`` (else 401) and a JSON body
``{"to", "messages": [1 to 5 message objects]}``. Validated as the reference describes: ``to`` a user id
(``U`` + 32 hex digits), text messages of 1 to 5,000 UTF-16 code units, buttons templates (altText ≤ 400, text ≤ 160
or ≤ 60 with a title, title ≤ 40, 1 to 4 actions), URI actions (label ≤ 20, an http(s)/tel/line URI of at most
1,000 characters). Errors are ``{"message", "details": [{"message", "property"}]}``.

Success: ``200 {"sentMessages": [{"id", "quoteToken"}, …]}`` with ``x-line-request-id``. Retry keys
(retrying-api-request): ``X-Line-Retry-Key`` must be a UUID (else 400); a key already accepted within 24 hours is
answered ``409 {"message": "The retry key is already accepted", "sentMessages": […the original…]}`` with
``x-line-accepted-request-id`` naming the accepted request, and nothing is sent again. A 429 is not processed and
does not use up its key (handling-http-429-errors): ``{"message": "The API rate limit has been exceeded. Try
again later."}`` for the rate limit, ``{"message": "You have reached your monthly limit."}`` for the quota.

Extra fault kinds: ``monthly_limit`` (the quota 429), ``unauthorized`` (401), ``forbidden`` (403, a plan without
push). ``users``, when set, lists the user ids that exist; others get LINE's 400 for an invalid ``to``.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from tests.notify.fakes.http import Answer, Delivered, FakeProviderServer, Request

PUSH_PATH = "/v2/bot/message/push"
RETRY_KEY_TTL = 24 * 3600.0
_USER_ID = re.compile(r"U[0-9a-f]{32}")
_URI_SCHEMES = ("http://", "https://", "tel:", "line://")

RATE_LIMIT_MESSAGE = "The API rate limit has been exceeded. Try again later."
MONTHLY_LIMIT_MESSAGE = "You have reached your monthly limit."
RETRY_KEY_ACCEPTED_MESSAGE = "The retry key is already accepted"


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class AcceptedPush:
    request_id: str
    sent_messages: list[dict[str, str]]
    accepted_at: float


class FakeLine(FakeProviderServer):
    fault_kinds: ClassVar[frozenset[str]] = frozenset({"monthly_limit", "unauthorized", "forbidden"})

    def __init__(self, *, channel_access_token: str | None = None, users: set[str] | None = None) -> None:
        super().__init__()
        self.channel_access_token = channel_access_token or secrets.token_urlsafe(32)
        self.users = users
        self.retry_key_ttl = RETRY_KEY_TTL
        self.accepted: dict[str, AcceptedPush] = {}
        """Accepted pushes by retry key."""
        self._next_message_id = 461230966842064897

    # -- the endpoint ----------------------------------------------------------------------------------------

    def answer(self, request: Request) -> Answer:  # noqa: PLR0911 - one answer per documented error
        if request.method != "POST" or request.path != PUSH_PATH:
            return Answer.of_json(404, {"message": "Not found"})
        if request.header("authorization") != f"Bearer {self.channel_access_token}":
            return self._unauthorized()
        if not (request.header("content-type") or "").startswith("application/json"):
            return _error(415, "The request's content type is not supported")
        retry_key = request.header("x-line-retry-key")
        if retry_key is not None and not _is_uuid(retry_key):
            return _error(400, "The value for the 'X-Line-Retry-Key' header is invalid")
        if retry_key is not None and (accepted := self._accepted(retry_key)) is not None:
            return Answer.of_json(
                409,
                {"message": RETRY_KEY_ACCEPTED_MESSAGE, "sentMessages": accepted.sent_messages},
                {"x-line-request-id": str(uuid.uuid4()), "x-line-accepted-request-id": accepted.request_id},
            )
        try:
            body = request.json()
        except ValueError:
            return _error(400, "The request body could not be parsed as JSON")
        problems = validate_push(body, users=self.users)
        if problems:
            details = [{"message": message, "property": prop} for prop, message in problems]
            return Answer.of_json(
                400, {"message": f"The request body has {len(problems)} error(s)", "details": details}
            )
        request_id = str(uuid.uuid4())
        sent = [self._sent_message() for _ in body["messages"]]
        if retry_key is not None:
            self.accepted[retry_key] = AcceptedPush(request_id, sent, time.monotonic())
        texts = [_visible_text(message) for message in body["messages"]]
        self.delivered.append(Delivered(body["to"], "\n".join(texts), sent[0]["id"], body))
        return Answer.of_json(200, {"sentMessages": sent}, {"x-line-request-id": request_id})

    def rate_limited_answer(self, request: Request, retry_after: float | None) -> Answer:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return Answer.of_json(429, {"message": RATE_LIMIT_MESSAGE}, headers)

    def server_error_answer(self, request: Request) -> Answer:
        return _error(500, "An error occurred in the server. Please try again later.")

    def fault_answer(self, kind: str, request: Request) -> Answer:
        if kind == "monthly_limit":
            return _error(429, MONTHLY_LIMIT_MESSAGE)
        if kind == "unauthorized":
            return self._unauthorized()
        return _error(403, "Access to this API is not available for your account")

    # -- helpers ---------------------------------------------------------------------------------------------

    def _accepted(self, retry_key: str) -> AcceptedPush | None:
        accepted = self.accepted.get(retry_key)
        if accepted is None or time.monotonic() - accepted.accepted_at > self.retry_key_ttl:
            return None
        return accepted

    def _sent_message(self) -> dict[str, str]:
        self._next_message_id += 1
        return {"id": str(self._next_message_id), "quoteToken": secrets.token_urlsafe(24)}

    @staticmethod
    def _unauthorized() -> Answer:
        return _error(401, "Authentication failed. Confirm that the access token in the authorization header is valid.")


def validate_push(body: Any, *, users: set[str] | None = None) -> list[tuple[str, str]]:
    """(property, message) for every rule of the push reference the body breaks."""
    if not isinstance(body, dict):
        return [("", "Must be an object")]
    problems: list[tuple[str, str]] = []
    to = body.get("to")
    if not isinstance(to, str) or not _USER_ID.fullmatch(to) or (users is not None and to not in users):
        problems.append(("to", "The property, 'to', in the request body is invalid"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        problems.append(("messages", "Size must be between 1 and 5"))
        return problems
    for index, message in enumerate(messages):
        problems.extend(_validate_message(message, f"messages[{index}]"))
    return problems


def _validate_message(message: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(message, dict):
        return [(where, "Must be an object")]
    kind = message.get("type")
    if kind == "text":
        text = message.get("text")
        if not isinstance(text, str) or not 1 <= utf16_length(text) <= 5000:
            return [(f"{where}.text", "Length must be between 1 and 5000")]
        return []
    if kind == "template":
        return _validate_template(message, where)
    return [(f"{where}.type", "Must be one of the following values: [text, template, …]")]


def _validate_template(message: dict[str, Any], where: str) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    alt_text = message.get("altText")
    if not isinstance(alt_text, str) or not 1 <= utf16_length(alt_text) <= 400:
        problems.append((f"{where}.altText", "Length must be between 1 and 400"))
    template = message.get("template")
    if not isinstance(template, dict) or template.get("type") != "buttons":
        return [*problems, (f"{where}.template.type", "Must be one of the following values: [buttons, …]")]
    title = template.get("title")
    if title is not None and (not isinstance(title, str) or len(title) > 40):
        problems.append((f"{where}.template.title", "Length must be between 0 and 40"))
    text = template.get("text")
    text_limit = 60 if title or template.get("thumbnailImageUrl") else 160
    if not isinstance(text, str) or not 1 <= len(text) <= text_limit:
        problems.append((f"{where}.template.text", f"Length must be between 1 and {text_limit}"))
    actions = template.get("actions")
    if not isinstance(actions, list) or not 1 <= len(actions) <= 4:
        return [*problems, (f"{where}.template.actions", "Size must be between 1 and 4")]
    for index, action in enumerate(actions):
        problems.extend(_validate_uri_action(action, f"{where}.template.actions[{index}]"))
    return problems


def _validate_uri_action(action: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(action, dict) or action.get("type") != "uri":
        return [(f"{where}.type", "Must be one of the following values: [uri, …]")]
    problems: list[tuple[str, str]] = []
    label = action.get("label")
    if not isinstance(label, str) or not 1 <= len(label) <= 20:
        problems.append((f"{where}.label", "Length must be between 1 and 20"))
    uri = action.get("uri")
    if not isinstance(uri, str) or not uri.startswith(_URI_SCHEMES) or len(uri) > 1000:
        problems.append((f"{where}.uri", "Must be a valid http, https, line or tel URI of at most 1000 characters"))
    return problems


def _visible_text(message: dict[str, Any]) -> str:
    if message["type"] == "text":
        return str(message["text"])
    template = message["template"]
    labels = " | ".join(f"[{action['label']}]({action['uri']})" for action in template["actions"])
    return f"{template['text']} {labels}"


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _error(status: int, message: str) -> Answer:
    return Answer.of_json(status, {"message": message})
