"""PostgreSQL restarted while shoppers check out, pay by card and their malls accept and ship their parts, all at
once, through a real API process (``shoa serve``), and a real ``shoa worker`` sends every order step's message to
LINE (a local server that answers as LINE's push API documents). Three times: a fast shutdown and start, as an
operator's restart does; one server process killed (SIGKILL, as the kernel's OOM killer does), after which the
postmaster ends every session and recovers by itself; and the whole server killed and started again (crash
recovery).

What a shopper, a mall and an operator would notice:

- every request in flight or arriving while the server is away is answered a 503 problem with ``Retry-After``,
  never a 500; retried (a checkout with its ``Idempotency-Key``, a confirmation with its payment key), each is
  answered as if nothing had happened — a mall that retries a step already taken is told so by the 409 naming the
  part's state;
- the same API process and the same worker go on by themselves once the server is back: their pools drop the dead
  connections;
- no order is half-written: each is whole (payment for its total, every mall's part with its lines and each step
  of its timeline once), and each unit of stock taken is in exactly one order line;
- each shopper's LINE shows each message once: received, paid and shipped (one per mall), none lost, none twice.

The server is the test's own (the session's must stay up for the other tests), durable as a production one.
``tests/shoa_api/test_database_restart.py`` proves the same 503s for reads and a catalog sync on an app in the
test's process; this adds checkouts, order steps and messages, across processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from accounts.models import User
from catalog import keys
from catalog.models import Product, Variant
from notify.models import Message
from orders.payments.sandbox import SandboxGateway
from shoa_api.migrate import upgrade_to_head
from shoa_api.runtime import EmbeddedPostgres
from shoa_api.wiring import access_tokens_from
from shoa_kernel.clock import utc_now
from tests.conftest import create_search_index
from tests.factories import create_mall
from tests.faults.processes import ApiProcess, running_api, running_worker, unavailable, until
from tests.shoa_api.test_database_restart import _stop_with

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    import httpx
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from shoa_api.settings import Settings
    from tests.client import ShoaClient
    from tests.conftest import Services
    from tests.notify.fakes.line import FakeLine

SHOPPERS = 10
ORDERS_EACH = 2
STOCK = {"H1-BK-M": 30, "M1-GR-F": 50}
"""More than the orders take: each order buys one dress of 하루일상 and two knits of 모노마켓."""
ADDRESS = {"postcode": "04044", "road_address": "서울특별시 마포구 양화로 45", "detail": "101동 1203호",
           "recipient": "김지영", "phone": "010-1234-5678"}  # fmt: skip
MALLS = [("하루일상", "haru", "H1-BK-M", 39000), ("모노마켓", "mono", "M1-GR-F", 45000)]
"""Each mall, and the one item it sells."""
STEPS = [(None, "awaiting_payment"), ("awaiting_payment", "paid"), ("paid", "preparing"), ("preparing", "shipped")]
"""Each mall's part's timeline, once each."""
EVENTS = {"order_received": 1, "payment_confirmed": 1, "shipping_started": 2}
"""The messages of one order: one per mall's parcel when it ships."""
LEASE_SECONDS = 3
DOWN_ANSWERS = 10
"""503s the traffic must have had before the server is started again."""
REINITIALIZING = "all server processes terminated; reinitializing"
"""What the postmaster logs once every session of a crashed server process has ended."""


@dataclass
class Shop:
    postgres: EmbeddedPostgres
    engine: AsyncEngine
    """The test's own connections, none pooled: each survives a restart by being new."""
    api: ApiProcess | None = None
    client: httpx.AsyncClient | None = None
    mall_keys: dict[str, str] = field(default_factory=dict)
    """Each mall's partner key by mall id."""
    variants: dict[str, str] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    line_ids: list[str] = field(default_factory=list)
    answers: list[tuple[str, httpx.Response]] = field(default_factory=list)
    placed: dict[str, str] = field(default_factory=dict)
    """Order id by checkout key."""
    shipped: int = 0
    """Orders whose every part has shipped."""

    async def send(self, route: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        assert self.client is not None
        response = await self.client.request(method, path, **kwargs)
        self.answers.append((route, response))
        return response

    async def retried(self, route: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Sent again after each 503 (sooner than ``Retry-After`` says: the test has no time to spare)."""
        while True:
            response = await self.send(route, method, path, **kwargs)
            if response.status_code != 503:
                return response
            await asyncio.sleep(0.2)

    def unavailable_answers(self) -> int:
        return sum(response.status_code == 503 for _, response in self.answers)


# --- One shopper's orders, and her malls' steps -----------------------------------------------------------------


async def _authorize(shop: Shop, order: dict[str, Any]) -> str:
    """The sandbox's payment window takes the shopper's card: tried again while the database is away."""
    gateway = SandboxGateway(session_maker=async_sessionmaker(shop.engine))
    deadline = time.monotonic() + 60
    while True:
        try:
            return await gateway.authorize_card(
                order_id=order["number"], order_name=order["name"], amount=order["total_amount"]
            )
        except (sa_exc.DBAPIError, OSError, asyncpg.PostgresError):
            assert time.monotonic() < deadline, "the database never came back for the payment window"
            await asyncio.sleep(0.2)


async def _step(shop: Shop, mall_order: dict[str, Any], action: str, target: str, **kwargs: Any) -> None:
    """A mall's step; after a 503 its retry may find the step taken (the lost answer was a success): the 409
    naming the part's state tells the mall so."""
    headers = {"Authorization": f"Bearer {shop.mall_keys[mall_order['mall_id']]}"}
    path = f"/partner/v1/orders/{mall_order['id']}/{action}"
    first = await shop.send(f"POST {action}", "POST", path, headers=headers, **kwargs)
    answer = first if first.status_code != 503 else await shop.retried(f"POST {action}", "POST", path,
                                                                       headers=headers, **kwargs)  # fmt: skip
    if answer.status_code == 409 and first.status_code == 503:
        assert answer.json()["current_status"] == target, answer.text
        return
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == target, answer.text


async def _shopper(shop: Shop, n: int) -> None:
    headers = {"Authorization": f"Bearer {shop.tokens[n]}"}
    for number in range(ORDERS_EACH):
        key = str(uuid.uuid4())
        body = {"address": ADDRESS, "payment_method": "card", "lines": [
            {"variant_id": shop.variants["H1-BK-M"], "quantity": 1},
            {"variant_id": shop.variants["M1-GR-F"], "quantity": 2},
        ]}  # fmt: skip
        placed = await shop.retried("POST /v1/orders", "POST", "/v1/orders", json=body,
                                    headers=headers | {"Idempotency-Key": key})  # fmt: skip
        assert placed.status_code in (200, 201), placed.text
        order = placed.json()
        shop.placed[key] = order["id"]

        payment_key = await _authorize(shop, order)
        confirm = {"payment_key": payment_key, "amount": order["total_amount"]}
        paid = await shop.retried("POST confirm", "POST", f"/v1/orders/{order['id']}/payment/confirm",
                                  json=confirm, headers=headers)  # fmt: skip
        assert paid.status_code == 200, paid.text

        for part, mall_order in enumerate(order["mall_orders"]):
            await _step(shop, mall_order, "accept", "preparing")
            tracking = {"carrier": "cj", "tracking_number": f"6{n:03d}{number}{part}{0:06d}"}
            await _step(shop, mall_order, "ship", "shipped", json=tracking)
        shop.shipped += 1


async def _shipped(shop: Shop, count: int) -> None:
    async def far_enough() -> bool:
        return shop.shipped >= count

    await until(far_enough, f"{count} orders shipped", within=60)


async def _restart(shop: Shop, stop_signal: signal.Signals) -> None:
    """PostgreSQL goes away until the traffic has had ``DOWN_ANSWERS`` more 503s, then starts again."""
    refused = shop.unavailable_answers()
    await asyncio.to_thread(_stop_with, shop.postgres, stop_signal)
    try:

        async def felt() -> bool:
            return shop.unavailable_answers() - refused >= DOWN_ANSWERS

        await until(felt, "requests refused while PostgreSQL is away")
    finally:
        await asyncio.to_thread(shop.postgres.start)


async def _kill_a_backend(shop: Shop) -> None:
    """The kernel's OOM killer takes one server process, one of the API's busiest: the postmaster ends every other
    session and recovers on its own, no restart needed."""
    reinitialized = shop.postgres.log_path.read_text(errors="replace").count(REINITIALIZING)
    async with shop.engine.connect() as connection:
        pid = await connection.scalar(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
            "AND datname = current_database() ORDER BY state = 'idle', xact_start LIMIT 1"
        ))  # fmt: skip
    assert pid is not None
    os.kill(pid, signal.SIGKILL)

    async def recovered() -> bool:
        if shop.postgres.log_path.read_text(errors="replace").count(REINITIALIZING) == reinitialized:
            return False
        try:
            async with shop.engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
        except (sa_exc.DBAPIError, OSError):
            return False
        return True

    await until(recovered, "PostgreSQL back after losing a server process")


# --- Fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "postgres").start()
    try:
        upgrade_to_head(server.url)
        yield server
    finally:
        server.stop()


@pytest.fixture
async def shop(postgres: EmbeddedPostgres, settings: Settings) -> AsyncIterator[Shop]:
    """Two malls (하루일상 sells the dress, 모노마켓 the knit) with order keys, and shoppers who read their order
    messages on LINE."""
    engine = create_async_engine(postgres.url, poolclass=NullPool)
    shop = Shop(postgres, engine)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            for name, slug, sku, price in MALLS:
                mall = await create_mall(session, name=name, slug=slug)
                issued = await keys.issue_key(session, mall_id=mall.id, name="shop-system",
                                              scopes=["orders:read", "orders:write"])  # fmt: skip
                shop.mall_keys[str(mall.id)] = issued.key
                shop.variants[sku] = str(await _product(session, mall.id, sku, price))
            shop.line_ids = [f"U{uuid.uuid4().hex}" for _ in range(SHOPPERS)]
            users = [User(email=f"pg-restart{n}@example.kr", locale="ko", line_user_id=line_id, consent_line=True,
                          preferred_messenger="line") for n, line_id in enumerate(shop.line_ids)]  # fmt: skip
            session.add_all(users)
            await session.commit()
        signer, now = access_tokens_from(settings.security), utc_now()
        shop.tokens = [signer.issue(user.id, now=now)[0] for user in users]
        yield shop
    finally:
        await engine.dispose()


async def _product(session: AsyncSession, mall_id: uuid.UUID, sku: str, price: int) -> uuid.UUID:
    product = Product(mall_id=mall_id, external_id=sku[:2], name=f"{sku} 상품", category_path="상의/니트",
                      target_gender="female", image_urls=[f"https://img.shoa.test/{sku}.jpg"], status="on_sale",
                      in_stock=True, source_updated_at=utc_now(), content_hash="0" * 64)  # fmt: skip
    session.add(product)
    await session.flush()
    variant = Variant(product_id=product.id, mall_id=mall_id, sku=sku, color="블랙", size="M", price=price,
                      currency="KRW", stock=STOCK[sku], position=0)  # fmt: skip
    session.add(variant)
    await session.commit()
    return variant.id


# --- The test ---------------------------------------------------------------------------------------------------


async def test_postgres_restarted_under_checkouts_and_order_steps_loses_nothing_and_sends_each_message_once(
    services: Services, shop: Shop, line: FakeLine, tmp_path: Path
) -> None:
    create_search_index(tmp_path / "search")
    environment = services.environ(
        SHOA_DATABASE_URL=shop.postgres.url,
        SHOA_SEARCH_DIR=str(tmp_path / "search"),
        SHOA_RATE_LIMIT_PARTNER_PER_KEY_PER_MINUTE="1000000",
    )
    worker_environment = environment | {
        "SHOA_NOTIFY_PROVIDER_LINE": "line",
        "SHOA_LINE_MESSAGING_CHANNEL_ACCESS_TOKEN": line.channel_access_token,
        "SHOA_LINE_MESSAGING_BASE_URL": line.url,
        "SHOA_NOTIFY_LEASE_SECONDS": str(LEASE_SECONDS),
        "SHOA_NOTIFY_RETRY_BASE_SECONDS": "0.2",
        "SHOA_NOTIFY_RETRY_MAX_SECONDS": "1",
    }
    async with (
        running_worker(worker_environment, tmp_path / "worker.log") as worker,
        running_api(environment, tmp_path / "api.log") as api,
        api.client() as client,
    ):
        shop.api, shop.client = api, client
        shoppers = asyncio.gather(*(_shopper(shop, n) for n in range(SHOPPERS)))
        try:
            await _shipped(shop, 3)
            await _restart(shop, signal.SIGINT)
            await _shipped(shop, 6)
            await _kill_a_backend(shop)
            await _shipped(shop, 9)
            await _restart(shop, signal.SIGKILL)
        finally:
            await shoppers
        assert api.alive(), api.log.read_text()[-3000:]

        async def every_message_settled() -> bool:
            return await _statuses(shop.engine) == {"accepted": len(shop.placed) * sum(EVENTS.values())}

        await until(every_message_settled, "every message sent", within=60)
        assert worker.poll() is None

    # Every answer was a success, a 503 with Retry-After, or a mall told its retried step was taken (``_step``).
    wrong = [(route, response.status_code, response.text[:200]) for route, response in shop.answers
             if not (response.is_success or unavailable(response)
                     or (route in ("POST accept", "POST ship") and response.status_code == 409))]  # fmt: skip
    assert wrong == []
    refused = Counter(route for route, response in shop.answers if response.status_code == 503)
    assert refused.total() >= 2 * DOWN_ANSWERS, refused

    assert len(shop.placed) == SHOPPERS * ORDERS_EACH
    await _every_order_whole(shop)
    await _each_message_once(shop, line)


async def _statuses(engine: AsyncEngine) -> Counter[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(sa.select(Message.status, sa.func.count()).group_by(Message.status))
        return Counter(dict(rows.all()))


async def _every_order_whole(shop: Shop) -> None:
    async with shop.engine.connect() as connection:
        placed = (await connection.execute(sa.text(
            "SELECT k.key, o.id FROM orders o LEFT JOIN order_checkout_keys k ON k.order_id = o.id"
        ))).all()  # fmt: skip
        assert {str(key): str(order_id) for key, order_id in placed} == shop.placed
        paid = await connection.scalar(sa.text(
            "SELECT count(*) FROM orders o JOIN order_payments p ON p.order_id = o.id "
            "WHERE p.status = 'DONE' AND p.amount = o.total_amount AND p.balance_amount = o.total_amount"
        ))  # fmt: skip
        assert paid == len(shop.placed)
        parts = (await connection.execute(sa.text(
            "SELECT m.id, m.status, (SELECT count(*) FROM order_lines l WHERE l.mall_order_id = m.id) "
            "FROM mall_orders m"
        ))).all()  # fmt: skip
        assert len(parts) == 2 * len(shop.placed)
        assert {(status, lines) for _, status, lines in parts} == {("shipped", 1)}
        timelines = (await connection.execute(sa.text(
            "SELECT mall_order_id, from_status, to_status FROM order_transitions ORDER BY at, id"
        ))).all()  # fmt: skip
        steps: dict[Any, list[tuple[str | None, str]]] = {}
        for mall_order_id, from_status, to_status in timelines:
            steps.setdefault(mall_order_id, []).append((from_status, to_status))
        assert {mall_order_id: steps.get(mall_order_id) for mall_order_id, _, _ in parts} == {
            mall_order_id: STEPS for mall_order_id, _, _ in parts
        }
        # Each unit of stock taken is in exactly one order line.
        stock = (await connection.execute(sa.text(
            "SELECT v.sku, v.stock, coalesce(sum(l.quantity), 0) FROM variants v "
            "LEFT JOIN order_lines l ON l.variant_id = v.id GROUP BY v.sku, v.stock"
        ))).all()  # fmt: skip
        assert {sku: STOCK[sku] - left for sku, left, _ in stock} == {sku: sold for sku, _, sold in stock}
        assert {sku: sold for sku, _, sold in stock} == {"H1-BK-M": len(shop.placed), "M1-GR-F": 2 * len(shop.placed)}


async def _each_message_once(shop: Shop, line: FakeLine) -> None:
    async with shop.engine.connect() as connection:
        events = (await connection.execute(sa.text(
            "SELECT o.id, n.event, count(*) FROM notify_messages n JOIN orders o "
            "ON n.idempotency_key LIKE 'order%' AND n.user_id = o.user_id "
            "AND n.parameters->>'order_number' = o.number GROUP BY o.id, n.event"
        ))).all()  # fmt: skip
    per_order: dict[Any, dict[str, int]] = {}
    for order_id, event, count in events:
        per_order.setdefault(str(order_id), {})[event] = count
    assert per_order == dict.fromkeys(shop.placed.values(), EVENTS)
    # What each shopper's LINE shows: every message once, and nothing else.
    shown = Counter((message.address, message.text) for message in line.delivered)
    assert set(shown.values()) == {1}, [item for item, count in shown.items() if count > 1]
    assert len(shown) == len(shop.placed) * sum(EVENTS.values())
    assert Counter(message.address for message in line.delivered) == dict.fromkeys(
        shop.line_ids, ORDERS_EACH * sum(EVENTS.values())
    )


async def test_a_payment_whose_connections_the_server_ends_mid_request_is_a_503_and_goes_through_when_sent_again(
    client: ShoaClient, session: AsyncSession, settings: Settings, engine: AsyncEngine
) -> None:
    """The request holds its order locked on one connection and asks the sandbox gateway, on another, to confirm
    the card; the server ends both (as a restart does). The request's rollback then fails too, on its dead
    connection: that failure must not turn the 503 into a 500."""
    mall = await create_mall(session, name="하루일상", slug="haru")
    variant_id = await _product(session, mall.id, "H1-BK-M", 39000)
    buyer = User(email="mid-payment@example.kr", locale="ko")
    session.add(buyer)
    await session.commit()
    token = access_tokens_from(settings.security).issue(buyer.id, now=utc_now())[0]
    headers = {"Authorization": f"Bearer {token}"}
    body = {"address": ADDRESS, "payment_method": "card", "lines": [{"variant_id": str(variant_id), "quantity": 1}]}
    placed = await client.post("/v1/orders", json=body, headers=headers | {"Idempotency-Key": str(uuid.uuid4())})
    assert placed.status_code == 201, placed.text
    order = placed.json()
    payment_key = await SandboxGateway(session_maker=async_sessionmaker(engine)).authorize_card(
        order_id=order["number"], order_name=order["name"], amount=order["total_amount"]
    )
    confirm = {"payment_key": payment_key, "amount": order["total_amount"]}
    path = f"/v1/orders/{order['id']}/payment/confirm"

    async def gateway_waiting() -> bool:
        return bool(await _backends(engine, waiting=True))

    async with engine.connect() as holder:
        await holder.begin()
        await holder.execute(sa.text("LOCK TABLE order_sandbox_payments IN EXCLUSIVE MODE"))
        confirming = asyncio.create_task(client.post(path, json=confirm, headers=headers))
        await until(gateway_waiting, "the gateway waiting for its payment row")
        ended = await _backends(engine, waiting=True) | await _backends(engine, waiting=False)
        async with engine.connect() as connection:
            terminate = sa.text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid")
            await connection.execute(terminate, {"pids": sorted(ended)})
        answer = await confirming
        await holder.rollback()

    assert unavailable(answer), (answer.status_code, answer.text)
    again = await client.post(path, json=confirm, headers=headers)
    assert again.status_code == 200, again.text
    assert {part["status"] for part in again.json()["mall_orders"]} == {"paid"}


async def _backends(engine: AsyncEngine, *, waiting: bool) -> set[int]:
    """The app's connection waiting for the sandbox's payments (``waiting``), or the one holding the order."""
    table, granted = ("order_sandbox_payments", False) if waiting else ("order_payments", True)
    query = sa.text(
        "SELECT DISTINCT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = :table AND l.granted = :granted AND l.pid <> pg_backend_pid()"
    )
    async with engine.connect() as connection:
        return set(await connection.scalars(query, {"table": table, "granted": granted}))
