"""NHN Cloud AlimTalk and SMS against a local NHN: the documented requests, every answer classified, retries
deduplicated where NHN can, and delivery receipts trusted only with the webhook's signature."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from notify.providers.base import OutcomeKind, ReceiptRejectedError, Rendered
from notify.providers.nhn import NhnCloudProvider
from tests.notify.fakes.http import Fault
from tests.notify.fakes.nhn import FakeNhnCloud
from tests.notify.providers import kakao_messages
from tests.notify.providers.kakao_messages import PARAMETERS, SHIPPING, SHIPPING_TEXT, SHOPPER, SMS_TEXT, delivery, sms

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

SHIPPING_TEMPLATE = "SHIP01"


@pytest.fixture
def nhn() -> Iterator[FakeNhnCloud]:
    with FakeNhnCloud(templates={SHIPPING_TEMPLATE: SHIPPING}) as fake:
        fake.hang_seconds = 2.0
        yield fake


def make_provider(nhn: FakeNhnCloud, http: httpx.AsyncClient, **changes: object) -> NhnCloudProvider:
    settings: dict[str, object] = {
        "http": http,
        "alimtalk_base_url": nhn.url,
        "sms_base_url": nhn.url,
        "app_key": nhn.app_key,
        "secret_key": nhn.secret_key,
        "sender_key": nhn.sender_key,
        "sms_app_key": nhn.sms_app_key,
        "sms_secret_key": nhn.sms_secret_key,
        "send_no": "15446859",
        "webhook_signature": nhn.webhook_signature,
    }
    settings.update(changes)
    return NhnCloudProvider(**settings)  # type: ignore[arg-type]


@pytest.fixture
def provider(nhn: FakeNhnCloud, http: httpx.AsyncClient) -> NhnCloudProvider:
    return make_provider(nhn, http)


def alimtalk(**changes: object) -> Rendered:
    return kakao_messages.alimtalk(str(changes.pop("template_code", SHIPPING_TEMPLATE)), **changes)


# -- AlimTalk: what goes on the wire ---------------------------------------------------------------------------


async def test_an_alimtalk_goes_out_with_the_secret_the_idempotency_key_and_the_template_values(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    message = delivery(alimtalk())

    outcome = await provider.send(message)

    assert outcome.kind is OutcomeKind.ACCEPTED
    assert (outcome.provider, outcome.http_status, outcome.result_code) == ("nhn", 200, "0")
    [request] = nhn.received
    assert request.method == "POST"
    assert request.path == f"/alimtalk/v2.3/appkeys/{nhn.app_key}/messages"
    assert request.header("x-secret-key") == nhn.secret_key
    assert request.header("content-type") == "application/json;charset=UTF-8"
    assert request.header("x-nc-api-idempotency-key") == message.idempotency_key
    assert request.json() == {
        "senderKey": nhn.sender_key,
        "templateCode": SHIPPING_TEMPLATE,
        "recipientList": [
            {
                "recipientNo": "01012345678",
                "templateParameter": PARAMETERS,
                "resendParameter": {"isResend": False},
                "recipientGroupingKey": str(message.message_id),
            }
        ],
    }
    [shown] = nhn.delivered_to(SHOPPER)
    assert shown.text == SHIPPING_TEXT
    assert outcome.provider_message_id == shown.message_id
    assert outcome.provider_message_id == f"{nhn.sent[0].request_id}:1"


async def test_an_alimtalk_with_a_fallback_asks_nhn_to_resend_it_as_that_sms(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    outcome = await provider.send(delivery(alimtalk(fallback=sms())))

    assert outcome.kind is OutcomeKind.ACCEPTED
    assert "resends it as SMS/LMS" in outcome.detail
    [sent] = nhn.sent
    assert sent.resend == {"isResend": True, "resendType": "SMS", "resendContent": SMS_TEXT, "resendSendNo": "15446859"}


async def test_a_long_fallback_is_resent_as_an_lms_with_its_title(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    long_text = SHIPPING_TEXT + "\n배송 조회: https://trace.example.com/612345678901\n문의: 1544-6859"
    fallback = sms(long_text, sms_kind="LMS", title="[쇼아] 배송 시작")

    await provider.send(delivery(alimtalk(fallback=fallback)))

    [sent] = nhn.sent
    assert sent.resend is not None
    assert sent.resend["resendType"] == "LMS"
    assert sent.resend["resendTitle"] == "[쇼아] 배송 시작"
    assert sent.resend["resendContent"] == long_text


async def test_a_fallback_from_a_sender_number_nhn_sms_does_not_know_is_refused_for_good(
    nhn: FakeNhnCloud, http: httpx.AsyncClient
) -> None:
    provider = make_provider(nhn, http, send_no="0212345678")

    outcome = await provider.send(delivery(alimtalk(fallback=sms())))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert outcome.result_code == "-1003"
    assert nhn.delivered == []


# -- AlimTalk: idempotency -----------------------------------------------------------------------------------


async def test_a_retry_after_a_lost_answer_is_accepted_by_the_idempotency_key_and_sends_nothing_twice(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    nhn.fail_next(1, Fault.LOST_ANSWER)
    message = delivery(alimtalk())

    lost = await provider.send(message)
    retried = await provider.send(replace(message, attempt=2))

    assert lost.kind is OutcomeKind.TRANSIENT
    assert "deduplicates the retry" in lost.detail
    assert retried.kind is OutcomeKind.ACCEPTED
    assert retried.result_code == "-1005"
    assert "accepted this AlimTalk on an earlier attempt" in retried.detail
    assert len(nhn.delivered_to(SHOPPER)) == 1
    assert [request.header("x-nc-api-idempotency-key") for request in nhn.received] == [message.idempotency_key] * 2


async def test_the_idempotency_key_protects_ten_minutes_and_no_longer(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    now = [1000.0]
    nhn.clock = lambda: now[0]
    message = delivery(alimtalk())
    first = await provider.send(message)

    now[0] += 9 * 60
    within = await provider.send(replace(message, attempt=2))
    now[0] += 2 * 60
    after = await provider.send(replace(message, attempt=3))

    assert first.kind is within.kind is after.kind is OutcomeKind.ACCEPTED
    assert within.result_code == "-1005"
    assert after.result_code == "0"
    assert len(nhn.delivered_to(SHOPPER)) == 2


async def test_other_messages_to_the_same_shopper_are_not_mistaken_for_retries(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    await provider.send(delivery(alimtalk(), key="order-1001:shipping_started:alimtalk"))
    await provider.send(delivery(alimtalk(), key="order-1001:delivered:alimtalk"))

    assert len(nhn.delivered_to(SHOPPER)) == 2


async def test_a_refused_request_does_not_use_up_its_idempotency_key(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    nhn.fail_next(1, Fault.SERVER_ERROR)
    message = delivery(alimtalk())

    failed = await provider.send(message)
    retried = await provider.send(replace(message, attempt=2))

    assert failed.kind is OutcomeKind.TRANSIENT
    assert (retried.kind, retried.result_code) == (OutcomeKind.ACCEPTED, "0")
    assert len(nhn.delivered_to(SHOPPER)) == 1


# -- AlimTalk: classification --------------------------------------------------------------------------------


async def test_server_errors_and_outages_are_transient(nhn: FakeNhnCloud, provider: NhnCloudProvider) -> None:
    nhn.fail_next(1, Fault.SERVER_ERROR)
    nhn.fail_next(1, Fault.UNAVAILABLE)

    server_error = await provider.send(delivery(alimtalk()))
    unavailable = await provider.send(delivery(alimtalk()))

    assert (server_error.kind, server_error.http_status) == (OutcomeKind.TRANSIENT, 500)
    assert (unavailable.kind, unavailable.http_status) == (OutcomeKind.TRANSIENT, 503)
    assert nhn.delivered == []


async def test_a_rate_limit_is_transient_and_says_how_long_to_wait(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    nhn.rate_limit(0.001, burst=1, retry_after=7)

    first = await provider.send(delivery(alimtalk(), key="a"))
    limited = await provider.send(delivery(alimtalk(), key="b"))

    assert first.kind is OutcomeKind.ACCEPTED
    assert (limited.kind, limited.http_status, limited.retry_after) == (OutcomeKind.TRANSIENT, 429, 7.0)


async def test_a_hanging_or_unreachable_nhn_is_transient(nhn: FakeNhnCloud, provider: NhnCloudProvider) -> None:
    nhn.fail_next(1, Fault.HANG)

    hung = await provider.send(delivery(alimtalk()))
    nhn.close()
    unreachable = await provider.send(delivery(alimtalk()))

    assert hung.kind is OutcomeKind.TRANSIENT
    assert "ReadTimeout" in hung.detail
    assert unreachable.kind is OutcomeKind.TRANSIENT
    assert "nothing was sent" in unreachable.detail


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("invalid_parameter", "4"),
        ("invalid_appkey", "-1000"),
        ("no_sender_key", "-1006"),
        ("sender_blocked", "-1027"),
        ("sender_not_found", "-2017"),
        ("invalid_button", "-2018"),
        ("template_not_found", "-3003"),
    ],
)
async def test_nhn_refusals_about_the_request_are_permanent(
    nhn: FakeNhnCloud, provider: NhnCloudProvider, fault: str, code: str
) -> None:
    nhn.fail_next(1, fault)

    outcome = await provider.send(delivery(alimtalk()))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert outcome.result_code == code
    assert outcome.detail.startswith(f"NHN AlimTalk {code}: ")


@pytest.mark.parametrize(("fault", "code"), [("system_error", "-9999"), ("vendor_failed", "-7000")])
async def test_nhn_system_errors_are_transient(
    nhn: FakeNhnCloud, provider: NhnCloudProvider, fault: str, code: str
) -> None:
    nhn.fail_next(1, fault)

    outcome = await provider.send(delivery(alimtalk()))

    assert (outcome.kind, outcome.result_code) == (OutcomeKind.TRANSIENT, code)


async def test_a_wrong_secret_key_or_sender_key_is_refused_for_good(nhn: FakeNhnCloud, http: httpx.AsyncClient) -> None:
    wrong_secret = await make_provider(nhn, http, secret_key="not-the-secret").send(delivery(alimtalk()))
    wrong_sender = await make_provider(nhn, http, sender_key="x" * 40).send(delivery(alimtalk()))

    assert (wrong_secret.kind, wrong_secret.result_code) == (OutcomeKind.PERMANENT, "-1001")
    assert (wrong_sender.kind, wrong_sender.result_code) == (OutcomeKind.PERMANENT, "-2017")
    assert nhn.delivered == []


async def test_a_template_value_missing_for_the_recipient_is_permanent(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    outcome = await provider.send(delivery(alimtalk(template_parameters={"이름": "김지우"})))

    assert (outcome.kind, outcome.result_code) == (OutcomeKind.PERMANENT, "-3049")
    assert "not matched to template" in outcome.detail


async def test_the_daily_volume_limit_waits_for_the_next_korean_day(nhn: FakeNhnCloud, http: httpx.AsyncClient) -> None:
    eleven_pm_in_seoul = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
    provider = make_provider(nhn, http, clock=lambda: eleven_pm_in_seoul)
    nhn.fail_next(1, "daily_limit")

    outcome = await provider.send(delivery(alimtalk()))

    assert (outcome.kind, outcome.result_code) == (OutcomeKind.TRANSIENT, "-1017")
    assert outcome.retry_after == 3600 + 60
    assert "daily sending volume" in outcome.detail


# -- SMS / LMS -----------------------------------------------------------------------------------------------


async def test_an_sms_goes_to_the_sms_api_with_its_own_keys(nhn: FakeNhnCloud, provider: NhnCloudProvider) -> None:
    message = delivery(sms(), key="order-1001:shipping_started:sms")

    outcome = await provider.send(message)

    assert outcome.kind is OutcomeKind.ACCEPTED
    [request] = nhn.received
    assert request.path == f"/sms/v3.0/appKeys/{nhn.sms_app_key}/sender/sms"
    assert request.header("x-secret-key") == nhn.sms_secret_key
    assert request.header("content-type") == "application/json;charset=UTF-8"
    assert request.header("x-nc-api-idempotency-key") is None
    assert request.json() == {
        "body": SMS_TEXT,
        "sendNo": "15446859",
        "recipientList": [{"recipientGroupingKey": str(message.message_id), "recipientNo": "01012345678"}],
    }
    [shown] = nhn.delivered_to(SHOPPER)
    assert (shown.text, shown.message_id) == (SMS_TEXT, outcome.provider_message_id)


async def test_an_lms_goes_to_the_mms_endpoint_with_a_title(nhn: FakeNhnCloud, provider: NhnCloudProvider) -> None:
    text = SHIPPING_TEXT + "\n배송 조회: https://trace.example.com/612345678901"

    with_title = await provider.send(delivery(sms(text, sms_kind="LMS", title="[쇼아] 배송 시작")))
    without_title = await provider.send(delivery(sms(text, sms_kind=None)))

    assert with_title.kind is without_title.kind is OutcomeKind.ACCEPTED
    first, second = nhn.received
    assert first.path == second.path == f"/sms/v3.0/appKeys/{nhn.sms_app_key}/sender/mms"
    assert first.json()["title"] == "[쇼아] 배송 시작"
    derived = second.json()["title"]
    assert derived == "김지우님, 주문하신 상품의 배송이…"
    assert len(derived.encode("euc-kr")) <= 40
    assert [send.product for send in nhn.sent] == ["lms", "lms"]


async def test_an_sms_abroad_is_addressed_with_its_country_code(nhn: FakeNhnCloud, provider: NhnCloudProvider) -> None:
    await provider.send(delivery(sms("Your order has shipped.", address="+819012345678")))

    [request] = nhn.received
    [recipient] = request.json()["recipientList"]
    assert recipient["internationalRecipientNo"] == "819012345678"
    assert "recipientNo" not in recipient
    assert len(nhn.delivered_to("+819012345678")) == 1


async def test_sms_refusals_are_permanent_and_system_errors_transient(
    nhn: FakeNhnCloud, http: httpx.AsyncClient, provider: NhnCloudProvider
) -> None:
    emoji = await provider.send(delivery(sms("배송 시작 🚚")))
    unregistered = await make_provider(nhn, http, send_no="0212345678").send(delivery(sms()))
    nhn.fail_next(1, "sms_queue_failed")
    queue = await provider.send(delivery(sms()))

    assert (emoji.kind, emoji.result_code) == (OutcomeKind.PERMANENT, "-2023")
    assert (unregistered.kind, unregistered.result_code) == (OutcomeKind.PERMANENT, "-2312")
    assert (queue.kind, queue.result_code) == (OutcomeKind.TRANSIENT, "-2021")
    assert nhn.delivered == []


async def test_an_sms_retried_after_a_lost_answer_is_sent_again_as_nhn_cannot_deduplicate_it(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    nhn.fail_next(1, Fault.LOST_ANSWER)
    message = delivery(sms(), key="order-1001:shipping_started:sms")

    lost = await provider.send(message)
    retried = await provider.send(replace(message, attempt=2))

    assert lost.kind is OutcomeKind.TRANSIENT
    assert "cannot deduplicate a retry" in lost.detail
    assert retried.kind is OutcomeKind.ACCEPTED
    assert len(nhn.delivered_to(SHOPPER)) == 2


# -- receipts ------------------------------------------------------------------------------------------------


async def test_a_delivered_alimtalk_receipt_names_the_message_the_send_returned(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    outcome = await provider.send(delivery(alimtalk()))
    assert outcome.provider_message_id is not None

    headers, body = nhn.receipt_webhook(outcome.provider_message_id)
    [receipt] = provider.parse_receipts(headers, body)

    assert receipt.provider_message_id == outcome.provider_message_id
    assert receipt.delivered is True
    assert receipt.result_code == "1000"


async def test_an_alimtalk_kakao_could_not_deliver_comes_back_failed_with_kakaos_code(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    outcome = await provider.send(delivery(alimtalk()))
    assert outcome.provider_message_id is not None

    headers, body = nhn.receipt_webhook(outcome.provider_message_id, delivered=False, result_code="3019")
    [receipt] = provider.parse_receipts(headers, body)

    assert (receipt.delivered, receipt.result_code) == (False, "3019")
    assert "3019" in receipt.detail


async def test_an_unsettled_kakao_result_is_not_a_receipt_yet(nhn: FakeNhnCloud, provider: NhnCloudProvider) -> None:
    outcome = await provider.send(delivery(alimtalk()))
    assert outcome.provider_message_id is not None

    headers, body = nhn.receipt_webhook(outcome.provider_message_id, delivered=False, result_code="3005")

    assert provider.parse_receipts(headers, body) == []


async def test_sms_receipts_follow_the_message_status(nhn: FakeNhnCloud, provider: NhnCloudProvider) -> None:
    received = await provider.send(delivery(sms()))
    failed = await provider.send(delivery(sms()))
    assert received.provider_message_id is not None
    assert failed.provider_message_id is not None

    [ok] = provider.parse_receipts(*nhn.receipt_webhook(received.provider_message_id))
    [ko] = provider.parse_receipts(*nhn.receipt_webhook(failed.provider_message_id, delivered=False))

    assert (ok.provider_message_id, ok.delivered, ok.result_code) == (received.provider_message_id, True, "1000")
    assert (ko.provider_message_id, ko.delivered) == (failed.provider_message_id, False)


async def test_a_webhook_without_the_configured_signature_is_rejected(
    nhn: FakeNhnCloud, http: httpx.AsyncClient, provider: NhnCloudProvider
) -> None:
    outcome = await provider.send(delivery(alimtalk()))
    assert outcome.provider_message_id is not None
    headers, body = nhn.receipt_webhook(outcome.provider_message_id)
    forged = {**headers, "X-Toast-Webhook-Signature": "guessed"}
    unsigned = {name: value for name, value in headers.items() if name != "X-Toast-Webhook-Signature"}

    with pytest.raises(ReceiptRejectedError):
        provider.parse_receipts(forged, body)
    with pytest.raises(ReceiptRejectedError):
        provider.parse_receipts(unsigned, body)
    with pytest.raises(ReceiptRejectedError):
        make_provider(nhn, http, webhook_signature=None).parse_receipts(headers, body)


async def test_the_signature_header_is_read_whatever_its_case(nhn: FakeNhnCloud, provider: NhnCloudProvider) -> None:
    outcome = await provider.send(delivery(alimtalk()))
    assert outcome.provider_message_id is not None
    headers, body = nhn.receipt_webhook(outcome.provider_message_id)

    receipts = provider.parse_receipts({name.lower(): value for name, value in headers.items()}, body)

    assert [receipt.delivered for receipt in receipts] == [True]


async def test_other_webhook_events_and_other_projects_carry_no_receipt(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    other_project = FakeNhnCloud(app_key="another-project", webhook_signature=nhn.webhook_signature)
    hook = {"requestId": "20261206230000abcdefghijk", "recipientSeq": 1, "resultCode": "1000"}

    reviewed = nhn.webhook("TEMPLATE_STATUS_UPDATE", [{"templateCode": SHIPPING_TEMPLATE, "status": "TSC03"}])
    elsewhere = other_project.webhook("MESSAGE_RESULT_UPDATE", [hook])

    assert provider.parse_receipts(*reviewed) == []
    assert provider.parse_receipts(*elsewhere) == []


# -- the local NHN itself ------------------------------------------------------------------------------------


async def test_the_local_nhn_answers_a_repeated_idempotency_key_with_nhns_documented_header(
    nhn: FakeNhnCloud, http: httpx.AsyncClient
) -> None:
    url = f"{nhn.url}/alimtalk/v2.3/appkeys/{nhn.app_key}/messages"
    headers = {"X-Secret-Key": nhn.secret_key, "X-NC-API-IDEMPOTENCY-KEY": "order-1001"}
    body = {
        "senderKey": nhn.sender_key,
        "templateCode": SHIPPING_TEMPLATE,
        "recipientList": [{"recipientNo": "01012345678", "templateParameter": PARAMETERS}],
    }

    first = await http.post(url, json=body, headers=headers)
    repeated = await http.post(url, json=body, headers=headers)
    unsigned = await http.post(url, json=body, headers={"X-NC-API-IDEMPOTENCY-KEY": "order-1002"})

    assert first.json()["header"] == {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": True}
    [result] = first.json()["message"]["sendResults"]
    assert (result["recipientSeq"], result["recipientNo"], result["resultCode"]) == (1, "01012345678", 0)
    assert repeated.json() == {
        "header": {
            "resultCode": -1005,
            "resultMessage": "The same 'X-NC-API-IDEMPOTENCY-KEY' was used within the last 10 minute.",
            "isSuccessful": False,
        }
    }
    assert unsigned.json()["header"]["resultCode"] == -1001
    assert len(nhn.delivered) == 1


# -- AlimTalk: many recipients in one request ---------------------------------------------------------------------


async def test_many_alimtalks_go_in_one_request_and_each_reads_its_own_result(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    shoppers = ["+821011110001", "+821011110002", "+821011110003"]
    incomplete = {name: value for name, value in PARAMETERS.items() if name != "송장번호"}
    deliveries = [
        delivery(alimtalk(address=shoppers[0]), key="a"),
        delivery(alimtalk(address=shoppers[1], template_parameters=incomplete), key="b"),  # NHN refuses this one
        delivery(alimtalk(address=shoppers[2]), key="c"),
    ]

    outcomes = await provider.send_many(deliveries, idempotency_key="bulk:wave-1")

    [request] = nhn.received
    assert request.header("x-nc-api-idempotency-key") == "bulk:wave-1"
    assert [r["recipientGroupingKey"] for r in request.json()["recipientList"]] == [
        str(d.message_id) for d in deliveries
    ]
    assert [outcome.kind for outcome in outcomes] == [
        OutcomeKind.ACCEPTED, OutcomeKind.PERMANENT, OutcomeKind.ACCEPTED,
    ]  # fmt: skip
    assert outcomes[1].result_code == "-3049"
    request_id = nhn.sent[0].request_id
    assert [outcomes[0].provider_message_id, outcomes[2].provider_message_id] == [f"{request_id}:1", f"{request_id}:3"]
    assert [len(nhn.delivered_to(shopper)) for shopper in shoppers] == [1, 0, 1]


async def test_a_repeated_request_key_accepts_every_recipient_and_sends_nothing_again(
    nhn: FakeNhnCloud, provider: NhnCloudProvider
) -> None:
    deliveries = [delivery(alimtalk(address=f"+82101111000{n}"), key=str(n)) for n in range(3)]
    await provider.send_many(deliveries, idempotency_key="bulk:wave-2")

    again = await provider.send_many(deliveries, idempotency_key="bulk:wave-2")

    assert {(outcome.kind, outcome.result_code) for outcome in again} == {(OutcomeKind.ACCEPTED, "-1005")}
    assert len(nhn.sent) == 3


@pytest.mark.parametrize(("fault", "unknown"), [(Fault.RATE_LIMIT, False), (Fault.LOST_ANSWER, True)])
async def test_a_request_that_fails_as_a_whole_fails_for_every_recipient(
    nhn: FakeNhnCloud, provider: NhnCloudProvider, fault: Fault, unknown: bool
) -> None:
    nhn.fail_next(1, fault)
    deliveries = [delivery(alimtalk(address=f"+82101111000{n}"), key=str(n)) for n in range(3)]

    outcomes = await provider.send_many(deliveries, idempotency_key="bulk:wave-3")

    assert {(outcome.kind, outcome.delivery_unknown) for outcome in outcomes} == {(OutcomeKind.TRANSIENT, unknown)}


async def test_a_request_beyond_nhns_limit_or_of_two_templates_is_never_sent(provider: NhnCloudProvider) -> None:
    with pytest.raises(ValueError, match="1 to 1000"):
        await provider.send_many([delivery(alimtalk())] * 1001, idempotency_key="bulk:too-many")
    with pytest.raises(ValueError, match="one template"):
        await provider.send_many(
            [delivery(alimtalk()), delivery(alimtalk(template_code="OTHER"))], idempotency_key="bulk:mixed"
        )
