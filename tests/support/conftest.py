"""What the chatbot tests share: the order fixtures (two malls, their catalog, 지영 and the sandbox's messages)
and the app with every chat channel's secret set, and a ``chat`` helper per platform that calls the webhooks as
the platform does: signed, in its own body format.

- ``kakao``: ``await kakao.say(user_key, text)`` posts an Open Builder skill request with the skill's secret
  header and answers the SkillResponse.
- ``line``: ``await line.say(user_id, text)`` posts a signed LINE webhook with one text message event (a new
  ``webhookEventId`` each time unless given) and answers what the bot enqueued for that user on LINE.
- ``instagram``: ``await instagram.say(igsid, text)`` posts a Meta webhook signed with ``X-Hub-Signature-256``
  carrying one message (a new ``mid`` unless given) and answers what the bot enqueued for that IGSID.
- ``talktalk``: ``await talktalk.say(user, text)`` posts a TalkTalk ``send`` event to the webhook URL with its
  ``?secret=`` (a button's ``code`` when given) and answers what the bot enqueued for that user.

``link_kakao`` links a shopper's account to Kakao as her first Kakao login did (an ``OAuthIdentity``), so that
skill requests carrying that ``appUserId`` are hers; ``chat_answers`` is what the bot enqueued for an address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from accounts.models import OAuthIdentity
from bench.support import BOT_ID, skill_request
from notify.models import Message, SandboxMessage
from shoa_api.settings import Settings, load_settings
from tests.conftest import create_search_index
from tests.orders.conftest import catalog, malls, messages, shopper  # noqa: F401 - fixtures these tests use

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient
    from tests.conftest import Services

SKILL_SECRET = "skill-secret-for-tests"
LINE_SECRET = "line-channel-secret"
INSTAGRAM_APP_SECRET = "instagram-app-secret"
INSTAGRAM_VERIFY_TOKEN = "instagram-verify-token"
TALKTALK_SECRET = "talktalk-secret"
INSTAGRAM_ACCOUNT = "17841400000000001"
"""Shoa's professional Instagram account, the recipient of shoppers' messages."""


@pytest.fixture
def settings(services: Services, tmp_path: Path) -> Settings:
    settings = load_settings(
        services.environ(
            SHOA_SEARCH_DIR=str(tmp_path / "search"),
            SHOA_SUPPORT_KAKAO_SKILL_SECRET=SKILL_SECRET,
            SHOA_SUPPORT_KAKAO_BOT_ID=BOT_ID,
            SHOA_SUPPORT_LINE_CHANNEL_SECRET=LINE_SECRET,
            SHOA_INSTAGRAM_APP_SECRET=INSTAGRAM_APP_SECRET,
            SHOA_SUPPORT_INSTAGRAM_VERIFY_TOKEN=INSTAGRAM_VERIFY_TOKEN,
            SHOA_SUPPORT_TALKTALK_WEBHOOK_SECRET=TALKTALK_SECRET,
        ),
        env_file=None,
    )
    create_search_index(settings.search.dir)
    return settings


@dataclass(frozen=True)
class Kakao:
    client: ShoaClient

    async def post(self, body: dict[str, Any], *, secret: str = SKILL_SECRET) -> Any:
        return await self.client.post("/webhooks/chat/kakao", json=body, headers={"X-Shoa-Skill-Secret": secret})

    async def say(self, user_key: str, text: str, **fields: Any) -> dict[str, Any]:
        response = await self.post(skill_request(user_key, text, **fields))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer


def text_of(skill_response: dict[str, Any]) -> str:
    return str(skill_response["template"]["outputs"][0]["simpleText"]["text"])


def quick_replies(skill_response: dict[str, Any]) -> list[str]:
    return [reply["messageText"] for reply in skill_response["template"].get("quickReplies", [])]


@pytest.fixture
def kakao(client: ShoaClient) -> Kakao:
    return Kakao(client)


def line_signature(body: bytes, secret: str = LINE_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def line_webhook(user_id: str, text: str, *, event_id: str | None = None, redelivery: bool = False) -> bytes:
    """A LINE webhook with one text message event from a user, as the Messaging API sends it."""
    event = {
        "type": "message",
        "mode": "active",
        "timestamp": 1765087200000,
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": event_id or f"01J{uuid.uuid4().hex[:23].upper()}",
        "deliveryContext": {"isRedelivery": redelivery},
        "replyToken": uuid.uuid4().hex,
        "message": {"id": str(uuid.uuid4().int)[:18], "type": "text", "quoteToken": "q", "text": text},
    }
    return json.dumps({"destination": "U-shoa-bot", "events": [event]}, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Line:
    client: ShoaClient
    engine: AsyncEngine

    async def post(self, body: bytes, *, signature: str | None = None) -> Any:
        headers = {"Content-Type": "application/json", "X-Line-Signature": signature or line_signature(body)}
        return await self.client.post("/webhooks/chat/line", content=body, headers=headers)

    async def say(self, user_id: str, text: str, **fields: Any) -> str:
        """Send ``text`` as ``user_id``; the bot's answer, as enqueued for LINE (the latest to that user)."""
        response = await self.post(line_webhook(user_id, text, **fields))
        assert response.status_code == 200, response.text
        (answer,) = await self.answers(user_id, last=1)
        return answer

    async def answers(self, user_id: str, *, last: int | None = None) -> list[str]:
        """What the bot enqueued for ``user_id`` on LINE, oldest first."""
        return await chat_answers(self.engine, user_id, last=last)


async def chat_answers(engine: AsyncEngine, address: str, *, last: int | None = None) -> list[str]:
    """The bot's answers (``chat_answer`` messages) enqueued for a messenger address, oldest first."""
    async with async_sessionmaker(engine)() as session:
        rows = list(
            await session.scalars(
                sa.select(Message.text)
                .where(Message.event == "chat_answer", Message.route[0]["address"].astext == address)
                .order_by(Message.id)
            )
        )
    return rows[-last:] if last else rows


async def sent_to(engine: AsyncEngine, address: str) -> list[SandboxMessage]:
    """What the sandbox provider sent to ``address`` (a LINE user id, an IGSID, a phone), oldest first."""
    async with async_sessionmaker(engine)() as session:
        query = sa.select(SandboxMessage).where(SandboxMessage.address == address).order_by(SandboxMessage.created_at)
        return list(await session.scalars(query))


@pytest.fixture
def line(client: ShoaClient, engine: AsyncEngine) -> Line:
    return Line(client, engine)


def instagram_signature(body: bytes, secret: str = INSTAGRAM_APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def instagram_mid() -> str:
    """A message id as Instagram writes them: base64 of the item's path, some 160 characters."""
    path = f"ig_message_item:1:IGMessageID:{INSTAGRAM_ACCOUNT}:{uuid.uuid4().int:039d}:{uuid.uuid4().int:039d}"
    return base64.b64encode(path.encode()).decode().rstrip("=")


def instagram_webhook(sender: str, text: str, *, mid: str | None = None, echo: bool = False) -> bytes:
    """A Meta webhook for Instagram messaging with one text message from ``sender`` (an IGSID) to Shoa."""
    parties = (INSTAGRAM_ACCOUNT, sender) if echo else (sender, INSTAGRAM_ACCOUNT)
    message: dict[str, Any] = {"mid": mid or instagram_mid(), "text": text}
    if echo:
        message["is_echo"] = True
    event = {
        "sender": {"id": parties[0]},
        "recipient": {"id": parties[1]},
        "timestamp": 1765087200000,
        "message": message,
    }
    body = {"object": "instagram", "entry": [{"id": INSTAGRAM_ACCOUNT, "time": 1765087200, "messaging": [event]}]}
    return json.dumps(body, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Instagram:
    client: ShoaClient
    engine: AsyncEngine

    async def post(self, body: bytes, *, signature: str | None = None) -> Any:
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature or instagram_signature(body)}
        return await self.client.post("/webhooks/chat/instagram", content=body, headers=headers)

    async def say(self, igsid: str, text: str, **fields: Any) -> str:
        """Send ``text`` as ``igsid``; the bot's answer, as enqueued for Instagram (the latest to that user)."""
        response = await self.post(instagram_webhook(igsid, text, **fields))
        assert response.status_code == 200, response.text
        (answer,) = await chat_answers(self.engine, igsid, last=1)
        return answer


@pytest.fixture
def instagram(client: ShoaClient, engine: AsyncEngine) -> Instagram:
    return Instagram(client, engine)


def talktalk_event(
    user: str, text: str | None = None, *, event: str = "send", code: str | None = None
) -> dict[str, Any]:
    """A Naver TalkTalk chatbot event as the partner center posts it: ``send`` with a typed text (or a tapped
    button's ``code``), ``open`` when the shopper opens the chat."""
    if event == "open":
        return {"event": "open", "user": user, "options": {"inflow": "list", "referer": "", "friend": False}}
    content: dict[str, Any] = {"text": text or "", "inputType": "button" if code else "typing"}
    if code is not None:
        content["code"] = code
    return {"event": event, "user": user, "textContent": content, "options": {"standby": False}}


@dataclass(frozen=True)
class TalkTalk:
    client: ShoaClient
    engine: AsyncEngine

    async def post(self, body: Any, *, secret: str | None = TALKTALK_SECRET) -> Any:
        params = {"secret": secret} if secret is not None else {}
        content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        return await self.client.post(
            "/webhooks/chat/talktalk", content=content, params=params, headers={"Content-Type": "application/json"}
        )

    async def say(self, user: str, text: str, *, code: str | None = None) -> str:
        """Send ``text`` as ``user``; the bot's answer, as enqueued for TalkTalk (the latest to that user)."""
        response = await self.post(talktalk_event(user, text, code=code))
        assert response.status_code == 200, response.text
        (answer,) = await chat_answers(self.engine, user, last=1)
        return answer


@pytest.fixture
def talktalk(client: ShoaClient, engine: AsyncEngine) -> TalkTalk:
    return TalkTalk(client, engine)


async def link_kakao(session: AsyncSession, user_id: uuid.UUID, *, subject: str = "4105730291") -> str:
    """The shopper logged in to Shoa with Kakao once: her Kakao member number, which Kakao then adds to her skill
    requests as ``appUserId``."""
    session.add(OAuthIdentity(user_id=user_id, provider="kakao", subject=subject))
    await session.commit()
    return subject
