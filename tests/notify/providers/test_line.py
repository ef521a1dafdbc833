"""LINE push messages against a local LINE: the documented request, every answer classified, retries deduplicated."""

from __future__ import annotations

import socket
import uuid
from typing import TYPE_CHECKING

import pytest

from notify.providers.base import Button, Channel, Delivery, OutcomeKind, Rendered, retry_key
from notify.providers.line import LineProvider
from tests.notify.fakes.http import Fault
from tests.notify.fakes.line import PUSH_PATH, FakeLine

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

SHOPPER = "U" + "4af4980629" * 3 + "ab"
TRACKING = Button(name="배송 조회", url="https://trace.cjlogistics.example/track?no=612345678901")


@pytest.fixture
def line() -> Iterator[FakeLine]:
    with FakeLine() as fake:
        fake.hang_seconds = 2.0
        yield fake


@pytest.fixture
def provider(line: FakeLine, http: httpx.AsyncClient) -> LineProvider:
    return LineProvider(http=http, base_url=line.url, channel_access_token=line.channel_access_token)


def shipping_started(*, key: str = "order-1001:shipping_started", attempt: int = 1, **changes: object) -> Delivery:
    fields: dict[str, object] = {
        "channel": Channel.LINE,
        "address": SHOPPER,
        "text": "商品を発送しました。\nヤマト運輸 伝票番号 1234-5678-9012",
        "title": "発送のお知らせ",
        "buttons": (TRACKING,),
    }
    fields.update(changes)
    rendered = Rendered(**fields)  # type: ignore[arg-type]
    return Delivery(message_id=uuid.uuid4(), idempotency_key=key, rendered=rendered, attempt=attempt)


async def test_a_push_carries_the_token_the_retry_key_and_the_documented_body(
    line: FakeLine, provider: LineProvider
) -> None:
    delivery = shipping_started()

    outcome = await provider.send(delivery)

    assert outcome.kind is OutcomeKind.ACCEPTED
    assert outcome.provider == "line"
    assert outcome.http_status == 200
    [request] = line.received
    assert request.method == "POST"
    assert request.path == PUSH_PATH
    assert request.header("authorization") == f"Bearer {line.channel_access_token}"
    assert request.header("content-type") == "application/json"
    assert request.header("x-line-retry-key") == str(retry_key(delivery.idempotency_key))
    body = request.json()
    assert body["to"] == SHOPPER
    text, buttons = body["messages"]
    assert text == {"type": "text", "text": delivery.rendered.text}
    assert buttons["type"] == "template"
    assert buttons["altText"] == "発送のお知らせ"
    assert buttons["template"] == {
        "type": "buttons",
        "text": "発送のお知らせ",
        "actions": [{"type": "uri", "label": "배송 조회", "uri": TRACKING.url}],
    }
    [shown] = line.delivered_to(SHOPPER)
    assert outcome.provider_message_id == shown.message_id


async def test_every_attempt_of_a_message_sends_the_same_retry_key_and_other_messages_another(
    line: FakeLine, provider: LineProvider
) -> None:
    line.fail_next(1, Fault.SERVER_ERROR)

    first = await provider.send(shipping_started(attempt=1))
    second = await provider.send(shipping_started(attempt=2))
    other = await provider.send(shipping_started(key="order-1001:delivered"))

    assert [first.kind, second.kind, other.kind] == [OutcomeKind.TRANSIENT, OutcomeKind.ACCEPTED, OutcomeKind.ACCEPTED]
    keys = [request.header("x-line-retry-key") for request in line.received]
    assert keys[0] == keys[1] != keys[2]
    assert all(uuid.UUID(key or "") for key in keys)


async def test_a_retried_push_after_a_lost_answer_is_accepted_once_and_sent_once(
    line: FakeLine, provider: LineProvider
) -> None:
    line.fail_next(1, Fault.LOST_ANSWER)

    lost = await provider.send(shipping_started(attempt=1))
    retried = await provider.send(shipping_started(attempt=2))

    assert lost.kind is OutcomeKind.TRANSIENT
    assert "deduplicates" in lost.detail
    assert retried.kind is OutcomeKind.ACCEPTED
    assert retried.http_status == 409
    assert retried.result_code == "retry_key_accepted"
    assert "already accepted" in retried.detail
    [shown] = line.delivered_to(SHOPPER)
    assert retried.provider_message_id == shown.message_id
    assert len(line.requests_to(PUSH_PATH)) == 2


async def test_a_push_that_timed_out_is_transient_and_its_retry_is_not_shown_twice(
    line: FakeLine, provider: LineProvider
) -> None:
    line.fail_next(1, Fault.SLOW_ANSWER)

    timed_out = await provider.send(shipping_started(attempt=1))
    retried = await provider.send(shipping_started(attempt=2))

    assert timed_out.kind is OutcomeKind.TRANSIENT
    assert timed_out.detail.startswith("ReadTimeout")
    assert retried.kind is OutcomeKind.ACCEPTED
    assert len(line.delivered_to(SHOPPER)) == 1


async def test_a_retry_key_accepted_more_than_24_hours_ago_no_longer_protects(
    line: FakeLine, provider: LineProvider
) -> None:
    line.retry_key_ttl = 0.0
    await provider.send(shipping_started(attempt=1))

    late = await provider.send(shipping_started(attempt=2))

    assert late.kind is OutcomeKind.ACCEPTED
    assert late.http_status == 200
    assert len(line.delivered_to(SHOPPER)) == 2


@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR, Fault.UNAVAILABLE, Fault.DISCONNECT, Fault.HANG])
async def test_server_errors_and_unanswered_pushes_are_transient(
    line: FakeLine, provider: LineProvider, fault: Fault
) -> None:
    line.fail_next(1, fault)

    outcome = await provider.send(shipping_started())

    assert outcome.kind is OutcomeKind.TRANSIENT
    assert line.delivered == []


async def test_a_push_to_a_closed_port_is_transient_and_never_sent(http: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = LineProvider(http=http, base_url=f"http://127.0.0.1:{port}", channel_access_token="token")

    outcome = await provider.send(shipping_started())

    assert outcome.kind is OutcomeKind.TRANSIENT
    assert "never reached" in outcome.detail


async def test_an_outage_holds_pushes_back_until_line_is_up_again(line: FakeLine, provider: LineProvider) -> None:
    line.set_down()
    during = [await provider.send(shipping_started(key=f"order-{n}:received")) for n in range(3)]
    line.set_down(down=False)
    after = await provider.send(shipping_started(key="order-0:received", attempt=2))

    assert {outcome.kind for outcome in during} == {OutcomeKind.TRANSIENT}
    assert {outcome.http_status for outcome in during} == {503}
    assert after.kind is OutcomeKind.ACCEPTED
    assert len(line.delivered) == 1


async def test_a_rate_limited_push_is_transient_honours_retry_after_and_keeps_its_key_unused(
    line: FakeLine, provider: LineProvider
) -> None:
    line.fail_next(1, Fault.RATE_LIMIT, retry_after=7)
    line.fail_next(1, Fault.RATE_LIMIT)

    with_header = await provider.send(shipping_started(attempt=1))
    without = await provider.send(shipping_started(attempt=2))
    retried = await provider.send(shipping_started(attempt=3))

    assert (with_header.kind, with_header.http_status, with_header.result_code) == (
        OutcomeKind.TRANSIENT,
        429,
        "rate_limit",
    )
    assert with_header.retry_after == 7.0
    assert "rate limit" in with_header.detail
    assert without.retry_after is None
    assert retried.http_status == 200  # a 429 was not processed, so the key was still free
    assert len(line.delivered) == 1


async def test_a_storm_of_429s_slows_pushes_down_and_loses_none(line: FakeLine, provider: LineProvider) -> None:
    line.rate_limit(per_second=0.001, burst=2)

    outcomes = [await provider.send(shipping_started(key=f"order-{n}:received")) for n in range(5)]

    assert [outcome.kind for outcome in outcomes] == [OutcomeKind.ACCEPTED] * 2 + [OutcomeKind.TRANSIENT] * 3
    line.rate_limit(None)
    retried = [await provider.send(shipping_started(key=f"order-{n}:received", attempt=2)) for n in range(5)]
    assert [outcome.http_status for outcome in retried] == [409, 409, 200, 200, 200]
    assert len(line.delivered) == 5


async def test_a_used_up_monthly_quota_is_permanent_so_the_message_falls_back(
    line: FakeLine, provider: LineProvider
) -> None:
    line.fail_next(1, "monthly_limit")

    outcome = await provider.send(shipping_started())

    assert outcome.kind is OutcomeKind.PERMANENT
    assert (outcome.http_status, outcome.result_code) == (429, "monthly_limit")
    assert "You have reached your monthly limit." in outcome.detail


@pytest.mark.parametrize(
    ("fault", "status", "says"),
    [("unauthorized", 401, "channel access token rejected"), ("forbidden", 403, "may not push messages")],
)
async def test_a_refused_token_or_plan_is_permanent(
    line: FakeLine, provider: LineProvider, fault: str, status: int, says: str
) -> None:
    line.fail_next(1, fault)

    outcome = await provider.send(shipping_started())

    assert (outcome.kind, outcome.http_status) == (OutcomeKind.PERMANENT, status)
    assert says in outcome.detail


async def test_a_wrong_channel_access_token_is_permanent(line: FakeLine, http: httpx.AsyncClient) -> None:
    provider = LineProvider(http=http, base_url=line.url, channel_access_token="revoked")

    outcome = await provider.send(shipping_started())

    assert (outcome.kind, outcome.http_status) == (OutcomeKind.PERMANENT, 401)


async def test_an_invalid_user_id_is_permanent_and_names_the_property(line: FakeLine, provider: LineProvider) -> None:
    outcome = await provider.send(shipping_started(address="someone@example.com"))

    assert (outcome.kind, outcome.http_status) == (OutcomeKind.PERMANENT, 400)
    assert "to: The property, 'to', in the request body is invalid" in outcome.detail
    assert line.delivered == []


async def test_links_that_do_not_fit_a_buttons_template_are_written_in_the_text(
    line: FakeLine, provider: LineProvider
) -> None:
    buttons = tuple(Button(name=f"링크 {n}", url=f"https://shoa.example/orders/1001/{n}") for n in range(5))
    odd = Button(name="앱에서 보기", url="shoa://orders/1001")

    outcome = await provider.send(shipping_started(buttons=(*buttons, odd)))

    assert outcome.kind is OutcomeKind.ACCEPTED
    text, template = line.received[0].json()["messages"]
    assert [action["uri"] for action in template["template"]["actions"]] == [b.url for b in buttons[:4]]
    assert text["text"].endswith(f"링크 4: {buttons[4].url}\n\n앱에서 보기: shoa://orders/1001")


async def test_a_text_longer_than_one_message_is_split_at_line_ends_into_at_most_five(
    line: FakeLine, provider: LineProvider
) -> None:
    lines = [f"{n:03d} お届け予定のご案内です。" * 10 for n in range(100)]  # about 15,000 UTF-16 units

    outcome = await provider.send(shipping_started(text="\n".join(lines)))

    assert outcome.kind is OutcomeKind.ACCEPTED
    messages = line.received[0].json()["messages"]
    texts = [message["text"] for message in messages if message["type"] == "text"]
    assert len(texts) == 4
    assert "\n".join(texts) == "\n".join(lines)
    assert messages[-1]["type"] == "template"


async def test_a_text_beyond_five_messages_ends_cut_with_an_ellipsis(line: FakeLine, provider: LineProvider) -> None:
    outcome = await provider.send(shipping_started(text="お知らせ " * 6000, buttons=()))

    assert outcome.kind is OutcomeKind.ACCEPTED
    messages = line.received[0].json()["messages"]
    assert len(messages) == 5
    assert messages[-1]["text"].endswith("…")


async def test_line_sends_no_delivery_receipts(http: httpx.AsyncClient) -> None:
    provider = LineProvider(http=http, channel_access_token="token")

    assert provider.parse_receipts({"x-line-signature": "anything"}, b'{"events": []}') == []
    assert provider.channels == frozenset({Channel.LINE})
