"""KakaoTalk AlimTalk and SMS/LMS through NHN Cloud Notification (AlimTalk API v2.3, SMS API v3.0).

What NHN Cloud documents, and this adapter relies on (docs.nhncloud.com, Notification > KakaoTalk Bizmessage >
AlimTalk > API v2.3 Guide, > Error Code, > Webhook; Notification > SMS > API v3.0 Guide, > Error Code, > Webhook):

- AlimTalk: ``POST /alimtalk/v2.3/appkeys/{appkey}/messages`` with ``X-Secret-Key`` and
  ``Content-Type: application/json;charset=UTF-8``; body ``senderKey`` (40 characters), ``templateCode`` (≤ 20),
  ``recipientList`` of ``recipientNo`` (≤ 15), ``templateParameter`` (the ``#{key}`` values; NHN fills the
  approved template, buttons included), ``resendParameter`` and ``recipientGroupingKey`` (≤ 100, ours: the message
  id). The answer's ``header.isSuccessful``/``resultCode`` and each ``message.sendResults[].resultCode`` must both
  say 0.
- ``resendParameter``: NHN itself resends a failed AlimTalk as SMS/LMS (``resendType``, ``resendTitle``,
  ``resendContent``, ``resendSendNo`` registered in NHN's SMS service; abroad only SMS). When the console enables
  resending it happens by default, so a message without ``Rendered.fallback`` says ``isResend: false``: then the
  worker's own fallback is the only one, and the shopper never gets two texts.
- ``X-NC-API-IDEMPOTENCY-KEY``: the same key again within 10 minutes fails with -1005. We send
  ``Delivery.idempotency_key``, so a retry of an AlimTalk that NHN already took answers -1005, which is
  :attr:`OutcomeKind.ACCEPTED` here. The guarantee ends after 10 minutes: a retry later than that sends again.
- Many recipients in one request: ``recipientList`` takes up to 1,000 recipients of one template, each with its
  own parameters, and ``sendResults`` answers for each (with its ``recipientGroupingKey``). The worker sends
  restock waves so (:meth:`NhnCloudProvider.send_many`), under a key of the request's own; a request whose answer
  was lost is repeated whole under the same key, so NHN answers -1005 if it took it.
- SMS: ``POST /sms/v3.0/appKeys/{appKey}/sender/sms`` (SMS, body ≤ 90 EUC-KR bytes) or ``…/sender/mms`` (LMS, with
  ``title``), ``X-Secret-Key``, body ``body``, ``sendNo`` (registered), ``recipientList`` of ``recipientNo`` or
  ``internationalRecipientNo``; answer ``header`` and ``body.data.sendResultList[]``. No idempotency key is
  documented for SMS: a retry after an unanswered request may send a second SMS, which the worker's crash rules
  must cover.
- Delivery receipts: NHN's ``MESSAGE_RESULT_UPDATE`` webhook, read in :mod:`notify.providers.nhn_receipts`.

Classification: accepted when the header and our recipient's result are both 0, or on -1005 (a retry NHN already
took). Transient: no answer (timeouts, refused or dropped connections), HTTP 429 and 5xx (``Retry-After`` kept),
-9999 (system error), -7000 (Kakao's API failed), SMS -2021 (queue not saved), and -1017 (daily volume exceeded,
retried after midnight in Korea). Permanent: every other code, which names something wrong with the request or the
account (4 validation, -1000/-1001 keys, -1002/-1003 SMS key and number, -1006 no sender key, -1027 blocked profile,
-2000…-2005 field limits, -2017 unknown profile, -2018 buttons, -3003 template, -3049 template values, SMS -2312
sender number, -2023 characters EUC-KR cannot carry …). A 2xx that is not NHN's JSON is transient (NHN may have
taken the message); another status without it is permanent.

Provider message ids are ``"{requestId}:{recipientSeq}"``, the pair both the send answer and the hooks carry. Our
message id travels as ``recipientGroupingKey`` and comes back in the hooks too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, TypeVar

import httpx
import msgspec

from notify.providers.base import Channel, Delivery, Outcome, OutcomeKind, Receipt, ReceiptRejectedError, Rendered
from notify.providers.korean_sms import DialedNumber, dial, lms_subject, sms_kind
from notify.providers.nhn_receipts import read_webhook
from notify.providers.transport import exchange_failed, retry_after_seconds
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

ALIMTALK_BASE_URL = "https://kakaotalk-bizmessage.api.nhncloudservice.com"
SMS_BASE_URL = "https://api-sms.cloud.toast.com"
"""The SMS API v3.0 guide's domain (``sms.api.nhncloudservice.com`` appears in newer NHN pages too)."""
JSON_UTF8 = "application/json;charset=UTF-8"
MAX_RECIPIENTS = 1000
"""``recipientList`` carries at most this many recipients (AlimTalk and SMS alike)."""

REPEATED_IDEMPOTENCY_KEY = -1005
DAILY_VOLUME_EXCEEDED = -1017
ALIMTALK_TRANSIENT = frozenset({-9999, -7000})
"""AlimTalk: system error; the call to Kakao's API failed. Every other failure code is about the request."""
SMS_TRANSIENT = frozenset({-9999, -2021})
"""SMS: system error; failed to save the send queue."""
KOREA = timezone(timedelta(hours=9))


class _ResendParameter(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    is_resend: bool
    resend_type: str | None = None
    resend_title: str | None = None
    resend_content: str | None = None
    resend_send_no: str | None = None


class _AlimtalkRecipient(msgspec.Struct, rename="camel", frozen=True):
    recipient_no: str
    template_parameter: dict[str, str]
    resend_parameter: _ResendParameter
    recipient_grouping_key: str


class _AlimtalkRequest(msgspec.Struct, rename="camel", frozen=True):
    sender_key: str
    template_code: str
    recipient_list: list[_AlimtalkRecipient]


class _SmsRecipient(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    recipient_grouping_key: str
    recipient_no: str | None = None
    international_recipient_no: str | None = None


class _SmsRequest(msgspec.Struct, rename="camel", omit_defaults=True, frozen=True):
    body: str
    send_no: str
    recipient_list: list[_SmsRecipient]
    title: str | None = None


class _Header(msgspec.Struct, rename="camel"):
    result_code: int
    is_successful: bool
    result_message: str = ""


class _SendResult(msgspec.Struct, rename="camel"):
    result_code: int
    recipient_seq: int | None = None
    result_message: str = ""
    recipient_grouping_key: str | None = None


class _AlimtalkMessage(msgspec.Struct, rename="camel"):
    request_id: str | None = None
    send_results: list[_SendResult] = []


class _AlimtalkAnswer(msgspec.Struct):
    header: _Header
    message: _AlimtalkMessage | None = None


class _SmsData(msgspec.Struct, rename="camel"):
    request_id: str | None = None
    send_result_list: list[_SendResult] = []


class _SmsBody(msgspec.Struct):
    data: _SmsData | None = None


class _SmsAnswer(msgspec.Struct):
    header: _Header
    body: _SmsBody | None = None


_Answer = TypeVar("_Answer", _AlimtalkAnswer, _SmsAnswer)


class NhnCloudProvider:
    """AlimTalk (with NHN's own SMS resend) and SMS/LMS through one NHN Cloud project."""

    name = "nhn"
    channels = frozenset({Channel.ALIMTALK, Channel.SMS})

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        alimtalk_base_url: str = ALIMTALK_BASE_URL,
        sms_base_url: str = SMS_BASE_URL,
        app_key: str,
        secret_key: str,
        sender_key: str,
        sms_app_key: str,
        sms_secret_key: str,
        send_no: str,
        webhook_signature: str | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._http = http
        self._alimtalk_base_url = alimtalk_base_url.rstrip("/")
        self._sms_base_url = sms_base_url.rstrip("/")
        self._app_key = app_key
        self._secret_key = secret_key
        self._sender_key = sender_key
        self._sms_app_key = sms_app_key
        self._sms_secret_key = sms_secret_key
        self._send_no = send_no
        self._webhook_signature = webhook_signature
        """The value typed into NHN's webhook settings; without it receipts cannot be verified."""
        self._clock = clock

    async def send(self, delivery: Delivery) -> Outcome:
        channel = delivery.rendered.channel
        if channel is Channel.ALIMTALK:
            return await self._send_alimtalk(delivery)
        if channel is Channel.SMS:
            return await self._send_sms(delivery)
        raise ValueError(f"NHN Cloud does not carry {channel} messages")

    # -- AlimTalk --------------------------------------------------------------------------------------------

    async def _send_alimtalk(self, delivery: Delivery) -> Outcome:
        return (await self.send_many([delivery], idempotency_key=delivery.idempotency_key))[0]

    # A restock wave's AlimTalks go to NHN a thousand to a request (one template each), not a request apiece.
    bulk_limit = MAX_RECIPIENTS

    def bulk_group(self, rendered: Rendered) -> str | None:
        return rendered.template_code if rendered.channel is Channel.ALIMTALK else None

    async def send_many(self, deliveries: Sequence[Delivery], *, idempotency_key: str) -> list[Outcome]:
        """One AlimTalk request for ``deliveries`` (one template, at most :data:`MAX_RECIPIENTS`): an outcome for
        each, read from its own ``sendResults`` entry (found by its ``recipientGroupingKey``, our message id) when
        NHN took the request, else the request's outcome for all."""
        if not deliveries or len(deliveries) > MAX_RECIPIENTS:
            raise ValueError(f"an AlimTalk request carries 1 to {MAX_RECIPIENTS} recipients")
        codes = {delivery.rendered.template_code for delivery in deliveries}
        if len(codes) != 1 or None in codes:
            raise ValueError("an AlimTalk request carries one template code Kakao approved")
        request = _AlimtalkRequest(
            sender_key=self._sender_key,
            template_code=deliveries[0].rendered.template_code or "",
            recipient_list=[self._recipient(delivery) for delivery in deliveries],
        )
        headers = {
            "X-Secret-Key": self._secret_key,
            "Content-Type": JSON_UTF8,
            "X-NC-API-IDEMPOTENCY-KEY": idempotency_key,
        }
        url = f"{self._alimtalk_base_url}/alimtalk/v2.3/appkeys/{self._app_key}/messages"
        try:
            response = await self._http.post(url, content=msgspec.json.encode(request), headers=headers)
        except httpx.TransportError as error:
            return [exchange_failed(self.name, error, deduplicated=True)] * len(deliveries)
        if (early := _http_failure(self.name, response)) is not None:
            return [early] * len(deliveries)
        answer = _decode(response, _AlimtalkAnswer)
        if answer is None:
            return [_unreadable(self.name, response)] * len(deliveries)
        header, message = answer.header, answer.message
        if not header.is_successful and header.result_code == REPEATED_IDEMPOTENCY_KEY:
            repeated = Outcome(
                kind=OutcomeKind.ACCEPTED,
                provider=self.name,
                http_status=response.status_code,
                result_code=str(REPEATED_IDEMPOTENCY_KEY),
                detail=(
                    "X-NC-API-IDEMPOTENCY-KEY seen within 10 minutes (-1005): NHN accepted this AlimTalk on an "
                    "earlier attempt and sent nothing now"
                ),
            )
            return [repeated] * len(deliveries)
        results = message.send_results if message is not None else []
        request_id = message.request_id if message is not None else None
        by_key = {result.recipient_grouping_key: result for result in results if result.recipient_grouping_key}
        outcomes = []
        for position, delivery in enumerate(deliveries):
            result = by_key.get(str(delivery.message_id))
            if result is None and not by_key and position < len(results):
                result = results[position]  # an answer without grouping keys lists the recipients in order
            outcomes.append(self._alimtalk_outcome(delivery, header, request_id, result, response.status_code))
        return outcomes

    def _recipient(self, delivery: Delivery) -> _AlimtalkRecipient:
        number = dial(delivery.rendered.address)
        return _AlimtalkRecipient(
            recipient_no=number.national if number.is_korean else number.international,
            template_parameter=dict(delivery.rendered.template_parameters),
            resend_parameter=self._resend_parameter(delivery.rendered.fallback, number),
            recipient_grouping_key=str(delivery.message_id),
        )

    def _alimtalk_outcome(
        self, delivery: Delivery, header: _Header, request_id: str | None, result: _SendResult | None, status: int
    ) -> Outcome:
        if header.is_successful and result is None:
            return _unlisted(self.name, status, "AlimTalk")
        if header.is_successful and result is not None and result.result_code == 0:
            message_id = _message_id(request_id, result)
            resend = " NHN resends it as SMS/LMS if Kakao cannot deliver it." if delivery.rendered.fallback else ""
            return Outcome(
                kind=OutcomeKind.ACCEPTED,
                provider=self.name,
                http_status=status,
                result_code="0",
                detail=f"AlimTalk accepted by NHN ({message_id}).{resend}",
                provider_message_id=message_id,
            )
        failed = result if result is not None and result.result_code != 0 else None
        code = failed.result_code if failed else header.result_code
        text = failed.result_message if failed else header.result_message
        return self._alimtalk_failure(status, code, text)

    def _resend_parameter(self, fallback: Rendered | None, number: DialedNumber) -> _ResendParameter:
        if fallback is None:
            return _ResendParameter(is_resend=False)
        kind = sms_kind(fallback.text, fallback.sms_kind) if number.is_korean else "SMS"
        return _ResendParameter(
            is_resend=True,
            resend_type=kind,
            resend_title=lms_subject(fallback.title, fallback.text) if kind == "LMS" else None,
            resend_content=fallback.text,
            resend_send_no=self._send_no,
        )

    def _alimtalk_failure(self, http_status: int, code: int, message: str) -> Outcome:
        detail = f"NHN AlimTalk {code}: {message or 'no message'}"
        if code == DAILY_VOLUME_EXCEEDED:
            # NHN refuses the rest of the day; the project's volume resets with the Korean date (not documented
            # in so many words), so the message waits for the next day rather than burning its attempts now.
            wait = _until_next_korean_day(self._clock())
            return Outcome(
                kind=OutcomeKind.TRANSIENT,
                provider=self.name,
                http_status=http_status,
                result_code=str(code),
                detail=f"{detail} (daily sending volume exceeded; retry after midnight KST)",
                retry_after=wait,
            )
        kind = OutcomeKind.TRANSIENT if code in ALIMTALK_TRANSIENT else OutcomeKind.PERMANENT
        return Outcome(kind=kind, provider=self.name, http_status=http_status, result_code=str(code), detail=detail)

    # -- SMS / LMS -------------------------------------------------------------------------------------------

    async def _send_sms(self, delivery: Delivery) -> Outcome:
        rendered = delivery.rendered
        kind = sms_kind(rendered.text, rendered.sms_kind)
        number = dial(rendered.address)
        recipient = (
            _SmsRecipient(recipient_grouping_key=str(delivery.message_id), recipient_no=number.national)
            if number.is_korean
            else _SmsRecipient(
                recipient_grouping_key=str(delivery.message_id), international_recipient_no=number.international
            )
        )
        request = _SmsRequest(
            body=rendered.text,
            send_no=self._send_no,
            recipient_list=[recipient],
            title=lms_subject(rendered.title, rendered.text) if kind == "LMS" else None,
        )
        url = f"{self._sms_base_url}/sms/v3.0/appKeys/{self._sms_app_key}/sender/{'sms' if kind == 'SMS' else 'mms'}"
        headers = {"X-Secret-Key": self._sms_secret_key, "Content-Type": JSON_UTF8}
        try:
            response = await self._http.post(url, content=msgspec.json.encode(request), headers=headers)
        except httpx.TransportError as error:
            return exchange_failed(self.name, error, deduplicated=False)
        if (early := _http_failure(self.name, response)) is not None:
            return early
        answer = _decode(response, _SmsAnswer)
        if answer is None:
            return _unreadable(self.name, response)
        header = answer.header
        data = answer.body.data if answer.body is not None else None
        result = data.send_result_list[0] if data is not None and data.send_result_list else None
        if header.is_successful and result is None:
            return _unlisted(self.name, response.status_code, kind)
        if header.is_successful and result is not None and result.result_code == 0:
            message_id = _message_id(data.request_id if data else None, result)
            return Outcome(
                kind=OutcomeKind.ACCEPTED,
                provider=self.name,
                http_status=response.status_code,
                result_code="0",
                detail=f"{kind} accepted by NHN ({message_id})",
                provider_message_id=message_id,
            )
        failed = result if result is not None and result.result_code != 0 else None
        code = failed.result_code if failed else header.result_code
        text = failed.result_message if failed else header.result_message
        return Outcome(
            kind=OutcomeKind.TRANSIENT if code in SMS_TRANSIENT else OutcomeKind.PERMANENT,
            provider=self.name,
            http_status=response.status_code,
            result_code=str(code),
            detail=f"NHN {kind} {code}: {text or 'no message'}",
        )

    # -- receipts --------------------------------------------------------------------------------------------

    def parse_receipts(self, headers: Mapping[str, str], body: bytes) -> list[Receipt]:
        """Receipts from NHN's ``MESSAGE_RESULT_UPDATE`` webhook (see :mod:`notify.providers.nhn_receipts`)."""
        if self._webhook_signature is None:
            raise ReceiptRejectedError("no NHN webhook signature is configured, so no receipt can be trusted")
        return read_webhook(
            headers,
            body,
            signature=self._webhook_signature,
            alimtalk_app_key=self._app_key,
            sms_app_key=self._sms_app_key,
        )


def _http_failure(provider: str, response: httpx.Response) -> Outcome | None:
    """429 and 5xx: not processed, try again (after ``Retry-After`` when given)."""
    status = response.status_code
    if status != 429 and status < 500:
        return None
    return Outcome(
        kind=OutcomeKind.TRANSIENT,
        provider=provider,
        http_status=status,
        detail=f"HTTP {status} from NHN" + (" (rate limited)" if status == 429 else ""),
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
    )


def _unlisted(provider: str, status: int, product: str) -> Outcome:
    """NHN answered success but did not list our recipient, as it lists every one it took: the message may or may
    not have gone (the worker resends it only where NHN deduplicates: AlimTalk, under the same key)."""
    return Outcome(
        kind=OutcomeKind.TRANSIENT,
        provider=provider,
        http_status=status,
        result_code="0",
        detail=f"NHN answered success without a result for the {product} recipient; the outcome is unknown",
        delivery_unknown=True,
    )


def _unreadable(provider: str, response: httpx.Response) -> Outcome:
    status = response.status_code
    if 200 <= status < 300 or status in {408, 425}:
        # A 2xx that is not NHN's JSON: NHN may have taken the message, so it is not a permanent refusal.
        detail = f"HTTP {status} from NHN without its JSON answer; the outcome is unknown"
        return Outcome(
            kind=OutcomeKind.TRANSIENT, provider=provider, http_status=status, detail=detail, delivery_unknown=True
        )
    detail = f"HTTP {status} from NHN without its JSON answer"
    return Outcome(kind=OutcomeKind.PERMANENT, provider=provider, http_status=status, detail=detail)


def _decode(response: httpx.Response, answer_type: type[_Answer]) -> _Answer | None:
    try:
        return msgspec.json.decode(response.content, type=answer_type, strict=False)
    except msgspec.DecodeError:
        return None


def _message_id(request_id: str | None, result: _SendResult | None) -> str | None:
    if request_id is None:
        return None
    return request_id if result is None or result.recipient_seq is None else f"{request_id}:{result.recipient_seq}"


def _until_next_korean_day(now: datetime) -> float:
    """Seconds from ``now`` to a minute past the next midnight in Korea."""
    local = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(KOREA)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - local).total_seconds() + 60.0
