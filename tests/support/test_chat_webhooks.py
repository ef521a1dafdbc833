"""The chat webhooks as each platform calls them: a call that does not verify is refused (401) and leaves nothing
behind, a body that is not the platform's event is a 400 problem, a message delivered twice is answered once, and
Instagram's and TalkTalk's own ways (the subscription check, the reply window, ``open``, a button's ``code``)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from bench.support import BOT_ID, skill_request
from notify.models import ChatWindow, Message, SandboxMessage
from shoa_api.app import create_app
from shoa_api.settings import load_settings
from support.models import Turn
from tests.client import ShoaClient
from tests.conftest import create_search_index
from tests.support.conftest import (
    INSTAGRAM_VERIFY_TOKEN,
    SKILL_SECRET,
    chat_answers,
    instagram_mid,
    instagram_signature,
    instagram_webhook,
    line_signature,
    line_webhook,
    talktalk_event,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import httpx
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.conftest import Services
    from tests.orders.conftest import Messages
    from tests.support.conftest import Instagram, Kakao, Line, TalkTalk

LINE_USER = "U1f2e3d4c5b6a79880f1e2d3c4b5a6978"
IGSID = "6543210987654321"
TALKTALK_USER = "al-2eGuGr5WQOnco1_V-FQ"


async def traces(engine: AsyncEngine, redis: Redis) -> dict[str, int]:
    """Everything a chat message can leave: turns, messages to send, reply windows, conversation state."""
    async with engine.connect() as connection:
        counted = {
            name: await connection.scalar(sa.select(sa.func.count()).select_from(table))
            for name, table in (
                ("turns", Turn),
                ("messages", Message),
                ("windows", ChatWindow),
            )
        }
    return {**{name: int(count or 0) for name, count in counted.items()}, "redis": len(await redis.keys("support:*"))}


NOTHING = {"turns": 0, "messages": 0, "windows": 0, "redis": 0}


def assert_not_verified(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 401
    assert problem["type"].endswith("chat-webhook-not-verified")


def assert_not_an_event(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("invalid-chat-event")


# --- Verification ---------------------------------------------------------------------------------------------


async def test_a_kakao_skill_request_without_the_secret_or_for_another_bot_is_refused_and_leaves_no_trace(
    kakao: Kakao, client: ShoaClient, engine: AsyncEngine, redis_client: Redis
) -> None:
    body = skill_request("kakao-user-1", "택배 언제와요")

    wrong_secret = await kakao.post(body, secret="not-the-skill-secret")
    no_secret = await client.post("/webhooks/chat/kakao", json=body)
    other_bot = await kakao.post(skill_request("kakao-user-1", "택배 언제와요", bot_id="another-bot-0000"))

    for refused in (wrong_secret, no_secret, other_bot):
        assert_not_verified(refused)
    assert await traces(engine, redis_client) == NOTHING


async def test_a_line_webhook_with_a_bad_signature_is_refused_and_leaves_no_trace(
    line: Line, engine: AsyncEngine, redis_client: Redis
) -> None:
    body = line_webhook(LINE_USER, "荷物はいつ届きますか?")

    signed_by_someone_else = await line.post(body, signature=line_signature(body, "another-channel-secret"))
    other_body = await line.post(body, signature=line_signature(body.replace("荷物".encode(), "返品".encode())))

    for refused in (signed_by_someone_else, other_body):
        assert_not_verified(refused)
    assert await traces(engine, redis_client) == NOTHING


async def test_an_instagram_webhook_with_a_bad_signature_is_refused_and_leaves_no_trace(
    instagram: Instagram, client: ShoaClient, engine: AsyncEngine, redis_client: Redis
) -> None:
    body = instagram_webhook(IGSID, "택배 언제 와요?")

    forged = await instagram.post(body, signature=instagram_signature(body, "not-the-app-secret"))
    unsigned = await client.post("/webhooks/chat/instagram", content=body)

    for refused in (forged, unsigned):
        assert_not_verified(refused)
    assert await traces(engine, redis_client) == NOTHING


async def test_a_talktalk_event_without_the_url_secret_is_refused_and_leaves_no_trace(
    talktalk: TalkTalk, engine: AsyncEngine, redis_client: Redis
) -> None:
    for secret in ("not-the-secret", None):
        assert_not_verified(await talktalk.post(talktalk_event(TALKTALK_USER, "배송 조회"), secret=secret))
        assert_not_verified(await talktalk.post(talktalk_event(TALKTALK_USER, event="open"), secret=secret))
    assert await traces(engine, redis_client) == NOTHING


@pytest.fixture
async def unconfigured(services: Services, tmp_path: Path) -> AsyncIterator[ShoaClient]:
    """The app with no chat channel's secret set, as a fresh deployment starts."""
    settings = load_settings(services.environ(SHOA_SEARCH_DIR=str(tmp_path / "bare-search")), env_file=None)
    create_search_index(settings.search.dir)
    async with ShoaClient(app=create_app(settings)) as client:
        yield client


async def test_a_channel_with_no_secret_configured_refuses_every_call(
    unconfigured: ShoaClient, engine: AsyncEngine, redis_client: Redis
) -> None:
    line_body = line_webhook(LINE_USER, "こんにちは")
    instagram_body = instagram_webhook(IGSID, "안녕하세요")
    talktalk_body = json.dumps(talktalk_event(TALKTALK_USER, "안녕하세요")).encode()

    refused = [
        await unconfigured.post("/webhooks/chat/kakao", json=skill_request("kakao-user-1", "안녕하세요")),
        await unconfigured.post(
            "/webhooks/chat/kakao",
            json=skill_request("kakao-user-1", "안녕하세요"),
            headers={"X-Shoa-Skill-Secret": ""},
        ),
        await unconfigured.post(
            "/webhooks/chat/line", content=line_body, headers={"X-Line-Signature": line_signature(line_body, "")}
        ),
        await unconfigured.post(
            "/webhooks/chat/instagram",
            content=instagram_body,
            headers={"X-Hub-Signature-256": instagram_signature(instagram_body, "")},
        ),
        await unconfigured.get(
            "/webhooks/chat/instagram",
            params={"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1158201444"},
        ),
        await unconfigured.post("/webhooks/chat/talktalk", content=talktalk_body, params={"secret": ""}),
    ]

    for response in refused:
        assert_not_verified(response)
    assert await traces(engine, redis_client) == NOTHING


async def test_a_verified_call_whose_body_is_not_the_platforms_event_is_a_400_problem(
    kakao: Kakao, line: Line, instagram: Instagram, talktalk: TalkTalk, client: ShoaClient
) -> None:
    for garbage in (b"{not json", b"[1, 2, 3]", b"\xff\xfe", b""):
        assert_not_an_event(await line.post(garbage))
        assert_not_an_event(await instagram.post(garbage))
        assert_not_an_event(await talktalk.post(garbage))
        assert_not_an_event(
            await client.post(
                "/webhooks/chat/kakao",
                content=garbage,
                headers={"X-Shoa-Skill-Secret": SKILL_SECRET, "Content-Type": "application/json"},
            )
        )
    # Right JSON, wrong shape: a skill request without its user, LINE events that are no list, an Instagram
    # message without its sender, a TalkTalk event without its kind.
    assert_not_an_event(await line.post(b'{"destination": "U-shoa-bot", "events": "none"}'))
    no_user: dict[str, Any] = {"userRequest": {"utterance": "안녕"}, "bot": {"id": BOT_ID}}
    assert_not_an_event(await kakao.post(no_user))
    no_sender = {"object": "instagram", "entry": [{"id": "1", "messaging": [{"message": {"mid": "m", "text": "x"}}]}]}
    assert_not_an_event(await instagram.post(json.dumps(no_sender).encode()))
    assert_not_an_event(await talktalk.post({"user": TALKTALK_USER}))


# --- Duplicate deliveries -------------------------------------------------------------------------------------


async def _turns_of(session: AsyncSession, chat_user: str) -> list[Turn]:
    return list(await session.scalars(sa.select(Turn).where(Turn.chat_user == chat_user)))


async def test_a_line_event_delivered_twice_is_answered_once(
    line: Line, engine: AsyncEngine, session: AsyncSession
) -> None:
    first = line_webhook(LINE_USER, "こんにちは", event_id="01JDUPLICATEDELIVERY00001")
    again = line_webhook(LINE_USER, "こんにちは", event_id="01JDUPLICATEDELIVERY00001", redelivery=True)

    answered = [(await line.post(body)).json() for body in (first, again)]

    assert answered == [{"answered": 1}, {"answered": 0}]
    assert len(await _turns_of(session, LINE_USER)) == 1
    assert len(await chat_answers(engine, LINE_USER)) == 1


async def test_a_line_event_delivered_twice_at_the_same_moment_is_answered_once(
    line: Line, engine: AsyncEngine, session: AsyncSession
) -> None:
    body = line_webhook(LINE_USER, "荷物はいつ届きますか?", event_id="01JCONCURRENTDELIVERY0001")

    responses = await asyncio.gather(line.post(body), line.post(body), line.post(body))

    assert [response.status_code for response in responses] == [200, 200, 200]
    assert sorted(response.json()["answered"] for response in responses) == [0, 0, 1]
    assert len(await _turns_of(session, LINE_USER)) == 1
    assert len(await chat_answers(engine, LINE_USER)) == 1


async def test_an_instagram_message_delivered_twice_is_answered_once(
    instagram: Instagram, engine: AsyncEngine, session: AsyncSession
) -> None:
    body = instagram_webhook(IGSID, "안녕하세요", mid=instagram_mid())  # some 170 characters, as Instagram's are

    answered = [(await instagram.post(body)).json() for _ in range(2)]

    assert answered == [{"answered": 1}, {"answered": 0}]
    assert len(await _turns_of(session, IGSID)) == 1
    assert len(await chat_answers(engine, IGSID)) == 1


# --- Instagram ------------------------------------------------------------------------------------------------


async def test_instagram_subscription_check_answers_the_challenge_only_with_our_token(client: ShoaClient) -> None:
    check = {"hub.mode": "subscribe", "hub.verify_token": INSTAGRAM_VERIFY_TOKEN, "hub.challenge": "1158201444"}

    answered = await client.get("/webhooks/chat/instagram", params=check)
    wrong_token = await client.get("/webhooks/chat/instagram", params=check | {"hub.verify_token": "guess"})
    wrong_mode = await client.get("/webhooks/chat/instagram", params=check | {"hub.mode": "unsubscribe"})

    assert (answered.status_code, answered.text) == (200, "1158201444")
    assert_not_verified(wrong_token)
    assert_not_verified(wrong_mode)


async def test_an_instagram_message_is_answered_on_instagram_and_opens_its_reply_window(
    instagram: Instagram, engine: AsyncEngine, session: AsyncSession, messages: Messages
) -> None:
    answer = await instagram.say(IGSID, "안녕하세요")

    assert "Shoa 고객센터 챗봇" in answer
    window = await session.get(ChatWindow, ("instagram", IGSID))
    assert window is not None
    # The business's own message, echoed back by Meta, is no shopper's message.
    echoed = await instagram.post(instagram_webhook(IGSID, "답변 드렸어요", echo=True))
    assert echoed.json() == {"answered": 0}
    await messages.send()
    sent = list(await session.scalars(sa.select(SandboxMessage).where(SandboxMessage.address == IGSID)))
    assert [(m.channel, m.text) for m in sent] == [("instagram", answer)]
    assert "배송 조회" in sent[0].quick_replies


# --- Naver TalkTalk -------------------------------------------------------------------------------------------


async def test_a_talktalk_open_records_the_window_and_sends_nothing(
    talktalk: TalkTalk, engine: AsyncEngine, session: AsyncSession
) -> None:
    opened = await talktalk.post(talktalk_event(TALKTALK_USER, event="open"))

    assert opened.status_code == 200, opened.text
    assert await session.get(ChatWindow, ("talktalk", TALKTALK_USER)) is not None
    assert await _turns_of(session, TALKTALK_USER) == []
    assert await session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


async def test_a_talktalk_leave_or_friend_event_opens_no_window_and_sends_nothing(
    talktalk: TalkTalk, session: AsyncSession
) -> None:
    for event in ("leave", "friend"):
        answered = await talktalk.post(talktalk_event(TALKTALK_USER, event=event))
        assert answered.status_code == 200, answered.text

    assert await session.get(ChatWindow, ("talktalk", TALKTALK_USER)) is None
    assert await _turns_of(session, TALKTALK_USER) == []
    assert await session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


async def test_a_talktalk_message_is_answered_through_the_outbox_on_talktalk(
    talktalk: TalkTalk, session: AsyncSession, messages: Messages
) -> None:
    answer = await talktalk.say(TALKTALK_USER, "안녕하세요")

    assert "무엇을 도와드릴까요" in answer
    await messages.send()
    sent = list(await session.scalars(sa.select(SandboxMessage).where(SandboxMessage.address == TALKTALK_USER)))
    assert [(m.channel, m.text) for m in sent] == [("talktalk", answer)]


async def test_a_talktalk_button_tap_is_read_by_its_code(talktalk: TalkTalk, session: AsyncSession) -> None:
    await talktalk.say(TALKTALK_USER, "안녕하세요")

    answer = await talktalk.say(TALKTALK_USER, "📦", code="배송 조회")

    assert "주문번호" in answer
    (_, tapped) = sorted(await _turns_of(session, TALKTALK_USER), key=lambda turn: turn.id)
    assert (tapped.utterance, tapped.intent) == ("배송 조회", "track_delivery")
