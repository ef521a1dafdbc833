"""NHN Cloud's delivery receipts: the ``MESSAGE_RESULT_UPDATE`` webhook of KakaoTalk Bizmessage and of SMS.

NHN POSTs ``{hooksId, webhookConfigId, productName, appKey, event, hooks[]}`` to the URL set in the console's
webhook settings, with ``X-Toast-Webhook-Signature`` holding the signature typed in there (docs.nhncloud.com,
Notification > KakaoTalk Bizmessage > Webhook > API Guide; Notification > SMS > Webhook). Comparing that value is the
only verification NHN documents. Each event has its own hook shape; only message results become receipts:

- AlimTalk hooks (``productName`` "KakaoTalk Bizmessage", ``kakaoMessageType`` ``ALIMTALK_*``) carry Kakao's
  delivery result code: ``1000`` delivered; ``3005`` (sent, unconfirmed) and ``4161`` (being processed) settle
  nothing yet; every other code is a failure (``3018`` cannot send, ``3019`` not a KakaoTalk user, ``3020``
  blocked …). The hook says nothing of the SMS NHN resends after a failure (``resendParameter``).
- SMS hooks (``productName`` "SMS") carry ``messageStatus``: ``COMPLETED`` delivered; ``FAILED``, ``FAILED_AD`` and
  ``CANCEL`` failed; ``DUPLICATED`` settles nothing.

Receipts name messages ``"{requestId}:{recipientSeq}"``, as the send answers do.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

import msgspec

from notify.providers.base import Receipt, ReceiptRejectedError

if TYPE_CHECKING:
    from collections.abc import Mapping

MESSAGE_RESULT_UPDATE = "MESSAGE_RESULT_UPDATE"
KAKAO_DELIVERED = frozenset({"1000", "MRC01"})
KAKAO_UNSETTLED = frozenset({"3005", "4161"})
SMS_DELIVERED = "COMPLETED"
SMS_FAILED = frozenset({"FAILED", "FAILED_AD", "CANCEL"})


class _Hook(msgspec.Struct, rename="camel"):
    request_id: str
    recipient_seq: int
    result_code: str | int | None = None
    message_status: str | None = None
    kakao_message_type: str | None = None


class _Webhook(msgspec.Struct, rename="camel"):
    event: str
    app_key: str = ""
    product_name: str = ""
    hooks: msgspec.Raw = msgspec.Raw(b"[]")
    """Read only for message results: other events' hooks have other shapes."""


def read_webhook(
    headers: Mapping[str, str], body: bytes, *, signature: str, alimtalk_app_key: str, sms_app_key: str
) -> list[Receipt]:
    """The receipts in one webhook call; other events and other projects' app keys verify but carry none."""
    given = next((value for name, value in headers.items() if name.lower() == "x-toast-webhook-signature"), None)
    if given is None or not hmac.compare_digest(given.encode(), signature.encode()):
        raise ReceiptRejectedError("X-Toast-Webhook-Signature is missing or does not match")
    try:
        webhook = msgspec.json.decode(body, type=_Webhook, strict=False)
        is_sms = webhook.product_name.strip().lower() == "sms"
        ours = webhook.app_key == (sms_app_key if is_sms else alimtalk_app_key)
        if webhook.event != MESSAGE_RESULT_UPDATE or not ours:
            return []
        hooks = msgspec.json.decode(webhook.hooks, type=list[_Hook], strict=False)
    except msgspec.DecodeError as error:
        raise ReceiptRejectedError(f"not an NHN webhook body: {error}") from error
    return _sms_receipts(hooks) if is_sms else _alimtalk_receipts(hooks)


def _alimtalk_receipts(hooks: list[_Hook]) -> list[Receipt]:
    receipts = []
    for hook in hooks:
        code = "" if hook.result_code is None else str(hook.result_code)
        if (hook.kakao_message_type or "ALIMTALK").startswith("ALIMTALK") and code and code not in KAKAO_UNSETTLED:
            delivered = code in KAKAO_DELIVERED
            receipts.append(
                Receipt(
                    provider_message_id=f"{hook.request_id}:{hook.recipient_seq}",
                    delivered=delivered,
                    result_code=code,
                    detail="AlimTalk delivered" if delivered else f"Kakao could not deliver the AlimTalk ({code})",
                )
            )
    return receipts


def _sms_receipts(hooks: list[_Hook]) -> list[Receipt]:
    receipts = []
    for hook in hooks:
        status = (hook.message_status or "").upper()
        if status == SMS_DELIVERED or status in SMS_FAILED:
            code = None if hook.result_code is None else str(hook.result_code)
            receipts.append(
                Receipt(
                    provider_message_id=f"{hook.request_id}:{hook.recipient_seq}",
                    delivered=status == SMS_DELIVERED,
                    result_code=code,
                    detail=f"SMS {status.lower()}" + (f" ({code})" if code else ""),
                )
            )
    return receipts
