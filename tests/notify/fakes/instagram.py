"""``FakeInstagram``: the Instagram API with Instagram Login's send endpoint, as Meta documents it.

``POST /{version}/{ig_id}/messages`` (or ``/{version}/me/messages``) on graph.instagram.com, with the Instagram
user token as ``Authorization: Bearer …`` (or an ``access_token`` parameter), and a JSON body
``{"recipient": {"id": IGSID}, "message": {"text": …}}``; the text is UTF-8 of at most 1,000 bytes. Success:
``200 {"recipient_id", "message_id"}``. Errors are Graph API error objects ``{"error": {"message", "type",
"code", "error_subcode", "fbtrace_id"}}`` with the codes of Meta's messaging error table: 190 (token), 100
(parameter; subcode 2018001 no matching user), 10 with subcode 2534022 (outside the 24-hour window), 551 with
subcode 1545041 (person unavailable), 4 / 613 (rate limits), 2 (temporary).

The reply window: a shopper can be marked outside it (``mark_outside_window``) or unavailable
(``mark_unavailable``); everyone else is inside. ``known_recipients``, when set, lists the IGSIDs that exist.

Webhooks: ``seen_webhook(message_id, igsid)`` builds a ``messaging_seen`` notification signed as Meta signs it
(``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body with the app secret>``), for receipt tests.
Extra fault kinds: ``rate_limit_613``, ``token_expired``, ``temporary`` (code 2), ``send_failure`` (code 1200).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any, ClassVar

from tests.notify.fakes.http import Answer, Delivered, FakeProviderServer, Request

OUTSIDE_WINDOW_SUBCODE = 2534022
_PATH = re.compile(r"/(?P<version>v\d+\.\d+)/(?P<account>[^/]+)/messages")


def graph_error(
    status: int, code: int, message: str, *, subcode: int | None = None, error_type: str = "OAuthException"
) -> Answer:
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if code in {1, 2, 4, 17, 32, 613, 1200}:
        error["is_transient"] = True
    error["fbtrace_id"] = secrets.token_urlsafe(8)
    return Answer.of_json(status, {"error": error})


class FakeInstagram(FakeProviderServer):
    fault_kinds: ClassVar[frozenset[str]] = frozenset({"rate_limit_613", "token_expired", "temporary", "send_failure"})

    def __init__(
        self,
        *,
        ig_user_id: str = "17841400000000001",
        access_token: str | None = None,
        app_secret: str | None = None,
        known_recipients: set[str] | None = None,
    ) -> None:
        super().__init__()
        self.ig_user_id = ig_user_id
        self.access_token = access_token or f"IGAA{secrets.token_urlsafe(32)}"
        self.app_secret = app_secret or secrets.token_hex(16)
        self.known_recipients = known_recipients
        self.outside_window: set[str] = set()
        self.unavailable: set[str] = set()
        self.versions_used: set[str] = set()
        self._sequence = 0

    def mark_outside_window(self, igsid: str) -> None:
        with self._lock:
            self.outside_window.add(igsid)

    def open_window(self, igsid: str) -> None:
        """The shopper wrote to us: the 24-hour window is open again."""
        with self._lock:
            self.outside_window.discard(igsid)

    def mark_unavailable(self, igsid: str) -> None:
        with self._lock:
            self.unavailable.add(igsid)

    # -- the endpoint ----------------------------------------------------------------------------------------

    def answer(self, request: Request) -> Answer:  # noqa: PLR0911 - one answer per documented error
        match = _PATH.fullmatch(request.path)
        if request.method != "POST" or match is None or match["account"] not in {self.ig_user_id, "me"}:
            return graph_error(400, 100, "Unsupported post request.", error_type="GraphMethodException")
        self.versions_used.add(match["version"])
        token = _bearer(request.header("authorization")) or request.query.get("access_token")
        if not token:
            return graph_error(400, 2500, "An active access token must be used to query information about the user.")
        if token != self.access_token:
            return graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        try:
            body = request.json()
        except ValueError:
            return graph_error(400, 100, "(#100) Invalid JSON", error_type="OAuthException")
        recipient = (body.get("recipient") or {}).get("id") if isinstance(body, dict) else None
        text = (body.get("message") or {}).get("text") if isinstance(body, dict) else None
        if not isinstance(recipient, str) or not recipient:
            return graph_error(400, 100, "(#100) The parameter recipient is required")
        if not isinstance(text, str) or not text:
            return graph_error(400, 100, "(#100) The parameter message is required")
        if len(text.encode()) > 1000:
            return graph_error(400, 100, "(#100) Length of param message[text] must be less than or equal to 1000")
        if self.known_recipients is not None and recipient not in self.known_recipients:
            return graph_error(400, 100, "(#100) No matching user found", subcode=2018001)
        if recipient in self.unavailable:
            return graph_error(400, 551, "This person isn't available right now.", subcode=1545041)
        if recipient in self.outside_window:
            return graph_error(
                400, 10, "(#10) This message is sent outside of allowed window.", subcode=OUTSIDE_WINDOW_SUBCODE
            )
        message_id = self._message_id()
        self.delivered.append(Delivered(recipient, text, message_id, body))
        return Answer.of_json(200, {"recipient_id": recipient, "message_id": message_id})

    def rate_limited_answer(self, request: Request, retry_after: float | None) -> Answer:
        answer = graph_error(400, 4, "(#4) Application request limit reached")
        if retry_after is None:
            return answer
        return Answer(answer.status, answer.body, {**answer.headers, "Retry-After": f"{retry_after:g}"})

    def server_error_answer(self, request: Request) -> Answer:
        return graph_error(500, 2, "An unexpected error has occurred. Please retry your request later.")

    def fault_answer(self, kind: str, request: Request) -> Answer:
        if kind == "rate_limit_613":
            return graph_error(400, 613, "Calls to this API have exceeded the rate limit.")
        if kind == "token_expired":
            return graph_error(400, 190, "Error validating access token: Session has expired.", subcode=463)
        if kind == "temporary":
            return graph_error(500, 2, "An unexpected error has occurred. Please retry your request later.")
        return graph_error(500, 1200, "Temporary send message failure. Please try again later.")

    # -- webhooks --------------------------------------------------------------------------------------------

    def seen_webhook(self, message_id: str, igsid: str) -> tuple[bytes, dict[str, str]]:
        """A signed ``messaging_seen`` notification: the shopper read ``message_id``."""
        event = {
            "sender": {"id": igsid},
            "recipient": {"id": self.ig_user_id},
            "timestamp": int(time.time() * 1000),
            "read": {"mid": message_id},
        }
        return self.signed(
            {
                "object": "instagram",
                "entry": [{"id": self.ig_user_id, "time": event["timestamp"], "messaging": [event]}],
            }
        )

    def signed(self, payload: object) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload).encode()
        signature = hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"}

    def _message_id(self) -> str:
        self._sequence += 1
        raw = f"ig_message_item:1:IGMessageThread:{self.ig_user_id}:{self._sequence}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bearer(header: str | None) -> str | None:
    if header is None or not header.startswith("Bearer "):
        return None
    return header.removeprefix("Bearer ").strip()
