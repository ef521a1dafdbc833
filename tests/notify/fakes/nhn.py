"""``FakeNhnCloud``: NHN Cloud's AlimTalk v2.3 and SMS v3.0 send endpoints, as docs.nhncloud.com describes them.

One server serves both products (point both base URLs at ``url``):

- ``POST /alimtalk/v2.3/appkeys/{appkey}/messages`` (KakaoTalk Bizmessage > AlimTalk > API v2.3 Guide): the app key
  in the path (else -1000), ``X-Secret-Key`` (else -1001), JSON only (-9996); ``senderKey`` registered (-2017),
  ``templateCode`` ≤ 20 (-2000) and registered when ``templates`` are given (-3003), ``recipientList`` of 1-1,000;
  per recipient ``recipientNo`` digits ≤ 15 (-5000/-2000), every ``#{variable}`` of the template filled (-3049),
  the filled template ≤ 1,300 characters (-2019), ``resendParameter`` as the SMS API would take it (type SMS or
  LMS, SMS ≤ 255 and LMS ≤ 4,000 characters, title ≤ 120; ``resendSendNo`` registered, else -1003).
  ``X-NC-API-IDEMPOTENCY-KEY``: a key that already sent something within ``idempotency_window`` (10 minutes) is
  answered -1005 and sends nothing.
- ``POST /sms/v3.0/appKeys/{appKey}/sender/sms`` and ``…/sender/mms`` (SMS > API v3.0 Guide, > Error Code): app key
  (-1000) and ``X-Secret-Key``; ``body`` present (-2014), EUC-KR only (-2023), SMS ≤ 255 and LMS ≤ 4,000
  characters, LMS ``title`` present (-2014) and ≤ 120 (4); ``sendNo`` registered (-2312); ``recipientList`` of 1-1,000
  (-2001, -2016); per recipient a number (-2018) of digits ≤ 20 (-2019), no LMS abroad (-2024).

Answers are HTTP 200 with NHN's ``header`` ``{resultCode, resultMessage, isSuccessful}`` and ``message.sendResults``
(AlimTalk) or ``body.data.sendResultList`` (SMS); a request whose every recipient failed is ``-1031`` (AlimTalk).
NHN documents the result codes, not the HTTP statuses that carry errors, nor a rate-limit answer, nor the SMS
API's code for a wrong secret key: the fake answers 200 for every result code, -1001 for a wrong SMS secret and, when
rate limited, a gateway's 429. Whether NHN remembers an idempotency key of a request it refused is not documented
either: the fake remembers only keys that sent something.

``receipt_webhook`` builds the ``MESSAGE_RESULT_UPDATE`` webhook NHN would POST for a message it took (with
``X-Toast-Webhook-Signature``), so tests and end-to-end runs can hand it to the receipt endpoint. Extra fault kinds
(``RESULT_FAULTS``) answer a documented result code before processing.

Not modelled: scheduled ``requestDate``, button and quick-reply parameters, raw/auth/mass messages, query APIs.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from tests.notify.fakes.http import Answer, Delivered, FakeProviderServer, Request

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

ALIMTALK_PATH = re.compile(r"/alimtalk/v2\.3/appkeys/(?P<app_key>[^/]+)/messages")
SMS_PATH = re.compile(r"/sms/v3\.0/appKeys/(?P<app_key>[^/]+)/sender/(?P<kind>sms|mms)")
IDEMPOTENCY_WINDOW = 600.0
KOREA = timezone(timedelta(hours=9))
_VARIABLE = re.compile(r"#\{([^}]+)\}")

RESULT_FAULTS: Mapping[str, tuple[int, str]] = {
    "invalid_parameter": (4, "Parameter verification failed."),
    "invalid_appkey": (-1000, "Invalid appKey."),
    "invalid_secret_key": (-1001, "Invalid secretKey."),
    "invalid_sms_sender": (-1003, "Invalid Sms Sendno"),
    "no_sender_key": (-1006, "Plus friend don't have senderKey."),
    "daily_limit": (-1017, "Sending in excess of daily volume failed."),
    "sender_blocked": (-1027, "The sender is blocked status."),
    "sender_not_found": (-2017, "Not exist plus friend."),
    "invalid_button": (-2018, "Button parameter is invalid."),
    "template_not_found": (-3003, "Template does not exist."),
    "vendor_failed": (-7000, "Vender request API is failed."),
    "system_error": (-9999, "System error. Please inquire at support@toast.com."),
    "sms_queue_failed": (-2021, "System error (failed in saving queue)"),
    "sms_sender_unregistered": (-2312, "Sender number is missing or unregistered"),
}


class _Refused(Exception):  # noqa: N818 - a refusal, raised to answer with its result code
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class NhnSend:
    """One recipient NHN took: what it will report on, and what the shopper's phone shows."""

    product: str
    """``alimtalk``, ``sms`` or ``lms``."""
    request_id: str
    recipient_seq: int
    recipient_no: str
    text: str
    title: str | None = None
    template_code: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    resend: Mapping[str, Any] | None = None
    """The ``resendParameter`` NHN would use if Kakao cannot deliver (``isResend`` true)."""
    recipient_grouping_key: str | None = None
    idempotency_key: str | None = None

    @property
    def message_id(self) -> str:
        return f"{self.request_id}:{self.recipient_seq}"


class FakeNhnCloud(FakeProviderServer):
    fault_kinds: ClassVar[frozenset[str]] = frozenset(RESULT_FAULTS)

    def __init__(
        self,
        *,
        app_key: str = "alimtalk-app-key",
        secret_key: str | None = None,
        sender_key: str | None = None,
        sms_app_key: str = "sms-app-key",
        sms_secret_key: str | None = None,
        send_numbers: Iterable[str] = ("15446859",),
        templates: Mapping[str, str] | None = None,
        webhook_signature: str | None = None,
    ) -> None:
        super().__init__()
        self.app_key, self.sms_app_key = app_key, sms_app_key
        self.secret_key = secret_key or secrets.token_urlsafe(12)
        self.sms_secret_key = sms_secret_key or secrets.token_urlsafe(12)
        self.sender_key = sender_key or secrets.token_hex(20)
        """Forty characters, as NHN's sender keys are."""
        self.send_numbers = set(send_numbers)
        self.templates = dict(templates or {})
        """Approved AlimTalk templates by code (``#{variable}`` placeholders); empty accepts any code."""
        self.webhook_signature = webhook_signature or secrets.token_urlsafe(16)
        self.idempotency_window = IDEMPOTENCY_WINDOW
        self.clock: Callable[[], float] = time.monotonic
        """Measures the idempotency window; a test may replace it to move time."""
        self.sent: list[NhnSend] = []
        self._keys: dict[str, float] = {}

    # -- the endpoints ---------------------------------------------------------------------------------------

    def answer(self, request: Request) -> Answer:
        if request.method == "POST" and (match := ALIMTALK_PATH.fullmatch(request.path)):
            return self._alimtalk(request, match["app_key"])
        if request.method == "POST" and (match := SMS_PATH.fullmatch(request.path)):
            return self._sms(request, match["app_key"], "sms" if match["kind"] == "sms" else "lms")
        return Answer.of_json(404, {"header": _header(-9998, "Not exist API")})

    def _alimtalk(self, request: Request, app_key: str) -> Answer:
        try:
            body = self._authorized_json(request, app_key, self.app_key, self.secret_key)
            recipients = self._alimtalk_request(body)
        except _Refused as refused:
            return _alimtalk_answer(_header(refused.code, refused.message))
        key = request.header("x-nc-api-idempotency-key")
        taken = self._keys.get(key) if key is not None else None
        if taken is not None and self.clock() - taken < self.idempotency_window:
            message = "The same 'X-NC-API-IDEMPOTENCY-KEY' was used within the last 10 minute."
            return _alimtalk_answer(_header(-1005, message))
        request_id = _request_id()
        results = []
        for seq, recipient in enumerate(recipients, start=1):
            code, message, send = self._alimtalk_recipient(body, recipient, request_id, seq, key)
            if send is not None:
                self._record(send)
            results.append(_send_result(seq, recipient, code, message))
        if key is not None and any(result["resultCode"] == 0 for result in results):
            self._keys[key] = self.clock()
        all_failed = all(result["resultCode"] != 0 for result in results)
        header = _header(-1031, "All of receivers are failed to send.") if all_failed else _header(0, "SUCCESS")
        return _alimtalk_answer(header, request_id, body.get("senderGroupingKey"), results)

    def _alimtalk_request(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        sender_key = _text(body, "senderKey")
        if sender_key != self.sender_key:
            raise _Refused(-2017, "Not exist plus friend.")
        code = _text(body, "templateCode")
        if len(code) > 20:
            raise _Refused(-2000, "The 'templateCode' must be at less than or equal to 20.")
        if self.templates and code not in self.templates:
            raise _Refused(-3003, "Template does not exist.")
        recipients = _recipients(body, too_many=(-2005, "The 'recipientList' must be less than or equal to 1000."))
        for recipient in recipients:
            resend = recipient.get("resendParameter")
            if (
                isinstance(resend, dict)
                and resend.get("isResend")
                and resend.get("resendSendNo") not in self.send_numbers
            ):
                raise _Refused(-1003, "Invalid Sms Sendno")
        return recipients

    def _alimtalk_recipient(
        self, body: dict[str, Any], recipient: dict[str, Any], request_id: str, seq: int, key: str | None
    ) -> tuple[int, str, NhnSend | None]:
        template = self.templates.get(body["templateCode"])
        if (problem := _recipient_problem(recipient, template)) is not None:
            return *problem, None
        parameters = recipient.get("templateParameter") or {}
        text = _fill(template, parameters) if template is not None else _describe(body["templateCode"], parameters)
        if len(text) > 1300:
            return -2019, "The content replaced by the template parameters can not exceed 1,300 characters.", None
        resend = recipient.get("resendParameter")
        if resend is not None and (problem := _resend_problem(resend)) is not None:
            return *problem, None
        send = NhnSend(
            product="alimtalk",
            request_id=request_id,
            recipient_seq=seq,
            recipient_no=recipient["recipientNo"],
            text=text,
            template_code=body["templateCode"],
            parameters=parameters,
            resend=resend if isinstance(resend, dict) and resend.get("isResend") else None,
            recipient_grouping_key=recipient.get("recipientGroupingKey"),
            idempotency_key=key,
        )
        return 0, "SUCCESS", send

    def _sms(self, request: Request, app_key: str, product: str) -> Answer:
        try:
            body = self._authorized_json(request, app_key, self.sms_app_key, self.sms_secret_key)
            text, title = self._sms_content(body, product)
            recipients = _recipients(
                body,
                missing=(-2001, "Recipient is missing"),
                too_many=(-2016, "The number of recipients is over 1,000"),
            )
        except _Refused as refused:
            return Answer.of_json(200, {"header": _header(refused.code, refused.message), "body": None})
        request_id = _request_id()
        results = []
        for seq, recipient in enumerate(recipients, start=1):
            code, message, number = _sms_recipient(recipient, product)
            if number is not None:
                grouping = recipient.get("recipientGroupingKey")
                send = NhnSend(product, request_id, seq, number, text, title, recipient_grouping_key=grouping)
                self._record(send)
            results.append(_send_result(seq, recipient, code, message))
        data = {
            "requestId": request_id,
            "statusCode": "2" if any(result["resultCode"] == 0 for result in results) else "3",
            "senderGroupingKey": body.get("senderGroupingKey"),
            "sendResultList": results,
        }
        return Answer.of_json(200, {"header": _header(0, "SUCCESS"), "body": {"data": data}})

    def _sms_content(self, body: dict[str, Any], product: str) -> tuple[str, str | None]:
        text, title = body.get("body"), body.get("title")
        if not isinstance(text, str) or not text or (product == "lms" and not isinstance(title, str)):
            raise _Refused(-2014, "Title or body is missing")
        if any(not _euc_kr(part) for part in (text, title or "")):
            raise _Refused(-2023, "Title or body includes characters that are not allowed")
        if len(text) > (255 if product == "sms" else 4000) or len(title or "") > 120:
            raise _Refused(4, "Parameter validation failed")
        if body.get("sendNo") not in self.send_numbers:
            raise _Refused(-2312, "Sender number is missing or unregistered")
        return text, title if product == "lms" else None

    def _authorized_json(self, request: Request, app_key: str, expected_key: str, secret: str) -> dict[str, Any]:
        if app_key != expected_key:
            raise _Refused(-1000, "Invalid appKey.")
        if request.header("x-secret-key") != secret:
            raise _Refused(-1001, "Invalid secretKey.")
        if not (request.header("content-type") or "").lower().startswith("application/json"):
            raise _Refused(-9996, "Only application/json Content-type is supported.")
        try:
            body = request.json()
        except ValueError as error:
            raise _Refused(-3002, "Field is not valid.") from error
        if not isinstance(body, dict):
            raise _Refused(-3002, "Field is not valid.")
        return body

    def _record(self, send: NhnSend) -> None:
        self.sent.append(send)
        self.delivered.append(Delivered(_e164(send.recipient_no), send.text, send.message_id, send))

    # -- faults ----------------------------------------------------------------------------------------------

    def rate_limited_answer(self, request: Request, retry_after: float | None) -> Answer:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return Answer.of_json(429, {"header": _header(429, "Too Many Requests")}, headers)

    def server_error_answer(self, request: Request) -> Answer:
        return Answer.of_json(500, {"header": _header(-9999, "System error. Please inquire at support@toast.com.")})

    def fault_answer(self, kind: str, request: Request) -> Answer:
        code, message = RESULT_FAULTS[kind]
        if SMS_PATH.fullmatch(request.path):
            return Answer.of_json(200, {"header": _header(code, message), "body": None})
        return _alimtalk_answer(_header(code, message))

    # -- receipts --------------------------------------------------------------------------------------------

    def find(self, message_id: str) -> NhnSend:
        with self._lock:
            return next(send for send in self.sent if send.message_id == message_id)

    def receipt_webhook(
        self, message_id: str, *, delivered: bool = True, result_code: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body of NHN's ``MESSAGE_RESULT_UPDATE`` webhook for a message this fake took."""
        send = self.find(message_id)
        now = datetime.now(KOREA)
        link = {"self": {"href": f"{self.url}/messages/{send.request_id}/{send.recipient_seq}"}}
        hook: dict[str, Any] = {
            "hookId": _request_id(),
            "requestId": send.request_id,
            "recipientSeq": send.recipient_seq,
            "requestDate": now.strftime("%Y-%m-%dT%H:%M:%S"),
            "receiveDate": now.strftime("%Y-%m-%dT%H:%M:%S"),
            "recipientNo": send.recipient_no,
            "recipientGroupingKey": send.recipient_grouping_key,
            "_links": link,
        }
        if send.product == "alimtalk":
            hook |= {"kakaoMessageType": "ALIMTALK_NORMAL", "createDate": hook["requestDate"]}
            hook["resultCode"] = "1000" if delivered else (result_code or "3019")
            return self.webhook("MESSAGE_RESULT_UPDATE", [hook], product="KakaoTalk Bizmessage")
        hook |= {"senderType": "NORMAL_SMS" if send.product == "sms" else "NORMAL_MMS", "messageCount": 1}
        hook |= {"messageStatus": "COMPLETED" if delivered else "FAILED"}
        hook["resultCode"] = "1000" if delivered else (result_code or "3001")
        return self.webhook("MESSAGE_RESULT_UPDATE", [hook], product="SMS")

    def webhook(
        self, event: str, hooks: list[dict[str, Any]], *, product: str = "KakaoTalk Bizmessage"
    ) -> tuple[dict[str, str], bytes]:
        """Any webhook NHN documents: ``{hooksId, webhookConfigId, productName, appKey, event, hooks}``."""
        app_key = self.sms_app_key if product.lower() == "sms" else self.app_key
        payload = {
            "hooksId": _request_id(),
            "webhookConfigId": "fake-webhook-config",
            "productName": product,
            "appKey": app_key,
            "event": event,
            "hooks": hooks,
        }
        headers = {
            "Content-Type": "application/json;charset=UTF-8",
            "X-Toast-Webhook-Signature": self.webhook_signature,
        }
        return headers, json.dumps(payload, ensure_ascii=False).encode()


def _header(code: int, message: str) -> dict[str, Any]:
    return {"resultCode": code, "resultMessage": message, "isSuccessful": code == 0}


def _alimtalk_answer(
    header: dict[str, Any],
    request_id: str | None = None,
    grouping_key: str | None = None,
    results: list[dict[str, Any]] | None = None,
) -> Answer:
    payload: dict[str, Any] = {"header": header}
    if results is not None:
        payload["message"] = {"requestId": request_id, "senderGroupingKey": grouping_key, "sendResults": results}
    return Answer.of_json(200, payload)


def _send_result(seq: int, recipient: dict[str, Any], code: int, message: str) -> dict[str, Any]:
    return {
        "recipientSeq": seq,
        "recipientNo": recipient.get("recipientNo") or recipient.get("internationalRecipientNo"),
        "resultCode": code,
        "resultMessage": message,
        "recipientGroupingKey": recipient.get("recipientGroupingKey"),
    }


def _recipient_problem(recipient: dict[str, Any], template: str | None) -> tuple[int, str] | None:
    number = recipient.get("recipientNo")
    if not isinstance(number, str) or not number.isdigit():
        return -5000, "RecipientNo is invalid."
    if len(number) > 15:
        return -2000, "The 'recipientNo' must be at less than or equal to 15."
    parameters = recipient.get("templateParameter") or {}
    if not isinstance(parameters, dict) or not all(isinstance(value, str) for value in parameters.values()):
        return -3004, "Please check template parameter."
    if template is not None and not set(_VARIABLE.findall(template)) <= set(parameters):
        return -3049, "The template parameter is not matched to template."
    return None


def _resend_problem(resend: Any) -> tuple[int, str] | None:
    if not isinstance(resend, dict):
        return -2002, "The 'resendParameter' must not be null."
    if not resend.get("isResend"):
        return None
    kind = resend.get("resendType", "SMS")
    if kind not in {"SMS", "LMS"}:
        return -2005, "The 'resendType' must be SMS or LMS."
    content, title = resend.get("resendContent") or "", resend.get("resendTitle") or ""
    if len(content) > (255 if kind == "SMS" else 4000):
        return -2000, "The 'resendContent' is too long."
    if len(title) > 120:
        return -2000, "The 'resendTitle' must be at less than or equal to 120."
    return None


def _sms_recipient(recipient: dict[str, Any], product: str) -> tuple[int, str, str | None]:
    domestic, international = recipient.get("recipientNo"), recipient.get("internationalRecipientNo")
    number = domestic or international
    if not isinstance(number, str) or not number:
        return -2018, "Recipient number is missing", None
    if not number.isdigit() or len(number) > 20:
        return -2019, "Recipient number is invalid", None
    abroad = not domestic or recipient.get("countryCode", "82") != "82"
    if product == "lms" and abroad:
        return -2024, "International delivery is sent with LMS/MMS", None
    return 0, "SUCCESS", number


def _recipients(
    body: dict[str, Any],
    *,
    too_many: tuple[int, str],
    missing: tuple[int, str] = (-2001, "The 'recipientList' must not be blank."),
) -> list[dict[str, Any]]:
    """1 to 1,000 recipients, as both APIs allow."""
    recipients = body.get("recipientList")
    if not isinstance(recipients, list) or not recipients:
        raise _Refused(*missing)
    if len(recipients) > 1000:
        raise _Refused(*too_many)
    if not all(isinstance(recipient, dict) for recipient in recipients):
        raise _Refused(-3002, "Field is not valid.")
    return recipients


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _Refused(-2001, f"The '{name}' must not be blank.")
    return value


def _fill(template: str, parameters: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda match: parameters[match[1]], template)


def _describe(template_code: str, parameters: Mapping[str, str]) -> str:
    """What an unregistered template shows in the fake: its code and values (the real text is Kakao's)."""
    values = ", ".join(f"{name}={value}" for name, value in parameters.items())
    return f"[{template_code}] {values}".rstrip()


def _euc_kr(text: str) -> bool:
    try:
        text.encode("euc-kr")
    except UnicodeEncodeError:
        return False
    return True


def _e164(number: str) -> str:
    """The shopper's address as routing writes it: ``010…`` is dialled in Korea, other digits start with a country
    code."""
    return f"+82{number.removeprefix('0')}" if number.startswith("0") else f"+{number}"


def _request_id() -> str:
    """NHN's shape: a ``yyyyMMddHHmmss`` time and 11 random letters and digits."""
    alphabet = string.ascii_letters + string.digits
    return datetime.now(UTC).astimezone(KOREA).strftime("%Y%m%d%H%M%S") + "".join(
        secrets.choice(alphabet) for _ in range(11)
    )
