"""``FakeSolapi``: Solapi's messages API v4 single send, as github.com/solapi/documents describes it.

``POST /messages/v4/send`` with ``{"message": {...}}`` (``api-reference/messages/sendSimpleMessage.md``):

- ``Authorization: HMAC-SHA256 apiKey=…, date=…, salt=…, signature=…`` (``authentication/api-key.md``; HMAC-MD5 is
  accepted too, and the parameter names are read without regard to case, as Solapi's own Python SDK sends
  ``ApiKey=``/``Date=``): an unknown key is 403 ``InvalidAPIKey``; a date more than 15 minutes from the fake's clock
  403 ``RequestTimeTooSkewed``; a signature that is not the hex HMAC of ``date + salt`` under the API secret 403
  ``SignatureDoesNotMatch``; one already used within 15 minutes 403 ``DuplicatedSignature``. The salt must be 12 to
  64 characters.
- The message, by the status codes of ``api-reference/message-status-codes.md``: ``to`` and ``from`` present
  (1010), ``from`` registered (1062), ``type`` one of SMS, LMS, MMS, ATA, CTA (1025), SMS text ≤ 90 EUC-KR bytes and
  LMS ≤ 2,000 (1031), EUC-KR only for SMS/LMS (1029), no subject on an SMS (1013), a subject ≤ 40 bytes (1014),
  ``kakaoOptions`` only on ATA/CTA (1033); for ATA the ``pfId`` registered (1041), the ``templateId`` registered when
  ``templates`` are given (1042) with every ``#{variable}`` in ``variables`` (1043) and at most 1,000 characters
  filled (1031); ``customFields`` keys ≤ 30 and values ≤ 100 characters (1032). The reference shows no body for a
  refused single message: the fake answers 400 ``ValidationError`` naming the status code.
- Taken: 200 ``{groupId, messageId, accountId, statusMessage, statusCode: "2000", to, from, type, country}``.
  ``balance``, when a number, is spent one per message; at 0 the answer is 402 ``NotEnoughBalance``.

Solapi has no request idempotency: every accepted request is a new message (``delivered``). Not documented and
modelled as assumptions: the rate-limit answer (429 ``TooManyRequests`` with ``Retry-After``) and the webhook's
secret header (``X-Solapi-Secret``: the SHA-1 of the secret in hex, as integrations compare it; ``raw_secret``
sends the secret itself, as Solapi's ASP example compares it). ``receipt_webhook`` builds the ``SINGLE-REPORT``
webhook for a message the fake took. Extra fault kinds (``ERROR_FAULTS``) answer a documented error before
processing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from tests.notify.fakes.http import Answer, Delivered, FakeProviderServer, Request

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

SEND_PATH = "/messages/v4/send"
SKEW_SECONDS = 15 * 60.0
SIGNATURE_MEMORY_SECONDS = 15 * 60.0
ACCEPTED_MESSAGE = "정상 접수(이통사로 접수 예정) "
_AUTHORIZATION = re.compile(r"(?P<method>HMAC-SHA256|HMAC-MD5)\s+(?P<parameters>.+)", re.IGNORECASE)
_VARIABLE = re.compile(r"#\{[^}]+\}")
_TYPES = {"SMS", "LMS", "MMS", "ATA", "CTA"}

ERROR_FAULTS: Mapping[str, tuple[int, str, str]] = {
    "validation_error": (400, "ValidationError", "필수 입력 값 미입력 (1010)"),
    "not_enough_balance": (402, "NotEnoughBalance", "잔액이 부족합니다."),
    "invalid_api_key": (403, "InvalidAPIKey", "유효한 API Key가 아닙니다."),
    "signature_mismatch": (403, "SignatureDoesNotMatch", "생성한 Signature가 일치하지 않습니다."),
    "time_skewed": (403, "RequestTimeTooSkewed", "시간 값이 서버 시간을 15분 이상 벗어났습니다."),
    "duplicated_signature": (403, "DuplicatedSignature", "15분 안에 동일한 signature 값이 사용되었습니다."),
}


class _Refused(Exception):  # noqa: N818 - a refusal, raised to answer with Solapi's error
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _invalid(status_code: str, text: str) -> _Refused:
    return _Refused(400, "ValidationError", f"{text} ({status_code})")


@dataclass(frozen=True)
class SolapiSend:
    """One message Solapi took."""

    message_id: str
    group_id: str
    type: str
    to: str
    sender: str
    text: str
    message: Mapping[str, Any]
    """The request's ``message`` object, as sent."""

    @property
    def substitutes_sms(self) -> bool:
        """An ATA Solapi would resend as SMS/LMS if Kakao cannot deliver it (``disableSms`` false)."""
        options = self.message.get("kakaoOptions") or {}
        return self.type == "ATA" and not options.get("disableSms", False)


class FakeSolapi(FakeProviderServer):
    fault_kinds: ClassVar[frozenset[str]] = frozenset(ERROR_FAULTS)

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        pf_id: str | None = None,
        sender_numbers: Iterable[str] = ("029302266",),
        templates: Mapping[str, str] | None = None,
        webhook_secret: str | None = None,
    ) -> None:
        super().__init__()
        self.api_key = api_key or "NCS" + secrets.token_hex(6).upper()
        self.api_secret = api_secret or secrets.token_hex(16)
        self.pf_id = pf_id or "KA01PF" + secrets.token_hex(13)
        self.sender_numbers = set(sender_numbers)
        self.templates = dict(templates or {})
        """Approved AlimTalk templates by id (``#{variable}`` placeholders); empty accepts any id."""
        self.webhook_secret = webhook_secret or secrets.token_urlsafe(16)
        self.balance: int | None = None
        """Messages the account can still pay for; ``None`` is unlimited."""
        self.wall_clock: Callable[[], float] = time.time
        """What the fake's "server time" is, against which the request date is checked."""
        self.sent: list[SolapiSend] = []
        self._signatures: dict[str, float] = {}

    # -- the endpoint ----------------------------------------------------------------------------------------

    def answer(self, request: Request) -> Answer:
        if request.method != "POST" or request.path != SEND_PATH:
            return _error(404, "NotFound", "요청한 리소스를 찾을 수 없습니다.")
        try:
            self._authenticate(request.header("authorization"))
            message = self._message(request)
            if self.balance is not None and self.balance <= 0:
                raise _Refused(402, "NotEnoughBalance", "잔액이 부족합니다.")
        except _Refused as refused:
            return _error(refused.status, refused.code, refused.message)
        if self.balance is not None:
            self.balance -= 1
        send = self._take(message)
        return Answer.of_json(
            200,
            {
                "groupId": send.group_id,
                "to": send.to,
                "from": send.sender,
                "type": send.type,
                "statusMessage": ACCEPTED_MESSAGE,
                "country": str(message.get("country") or "82"),
                "messageId": send.message_id,
                "statusCode": "2000",
                "accountId": "12925149",
            },
        )

    def _authenticate(self, header: str | None) -> None:
        match = _AUTHORIZATION.fullmatch((header or "").strip())
        if match is None:
            raise _Refused(403, "InvalidAPIKey", "Authorization 헤더가 올바르지 않습니다.")
        parameters = {}
        for part in match["parameters"].split(","):
            name, _, value = part.strip().partition("=")
            parameters[name.strip().lower()] = value.strip()
        if not hmac.compare_digest(parameters.get("apikey", "").encode(), self.api_key.encode()):
            raise _Refused(403, "InvalidAPIKey", "유효한 API Key가 아닙니다.")
        date, salt, signature = (parameters.get(name, "") for name in ("date", "salt", "signature"))
        try:
            sent_at = datetime.fromisoformat(date)
        except ValueError as error:
            raise _Refused(403, "SignatureDoesNotMatch", "date는 ISO 8601 형식이어야 합니다.") from error
        if sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=UTC)
        if abs(sent_at.timestamp() - self.wall_clock()) > SKEW_SECONDS:
            raise _Refused(403, "RequestTimeTooSkewed", "시간 값이 서버 시간을 15분 이상 벗어났습니다.")
        if not 12 <= len(salt) <= 64:
            raise _Refused(403, "SignatureDoesNotMatch", "salt는 12~64 바이트여야 합니다.")
        digest = hashlib.sha256 if match["method"].upper() == "HMAC-SHA256" else hashlib.md5
        expected = hmac.new(self.api_secret.encode(), (date + salt).encode(), digest).hexdigest()
        if not hmac.compare_digest(signature.lower().encode(), expected.encode()):
            raise _Refused(403, "SignatureDoesNotMatch", "생성한 Signature가 일치하지 않습니다.")
        now = time.monotonic()
        self._signatures = {seen: at for seen, at in self._signatures.items() if now - at < SIGNATURE_MEMORY_SECONDS}
        if signature in self._signatures:
            raise _Refused(403, "DuplicatedSignature", "15분 안에 동일한 signature 값이 사용되었습니다.")
        self._signatures[signature] = now

    def _message(self, request: Request) -> dict[str, Any]:
        try:
            body = request.json()
        except ValueError as error:
            raise _invalid("1011", "Format Error") from error
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, dict):
            raise _invalid("1010", "필수 입력 값 미입력: message")
        for name in ("to", "from"):
            if not isinstance(message.get(name), str) or not message[name].isdigit():
                raise _invalid("1010", f"필수 입력 값 미입력: {name}")
        if message["from"] not in self.sender_numbers:
            raise _invalid("1062", "발신번호 미등록")
        kind = str(message.get("type") or _auto_type(message)).upper()
        if kind not in _TYPES:
            raise _invalid("1025", "잘못된 메시지 타입")
        message["type"] = kind
        if message.get("kakaoOptions") is not None and kind not in {"ATA", "CTA"}:
            raise _invalid("1033", "kakaoOptions은 메시지가 ATA 나 CTA인 경우에만 사용가능합니다.")
        if kind == "ATA":
            self._check_alimtalk(message)
        else:
            _check_text(message, kind)
        _check_custom_fields(message.get("customFields"))
        return message

    def _check_alimtalk(self, message: dict[str, Any]) -> None:
        options = message.get("kakaoOptions")
        if not isinstance(options, dict) or options.get("pfId") != self.pf_id:
            raise _invalid("1041", "유효한 플러스 친구 값이 아닙니다.")
        template_id = options.get("templateId")
        if not isinstance(template_id, str) or (self.templates and template_id not in self.templates):
            raise _invalid("1042", "유효한 템플릿 아이디가 아닙니다.")
        variables = options.get("variables") or {}
        template = self.templates.get(template_id)
        if template is not None and not set(_VARIABLE.findall(template)) <= set(variables):
            raise _invalid("1043", "등록한 템플릿과 내용이 다릅니다.")
        text = _fill(template, variables) if template is not None else message.get("text") or ""
        if len(text) > 1000:
            raise _invalid("1031", "ATA는 한/영포함 1000자까지 사용 가능합니다.")

    def _take(self, message: dict[str, Any]) -> SolapiSend:
        options = message.get("kakaoOptions") or {}
        template = self.templates.get(options.get("templateId", ""))
        if message["type"] == "ATA":
            variables = options.get("variables") or {}
            text = _fill(template, variables) if template is not None else message.get("text") or _describe(options)
        else:
            text = message["text"]
        send = SolapiSend(
            message_id="M4V" + _random_id(),
            group_id="G4V" + _random_id(),
            type=message["type"],
            to=message["to"],
            sender=message["from"],
            text=text,
            message=message,
        )
        self.sent.append(send)
        address = f"+{message['country']}{message['to']}" if message.get("country") else _korean(message["to"])
        self.delivered.append(Delivered(address, text, send.message_id, message))
        return send

    # -- faults ----------------------------------------------------------------------------------------------

    def rate_limited_answer(self, request: Request, retry_after: float | None) -> Answer:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return _error(429, "TooManyRequests", "요청이 너무 많습니다.", headers)

    def server_error_answer(self, request: Request) -> Answer:
        return _error(500, "InternalError", "서버 내부 오류가 발생했습니다.")

    def fault_answer(self, kind: str, request: Request) -> Answer:
        return _error(*ERROR_FAULTS[kind])

    # -- reports ---------------------------------------------------------------------------------------------

    def find(self, message_id: str) -> SolapiSend:
        with self._lock:
            return next(send for send in self.sent if send.message_id == message_id)

    def receipt_webhook(
        self,
        message_id: str,
        *,
        status_code: str = "4000",
        wrapped: bool = False,
        raw_secret: bool = False,
        event: str = "SINGLE-REPORT",
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body of Solapi's report for a message this fake took (``4000``: received).

        ``wrapped`` gives the ``[{eventDataId, data, retryCount}]`` shape of Solapi's newer SDK models."""
        send = self.find(message_id)
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        report = {
            "messageId": send.message_id,
            "groupId": send.group_id,
            "type": send.type,
            "to": send.to,
            "from": send.sender,
            "statusCode": status_code,
            "statusMessage": "수신 완료" if status_code == "4000" else "전송 실패",
            "dateProcessed": now,
            "dateReported": now,
            "dateReceived": now,
            "networkCode": "90901",
            "customFields": send.message.get("customFields") or {},
        }
        item = {"eventDataId": "WH01ED" + _random_id(), "data": report, "retryCount": 0} if wrapped else report
        secret = (
            self.webhook_secret
            if raw_secret
            else hashlib.sha1(self.webhook_secret.encode(), usedforsecurity=False).hexdigest()
        )
        headers = {"Content-Type": "application/json", "X-Solapi-Event-Name": event, "X-Solapi-Secret": secret}
        return headers, json.dumps([item], ensure_ascii=False).encode()


def _check_text(message: dict[str, Any], kind: str) -> None:
    text, subject = message.get("text"), message.get("subject")
    if not isinstance(text, str) or not text:
        raise _invalid("1010", "필수 입력 값 미입력: text")
    if kind in {"SMS", "LMS"} and not all(_euc_kr(part) for part in (text, subject or "")):
        raise _invalid("1029", "문자메시지의 경우 EUC-KR(완성형 한글) 범위 안에 있는 문자만 사용 합니다.")
    if kind == "SMS" and subject:
        raise _invalid("1013", "제목은 문자 타입이 'SMS'일 경우 사용이 불가능합니다.")
    if subject is not None and len(str(subject).encode("euc-kr", "replace")) > 40:
        raise _invalid("1014", "제목은 40byte까지 사용 가능합니다.")
    limit = 90 if kind == "SMS" else 2000
    if len(text.encode("euc-kr", "replace")) > limit:
        raise _invalid("1031", "SMS는 90byte LMS, MMS는 2000byte까지 사용 가능합니다.")


def _check_custom_fields(fields: Any) -> None:
    if fields is None:
        return
    valid = isinstance(fields, dict) and all(
        isinstance(key, str) and len(key) <= 30 and isinstance(value, str) and len(value) <= 100
        for key, value in fields.items()
    )
    if not valid:
        raise _invalid("1032", "유효한 커스텀 필드 값이 아닙니다.")


def _auto_type(message: dict[str, Any]) -> str:
    """``autoTypeDetect``: ATA with kakaoOptions, else SMS up to 90 bytes (and no subject), else LMS."""
    if message.get("kakaoOptions"):
        return "ATA"
    text = str(message.get("text") or "")
    return "SMS" if len(text.encode("euc-kr", "replace")) <= 90 and not message.get("subject") else "LMS"


def _fill(template: str, variables: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda match: str(variables[match[0]]), template)


def _describe(options: Mapping[str, Any]) -> str:
    values = ", ".join(f"{name}={value}" for name, value in (options.get("variables") or {}).items())
    return f"[{options.get('templateId')}] {values}".rstrip()


def _euc_kr(text: str) -> bool:
    try:
        text.encode("euc-kr")
    except UnicodeEncodeError:
        return False
    return True


def _korean(number: str) -> str:
    return f"+82{number.removeprefix('0')}"


def _random_id() -> str:
    """Solapi's ids: a prefix, a ``yyyyMMddHHmmss`` time and random capitals and digits (32 characters in all)."""
    alphabet = string.ascii_uppercase + string.digits
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + "".join(secrets.choice(alphabet) for _ in range(15))


def _error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Answer:
    return Answer.of_json(status, {"errorCode": code, "errorMessage": message}, headers)
