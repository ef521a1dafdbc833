"""Naver TalkTalk send events against a local TalkTalk: the documented event, and its HTTP 200 failures read."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from notify.providers.base import Button, Channel, Delivery, OutcomeKind, Rendered
from notify.providers.talktalk import TalkTalkProvider
from tests.notify.fakes.http import Fault
from tests.notify.fakes.talktalk import EVENT_PATH, FakeTalkTalk

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

SHOPPER = "al-2eGuGr5WQOnco1_V-FQ"
TRACKING = Button(name="배송 조회", url="https://trace.cjlogistics.example/track?no=612345678901")
TEXT = "상품 배송이 시작됐습니다.\nCJ대한통운 612345678901"


@pytest.fixture
def talktalk() -> Iterator[FakeTalkTalk]:
    with FakeTalkTalk() as fake:
        fake.hang_seconds = 2.0
        yield fake


@pytest.fixture
def provider(talktalk: FakeTalkTalk, http: httpx.AsyncClient) -> TalkTalkProvider:
    return TalkTalkProvider(http=http, base_url=talktalk.url, authorization_key=talktalk.authorization_key)


def shipping_started(*, address: str = SHOPPER, attempt: int = 1, **changes: object) -> Delivery:
    fields: dict[str, object] = {"channel": Channel.TALKTALK, "address": address, "text": TEXT}
    fields.update(changes)
    rendered = Rendered(**fields)  # type: ignore[arg-type]
    return Delivery(message_id=uuid.uuid4(), idempotency_key="order-1001:shipping", rendered=rendered, attempt=attempt)


async def test_a_send_event_carries_the_bare_key_and_asks_for_a_push(
    talktalk: FakeTalkTalk, provider: TalkTalkProvider
) -> None:
    outcome = await provider.send(shipping_started())

    assert (outcome.kind, outcome.provider, outcome.http_status, outcome.result_code) == (
        OutcomeKind.ACCEPTED,
        "talktalk",
        200,
        "00",
    )
    assert outcome.provider_message_id is None  # TalkTalk answers no message id
    [request] = talktalk.received
    assert (request.method, request.path) == ("POST", EVENT_PATH)
    assert request.header("authorization") == talktalk.authorization_key
    assert request.header("content-type") == "application/json;charset=UTF-8"
    assert request.json() == {
        "event": "send",
        "user": SHOPPER,
        "options": {"notification": True},
        "textContent": {"text": TEXT},
    }
    assert [message.text for message in talktalk.delivered_to(SHOPPER)] == [TEXT]
    assert talktalk.notifications == 1


async def test_a_message_with_a_button_goes_as_a_composite_with_a_link_button(
    talktalk: FakeTalkTalk, provider: TalkTalkProvider
) -> None:
    outcome = await provider.send(shipping_started(title="배송 시작", buttons=(TRACKING,)))

    assert outcome.kind is OutcomeKind.ACCEPTED
    assert talktalk.received[0].json()["compositeContent"] == {
        "compositeList": [
            {
                "title": "배송 시작",
                "description": TEXT,
                "buttonList": [
                    {"type": "LINK", "data": {"title": "배송 조회", "url": TRACKING.url, "mobileUrl": TRACKING.url}}
                ],
            }
        ]
    }


async def test_a_button_too_long_for_a_composite_is_written_in_the_text(
    talktalk: FakeTalkTalk, provider: TalkTalkProvider
) -> None:
    wordy = Button(name="실시간 배송 위치를 지도에서 확인하기", url=TRACKING.url)

    outcome = await provider.send(shipping_started(buttons=(wordy,)))

    assert outcome.kind is OutcomeKind.ACCEPTED
    assert talktalk.received[0].json()["textContent"] == {"text": f"{TEXT}\n\n{wordy.name}: {TRACKING.url}"}


async def test_a_wrong_authorization_key_is_a_permanent_01_even_though_http_says_200(
    talktalk: FakeTalkTalk, http: httpx.AsyncClient
) -> None:
    provider = TalkTalkProvider(
        http=http, base_url=talktalk.url, authorization_key=f"Bearer {talktalk.authorization_key}"
    )

    outcome = await provider.send(shipping_started())

    assert (outcome.kind, outcome.http_status, outcome.result_code) == (OutcomeKind.PERMANENT, 200, "01")
    assert "Authorization 정보 에러" in outcome.detail
    assert talktalk.delivered == []


async def test_a_refused_event_is_a_permanent_02(talktalk: FakeTalkTalk, provider: TalkTalkProvider) -> None:
    outcome = await provider.send(shipping_started(address=""))

    assert (outcome.kind, outcome.result_code) == (OutcomeKind.PERMANENT, "02")
    assert "파싱 에러" in outcome.detail


async def test_a_99_is_retried_once_then_permanent(talktalk: FakeTalkTalk, provider: TalkTalkProvider) -> None:
    talktalk.fail_next(2, "error_99")

    first = await provider.send(shipping_started(attempt=1))
    second = await provider.send(shipping_started(attempt=2))
    third = await provider.send(shipping_started(attempt=3))

    assert (first.kind, first.result_code) == (OutcomeKind.TRANSIENT, "99")
    assert (second.kind, second.result_code) == (OutcomeKind.PERMANENT, "99")
    assert "일시적인 오류" in second.detail
    assert third.kind is OutcomeKind.ACCEPTED


async def test_a_shopper_who_never_opened_a_chat_fails_with_99_for_good_on_the_retry(
    talktalk: FakeTalkTalk, provider: TalkTalkProvider
) -> None:
    talktalk.mark_unreachable(SHOPPER)

    outcomes = [await provider.send(shipping_started(attempt=attempt)) for attempt in (1, 2)]

    assert [outcome.kind for outcome in outcomes] == [OutcomeKind.TRANSIENT, OutcomeKind.PERMANENT]


@pytest.mark.parametrize(
    ("fault", "status"),
    [(Fault.SERVER_ERROR, 502), (Fault.UNAVAILABLE, 503), (Fault.RATE_LIMIT, 429)],
)
async def test_any_other_http_status_is_the_gateway_and_transient(
    talktalk: FakeTalkTalk, provider: TalkTalkProvider, fault: Fault, status: int
) -> None:
    talktalk.fail_next(1, fault, retry_after=12)

    outcome = await provider.send(shipping_started())

    assert (outcome.kind, outcome.http_status, outcome.result_code) == (OutcomeKind.TRANSIENT, status, None)
    assert outcome.retry_after == (12.0 if fault is Fault.RATE_LIMIT else None)


@pytest.mark.parametrize("fault", [Fault.HANG, Fault.DISCONNECT])
async def test_an_unanswered_event_is_transient(
    talktalk: FakeTalkTalk, provider: TalkTalkProvider, fault: Fault
) -> None:
    talktalk.fail_next(1, fault)

    outcome = await provider.send(shipping_started())

    assert outcome.kind is OutcomeKind.TRANSIENT
    assert talktalk.delivered == []


async def test_talktalk_cannot_deduplicate_a_retry_after_a_lost_answer(
    talktalk: FakeTalkTalk, provider: TalkTalkProvider
) -> None:
    talktalk.fail_next(1, Fault.LOST_ANSWER)

    lost = await provider.send(shipping_started(attempt=1))
    retried = await provider.send(shipping_started(attempt=2))

    assert (lost.kind, retried.kind) == (OutcomeKind.TRANSIENT, OutcomeKind.ACCEPTED)
    assert "cannot deduplicate" in lost.detail
    assert len(talktalk.delivered_to(SHOPPER)) == 2  # why the worker, not TalkTalk, must prevent the second send


async def test_a_text_beyond_10000_characters_is_cut_to_fit(talktalk: FakeTalkTalk, provider: TalkTalkProvider) -> None:
    outcome = await provider.send(shipping_started(text="주문 내역 안내 " * 1500))

    assert outcome.kind is OutcomeKind.ACCEPTED
    text = talktalk.received[0].json()["textContent"]["text"]
    assert len(text) <= 10_000
    assert text.endswith("안내…")


async def test_talktalk_sends_no_delivery_receipts(provider: TalkTalkProvider) -> None:
    assert provider.parse_receipts({}, b'{"event": "send", "user": "x"}') == []
    assert provider.channels == frozenset({Channel.TALKTALK})
