"""A chatbot's answers through the messenger adapters, against local LINE, Instagram and TalkTalk: LINE answers by
the reply token and pushes when LINE refuses it, and every messenger shows the quick replies as it documents."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from notify.providers.base import Button, Channel, Delivery, OutcomeKind, Rendered, retry_key
from notify.providers.instagram import InstagramProvider
from notify.providers.line import LineProvider
from notify.providers.talktalk import TalkTalkProvider
from tests.notify.fakes.chat import REPLY_PATH, FakeInstagramChat, FakeLineChat, FakeTalkTalkChat
from tests.notify.fakes.http import Fault
from tests.notify.fakes.line import PUSH_PATH

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx

LINE_SHOPPER = "U" + "4af4980629" * 3 + "ab"
ANSWER = "ご注文 20261206-0001 はヤマト運輸で配送中です。\n伝票番号: 1234-5678-9012"
MENU = ("配送状況", "キャンセル", "返品したい", "返金はいつですか", "担当者と話したい")


@pytest.fixture
def line() -> Iterator[FakeLineChat]:
    with FakeLineChat() as fake:
        fake.hang_seconds = 2.0
        yield fake


@pytest.fixture
def line_provider(line: FakeLineChat, http: httpx.AsyncClient) -> LineProvider:
    return LineProvider(http=http, base_url=line.url, channel_access_token=line.channel_access_token)


def chat_answer(channel: Channel, address: str, **changes: object) -> Delivery:
    fields: dict[str, object] = {"channel": channel, "address": address, "text": ANSWER, "quick_replies": MENU}
    fields.update(changes)
    rendered = Rendered(**fields)  # type: ignore[arg-type]
    return Delivery(message_id=uuid.uuid4(), idempotency_key=f"chat-{uuid.uuid4()}", rendered=rendered)


def quick_reply(*labels: str) -> dict[str, object]:
    return {"items": [{"type": "action", "action": {"type": "message", "label": x, "text": x}} for x in labels]}


async def test_an_answer_with_a_reply_token_goes_by_the_reply_api_and_is_shown_once(
    line: FakeLineChat, line_provider: LineProvider
) -> None:
    token = line.issue_reply_token(LINE_SHOPPER)

    outcome = await line_provider.send(chat_answer(Channel.LINE, LINE_SHOPPER, reply_token=token))

    assert outcome.kind is OutcomeKind.ACCEPTED
    [request] = line.received
    assert (request.method, request.path) == ("POST", REPLY_PATH)
    assert request.header("authorization") == f"Bearer {line.channel_access_token}"
    assert request.header("x-line-retry-key") is None  # the reply API takes none
    assert request.json() == {
        "replyToken": token,
        "messages": [{"type": "text", "text": ANSWER, "quickReply": quick_reply(*MENU)}],
    }
    [shown] = line.delivered_to(LINE_SHOPPER)
    assert outcome.provider_message_id == shown.message_id
    assert line.requests_to(PUSH_PATH) == []


@pytest.mark.parametrize("why", ["used", "expired"])
async def test_a_refused_reply_token_is_pushed_instead_and_the_shopper_gets_one_answer(
    line: FakeLineChat, line_provider: LineProvider, why: str
) -> None:
    token = line.issue_reply_token(LINE_SHOPPER)
    if why == "used":
        await line_provider.send(chat_answer(Channel.LINE, LINE_SHOPPER, reply_token=token, text="먼저 보낸 답"))
    else:
        line.expire_reply_tokens()
    before = len(line.delivered_to(LINE_SHOPPER))
    delivery = chat_answer(Channel.LINE, LINE_SHOPPER, reply_token=token)

    outcome = await line_provider.send(delivery)

    assert outcome.kind is OutcomeKind.ACCEPTED
    assert "reply token refused" in outcome.detail
    refused, push = line.received[-2:]
    assert refused.path == REPLY_PATH
    assert push.path == PUSH_PATH
    assert push.header("x-line-retry-key") == str(retry_key(delivery.idempotency_key))
    assert push.json()["messages"] == [{"type": "text", "text": ANSWER, "quickReply": quick_reply(*MENU)}]
    shown = line.delivered_to(LINE_SHOPPER)[before:]
    assert [message.text for message in shown] == [ANSWER]


async def test_a_reply_whose_answer_is_lost_is_transient_and_may_have_been_shown(
    line: FakeLineChat, line_provider: LineProvider
) -> None:
    line.fail_next(1, Fault.LOST_ANSWER)

    outcome = await line_provider.send(
        chat_answer(Channel.LINE, LINE_SHOPPER, reply_token=line.issue_reply_token(LINE_SHOPPER))
    )

    assert outcome.kind is OutcomeKind.TRANSIENT
    assert outcome.delivery_unknown
    assert "cannot deduplicate" in outcome.detail
    assert len(line.delivered_to(LINE_SHOPPER)) == 1
    assert line.requests_to(PUSH_PATH) == []  # no push behind a reply that may have gone out


async def test_line_quick_replies_ride_on_the_last_message_within_lines_limits(
    line: FakeLineChat, line_provider: LineProvider
) -> None:
    labels = ["주문 1: 린넨 오버핏 셔츠 외 1건 (배송 중)", *(f"{n}번" for n in range(2, 16))]
    link = Button(name="배송 조회", url="https://trace.cjlogistics.example/track?no=612345678901")

    outcome = await line_provider.send(chat_answer(Channel.LINE, LINE_SHOPPER, quick_replies=labels, buttons=(link,)))

    assert outcome.kind is OutcomeKind.ACCEPTED
    text, buttons = line.received[-1].json()["messages"]
    assert "quickReply" not in text
    items = buttons["quickReply"]["items"]
    assert len(items) == 13
    assert items[0]["action"]["label"] == "주문 1: 린넨 오버핏 셔츠 외…"
    assert len(items[0]["action"]["label"]) <= 20
    assert items[0]["action"]["text"] == labels[0]  # a tap sends the whole label
    assert [item["action"]["text"] for item in items[1:]] == labels[1:13]


async def test_an_answer_without_quick_replies_or_token_is_a_plain_push(
    line: FakeLineChat, line_provider: LineProvider
) -> None:
    outcome = await line_provider.send(chat_answer(Channel.LINE, LINE_SHOPPER, quick_replies=()))

    assert outcome.kind is OutcomeKind.ACCEPTED
    [request] = line.received
    assert request.path == PUSH_PATH
    assert request.json()["messages"] == [{"type": "text", "text": ANSWER}]


async def test_instagram_quick_replies_are_text_replies_with_the_label_as_payload(http: httpx.AsyncClient) -> None:
    with FakeInstagramChat() as instagram:
        provider = InstagramProvider(
            http=http, base_url=instagram.url, ig_user_id=instagram.ig_user_id, access_token=instagram.access_token
        )
        labels = ["Where is my parcel?", "I want to return an item", *(f"Order {n}" for n in range(3, 16))]

        outcome = await provider.send(chat_answer(Channel.INSTAGRAM, "1092310252982105", quick_replies=labels))

        assert outcome.kind is OutcomeKind.ACCEPTED
        message = instagram.received[-1].json()["message"]
        assert message["text"] == ANSWER
        replies = message["quick_replies"]
        assert len(replies) == 13
        assert replies[0] == {"content_type": "text", "title": "Where is my parcel?", "payload": "Where is my parcel?"}
        assert replies[1]["title"] == "I want to return an…"
        assert replies[1]["payload"] == "I want to return an item"
        assert all(len(reply["title"]) <= 20 for reply in replies)


async def test_talktalk_quick_buttons_ride_on_the_text_with_short_titles_and_the_label_as_code(
    http: httpx.AsyncClient,
) -> None:
    with FakeTalkTalkChat() as talktalk:
        provider = TalkTalkProvider(http=http, base_url=talktalk.url, authorization_key=talktalk.authorization_key)
        labels = ["배송 조회", "반품하고 싶어요 (사이즈가 안 맞아요)", *(f"{n}번 주문" for n in range(3, 14))]

        outcome = await provider.send(chat_answer(Channel.TALKTALK, "al-2eGuGr5WQOnco1_V-FQ", quick_replies=labels))

        assert outcome.kind is OutcomeKind.ACCEPTED
        content = talktalk.received[-1].json()["textContent"]
        assert content["text"] == ANSWER
        buttons = content["quickReply"]["buttonList"]
        assert len(buttons) == 10
        assert buttons[0] == {"type": "TEXT", "data": {"title": "배송 조회", "code": "배송 조회"}}
        assert len(buttons[1]["data"]["title"]) <= 10
        assert buttons[1]["data"]["code"] == labels[1]


async def test_talktalk_quick_buttons_ride_on_a_composite_too(http: httpx.AsyncClient) -> None:
    with FakeTalkTalkChat() as talktalk:
        provider = TalkTalkProvider(http=http, base_url=talktalk.url, authorization_key=talktalk.authorization_key)
        link = Button(name="배송 조회", url="https://trace.cjlogistics.example/track?no=612345678901")

        outcome = await provider.send(
            chat_answer(Channel.TALKTALK, "al-2eGuGr5WQOnco1_V-FQ", buttons=(link,), quick_replies=("반품", "교환"))
        )

        assert outcome.kind is OutcomeKind.ACCEPTED
        content = talktalk.received[-1].json()["compositeContent"]
        assert content["compositeList"][0]["buttonList"][0]["type"] == "LINK"
        assert [button["data"]["title"] for button in content["quickReply"]["buttonList"]] == ["반품", "교환"]
