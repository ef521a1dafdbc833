"""The messages the AlimTalk and SMS adapter tests send (NHN Cloud and Solapi alike): one shipping notice, as an
AlimTalk filled from its template and as the SMS of the same content."""

from __future__ import annotations

import uuid

from notify.providers.base import Channel, Delivery, Rendered

SHOPPER = "+821012345678"
SHIPPING = "#{이름}님, 주문하신 상품의 배송이 시작됐습니다.\n택배사: #{택배사}\n송장번호: #{송장번호}"
PARAMETERS = {"이름": "김지우", "택배사": "CJ대한통운", "송장번호": "612345678901"}
SHIPPING_TEXT = "김지우님, 주문하신 상품의 배송이 시작됐습니다.\n택배사: CJ대한통운\n송장번호: 612345678901"
SMS_TEXT = "[쇼아] 배송 시작: CJ대한통운 612345678901"


def sms(text: str = SMS_TEXT, **changes: object) -> Rendered:
    fields: dict[str, object] = {"channel": Channel.SMS, "address": SHOPPER, "text": text, "sms_kind": "SMS"}
    fields.update(changes)
    return Rendered(**fields)  # type: ignore[arg-type]


def alimtalk(template_code: str, **changes: object) -> Rendered:
    """The shipping notice as an AlimTalk of ``template_code`` (each provider names approved templates its own
    way); ``changes`` replace any field, ``fallback`` included."""
    fields: dict[str, object] = {
        "channel": Channel.ALIMTALK,
        "address": SHOPPER,
        "text": SHIPPING_TEXT,
        "template_code": template_code,
        "template_parameters": PARAMETERS,
    }
    fields.update(changes)
    return Rendered(**fields)  # type: ignore[arg-type]


def delivery(rendered: Rendered, *, key: str = "order-1001:shipping_started:alimtalk", attempt: int = 1) -> Delivery:
    return Delivery(message_id=uuid.uuid4(), idempotency_key=key, rendered=rendered, attempt=attempt)
