"""Redis up but refusing writes, as it does when it is out of memory or cannot persist to a full disk: what the API
answers meanwhile, and that it answers as before once Redis writes again.

- **Out of memory**: with ``maxmemory`` reached and the default ``noeviction`` policy, Redis answers every write
  ``-OOM command not allowed when used memory > 'maxmemory'`` (inside a script too) and still answers reads.
- **Cannot persist**: a Redis that saves snapshots and failed its last one (a full disk; here a directory it cannot
  write, which takes the same path) refuses every write with ``-MISCONF …`` while ``stop-writes-on-bgsave-error``
  is on, the default, until a snapshot succeeds again. An append-only file that cannot be written, as the
  embedded Redis keeps, is refused the same way (``-MISCONF Errors writing to the AOF file``).

What does not write to Redis goes on (a product page, a checkout: a shopper's token is only read against the
revocations); what must write there (the chatbot's conversation, the feed's signals) is a 503 problem with
``Retry-After``, never a 500, and leaves nothing half-done behind (no chatbot turn stored without its state).
"""

from __future__ import annotations

import datetime
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from redis import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker

from accounts.models import User
from bench.support import BOT_ID, skill_request
from catalog import keys
from catalog.search.tantivy_engine import TantivyEngine
from shoa_api.app import create_app
from shoa_api.runtime import EmbeddedRedis
from shoa_api.settings import load_settings
from shoa_api.wiring import access_tokens_from
from shoa_kernel.clock import utc_now
from support.models import Turn
from tests.client import ShoaClient
from tests.conftest import SearchIndex, create_search_index
from tests.factories import create_mall
from tests.faults.processes import unavailable
from tests.support.conftest import SKILL_SECRET

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator
    from pathlib import Path

    import httpx
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.conftest import Services

ADDRESS = {"postcode": "04044", "road_address": "서울특별시 마포구 양화로 45", "detail": "101동 1203호",
           "recipient": "김지영", "phone": "010-1234-5678"}  # fmt: skip
PRODUCT = {
    "external_id": "LN-1",
    "name": "린넨 셔츠 원피스",
    "description": "여름에 시원한 린넨 100% 셔츠 원피스",
    "category_path": "원피스/셔츠원피스",
    "style_tags": ["오피스룩"],
    "target_gender": "female",
    "target_age_bands": ["20s_late", "30s_early"],
    "image_urls": ["https://img.haru.kr/LN-1/1.jpg"],
    "source_updated_at": "2026-11-20T10:00:00+09:00",
    "variants": [{"sku": "LN-1-BK-M", "color": "블랙", "size": "M", "price": 39000, "stock": 100}],
}


def _out_of_memory(redis: Redis) -> Callable[[], object]:
    redis.config_set("maxmemory", 1)  # below what it uses already: every write is refused
    return lambda: redis.config_set("maxmemory", 0)


def _cannot_persist(redis: Redis) -> Callable[[], object]:
    directory = str(redis.config_get("dir")["dir"])
    redis.config_set("save", "3600 1")
    redis.config_set("dir", "/proc")  # not even root creates a file there: the snapshot fails
    redis.bgsave()
    _until_snapshot(redis, "err")

    def space_freed() -> None:
        redis.config_set("dir", directory)
        redis.bgsave()  # Redis would try again by itself within seconds; the test has none to spare
        _until_snapshot(redis, "ok")
        redis.config_set("save", "")  # as the test's server started: nothing to save when it stops

    return space_freed


def _until_snapshot(redis: Redis, status: str) -> None:
    """Until the last background snapshot ended with ``status`` (``ok`` or ``err``)."""
    deadline = time.monotonic() + 10
    while (persistence := redis.info("persistence"))["rdb_bgsave_in_progress"] or (
        persistence["rdb_last_bgsave_status"] != status
    ):
        assert time.monotonic() < deadline, persistence
        time.sleep(0.01)


GOING_ON = {"product page": 200, "search": 200, "partner catalog": 200, "checkout": 201, "anonymous feed": 200}
"""What needs no write to Redis."""
EVERY_ONE_ANSWERED = GOING_ON | {"shopper's feed": 200, "events": 200, "chat turn": 200}
REFUSALS = {"maxmemory reached": _out_of_memory, "cannot persist": _cannot_persist}


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis", durable=False).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def api(services: Services, redis_server: EmbeddedRedis, tmp_path: Path) -> AsyncIterator[ShoaClient]:
    settings = load_settings(
        services.environ(
            SHOA_REDIS_URL=redis_server.url,
            SHOA_SEARCH_DIR=str(tmp_path / "search"),
            SHOA_SUPPORT_KAKAO_SKILL_SECRET=SKILL_SECRET,
            SHOA_SUPPORT_KAKAO_BOT_ID=BOT_ID,
        ),
        env_file=None,
    )
    create_search_index(settings.search.dir)
    async with ShoaClient(app=create_app(settings)) as client:
        yield client


async def _requests(client: ShoaClient, session: AsyncSession, engine: AsyncEngine) -> dict[str, Callable[[], Any]]:
    """One call per kind of request, by name: a mall's product, indexed for search, and a shopper with her token."""
    mall = await create_mall(session, name="하루일상", slug="haru")
    issued = await keys.issue_key(session, mall_id=mall.id, name="sync", scopes=["catalog:write"])
    shopper = User(email="full-redis@example.kr", locale="ko", gender="female", birth_date=datetime.date(1994, 5, 1))
    session.add(shopper)
    await session.commit()
    synced = await client.put("/partner/v1/products", headers={"Authorization": f"Bearer {issued.key}"},
                              json={"products": [PRODUCT]})  # fmt: skip
    assert synced.status_code == 200, synced.text
    product_id = synced.json()["items"][0]["product_id"]
    writer = TantivyEngine(client.app.state.settings.search.dir)
    try:
        assert await SearchIndex(writer, async_sessionmaker(engine)).settle() == 1
    finally:
        writer.close()
    variant_id = str(await session.scalar(sa.text("SELECT id FROM variants WHERE sku = 'LN-1-BK-M'")))
    token = access_tokens_from(client.app.state.settings.security).issue(shopper.id, now=utc_now())[0]
    headers = {"Authorization": f"Bearer {token}"}
    partner = {"Authorization": f"Bearer {issued.key}"}

    def checkout() -> Any:
        body = {"address": ADDRESS, "payment_method": "card", "lines": [{"variant_id": variant_id, "quantity": 1}]}
        return client.post("/v1/orders", json=body, headers=headers | {"Idempotency-Key": str(uuid.uuid4())})

    def events() -> Any:
        now = datetime.datetime.now(datetime.UTC).isoformat()
        event = {"id": str(uuid.uuid4()), "kind": "view", "product_id": product_id, "occurred_at": now}
        return client.post("/v1/events", json={"events": [event]}, headers=headers)

    return {
        "product page": lambda: client.get(f"/v1/products/{product_id}"),
        "search": lambda: client.get("/v1/search", params={"q": "린넨"}),
        "partner catalog": lambda: client.get("/partner/v1/products", headers=partner),
        "checkout": checkout,
        "anonymous feed": lambda: client.get("/v1/feed"),
        "shopper's feed": lambda: client.get("/v1/feed", headers=headers),
        "events": events,
        "chat turn": lambda: client.post(
            "/webhooks/chat/kakao",
            json=skill_request("kakao-full", "안녕하세요"),
            headers={"X-Shoa-Skill-Secret": SKILL_SECRET},
        ),
    }


@pytest.mark.parametrize("refusal", list(REFUSALS))
async def test_a_redis_that_refuses_writes_is_a_503_where_a_write_is_needed_and_nothing_else(
    api: ShoaClient, session: AsyncSession, engine: AsyncEngine, redis_server: EmbeddedRedis, refusal: str
) -> None:
    calls = await _requests(api, session, engine)
    assert {name: (await call()).status_code for name, call in calls.items()} == EVERY_ONE_ANSWERED
    turns_before = await _kakao_turns(engine)

    with Redis(unix_socket_path=str(redis_server.socket_path)) as redis:
        repair = REFUSALS[refusal](redis)
        try:
            answers: dict[str, httpx.Response] = {name: await call() for name, call in calls.items()}
        finally:
            repair()

    assert {name: answer.status_code for name, answer in answers.items()} == GOING_ON | {
        "shopper's feed": 503, "events": 503, "chat turn": 503,
    }, {name: answer.text[:300] for name, answer in answers.items()}  # fmt: skip
    assert all(unavailable(answer) for answer in answers.values() if answer.status_code == 503)
    assert await _kakao_turns(engine) == turns_before  # the refused turn left nothing

    # Redis writes again: the same app answers everything as before.
    assert {name: (await call()).status_code for name, call in calls.items()} == EVERY_ONE_ANSWERED


async def _kakao_turns(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(sa.select(sa.func.count()).select_from(Turn)) or 0)
