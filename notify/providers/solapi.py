"""KakaoTalk AlimTalk (``ATA``) and SMS/LMS through Solapi's messages API v4.

What Solapi documents, and this adapter relies on (github.com/solapi/documents: ``authentication/api-key.md``,
``api-reference/overview.md``, ``api-reference/messages/sendSimpleMessage.md``,
``api-reference/message-status-codes.md``; the ``solapi-asp`` and ``solapi-python`` SDK examples for webhooks):

- ``POST /messages/v4/send`` with ``{"message": {...}}`` sends one message; the answer is ``{groupId, messageId,
  statusCode: "2000", statusMessage, to, from, type, country}``. A refusal is a 4xx/5xx with ``{errorCode,
  errorMessage}``: 400 ``ValidationError``, 402 ``NotEnoughBalance``, 403 ``InvalidAPIKey`` /
  ``SignatureDoesNotMatch`` / ``RequestTimeTooSkewed`` / ``DuplicatedSignature``, 500 ``InternalError``.
- ``Authorization: HMAC-SHA256 apiKey=<key>, date=<ISO 8601>, salt=<12 to 64 random bytes>, signature=<hex
  HMAC-SHA256(apiSecret, date + salt)>``. A date more than 15 minutes off is refused, and a signature cannot be used
  twice within 15 minutes, so every request gets a fresh date and salt.
- AlimTalk: ``type: "ATA"``, ``kakaoOptions: {pfId, templateId, variables: {"#{name}": value}, disableSms,
  buttons}``. No ``text``: Solapi fills the approved template with the variables. ``templateId`` is the id Solapi
  gave the template when it was registered in its console (``KA01TP…``), not the code Shoa's template files name
  (NHN Cloud lets the sender choose the code, Solapi does not): the adapter is handed the mapping
  (``SHOA_SOLAPI_TEMPLATE_IDS``) and sends nothing for a code it does not know. With ``disableSms: false``
  (when ``Rendered.fallback`` exists) Solapi itself substitutes an SMS, or an LMS by length, when Kakao cannot
  deliver; that text is the AlimTalk's own (the filled template, sent from ``from``), not the fallback's wording or
  title. Without a fallback ``disableSms`` is true and the worker's own fallback is the only one.
- SMS/LMS: ``type: "SMS"`` or ``"LMS"`` with ``text`` (SMS ≤ 90 EUC-KR bytes) and, for LMS, ``subject``.
- No request idempotency exists: every POST that reaches Solapi is a new message. A retry after an unanswered
  request may send twice; the worker's crash rules must cover it. ``customFields.shoaMessageId`` carries our
  message id so that operators (and reports) can tell the two apart.
- Delivery reports: a console webhook POSTs a JSON array of message reports (``{messageId, statusCode, type,
  ...}``, newer SDKs wrap each in ``{eventDataId, data}``) with ``X-Solapi-Event-Name: SINGLE-REPORT`` and
  ``X-Solapi-Secret``. Solapi's reference does not spell the secret header out: its ASP example compares it with the
  configured secret, integrations compare it with the secret's SHA-1 in hex; both are accepted. ``4000`` means
  received; ``2000``/``3000`` are still under way.

Classification: accepted on a 2xx whose ``statusCode`` is 2000 (or the later 3000/4000). Transient: no answer, 429
(``Retry-After`` kept), 5xx (``InternalError``), 408/425, ``RequestTimeTooSkewed`` and ``DuplicatedSignature`` (the
next request signs afresh), status 1024/2024 (Solapi's server error), a 2xx without Solapi's JSON, and
``NotEnoughBalance`` (402, or status 1030/2230), which waits at least ``BALANCE_WAIT`` for a top-up. Permanent:
``ValidationError`` and every other refusal (``InvalidAPIKey``, ``SignatureDoesNotMatch``, unregistered sender,
unknown template, text too long …), and an AlimTalk whose template code has no Solapi id, refused here without a
request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
import msgspec

from notify.providers.base import Channel, Delivery, Outcome, OutcomeKind, Receipt, ReceiptRejectedError, Rendered
from notify.providers.korean_sms import dial, lms_subject, sms_kind
from notify.providers.transport import exchange_failed, retry_after_seconds
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

BASE_URL = "https://api.solapi.com"
ACCEPTED_STATUSES = frozenset({"2000", "3000", "4000"})
"""Taken (2000), handed to the carrier (3000), received (4000)."""
TRANSIENT_STATUSES = frozenset({"1024", "2024"})
"""Solapi's own server errors while taking the message."""
BALANCE_STATUSES = frozenset({"1030", "2230"})
TRANSIENT_ERRORS = frozenset({"InternalError", "RequestTimeTooSkewed", "DuplicatedSignature"})
"""Refusals a fresh request can pass: a server error, our clock caught out of step, a salt that collided."""
NOT_ENOUGH_BALANCE = "NotEnoughBalance"
BALANCE_WAIT = 1800.0
"""Seconds a message waits when the account has run dry: an operator tops it up, the message still goes out (and
the worker's attempt limit dead-letters it if nobody does), rather than failing over to SMS on the same account."""
DELIVERED = "4000"
UNSETTLED = frozenset({"2000", "3000"})
SINGLE_REPORT = "SINGLE-REPORT"


class _Button(msgspec.Struct, rename="camel", frozen=True):
    button_name: str
    button_type: str
    link_mo: str
    link_pc: str


class _KakaoOptions(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    pf_id: str
    template_id: str
    variables: dict[str, str]
    disable_sms: bool
    buttons: list[_Button] | None = None


class _Message(msgspec.Struct, omit_defaults=True, frozen=True):
    to: str
    sender: str = msgspec.field(name="from")
    type: str = msgspec.field(name="type")
    text: str | None = None
    subject: str | None = None
    country: str | None = None
    kakao_options: _KakaoOptions | None = msgspec.field(default=None, name="kakaoOptions")
    custom_fields: dict[str, str] | None = msgspec.field(default=None, name="customFields")


class _SendRequest(msgspec.Struct, frozen=True):
    message: _Message


class _Taken(msgspec.Struct, rename="camel"):
    status_code: str | int | None = None
    message_id: str | None = None
    group_id: str | None = None
    status_message: str = ""


class _Refusal(msgspec.Struct, rename="camel"):
    error_code: str = ""
    error_message: str = ""


class _ReportData(msgspec.Struct, rename="camel"):
    message_id: str | None = None
    status_code: str | int | None = None
    status_message: str = ""
    type: str | None = None


class _Report(msgspec.Struct, rename="camel"):
    message_id: str | None = None
    status_code: str | int | None = None
    status_message: str = ""
    type: str | None = None
    data: _ReportData | None = None


def authorization(*, api_key: str, api_secret: str, now: datetime) -> str:
    """Solapi's ``Authorization`` value for one request: a fresh salt, so never the same signature twice."""
    date = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    salt = secrets.token_hex(16)
    signature = hmac.new(api_secret.encode(), (date + salt).encode(), hashlib.sha256).hexdigest()
    return f"HMAC-SHA256 apiKey={api_key}, date={date}, salt={salt}, signature={signature}"


class SolapiProvider:
    """AlimTalk (with Solapi's own SMS substitution) and SMS/LMS through one Solapi account."""

    name = "solapi"
    channels = frozenset({Channel.ALIMTALK, Channel.SMS})

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str = BASE_URL,
        api_key: str,
        api_secret: str,
        pf_id: str,
        from_number: str,
        webhook_secret: str | None = None,
        template_ids: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._api_secret = api_secret
        self._pf_id = pf_id
        self._from_number = from_number
        self._webhook_secret = webhook_secret
        """The secret set on Solapi's webhook; without it reports cannot be verified."""
        self._template_ids = dict(template_ids or {})
        """Shoa's AlimTalk template code -> the id Solapi gave that template."""
        self._clock = clock

    async def send(self, delivery: Delivery) -> Outcome:
        if (unmapped := self._unmapped_template(delivery.rendered)) is not None:
            return unmapped
        message = self._message(delivery)
        headers = {
            "Authorization": authorization(api_key=self._api_key, api_secret=self._api_secret, now=self._clock()),
            "Content-Type": "application/json",
        }
        try:
            response = await self._http.post(
                f"{self._base_url}/messages/v4/send",
                content=msgspec.json.encode(_SendRequest(message=message)),
                headers=headers,
            )
        except httpx.TransportError as error:
            return exchange_failed(self.name, error, deduplicated=False)
        return self._outcome(response, message)

    def _unmapped_template(self, rendered: Rendered) -> Outcome | None:
        """A permanent refusal for an AlimTalk whose template Solapi knows by no id, so that the worker falls back
        to SMS at once rather than having Solapi refuse an unknown template."""
        code = rendered.template_code
        if rendered.channel is not Channel.ALIMTALK or not code or code in self._template_ids:
            return None
        return Outcome(
            kind=OutcomeKind.PERMANENT,
            provider=self.name,
            detail=f"AlimTalk template {code} has no Solapi template id; add {code}=<Solapi's id> to "
            "SHOA_SOLAPI_TEMPLATE_IDS",
        )

    def _message(self, delivery: Delivery) -> _Message:
        rendered = delivery.rendered
        number = dial(rendered.address)
        to, country = number.national, None if number.is_korean else str(number.country_code)
        custom_fields = {"shoaMessageId": str(delivery.message_id)}
        if rendered.channel is Channel.ALIMTALK:
            return _Message(
                to=to,
                sender=self._from_number,
                type="ATA",
                country=country,
                kakao_options=self._kakao_options(rendered),
                custom_fields=custom_fields,
            )
        if rendered.channel is Channel.SMS:
            kind = sms_kind(rendered.text, rendered.sms_kind)
            return _Message(
                to=to,
                sender=self._from_number,
                type=kind,
                text=rendered.text,
                subject=lms_subject(rendered.title, rendered.text) if kind == "LMS" else None,
                country=country,
                custom_fields=custom_fields,
            )
        raise ValueError(f"Solapi does not carry {rendered.channel} messages")

    def _kakao_options(self, rendered: Rendered) -> _KakaoOptions:
        if not rendered.template_code:
            raise ValueError("an AlimTalk needs the template id Kakao approved")
        buttons = [
            _Button(button_name=button.name, button_type="WL", link_mo=button.url, link_pc=button.url)
            for button in rendered.buttons
        ]
        return _KakaoOptions(
            pf_id=self._pf_id,
            template_id=self._template_ids[rendered.template_code],
            variables={f"#{{{name}}}": value for name, value in rendered.template_parameters.items()},
            disable_sms=rendered.fallback is None,
            buttons=buttons or None,
        )

    def _outcome(self, response: httpx.Response, message: _Message) -> Outcome:
        status = response.status_code
        if 200 <= status < 300:
            return self._taken(response, message)
        try:
            refusal = msgspec.json.decode(response.content, type=_Refusal, strict=False)
        except msgspec.DecodeError:
            refusal = _Refusal()
        code = refusal.error_code or None
        detail = f"HTTP {status} from Solapi" + (f": {code} {refusal.error_message}".rstrip() if code else "")
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if code == NOT_ENOUGH_BALANCE or status == 402:
            return Outcome(
                kind=OutcomeKind.TRANSIENT,
                provider=self.name,
                http_status=status,
                result_code=code,
                detail=f"{detail} (the account balance ran out; waiting for a top-up)",
                retry_after=max(retry_after or 0.0, BALANCE_WAIT),
            )
        transient = status == 429 or status >= 500 or status in {408, 425} or code in TRANSIENT_ERRORS
        return Outcome(
            kind=OutcomeKind.TRANSIENT if transient else OutcomeKind.PERMANENT,
            provider=self.name,
            http_status=status,
            result_code=code,
            detail=detail,
            retry_after=retry_after if transient else None,
        )

    def _taken(self, response: httpx.Response, message: _Message) -> Outcome:
        status = response.status_code
        try:
            taken = msgspec.json.decode(response.content, type=_Taken, strict=False)
        except msgspec.DecodeError:
            detail = f"HTTP {status} from Solapi without its JSON answer; the outcome is unknown"
            return Outcome(kind=OutcomeKind.TRANSIENT, provider=self.name, http_status=status, detail=detail)
        code = None if taken.status_code is None else str(taken.status_code)
        if code in ACCEPTED_STATUSES:
            substitute = (
                " Solapi substitutes an SMS/LMS of the same text if Kakao cannot deliver it."
                if message.kakao_options is not None and not message.kakao_options.disable_sms
                else ""
            )
            return Outcome(
                kind=OutcomeKind.ACCEPTED,
                provider=self.name,
                http_status=status,
                result_code=code,
                detail=f"{message.type} accepted by Solapi ({taken.message_id}).{substitute}",
                provider_message_id=taken.message_id,
            )
        detail = f"Solapi status {code}: {taken.status_message or 'no message'}"
        if code in BALANCE_STATUSES:
            return Outcome(
                kind=OutcomeKind.TRANSIENT,
                provider=self.name,
                http_status=status,
                result_code=code,
                detail=f"{detail} (the account balance ran out; waiting for a top-up)",
                retry_after=BALANCE_WAIT,
            )
        kind = OutcomeKind.TRANSIENT if code in TRANSIENT_STATUSES or code is None else OutcomeKind.PERMANENT
        return Outcome(kind=kind, provider=self.name, http_status=status, result_code=code, detail=detail)

    def parse_receipts(self, headers: Mapping[str, str], body: bytes) -> list[Receipt]:
        """Receipts from Solapi's ``SINGLE-REPORT`` webhook; other events verify but carry no receipt."""
        if self._webhook_secret is None:
            raise ReceiptRejectedError("no Solapi webhook secret is configured, so no report can be trusted")
        given = (_header(headers, "X-Solapi-Secret") or "").strip()
        hashed = hashlib.sha1(self._webhook_secret.encode(), usedforsecurity=False).hexdigest()
        matches_hash = hmac.compare_digest(given.lower().encode(), hashed.encode())
        matches_secret = hmac.compare_digest(given.encode(), self._webhook_secret.encode())
        if not given or not (matches_hash or matches_secret):
            raise ReceiptRejectedError("X-Solapi-Secret is missing or does not match")
        if (_header(headers, "X-Solapi-Event-Name") or "").strip().upper() != SINGLE_REPORT:
            return []
        try:
            reports = msgspec.json.decode(body, type=list[_Report], strict=False)
        except msgspec.DecodeError as error:
            raise ReceiptRejectedError(f"not a Solapi report body: {error}") from error
        receipts = []
        for report in reports:
            data = report.data or _ReportData(
                message_id=report.message_id,
                status_code=report.status_code,
                status_message=report.status_message,
                type=report.type,
            )
            code = None if data.status_code is None else str(data.status_code)
            if data.message_id is None or code is None or code in UNSETTLED:
                continue
            delivered = code == DELIVERED
            outcome = "received" if delivered else f"failed: {data.status_message or code}"
            receipts.append(
                Receipt(
                    provider_message_id=data.message_id,
                    delivered=delivered,
                    result_code=code,
                    detail=f"{data.type or 'message'} {outcome}",
                )
            )
        return receipts


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)
