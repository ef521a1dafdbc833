"""Solapi AlimTalk and SMS against a local Solapi: signed requests as documented, every answer classified, no
deduplication to lean on, and reports trusted only with the webhook's secret."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from notify.providers.base import Button, OutcomeKind, ReceiptRejectedError, Rendered
from notify.providers.solapi import SolapiProvider, authorization
from tests.notify.fakes.http import Fault
from tests.notify.fakes.solapi import SEND_PATH, FakeSolapi
from tests.notify.providers import kakao_messages
from tests.notify.providers.kakao_messages import SHIPPING, SHIPPING_TEXT, SHOPPER, SMS_TEXT, delivery, sms

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

FROM_NUMBER = "029302266"
SHIPPING_CODE = "SHOA_SHIPPING_KO"
"""The shipping notice's code in Shoa's template files."""
SHIPPING_TEMPLATE = "KA01TP2301260109382045fWJtLZUIab"
"""The id Solapi gave the same template when it was registered in its console."""
RETIRED_CODE = "SHOA_RETIRED_KO"
RETIRED_TEMPLATE = "KA01TP0000000000000000000unknown"
"""An id Solapi no longer knows (the template was deleted in its console)."""
TRACKING = Button(name="배송 조회", url="https://trace.example.com/612345678901")
AUTHORIZATION = re.compile(
    r"HMAC-SHA256 apiKey=(?P<key>[^,]+), date=(?P<date>[^,]+), salt=(?P<salt>[^,]+), "
    r"signature=(?P<signature>[0-9a-f]{64})"
)


@pytest.fixture
def solapi() -> Iterator[FakeSolapi]:
    with FakeSolapi(sender_numbers={FROM_NUMBER}, templates={SHIPPING_TEMPLATE: SHIPPING}) as fake:
        fake.hang_seconds = 2.0
        yield fake


def make_provider(solapi: FakeSolapi, http: httpx.AsyncClient, **changes: object) -> SolapiProvider:
    settings: dict[str, object] = {
        "http": http,
        "base_url": solapi.url,
        "api_key": solapi.api_key,
        "api_secret": solapi.api_secret,
        "pf_id": solapi.pf_id,
        "from_number": FROM_NUMBER,
        "webhook_secret": solapi.webhook_secret,
        "template_ids": {SHIPPING_CODE: SHIPPING_TEMPLATE, RETIRED_CODE: RETIRED_TEMPLATE},
    }
    settings.update(changes)
    return SolapiProvider(**settings)  # type: ignore[arg-type]


@pytest.fixture
def provider(solapi: FakeSolapi, http: httpx.AsyncClient) -> SolapiProvider:
    return make_provider(solapi, http)


def alimtalk(**changes: object) -> Rendered:
    return kakao_messages.alimtalk(str(changes.pop("template_code", SHIPPING_CODE)), **changes)


# -- what goes on the wire -----------------------------------------------------------------------------------


async def test_every_request_is_signed_as_solapi_documents_with_a_fresh_date_and_salt(
    solapi: FakeSolapi, provider: SolapiProvider
) -> None:
    before = datetime.now(UTC)

    first = await provider.send(delivery(alimtalk()))
    second = await provider.send(delivery(alimtalk()))

    assert first.kind is second.kind is OutcomeKind.ACCEPTED
    signed = []
    for request in solapi.received:
        assert request.path == SEND_PATH
        assert request.header("content-type") == "application/json"
        match = AUTHORIZATION.fullmatch(request.header("authorization") or "")
        assert match is not None
        expected = hmac.new(solapi.api_secret.encode(), (match["date"] + match["salt"]).encode(), hashlib.sha256)
        assert match["signature"] == expected.hexdigest()
        assert match["key"] == solapi.api_key
        assert 12 <= len(match["salt"]) <= 64
        assert abs(datetime.fromisoformat(match["date"]) - before) < timedelta(minutes=1)
        signed.append((match["salt"], match["signature"]))
    assert signed[0][0] != signed[1][0]
    assert signed[0][1] != signed[1][1]


async def test_an_alimtalk_is_an_ata_message_with_the_template_variables_and_no_substitute_without_a_fallback(
    solapi: FakeSolapi, provider: SolapiProvider
) -> None:
    message = delivery(alimtalk())

    outcome = await provider.send(message)

    assert outcome.kind is OutcomeKind.ACCEPTED
    assert (outcome.provider, outcome.http_status, outcome.result_code) == ("solapi", 200, "2000")
    [request] = solapi.received
    assert request.json() == {
        "message": {
            "to": "01012345678",
            "from": FROM_NUMBER,
            "type": "ATA",
            "kakaoOptions": {
                "pfId": solapi.pf_id,
                "templateId": SHIPPING_TEMPLATE,
                "variables": {"#{이름}": "김지우", "#{택배사}": "CJ대한통운", "#{송장번호}": "612345678901"},
                "disableSms": True,
            },
            "customFields": {"shoaMessageId": str(message.message_id)},
        }
    }
    [shown] = solapi.delivered_to(SHOPPER)
    assert shown.text == SHIPPING_TEXT
    assert outcome.provider_message_id == shown.message_id
    assert "substitutes" not in outcome.detail


async def test_an_alimtalk_names_the_template_by_the_id_solapi_gave_it_not_by_shoas_code(
    solapi: FakeSolapi, provider: SolapiProvider
) -> None:
    outcome = await provider.send(delivery(alimtalk(template_code=SHIPPING_CODE)))

    assert outcome.kind is OutcomeKind.ACCEPTED
    [sent] = solapi.sent
    assert sent.message["kakaoOptions"]["templateId"] == SHIPPING_TEMPLATE
    assert SHIPPING_CODE not in str(sent.message)
    assert sent.text == SHIPPING_TEXT


async def test_an_alimtalk_whose_code_has_no_solapi_id_is_refused_for_good_without_calling_solapi(
    solapi: FakeSolapi, provider: SolapiProvider
) -> None:
    outcome = await provider.send(delivery(alimtalk(template_code="SHOA_DELIVERED_JA")))

    assert (outcome.kind, outcome.provider, outcome.http_status) == (OutcomeKind.PERMANENT, "solapi", None)
    assert "SHOA_DELIVERED_JA has no Solapi template id" in outcome.detail
    assert "SHOA_SOLAPI_TEMPLATE_IDS" in outcome.detail
    assert solapi.received == []


async def test_an_alimtalk_with_a_fallback_lets_solapi_substitute_an_sms_of_the_same_text(
    solapi: FakeSolapi, provider: SolapiProvider
) -> None:
    outcome = await provider.send(delivery(alimtalk(fallback=sms(), buttons=(TRACKING,))))

    assert outcome.kind is OutcomeKind.ACCEPTED
    assert "substitutes an SMS/LMS of the same text" in outcome.detail
    [sent] = solapi.sent
    assert sent.substitutes_sms
    options = sent.message["kakaoOptions"]
    assert options["disableSms"] is False
    assert options["buttons"] == [
        {"buttonName": "배송 조회", "buttonType": "WL", "linkMo": TRACKING.url, "linkPc": TRACKING.url}
    ]
    assert "text" not in sent.message


async def test_sms_and_lms_carry_their_type_text_and_subject(solapi: FakeSolapi, provider: SolapiProvider) -> None:
    long_text = SHIPPING_TEXT + "\n배송 조회: https://trace.example.com/612345678901\n문의: 1544-6859"

    short = await provider.send(delivery(sms(), key="k1"))
    long = await provider.send(delivery(sms(long_text, sms_kind=None, title="[쇼아] 배송 시작"), key="k2"))

    assert short.kind is long.kind is OutcomeKind.ACCEPTED
    first, second = (request.json()["message"] for request in solapi.received)
    assert (first["type"], first["text"], first["to"], first["from"]) == ("SMS", SMS_TEXT, "01012345678", FROM_NUMBER)
    assert "subject" not in first
    assert (second["type"], second["subject"], second["text"]) == ("LMS", "[쇼아] 배송 시작", long_text)


async def test_a_message_abroad_names_its_country(solapi: FakeSolapi, provider: SolapiProvider) -> None:
    await provider.send(delivery(sms("Your order has shipped.", address="+819012345678")))

    [request] = solapi.received
    message = request.json()["message"]
    assert (message["to"], message["country"]) == ("9012345678", "81")
    assert len(solapi.delivered_to("+819012345678")) == 1


# -- classification ------------------------------------------------------------------------------------------


async def test_a_wrong_secret_or_key_is_refused_for_good(solapi: FakeSolapi, http: httpx.AsyncClient) -> None:
    wrong_secret = await make_provider(solapi, http, api_secret="not-the-secret").send(delivery(sms()))
    wrong_key = await make_provider(solapi, http, api_key="NCSWRONGKEY").send(delivery(sms()))

    assert (wrong_secret.kind, wrong_secret.http_status) == (OutcomeKind.PERMANENT, 403)
    assert wrong_secret.result_code == "SignatureDoesNotMatch"
    assert (wrong_key.kind, wrong_key.result_code) == (OutcomeKind.PERMANENT, "InvalidAPIKey")
    assert solapi.delivered == []


async def test_a_clock_out_of_step_is_refused_now_and_passes_once_corrected(
    solapi: FakeSolapi, http: httpx.AsyncClient
) -> None:
    skewed = make_provider(solapi, http, clock=lambda: datetime.now(UTC) - timedelta(minutes=16))

    refused = await skewed.send(delivery(sms()))
    accepted = await make_provider(solapi, http).send(delivery(sms()))

    assert (refused.kind, refused.http_status, refused.result_code) == (
        OutcomeKind.TRANSIENT,
        403,
        "RequestTimeTooSkewed",
    )
    assert accepted.kind is OutcomeKind.ACCEPTED


async def test_solapi_refuses_a_signature_used_twice(solapi: FakeSolapi, http: httpx.AsyncClient) -> None:
    header = authorization(api_key=solapi.api_key, api_secret=solapi.api_secret, now=datetime.now(UTC))
    body = {"message": {"to": "01012345678", "from": FROM_NUMBER, "type": "SMS", "text": SMS_TEXT}}

    first = await http.post(f"{solapi.url}{SEND_PATH}", json=body, headers={"Authorization": header})
    replayed = await http.post(f"{solapi.url}{SEND_PATH}", json=body, headers={"Authorization": header})

    assert first.status_code == 200
    assert first.json()["statusCode"] == "2000"
    assert replayed.status_code == 403
    assert replayed.json()["errorCode"] == "DuplicatedSignature"


async def test_a_duplicated_signature_is_transient_as_the_next_request_signs_afresh(
    solapi: FakeSolapi, provider: SolapiProvider
) -> None:
    solapi.fail_next(1, "duplicated_signature")

    message = delivery(sms())
    refused = await provider.send(message)
    retried = await provider.send(replace(message, attempt=2))

    assert (refused.kind, refused.result_code) == (OutcomeKind.TRANSIENT, "DuplicatedSignature")
    assert retried.kind is OutcomeKind.ACCEPTED


async def test_an_empty_balance_makes_messages_wait_until_it_is_topped_up(
    solapi: FakeSolapi, provider: SolapiProvider
) -> None:
    solapi.balance = 0

    message = delivery(alimtalk())
    waiting = await provider.send(message)
    solapi.balance = 10
    sent = await provider.send(replace(message, attempt=2))

    assert (waiting.kind, waiting.http_status, waiting.result_code) == (
        OutcomeKind.TRANSIENT,
        402,
        "NotEnoughBalance",
    )
    assert waiting.retry_after is not None
    assert waiting.retry_after >= 1800
    assert "top-up" in waiting.detail
    assert sent.kind is OutcomeKind.ACCEPTED
    assert solapi.balance == 9


@pytest.mark.parametrize(
    ("rendered", "status"),
    [
        (alimtalk(template_code=RETIRED_CODE), "1042"),
        (alimtalk(template_parameters={"이름": "김지우"}), "1043"),
        (sms("배송 시작 🚚"), "1029"),
        (sms("배송이 시작됐습니다. " * 10), "1031"),
    ],
)
async def test_a_message_solapi_cannot_take_is_refused_for_good(
    solapi: FakeSolapi, provider: SolapiProvider, rendered: Rendered, status: str
) -> None:
    outcome = await provider.send(delivery(rendered))

    assert (outcome.kind, outcome.http_status, outcome.result_code) == (OutcomeKind.PERMANENT, 400, "ValidationError")
    assert f"({status})" in outcome.detail
    assert solapi.delivered == []


async def test_an_unregistered_sender_number_is_refused_for_good(solapi: FakeSolapi, http: httpx.AsyncClient) -> None:
    outcome = await make_provider(solapi, http, from_number="0212345678").send(delivery(sms()))

    assert (outcome.kind, outcome.result_code) == (OutcomeKind.PERMANENT, "ValidationError")
    assert "(1062)" in outcome.detail


async def test_server_errors_rate_limits_and_timeouts_are_transient(
    solapi: FakeSolapi, provider: SolapiProvider
) -> None:
    solapi.fail_next(1, Fault.SERVER_ERROR)
    solapi.fail_next(1, Fault.RATE_LIMIT, retry_after=12)
    solapi.fail_next(1, Fault.HANG)

    server_error = await provider.send(delivery(sms()))
    limited = await provider.send(delivery(sms()))
    hung = await provider.send(delivery(sms()))

    assert (server_error.kind, server_error.http_status, server_error.result_code) == (
        OutcomeKind.TRANSIENT,
        500,
        "InternalError",
    )
    assert (limited.kind, limited.http_status, limited.retry_after) == (OutcomeKind.TRANSIENT, 429, 12.0)
    assert hung.kind is OutcomeKind.TRANSIENT
    assert "ReadTimeout" in hung.detail
    assert solapi.delivered == []


async def test_a_retry_after_a_lost_answer_sends_again_because_solapi_cannot_deduplicate(
    solapi: FakeSolapi, provider: SolapiProvider
) -> None:
    solapi.fail_next(1, Fault.LOST_ANSWER)
    message = delivery(alimtalk())

    lost = await provider.send(message)
    retried = await provider.send(replace(message, attempt=2))

    assert lost.kind is OutcomeKind.TRANSIENT
    assert "cannot deduplicate a retry" in lost.detail
    assert retried.kind is OutcomeKind.ACCEPTED
    shown = solapi.delivered_to(SHOPPER)
    assert len(shown) == 2
    assert shown[0].body["customFields"] == shown[1].body["customFields"]


# -- reports -------------------------------------------------------------------------------------------------


async def test_a_received_report_names_the_message_the_send_returned(
    solapi: FakeSolapi, provider: SolapiProvider
) -> None:
    outcome = await provider.send(delivery(alimtalk()))
    assert outcome.provider_message_id is not None

    [receipt] = provider.parse_receipts(*solapi.receipt_webhook(outcome.provider_message_id))

    assert (receipt.provider_message_id, receipt.delivered, receipt.result_code) == (
        outcome.provider_message_id,
        True,
        "4000",
    )


async def test_a_failed_report_comes_back_failed_in_either_report_shape(
    solapi: FakeSolapi, provider: SolapiProvider
) -> None:
    outcome = await provider.send(delivery(alimtalk()))
    assert outcome.provider_message_id is not None

    [flat] = provider.parse_receipts(*solapi.receipt_webhook(outcome.provider_message_id, status_code="3104"))
    [wrapped] = provider.parse_receipts(
        *solapi.receipt_webhook(outcome.provider_message_id, status_code="3104", wrapped=True)
    )

    assert flat == wrapped
    assert (flat.delivered, flat.result_code) == (False, "3104")


async def test_reports_still_under_way_and_other_events_carry_no_receipt(
    solapi: FakeSolapi, provider: SolapiProvider
) -> None:
    outcome = await provider.send(delivery(sms()))
    assert outcome.provider_message_id is not None

    pending = provider.parse_receipts(*solapi.receipt_webhook(outcome.provider_message_id, status_code="3000"))
    group = provider.parse_receipts(*solapi.receipt_webhook(outcome.provider_message_id, event="GROUP-REPORT"))

    assert pending == group == []


async def test_the_webhook_secret_is_accepted_hashed_or_plain(solapi: FakeSolapi, provider: SolapiProvider) -> None:
    outcome = await provider.send(delivery(sms()))
    assert outcome.provider_message_id is not None

    hashed = provider.parse_receipts(*solapi.receipt_webhook(outcome.provider_message_id))
    plain = provider.parse_receipts(*solapi.receipt_webhook(outcome.provider_message_id, raw_secret=True))

    assert hashed == plain
    assert [receipt.delivered for receipt in hashed] == [True]


async def test_a_report_without_the_webhook_secret_is_rejected(
    solapi: FakeSolapi, http: httpx.AsyncClient, provider: SolapiProvider
) -> None:
    outcome = await provider.send(delivery(sms()))
    assert outcome.provider_message_id is not None
    headers, body = solapi.receipt_webhook(outcome.provider_message_id)
    forged = {**headers, "X-Solapi-Secret": hashlib.sha1(b"guessed", usedforsecurity=False).hexdigest()}
    unsigned = {name: value for name, value in headers.items() if name != "X-Solapi-Secret"}

    with pytest.raises(ReceiptRejectedError):
        provider.parse_receipts(forged, body)
    with pytest.raises(ReceiptRejectedError):
        provider.parse_receipts(unsigned, body)
    with pytest.raises(ReceiptRejectedError):
        make_provider(solapi, http, webhook_secret=None).parse_receipts(headers, body)
