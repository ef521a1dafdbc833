"""Instagram messages against a local Graph API: the documented request, Meta's errors classified, the reply
window permanent for the channel, and read receipts verified by their signature."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from notify.providers.base import Button, Channel, Delivery, OutcomeKind, ReceiptRejectedError, Rendered
from notify.providers.instagram import GraphError, InstagramProvider, classify_error
from tests.notify.fakes.http import Fault
from tests.notify.fakes.instagram import FakeInstagram

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

SHOPPER = "1092310252982105"
TRACKING = Button(name="배송 조회", url="https://trace.cjlogistics.example/track?no=612345678901")


@pytest.fixture
def instagram() -> Iterator[FakeInstagram]:
    with FakeInstagram() as fake:
        fake.hang_seconds = 2.0
        yield fake


@pytest.fixture
def provider(instagram: FakeInstagram, http: httpx.AsyncClient) -> InstagramProvider:
    return InstagramProvider(
        http=http,
        base_url=instagram.url,
        ig_user_id=instagram.ig_user_id,
        access_token=instagram.access_token,
        app_secret=instagram.app_secret,
    )


def shipping_started(*, address: str = SHOPPER, attempt: int = 1, **changes: object) -> Delivery:
    fields: dict[str, object] = {
        "channel": Channel.INSTAGRAM,
        "address": address,
        "text": "상품 배송이 시작됐습니다.\nCJ대한통운 612345678901",
        "buttons": (TRACKING,),
    }
    fields.update(changes)
    rendered = Rendered(**fields)  # type: ignore[arg-type]
    return Delivery(message_id=uuid.uuid4(), idempotency_key="order-1001:shipping", rendered=rendered, attempt=attempt)


async def test_a_message_goes_to_the_account_with_the_bearer_token_and_the_documented_body(
    instagram: FakeInstagram, provider: InstagramProvider
) -> None:
    outcome = await provider.send(shipping_started())

    assert outcome.kind is OutcomeKind.ACCEPTED
    assert (outcome.provider, outcome.http_status) == ("instagram", 200)
    [request] = instagram.received
    assert (request.method, request.path) == ("POST", f"/v26.0/{instagram.ig_user_id}/messages")
    assert request.header("authorization") == f"Bearer {instagram.access_token}"
    assert request.header("content-type") == "application/json"
    assert request.query == {}
    assert request.json() == {
        "recipient": {"id": SHOPPER},
        "message": {"text": f"상품 배송이 시작됐습니다.\nCJ대한통운 612345678901\n\n배송 조회: {TRACKING.url}"},
    }
    [shown] = instagram.delivered_to(SHOPPER)
    assert outcome.provider_message_id == shown.message_id


async def test_a_shopper_outside_the_24_hour_window_is_permanent_for_the_channel(
    instagram: FakeInstagram, provider: InstagramProvider
) -> None:
    instagram.mark_outside_window(SHOPPER)

    outcome = await provider.send(shipping_started())

    assert outcome.kind is OutcomeKind.PERMANENT
    assert (outcome.http_status, outcome.result_code) == (400, "10")
    assert outcome.detail.startswith("outside the 24-hour reply window")
    assert "subcode 2534022" in outcome.detail
    assert instagram.delivered == []


async def test_once_the_shopper_writes_again_the_window_is_open(
    instagram: FakeInstagram, provider: InstagramProvider
) -> None:
    instagram.mark_outside_window(SHOPPER)
    closed = await provider.send(shipping_started())
    instagram.open_window(SHOPPER)

    reopened = await provider.send(shipping_started())

    assert (closed.kind, reopened.kind) == (OutcomeKind.PERMANENT, OutcomeKind.ACCEPTED)


@pytest.mark.parametrize(
    ("fault", "kind", "code", "says"),
    [
        (Fault.RATE_LIMIT, OutcomeKind.TRANSIENT, "4", "rate limited"),
        ("rate_limit_613", OutcomeKind.TRANSIENT, "613", "rate limited"),
        ("temporary", OutcomeKind.TRANSIENT, "2", "temporary failure"),
        ("send_failure", OutcomeKind.TRANSIENT, "1200", "temporary failure"),
        (Fault.SERVER_ERROR, OutcomeKind.TRANSIENT, "2", "temporary failure"),
        ("token_expired", OutcomeKind.PERMANENT, "190", "access token invalid or expired"),
    ],
)
async def test_meta_errors_are_classified_by_their_code(
    instagram: FakeInstagram, provider: InstagramProvider, fault: str, kind: OutcomeKind, code: str, says: str
) -> None:
    instagram.fail_next(1, fault)

    outcome = await provider.send(shipping_started())

    assert (outcome.kind, outcome.result_code) == (kind, code)
    assert outcome.detail.startswith(says)
    assert "fbtrace" in outcome.detail


async def test_a_shopper_who_cannot_receive_messages_is_permanent(
    instagram: FakeInstagram, provider: InstagramProvider
) -> None:
    instagram.mark_unavailable(SHOPPER)

    outcome = await provider.send(shipping_started())

    assert (outcome.kind, outcome.result_code) == (OutcomeKind.PERMANENT, "551")
    assert "isn't available right now" in outcome.detail


async def test_an_unknown_recipient_or_a_wrong_token_is_permanent(
    instagram: FakeInstagram, http: httpx.AsyncClient
) -> None:
    instagram.known_recipients = {SHOPPER}
    right = InstagramProvider(
        http=http, base_url=instagram.url, ig_user_id=instagram.ig_user_id, access_token=instagram.access_token
    )
    wrong = InstagramProvider(http=http, base_url=instagram.url, ig_user_id=instagram.ig_user_id, access_token="IGAAx")

    stranger = await right.send(shipping_started(address="9999"))
    refused = await wrong.send(shipping_started())

    assert (stranger.kind, stranger.result_code) == (OutcomeKind.PERMANENT, "100")
    assert "subcode 2018001" in stranger.detail
    assert (refused.kind, refused.result_code) == (OutcomeKind.PERMANENT, "190")


async def test_a_rate_limit_honours_retry_after_when_one_is_sent(
    instagram: FakeInstagram, provider: InstagramProvider
) -> None:
    instagram.fail_next(1, Fault.RATE_LIMIT, retry_after=30)

    outcome = await provider.send(shipping_started())

    assert (outcome.kind, outcome.retry_after) == (OutcomeKind.TRANSIENT, 30.0)


@pytest.mark.parametrize("fault", [Fault.UNAVAILABLE, Fault.DISCONNECT, Fault.HANG])
async def test_gateway_errors_and_unanswered_sends_are_transient(
    instagram: FakeInstagram, provider: InstagramProvider, fault: Fault
) -> None:
    instagram.fail_next(1, fault)

    outcome = await provider.send(shipping_started())

    assert outcome.kind is OutcomeKind.TRANSIENT
    assert outcome.result_code is None


async def test_meta_cannot_deduplicate_a_retry_after_a_lost_answer(
    instagram: FakeInstagram, provider: InstagramProvider
) -> None:
    instagram.fail_next(1, Fault.LOST_ANSWER)

    lost = await provider.send(shipping_started(attempt=1))
    retried = await provider.send(shipping_started(attempt=2))

    assert lost.kind is OutcomeKind.TRANSIENT
    assert "cannot deduplicate" in lost.detail
    assert retried.kind is OutcomeKind.ACCEPTED
    assert len(instagram.delivered_to(SHOPPER)) == 2  # why the worker, not Meta, must prevent the second send


@pytest.mark.parametrize(
    ("code", "subcode", "status", "kind"),
    [
        (10, 2018278, 400, OutcomeKind.PERMANENT),  # Messenger's spelling of the window error
        (10, None, 403, OutcomeKind.PERMANENT),
        (230, None, 400, OutcomeKind.PERMANENT),
        (1, 99, 500, OutcomeKind.TRANSIENT),
        (17, None, 400, OutcomeKind.TRANSIENT),
        (32, None, 400, OutcomeKind.TRANSIENT),
        (368, None, 400, OutcomeKind.PERMANENT),
        (9999, None, 503, OutcomeKind.TRANSIENT),
    ],
)
def test_graph_error_codes_outside_the_fake(code: int, subcode: int | None, status: int, kind: OutcomeKind) -> None:
    assert classify_error(GraphError(code=code, error_subcode=subcode), status)[0] is kind


async def test_a_long_text_is_cut_cleanly_to_1000_bytes_and_keeps_its_link(
    instagram: FakeInstagram, provider: InstagramProvider
) -> None:
    text = "주문하신 상품이 곧 도착합니다. " * 60  # about 2,500 UTF-8 bytes

    outcome = await provider.send(shipping_started(text=text))

    assert outcome.kind is OutcomeKind.ACCEPTED
    sent = instagram.received[0].json()["message"]["text"]
    assert len(sent.encode()) <= 1000
    body, link = sent.rsplit("\n\n", 1)
    assert link == f"배송 조회: {TRACKING.url}"
    assert body.endswith("…")
    assert text.startswith(body.removesuffix("…"))
    assert body.removesuffix("…").endswith("니다.")  # a whole word, not half a syllable


async def test_a_link_too_long_to_leave_room_for_the_text_is_left_out(
    instagram: FakeInstagram, provider: InstagramProvider
) -> None:
    huge = Button(name="보기", url="https://shoa.example/" + "x" * 900)
    text = "상품 배송이 시작됐습니다. CJ대한통운 612345678901\n" * 10  # 650 bytes: with the link, too long

    outcome = await provider.send(shipping_started(text=text, buttons=(huge,)))

    assert outcome.kind is OutcomeKind.ACCEPTED
    assert instagram.received[0].json()["message"]["text"] == text


async def test_a_read_receipt_signed_by_meta_marks_the_message_delivered(
    instagram: FakeInstagram, provider: InstagramProvider
) -> None:
    outcome = await provider.send(shipping_started())
    assert outcome.provider_message_id is not None
    body, headers = instagram.seen_webhook(outcome.provider_message_id, SHOPPER)

    [receipt] = provider.parse_receipts(headers, body)

    assert receipt.provider_message_id == outcome.provider_message_id
    assert receipt.delivered is True
    assert receipt.result_code == "read"


async def test_a_webhook_with_a_wrong_or_missing_signature_is_rejected(
    instagram: FakeInstagram, provider: InstagramProvider
) -> None:
    body, headers = instagram.seen_webhook("mid.1", SHOPPER)
    forged = body.replace(b"mid.1", b"mid.2")

    with pytest.raises(ReceiptRejectedError):
        provider.parse_receipts(headers, forged)
    with pytest.raises(ReceiptRejectedError):
        provider.parse_receipts({"content-type": "application/json"}, body)
    assert provider.parse_receipts({k.lower(): v for k, v in headers.items()}, body) != []


async def test_without_an_app_secret_no_webhook_is_trusted(instagram: FakeInstagram, http: httpx.AsyncClient) -> None:
    provider = InstagramProvider(http=http, ig_user_id=instagram.ig_user_id, access_token="token")
    body, headers = instagram.seen_webhook("mid.1", SHOPPER)

    with pytest.raises(ReceiptRejectedError):
        provider.parse_receipts(headers, body)


async def test_the_shoppers_own_messages_on_the_webhook_are_not_receipts(
    instagram: FakeInstagram, provider: InstagramProvider
) -> None:
    incoming = {"sender": {"id": SHOPPER}, "recipient": {"id": instagram.ig_user_id}, "message": {"mid": "m1"}}
    body, headers = instagram.signed({"object": "instagram", "entry": [{"id": "1", "messaging": [incoming]}]})
    page_body, page_headers = instagram.signed({"object": "page", "entry": []})

    assert provider.parse_receipts(headers, body) == []
    assert provider.parse_receipts(page_headers, page_body) == []
