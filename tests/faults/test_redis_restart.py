"""Redis stopped and started again, then killed and started again, while a real API process (``shoa serve``) serves
a shop: anonymous feeds, product pages and searches, logged-in feeds, checkouts paid by card, a mall's server
reading its catalog, and chatbot turns on KakaoTalk and LINE, all at once.

What the operators' guide promises, checked on every answer:

- nothing is ever a 500: an answer is a success, or, for a request that needs Redis (a shopper's token is checked
  against the revocations in Redis, feeds read their scores there, the chatbot keeps its conversations there),
  a 503 problem with ``Retry-After`` — every chat turn handled while Redis is away is one;
- what does not need Redis does not stop: product pages and searches (their cached copies are skipped, answered
  fresh) and the partner API (its rate limit lets requests through while Redis is away) answer 200 throughout;
- the same API process answers every route again by itself once Redis is back, whether Redis kept its data (a
  stop: its append-only file) or lost the last of it (a kill);
- nothing is lost or doubled: every checkout the shopper's app retried with its ``Idempotency-Key`` after a 503 is
  one order, whole, and paid once however often its confirmation was sent again; every LINE message that was
  answered 503 and delivered again by LINE is one turn with one answer; every KakaoTalk turn answered 503 left
  nothing behind, and every one answered 200 is stored.

The test's Redis is a server of its own (the session's must stay up for the other tests), durable as a production
one; PostgreSQL is the suite's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from redis import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker

from accounts.models import User
from bench.support import BOT_ID, skill_request
from catalog import keys
from notify.models import Message
from orders.payments.sandbox import SandboxGateway
from shoa_api.runtime import EmbeddedRedis
from shoa_api.wiring import access_tokens_from
from shoa_kernel.clock import utc_now
from support.models import Turn
from tests.factories import create_mall
from tests.faults.processes import ApiProcess, running_api, unavailable, until
from tests.support.conftest import LINE_SECRET, SKILL_SECRET, line_signature, line_webhook

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator
    from pathlib import Path

    import httpx
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from shoa_api.settings import Settings
    from tests.client import ShoaClient
    from tests.conftest import SearchIndex, Services

SHOPPERS = 6
LINE_USERS = 3
KAKAO_USERS = 3
BROWSERS = 4
STOCK = 10_000
BACK_WITHIN_SECONDS = 20.0
"""How long the API may take to answer every route again once Redis accepts connections."""
OUTAGE_ANSWERS = 40
"""Answers the traffic must have had while Redis was down before it is started again."""
CHAT = ("POST /webhooks/chat/kakao", "POST /webhooks/chat/line")
"""Routes that cannot answer without Redis: a conversation is kept there."""
ADDRESS = {"postcode": "04044", "road_address": "서울특별시 마포구 양화로 45", "detail": "101동 1203호",
           "recipient": "김지영", "phone": "010-1234-5678"}  # fmt: skip
LINE_TEXTS = ["안녕하세요", "배송 조회하고 싶어요", "주문번호를 모르겠어요", "상담원 연결해 주세요"]
KAKAO_TEXTS = ["안녕하세요", "반품하고 싶어요", "처음으로"]
NEEDS_NO_REDIS = ("GET /v1/products/{id}", "GET /v1/search", "GET /partner/v1/products")
"""Routes that answer 200 whether Redis is there or not."""


def _products() -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"LN-{n}",
            "name": f"린넨 셔츠 원피스 {n}",
            "description": "여름에 시원한 린넨 100% 셔츠 원피스",
            "category_path": "원피스/셔츠원피스",
            "style_tags": ["오피스룩", "미니멀"],
            "target_gender": "female",
            "target_age_bands": ["20s_late", "30s_early"],
            "image_urls": [f"https://img.haru.kr/LN-{n}/1.jpg"],
            "source_updated_at": "2026-11-20T10:00:00+09:00",
            "variants": [{"sku": f"LN-{n}-BK-M", "color": "블랙", "size": "M", "price": 39000, "stock": STOCK}],
        }
        for n in range(4)
    ]


@dataclass(frozen=True)
class Heard:
    """One answer the traffic got, and whether Redis was away all the while the request was sent and answered (so the
    API handled it without Redis)."""

    route: str
    response: httpx.Response
    without_redis: bool


@dataclass
class Shop:
    """The suite's PostgreSQL with one mall's catalog, shoppers and their tokens, the API in front of it, and the
    sandbox gateway's payment window."""

    api: ApiProcess
    client: httpx.AsyncClient
    gateway: SandboxGateway
    """The sandbox's payment window, where the shoppers' cards are taken."""
    partner_key: str
    product_ids: list[str]
    variant_ids: list[str]
    tokens: list[str]
    heard: list[Heard] = field(default_factory=list)
    redis_down: bool = False
    outages: int = 0
    placed: dict[str, str] = field(default_factory=dict)
    """Order id by checkout key, as the shoppers' apps were answered."""
    line_events: list[str] = field(default_factory=list)
    """Every LINE webhookEventId sent, each answered 200 in the end."""
    kakao_answered: Counter[str] = field(default_factory=Counter)
    """KakaoTalk turns answered 200, per botUserKey."""

    async def send(self, route: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        sent_during = self.outages if self.redis_down else None
        response = await self.client.request(method, path, **kwargs)
        answered_during = self.outages if self.redis_down else None
        self.heard.append(Heard(route, response, sent_during is not None and sent_during == answered_during))
        return response

    def routes(self, n: int) -> list[tuple[str, str, str, dict[str, Any]]]:
        """What a reader sends, as (route, method, path, request arguments): the ``n``-th reader's products."""
        product = self.product_ids[n % len(self.product_ids)]
        shopper = {"headers": {"Authorization": f"Bearer {self.tokens[n % len(self.tokens)]}"}}
        partner = {"headers": {"Authorization": f"Bearer {self.partner_key}"}}
        return [
            ("GET /v1/feed", "GET", "/v1/feed", {}),
            ("GET /v1/products/{id}", "GET", f"/v1/products/{product}", {}),
            ("GET /v1/search", "GET", "/v1/search", {"params": {"q": "린넨 원피스"}}),
            ("GET /v1/feed (shopper)", "GET", "/v1/feed", shopper),
            ("GET /partner/v1/products", "GET", "/partner/v1/products", partner),
        ]


# --- The traffic ------------------------------------------------------------------------------------------------


async def _reader(shop: Shop, n: int, stopping: asyncio.Event) -> None:
    routes = shop.routes(n)
    turn = n
    while not stopping.is_set():
        route, method, path, kwargs = routes[turn % len(routes)]
        turn += 1
        await shop.send(route, method, path, **kwargs)
        await asyncio.sleep(0.01)


async def _retried(shop: Shop, route: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The request sent again after every 503, as a shopper's app (or LINE) does, until it is answered otherwise.
    The pause is shorter than the ``Retry-After`` asked for: the test has no time to spare."""
    while True:
        response = await shop.send(route, method, path, **kwargs)
        if response.status_code != 503:
            return response
        await asyncio.sleep(0.1)


async def _shopper(shop: Shop, n: int, stopping: asyncio.Event) -> None:
    """Checks out one item and pays by card, again and again: each checkout with its own key and each confirmation
    with its payment key, each sent again after a 503."""
    headers = {"Authorization": f"Bearer {shop.tokens[n]}"}
    turn = n
    while not stopping.is_set():
        key = str(uuid.uuid4())
        body = {
            "address": ADDRESS,
            "payment_method": "card",
            "lines": [{"variant_id": shop.variant_ids[turn % len(shop.variant_ids)], "quantity": 1}],
        }
        turn += 1
        placed = await _retried(shop, "POST /v1/orders", "POST", "/v1/orders", json=body,
                                headers=headers | {"Idempotency-Key": key})  # fmt: skip
        assert placed.status_code in (200, 201), placed.text
        order = placed.json()
        shop.placed[key] = order["id"]
        payment_key = await shop.gateway.authorize_card(
            order_id=order["number"], order_name=order["name"], amount=order["total_amount"]
        )
        confirm = {"payment_key": payment_key, "amount": order["total_amount"]}
        paid = await _retried(shop, "POST /v1/orders/{id}/payment/confirm", "POST",
                              f"/v1/orders/{order['id']}/payment/confirm", json=confirm, headers=headers)  # fmt: skip
        assert paid.status_code == 200, paid.text
        await asyncio.sleep(0.05)


async def _line_user(shop: Shop, n: int, stopping: asyncio.Event) -> None:
    """Writes to the bot on LINE; LINE delivers an event again (same webhookEventId) until it is answered 200."""
    user_id = f"U{n:032x}"
    turn = 0
    while not stopping.is_set():
        event_id = f"01JFAULT{uuid.uuid4().hex[:18].upper()}"
        text = LINE_TEXTS[turn % len(LINE_TEXTS)]
        turn += 1
        redelivery = False
        while True:
            body = line_webhook(user_id, text, event_id=event_id, redelivery=redelivery)
            headers = {"Content-Type": "application/json", "X-Line-Signature": line_signature(body)}
            answer = await shop.send("POST /webhooks/chat/line", "POST", "/webhooks/chat/line", content=body,
                                     headers=headers)  # fmt: skip
            if answer.status_code != 503:
                break
            redelivery = True
            await asyncio.sleep(0.1)
        if answer.status_code == 200:
            shop.line_events.append(event_id)
        await asyncio.sleep(0.05)


async def _kakao_user(shop: Shop, n: int, stopping: asyncio.Event) -> None:
    """Writes to the bot on KakaoTalk, which does not deliver a skill request again: a 503 is the shopper's to
    retry by writing again."""
    user_key = f"kakao-fault-{n}"
    turn = 0
    while not stopping.is_set():
        text = KAKAO_TEXTS[turn % len(KAKAO_TEXTS)]
        turn += 1
        answer = await shop.send(
            "POST /webhooks/chat/kakao",
            "POST",
            "/webhooks/chat/kakao",
            json=skill_request(user_key, text),
            headers={"X-Shoa-Skill-Secret": SKILL_SECRET},
        )
        if answer.status_code == 200:
            assert answer.json()["template"]["outputs"], answer.text
            shop.kakao_answered[user_key] += 1
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def traffic(shop: Shop) -> AsyncIterator[None]:
    stopping = asyncio.Event()
    tasks = [
        *(asyncio.create_task(_reader(shop, n, stopping)) for n in range(BROWSERS)),
        *(asyncio.create_task(_shopper(shop, n, stopping)) for n in range(SHOPPERS)),
        *(asyncio.create_task(_line_user(shop, n, stopping)) for n in range(LINE_USERS)),
        *(asyncio.create_task(_kakao_user(shop, n, stopping)) for n in range(KAKAO_USERS)),
    ]
    try:
        yield
    finally:
        stopping.set()
        await asyncio.gather(*tasks)


# --- Redis going away -------------------------------------------------------------------------------------------


def _pid(redis: EmbeddedRedis) -> int:
    with Redis(unix_socket_path=str(redis.socket_path)) as client:
        return int(client.info("server")["process_id"])


def _kill(redis: EmbeddedRedis) -> None:
    """SIGKILL, as the kernel's OOM killer would: writes since the last fsync of the append-only file are lost."""
    os.kill(_pid(redis), signal.SIGKILL)
    redis.stop()  # reaps it


async def _outage(shop: Shop, redis: EmbeddedRedis, stop: Callable[[EmbeddedRedis], None]) -> None:
    """Redis goes away until the traffic has had ``OUTAGE_ANSWERS`` answers to requests sent without it, every
    reader's route and chat turn among them, then comes back."""
    heard_before = len(shop.heard)
    await asyncio.to_thread(stop, redis)
    shop.outages += 1
    shop.redis_down = True
    every_route = {route for route, *_ in shop.routes(0)} | set(CHAT)

    async def felt() -> bool:
        without = [heard for heard in shop.heard[heard_before:] if heard.without_redis]
        return len(without) >= OUTAGE_ANSWERS and {heard.route for heard in without} >= every_route

    try:
        await until(felt, "answers while Redis is down")
    finally:
        shop.redis_down = False  # before it starts: an answer heard from now on may have had Redis
        await asyncio.to_thread(redis.start)


async def _every_route_answers(shop: Shop) -> None:
    """Each route of the traffic answers a success within ``BACK_WITHIN_SECONDS``, the same API process."""
    for route, method, path, kwargs in shop.routes(0):

        async def succeeds(
            route: str = route, method: str = method, path: str = path, kwargs: dict[str, Any] = kwargs
        ) -> bool:
            response = await shop.client.request(method, path, **kwargs)
            assert response.is_success or unavailable(response), (route, response.status_code, response.text)
            return response.is_success

        await until(succeeds, f"{route} answering again", within=BACK_WITHIN_SECONDS)
    assert shop.api.alive()


# --- Fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    # Durable, as a production Redis is: a stopped server keeps what it had, a killed one loses the last second.
    server = EmbeddedRedis(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def shop(
    services: Services,
    settings: Settings,
    session: AsyncSession,
    client: ShoaClient,
    search_index: SearchIndex,
    engine: AsyncEngine,
    redis: EmbeddedRedis,
    tmp_path: Path,
) -> AsyncIterator[Shop]:
    """하루일상's catalog synced and indexed, the shoppers, and ``shoa serve`` on the test's Redis."""
    mall = await create_mall(session, name="하루일상", slug="haru")
    issued = await keys.issue_key(session, mall_id=mall.id, name="sync", scopes=["catalog:write"])
    await session.commit()
    synced = await client.put("/partner/v1/products", headers={"Authorization": f"Bearer {issued.key}"},
                              json={"products": _products()})  # fmt: skip
    assert synced.status_code == 200, synced.text
    await search_index.settle()
    product_ids = [item["product_id"] for item in synced.json()["items"]]
    variant_ids = [str(v) for v in await session.scalars(sa.text("SELECT id FROM variants ORDER BY sku"))]

    shoppers = [User(email=f"fault{n}@example.kr", phone=f"+82107100{n:04d}", locale="ko", birth_date=None,
                     gender="female") for n in range(SHOPPERS)]  # fmt: skip
    session.add_all(shoppers)
    await session.commit()
    signer, now = access_tokens_from(settings.security), utc_now()
    tokens = [signer.issue(shopper.id, now=now)[0] for shopper in shoppers]

    environment = services.environ(
        SHOA_REDIS_URL=redis.url,
        SHOA_SEARCH_DIR=str(settings.search.dir),
        SHOA_SUPPORT_KAKAO_SKILL_SECRET=SKILL_SECRET,
        SHOA_SUPPORT_KAKAO_BOT_ID=BOT_ID,
        SHOA_SUPPORT_LINE_CHANNEL_SECRET=LINE_SECRET,
        # Limits stay on (a Redis outage must let requests through); every reader here shares one address.
        SHOA_RATE_LIMIT_ANONYMOUS_PER_IP_PER_MINUTE="1000000",
        SHOA_RATE_LIMIT_PARTNER_PER_KEY_PER_MINUTE="1000000",
    )
    async with running_api(environment, tmp_path / "api.log") as api, api.client() as api_client:
        gateway = SandboxGateway(session_maker=async_sessionmaker(engine))
        yield Shop(api, api_client, gateway, issued.key, product_ids, variant_ids, tokens)


# --- The test ---------------------------------------------------------------------------------------------------


async def test_redis_stopped_then_killed_under_traffic_degrades_as_documented_and_loses_nothing(
    shop: Shop, redis: EmbeddedRedis, engine: AsyncEngine
) -> None:
    await _every_route_answers(shop)
    async with traffic(shop):
        for stop in (EmbeddedRedis.stop, _kill):
            await asyncio.sleep(0.5)  # the traffic runs with Redis up
            await _outage(shop, redis, stop)
            await _every_route_answers(shop)
        await asyncio.sleep(0.5)

    # Every answer was a success or the documented 503; none was a 500 or anything else.
    wrong = [(h.route, h.response.status_code, h.response.text[:200]) for h in shop.heard
             if not (h.response.is_success or unavailable(h.response))]  # fmt: skip
    assert wrong == []
    # Redis was felt: every chat turn sent while it was away was refused ...
    without = [h for h in shop.heard if h.without_redis]
    assert {h.response.status_code for h in without if h.route in CHAT} == {503}
    # ... and what does not need it went on, before, while and after.
    served = Counter((h.route, h.response.status_code) for h in shop.heard if h.route in NEEDS_NO_REDIS)
    assert set(served) == {(route, 200) for route in NEEDS_NO_REDIS}, served
    assert {h.route for h in without} >= set(NEEDS_NO_REDIS)

    await _nothing_lost_nor_doubled(shop, engine)


async def _nothing_lost_nor_doubled(shop: Shop, engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        # Each checkout the apps were answered for is one order, whole and paid once, and no other order exists.
        orders = (await connection.execute(sa.text(
            "SELECT k.key, o.id FROM orders o JOIN order_checkout_keys k ON k.order_id = o.id"
        ))).all()  # fmt: skip
        assert {str(key): str(order_id) for key, order_id in orders} == shop.placed
        assert await connection.scalar(sa.text("SELECT count(*) FROM orders")) == len(shop.placed)
        whole = await connection.scalar(sa.text(
            "SELECT count(*) FROM orders o JOIN mall_orders m ON m.order_id = o.id "
            "JOIN order_payments p ON p.order_id = o.id "
            "WHERE m.status = 'paid' AND p.status = 'DONE' AND p.amount = o.total_amount "
            "AND EXISTS (SELECT FROM order_lines l WHERE l.mall_order_id = m.id) "
            "AND (SELECT count(*) FROM order_transitions t WHERE t.mall_order_id = m.id AND t.to_status = 'paid') = 1"
        ))  # fmt: skip
        assert whole == len(shop.placed)
        sold = await connection.scalar(sa.text(f"SELECT sum({STOCK} - stock) FROM variants"))  # noqa: S608
        assert sold == len(shop.placed)

        # Each LINE message is one turn with one answer, however many times LINE delivered it.
        line_turns = dict((await connection.execute(
            sa.select(Turn.event_id, sa.func.count()).where(Turn.channel == "line").group_by(Turn.event_id)
        )).all())  # fmt: skip
        assert line_turns == dict.fromkeys(shop.line_events, 1)
        answers = await connection.scalar(
            sa.select(sa.func.count()).select_from(Message).join(Turn, Message.idempotency_key == "chat:" + sa.cast(
                Turn.id, sa.String)).where(Turn.channel == "line")
        )  # fmt: skip
        assert answers == len(shop.line_events)

        # A KakaoTalk turn refused with a 503 left nothing; each one answered is stored.
        kakao_turns = dict((await connection.execute(
            sa.select(Turn.chat_user, sa.func.count()).where(Turn.channel == "kakao").group_by(Turn.chat_user)
        )).all())  # fmt: skip
        assert kakao_turns == dict(shop.kakao_answered)
