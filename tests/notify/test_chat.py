"""The chatbot's side of notify: an answer keeps its reply token and quick replies from the outbox to the messenger,
LINE's reply token is used by the first call only, an inbound message opens the messenger's reply window, and a
shopper's Instagram is chosen only while that window is open."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

import httpx
import pytest
import sqlalchemy as sa

from notify import service
from notify.models import Attempt, ChatWindow, Message
from notify.providers.base import Channel, OutcomeKind
from notify.providers.line import LineProvider
from notify.providers.sandbox import list_deliveries
from notify.schemas import ChatExtras, OutgoingMessage, Recipient
from tests.notify.builders import (
    TEMPLATES,
    Clock,
    ScriptedProvider,
    attempts,
    create_shopper,
    dispatcher,
    every_channel,
    korean_phone,
    outbox,
    outgoing,
    sandbox,
    sessions,
    stored,
)
from tests.notify.fakes.chat import REPLY_PATH, FakeLineChat
from tests.notify.fakes.line import PUSH_PATH

if TYPE_CHECKING:
    import uuid
    from collections.abc import AsyncIterator, Iterator

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from notify.schemas import Locale

LINE_USER = "U4af4980629d4f3c0a1b2c3d4e5f60718"
IGSID = "1092310252982105"
MENU = ("배송 조회", "취소", "반품", "환불 문의", "상담원 연결")
ANSWER = "주문 20261206-0001은 CJ대한통운으로 배송 중이에요. 운송장번호 654321098765"


def on_line(address: str = LINE_USER) -> Recipient:
    return Recipient(line_user_id=address, consents=frozenset({Channel.LINE}), locale="ko")


async def answer(
    session: AsyncSession,
    recipient: Recipient,
    *,
    reply_token: str | None = None,
    quick_replies: tuple[str, ...] = MENU,
    text: str = ANSWER,
) -> uuid.UUID:
    """What the chatbot enqueues for one inbound message, committed."""
    message = OutgoingMessage(
        event="chat_answer",
        idempotency_key=f"chat:{reply_token or text}:{recipient.line_user_id or recipient.instagram_id}",
        parameters={"text": text},
        recipient=recipient,
        chat=ChatExtras(reply_token=reply_token, quick_replies=quick_replies),
    )
    enqueued = await outbox().enqueue(session, message)
    await session.commit()
    return enqueued.message_id


@pytest.fixture
def line() -> Iterator[FakeLineChat]:
    with FakeLineChat(users={LINE_USER}) as fake:
        fake.hang_seconds = 2.0
        yield fake


@pytest.fixture
async def line_provider(line: FakeLineChat) -> AsyncIterator[LineProvider]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.5)) as http:
        yield LineProvider(http=http, base_url=line.url, channel_access_token=line.channel_access_token)


async def test_a_chat_answer_keeps_its_reply_token_and_quick_replies_in_the_outbox(session: AsyncSession) -> None:
    message_id = await answer(session, on_line(), reply_token="nHuyWiB7yP5Zw52FIkcQobQuGDXCTA")

    message = await stored(session, message_id)
    assert message.chat == {"reply_token": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA", "quick_replies": list(MENU)}
    assert (message.channel, message.text) == ("line", ANSWER)
    ordinary = await outbox().enqueue(session, outgoing(recipient=korean_phone()))
    assert (await stored(session, ordinary.message_id)).chat is None


async def test_the_worker_hands_the_reply_token_to_the_first_line_call_only(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    message_id = await answer(session, on_line(), reply_token="token-1")
    clock = Clock()
    line = ScriptedProvider("line", {Channel.LINE}, [OutcomeKind.TRANSIENT])
    worker = dispatcher(every_channel(line), clock=clock)

    await worker.run(sessions(engine))
    clock.advance(120)
    await worker.run(sessions(engine))

    first, retry = line.deliveries
    assert (first.rendered.reply_token, retry.rendered.reply_token) == ("token-1", None)
    assert first.rendered.quick_replies == retry.rendered.quick_replies == MENU
    assert (await stored(session, message_id)).status == "accepted"


async def test_instagram_and_talktalk_answers_carry_quick_replies_and_no_reply_token(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    window = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    await answer(
        session,
        Recipient(instagram_id=IGSID, instagram_window_until=window, consents=frozenset({Channel.INSTAGRAM})),
        reply_token="never-used-off-line",
    )
    await answer(session, Recipient(talktalk_id="al-2eGuGr5WQOnco1_V-FQ", consents=frozenset({Channel.TALKTALK})))
    messengers = ScriptedProvider("messengers", {Channel.INSTAGRAM, Channel.TALKTALK})

    await dispatcher(every_channel(messengers)).run(sessions(engine))

    assert sorted(
        (d.rendered.channel, d.rendered.reply_token, d.rendered.quick_replies) for d in messengers.deliveries
    ) == [
        (Channel.INSTAGRAM, None, MENU),
        (Channel.TALKTALK, None, MENU),
    ]


async def test_alimtalk_and_sms_carry_no_quick_replies(engine: AsyncEngine, session: AsyncSession) -> None:
    message = OutgoingMessage(
        event="inquiry_answered",
        idempotency_key="inquiry-1:reply-1",
        parameters={"sender": "무신사 스탠다드", "reply": "교환 상품은 내일 출고됩니다."},
        recipient=korean_phone(),
        chat=ChatExtras(quick_replies=("고마워요",)),
    )
    await outbox().enqueue(session, message)
    await session.commit()
    nhn = ScriptedProvider("nhn", {Channel.ALIMTALK, Channel.SMS})

    await dispatcher(every_channel(nhn)).run(sessions(engine))

    [delivery] = nhn.deliveries
    assert (delivery.rendered.template_code, delivery.rendered.quick_replies) == ("SHOA_INQUIRY_KO", ())


async def test_a_line_answer_goes_by_the_reply_api_and_reaches_the_shopper_once(
    engine: AsyncEngine, session: AsyncSession, line: FakeLineChat, line_provider: LineProvider
) -> None:
    message_id = await answer(session, on_line(), reply_token=line.issue_reply_token(LINE_USER))

    await dispatcher(every_channel(line_provider)).run(sessions(engine))

    assert (await stored(session, message_id)).status == "accepted"
    assert [request.path for request in line.received] == [REPLY_PATH]
    assert [shown.text for shown in line.delivered_to(LINE_USER)] == [ANSWER]


async def test_a_token_line_refuses_is_pushed_and_the_shopper_still_gets_one_answer(
    engine: AsyncEngine, session: AsyncSession, line: FakeLineChat, line_provider: LineProvider
) -> None:
    message_id = await answer(session, on_line(), reply_token=line.issue_reply_token(LINE_USER))
    line.expire_reply_tokens()  # the worker came too late

    await dispatcher(every_channel(line_provider)).run(sessions(engine))

    message = await stored(session, message_id)
    [attempt] = await attempts(session, message_id)
    assert message.status == "accepted"
    assert "reply token refused, pushed instead" in attempt.detail
    assert [request.path for request in line.received] == [REPLY_PATH, PUSH_PATH]
    [shown] = line.delivered_to(LINE_USER)
    assert shown.text == ANSWER
    assert shown.body["messages"][-1]["quickReply"]["items"][0]["action"]["text"] == MENU[0]


async def test_a_reply_whose_answer_was_lost_is_dead_in_doubt_and_never_pushed_after_it(
    engine: AsyncEngine, session: AsyncSession, line: FakeLineChat, line_provider: LineProvider
) -> None:
    message_id = await answer(session, on_line(), reply_token=line.issue_reply_token(LINE_USER))
    line.fail_next(1, "lost_answer")  # LINE showed the answer, the connection dropped before its 200
    clock = Clock()
    worker = dispatcher(every_channel(line_provider), clock=clock)

    await worker.run(sessions(engine))
    clock.advance(3600)
    await worker.run(sessions(engine))

    message = await stored(session, message_id)
    assert (message.status, message.doubted_provider) == ("dead", "line")
    assert line.requests_to(PUSH_PATH) == []
    assert len(line.delivered_to(LINE_USER)) == 1


async def test_a_worker_killed_during_the_reply_leaves_the_answer_dead_in_doubt(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    message_id = await answer(session, on_line(), reply_token="token-lost")
    clock = Clock()
    async with sessions(engine)() as killed, killed.begin():
        await killed.execute(
            sa.update(Message)
            .where(Message.id == message_id)
            .values(status="sending", next_attempt_at=clock.now, attempts=1, channel_attempts=1,
                    channel_started_at=clock.now, provider="line")
        )  # fmt: skip
        killed.add(
            Attempt(message_id=message_id, attempted_at=clock.now, provider="line", channel="line",
                    delivery_key=(await stored(killed, message_id)).delivery_key, outcome="pending")
        )  # fmt: skip
    line = ScriptedProvider("line", {Channel.LINE})

    await dispatcher(every_channel(line), clock=clock).run(sessions(engine))

    assert line.deliveries == []
    assert (await stored(session, message_id)).status == "dead"


async def test_the_sandbox_keeps_and_lists_the_quick_replies(engine: AsyncEngine, session: AsyncSession) -> None:
    await answer(session, on_line(), reply_token="sandbox-token")

    await dispatcher(every_channel(sandbox(engine))).run(sessions(engine))

    [listed] = (await list_deliveries(session, cursor=None, limit=10)).items
    assert (listed.channel, listed.text, listed.quick_replies) == ("line", ANSWER, list(MENU))


# -- reply windows ----------------------------------------------------------------------------------------------


async def test_an_instagram_message_opens_a_24_hour_window_and_a_later_one_extends_it(session: AsyncSession) -> None:
    wrote = datetime.datetime(2026, 12, 6, 9, 0, tzinfo=datetime.UTC)
    assert await service.reply_window_until(session, channel=Channel.INSTAGRAM, address=IGSID) is None

    await service.note_inbound(session, channel=Channel.INSTAGRAM, address=IGSID, now=wrote)
    assert await service.reply_window_until(session, channel=Channel.INSTAGRAM, address=IGSID) == (
        wrote + datetime.timedelta(hours=24)
    )

    await service.note_inbound(
        session, channel=Channel.INSTAGRAM, address=IGSID, now=wrote + datetime.timedelta(hours=5)
    )
    await service.note_inbound(session, channel=Channel.INSTAGRAM, address=IGSID, now=wrote)  # a late redelivery
    assert await service.reply_window_until(session, channel=Channel.INSTAGRAM, address=IGSID) == (
        wrote + datetime.timedelta(hours=29)
    )
    assert (await session.scalars(sa.select(ChatWindow))).all()[0].address == IGSID


async def test_talktalk_stays_open_once_the_shopper_wrote_and_other_channels_have_no_window(
    session: AsyncSession,
) -> None:
    long_ago = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    assert await service.reply_window_until(session, channel=Channel.TALKTALK, address="tt-9") is None

    await service.note_inbound(session, channel=Channel.TALKTALK, address="tt-9", now=long_ago)
    await service.note_inbound(session, channel=Channel.LINE, address=LINE_USER, now=long_ago)

    until = await service.reply_window_until(session, channel=Channel.TALKTALK, address="tt-9")
    assert until is not None
    assert until > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365 * 100)
    assert await service.reply_window_until(session, channel=Channel.LINE, address=LINE_USER) is None


@pytest.mark.parametrize(
    ("wrote_hours_ago", "channel"), [(None, "alimtalk"), (1, "instagram"), (23.5, "instagram"), (25, "alimtalk")]
)
async def test_a_shopper_preferring_instagram_gets_it_only_while_their_window_is_open(
    session: AsyncSession, wrote_hours_ago: float | None, channel: str
) -> None:
    shopper = await create_shopper(
        session, instagram_id=IGSID, consents=("alimtalk", "sms", "instagram"), preferred="instagram"
    )
    if wrote_hours_ago is not None:
        wrote = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=wrote_hours_ago)
        await service.note_inbound(session, channel=Channel.INSTAGRAM, address=IGSID, now=wrote)
        await session.commit()

    enqueued = await outbox().enqueue(session, outgoing(user_id=shopper.id))

    assert enqueued.channel == channel


# -- templates --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["ko", "ja", "en"])
def test_a_chat_answer_is_the_bots_text_and_nothing_else(locale: Locale) -> None:
    parameters = TEMPLATES.prepare("chat_answer", {"text": ANSWER}, locale=locale)

    for channel in (Channel.LINE, Channel.INSTAGRAM, Channel.TALKTALK):
        rendered = TEMPLATES.render("chat_answer", locale=locale, parameters=parameters, channel=channel, address="x")
        assert rendered.text == ANSWER


@pytest.mark.parametrize(
    ("locale", "headline"),
    [
        ("ko", "[Shoa] 문의하신 내용에 무신사 스탠다드에서 답변했습니다."),
        ("ja", "【Shoa】お問い合わせに무신사 스탠다드から回答がありました。"),
        ("en", "[Shoa] 무신사 스탠다드 has answered your inquiry."),
    ],
)
def test_an_inquiry_answer_says_who_answered_then_the_answer(locale: Locale, headline: str) -> None:
    reply = "교환 상품은 내일 출고됩니다."
    parameters = TEMPLATES.prepare("inquiry_answered", {"sender": "무신사 스탠다드", "reply": reply}, locale=locale)

    rendered = TEMPLATES.render(
        "inquiry_answered", locale=locale, parameters=parameters, channel=Channel.LINE, address=LINE_USER
    )

    assert rendered.text == f"{headline}\n\n{reply}"
