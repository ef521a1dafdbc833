"""The real API process (``shoa serve``) killed with SIGKILL in the middle of checkouts, on the suite's PostgreSQL:
no stock is left taken without its order, no order is left without its stock, payment, mall-orders, lines, key
or message, and a shopper's app that retries with the same ``Idempotency-Key`` gets one order, never two.

Eighty shoppers check out, each once: half of them buy the hot dress (and two knits from the other mall), the
others one item; a third pay by virtual account, the rest by card. The first forty check out at once and all
get their orders (more at once than the API has pooled connections). Then the test holds a lock the checkouts
need, fires the other forty, waits until every pooled connection of the API is stuck in the middle of a
checkout, and kills the process. The kill points are reached deterministically, without any hook in the app:

- **stock taken**: the test holds ``LOCK TABLE order_payments IN SHARE MODE``. A checkout locks its variants,
  claims its key, takes the stock and writes the order, its mall-orders, lines and timeline, then waits to write
  the payment; the others wait behind the checkout holding a variant they want (most of them, the hot dress).
- **messages last**: ``LOCK TABLE notify_messages IN SHARE MODE``: everything written, the virtual account
  issued at the gateway, the messages (the last statements before the commit) waiting.

PostgreSQL rolls back what the dead process left open once the lock is released. The API is started again and
every checkout is retried with its key: the forty that committed come back as they were (200), the forty that
did not are placed afresh (201) — each retried twice at once, as an impatient app would, and placed once.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import sqlalchemy as sa

from accounts.models import User
from catalog.models import Product, Variant
from shoa_api.settings import child_environment
from shoa_api.wiring import access_tokens_from
from shoa_kernel.clock import utc_now
from tests.factories import create_mall
from tests.locks import TableLock
from tests.notify.counting_server import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from shoa_api.settings import Settings
    from tests.conftest import Services

POOL_SIZE = 10
"""The API's pooled connections (the default, spelled out): at most this many checkouts are in the database."""
WAVE = 40
"""Checkouts fired at once, before the kill and at it."""
HOT = "H1-BK-M"
INITIAL_STOCK = {HOT: 45, "H2-BE-M": 100, "M1-GR-F": 200, "M2-IV-F": 100}
"""Enough for every checkout of both waves: the hot dress has 5 left once all eighty are placed."""
ADDRESS = {"postcode": "04044", "road_address": "서울특별시 마포구 양화로 45", "detail": "101동 1203호",
           "recipient": "김지영", "phone": "010-1234-5678"}  # fmt: skip
REFUND_ACCOUNT = {"bank": "신한은행", "account_number": "110-123-456789", "holder": "김지영"}
"""Where a virtual-account order's deposit would go back on a cancel."""
KILL_POINTS = {"stock taken": "order_payments", "messages last": "notify_messages"}
"""Where the checkouts in the database are when the process dies: the table whose lock they wait for."""


@dataclass(frozen=True, kw_only=True)
class Checkout:
    """One shopper's checkout as her app sends it, and sends it again with the same key after an error."""

    token: str
    key: str
    body: dict[str, Any]

    async def send(self, api: httpx.AsyncClient) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": self.key}
        return await api.post("/v1/orders", json=self.body, headers=headers)


class Api:
    """``shoa serve`` as deployed, against the suite's PostgreSQL and Redis; ``kill`` is SIGKILL."""

    def __init__(self, services: Services, log: Path) -> None:
        self.services, self.log = services, log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    async def start(self) -> None:
        self.process, self.url = self._spawn()
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as probe:

            async def answering() -> bool:
                assert self.process is not None
                assert self.process.poll() is None, self.log.read_text()
                try:
                    return (await probe.get("/health/live")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(answering, "the API answering")

    def _spawn(self) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        environment = self.services.environ(
            SHOA_DATABASE_POOL_SIZE=str(POOL_SIZE),
            # A loaded test machine must not turn a checkout's wait for a connection into a 503.
            SHOA_DATABASE_POOL_TIMEOUT="30",
        )
        with self.log.open("ab") as output:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "shoa_api", "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=child_environment(environment),
                cwd=self.log.parent,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        return process, f"http://127.0.0.1:{port}"

    def client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=2 * WAVE)
        return httpx.AsyncClient(base_url=self.url, timeout=httpx.Timeout(120, connect=10), limits=limits)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.process.wait, 10)

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(self.process.wait, 30)


@pytest.fixture
async def api(services: Services, tmp_path: Path) -> AsyncIterator[Callable[[], Awaitable[Api]]]:
    """Starts ``shoa serve``; every process a test starts is gone at its end, whatever happened."""
    started: list[Api] = []

    async def start() -> Api:
        started.append(Api(services, tmp_path / "api.log"))
        await started[-1].start()
        return started[-1]

    yield start
    for each in started:
        if each.process is not None and each.process.poll() is None:
            each.process.kill()
            await asyncio.to_thread(each.process.wait, 10)


async def until(condition: Callable[[], Awaitable[bool]], what: str, *, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def stock_catalog(session: AsyncSession) -> dict[str, uuid.UUID]:
    """하루일상 sells the hot dress and slacks, 모노마켓 a knit and a bag, with ``INITIAL_STOCK``; ids by SKU."""
    haru = await create_mall(session, name="하루일상", slug="haru")
    mono = await create_mall(session, name="모노마켓", slug="mono")
    items = [
        (haru, "H1", "린넨 셔츠 원피스", HOT, 39000),
        (haru, "H2", "와이드 슬랙스", "H2-BE-M", 29000),
        (mono, "M1", "오버핏 울 니트", "M1-GR-F", 45000),
        (mono, "M2", "캔버스 토트백", "M2-IV-F", 19000),
    ]
    variants = {}
    for mall, external_id, name, sku, price in items:
        product = Product(mall_id=mall.id, external_id=external_id, name=name, category_path="상의/셔츠",
                          target_gender="female", image_urls=[f"https://img.shoa.test/{external_id}.jpg"],
                          status="on_sale", in_stock=True, source_updated_at=utc_now(),
                          content_hash="0" * 64)  # fmt: skip
        session.add(product)
        await session.flush()
        variant = Variant(product_id=product.id, mall_id=mall.id, sku=sku, color="블랙", size="M", price=price,
                          currency="KRW", stock=INITIAL_STOCK[sku], position=0)  # fmt: skip
        session.add(variant)
        await session.flush()
        variants[sku] = variant.id
    await session.commit()
    return variants


async def many_checkouts(session: AsyncSession, settings: Settings, variants: dict[str, uuid.UUID]) -> list[Checkout]:
    """``2 * WAVE`` shoppers (inserted in one statement, reachable on AlimTalk), each with a token signed as a
    login would and one checkout: even ones the hot dress and two knits, odd ones slacks or a bag; every third
    by virtual account."""
    rows = [{"email": f"racer{n}@example.kr", "phone": f"+8210{7000_0000 + n}", "consent_alimtalk": True,
             "preferred_messenger": "alimtalk"} for n in range(2 * WAVE)]  # fmt: skip
    user_ids = list(await session.scalars(sa.insert(User).returning(User.id, sort_by_parameter_order=True), rows))
    await session.commit()
    signer, now = access_tokens_from(settings.security), utc_now()
    checkouts = []
    for number, user_id in enumerate(user_ids):
        if number % 2 == 0:
            lines = [{"variant_id": str(variants[HOT]), "quantity": 1},
                     {"variant_id": str(variants["M1-GR-F"]), "quantity": 2}]  # fmt: skip
        else:
            lines = [{"variant_id": str(variants["H2-BE-M" if number % 4 == 1 else "M2-IV-F"]), "quantity": 1}]
        body: dict[str, Any] = {"address": ADDRESS, "payment_method": "card", "lines": lines}
        if number % 3 == 0:
            body |= {"payment_method": "virtual_account", "refund_account": REFUND_ACCOUNT}
        checkouts.append(Checkout(token=signer.issue(user_id, now=now)[0], key=str(uuid.uuid4()), body=body))
    return checkouts


async def waiting(engine: AsyncEngine) -> dict[str, int]:
    """Database sessions waiting for a lock, by what they wait for: a table, or another checkout's row lock."""
    query = sa.text(
        "SELECT coalesce(c.relname, l.locktype), count(DISTINCT l.pid) FROM pg_locks l "
        "LEFT JOIN pg_class c ON c.oid = l.relation WHERE NOT l.granted GROUP BY 1"
    )
    async with engine.connect() as connection:
        return {str(what): int(count) for what, count in await connection.execute(query)}


async def no_open_transactions(engine: AsyncEngine) -> bool:
    """No database session but this one is inside a transaction: the killed process's are rolled back."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
    )
    async with engine.connect() as connection:
        return int(await connection.scalar(query) or 0) == 0


async def assert_nothing_half_done(engine: AsyncEngine) -> dict[str, str]:
    """Every unit taken off a variant is in an order line and every line's units were taken; every order is
    whole. The order ids by checkout key."""
    async with engine.connect() as connection:
        stock = (await connection.execute(sa.text(
            "SELECT v.sku, v.stock, coalesce(sum(l.quantity), 0) FROM variants v "
            "LEFT JOIN order_lines l ON l.variant_id = v.id GROUP BY v.sku, v.stock"
        ))).all()  # fmt: skip
        assert {sku: INITIAL_STOCK[sku] - left for sku, left, _ in stock} == {sku: sold for sku, _, sold in stock}
        assert all(left >= 0 for _, left, _ in stock)
        broken = (await connection.scalars(sa.text(
            "SELECT o.number FROM orders o "
            "LEFT JOIN order_payments p ON p.order_id = o.id "
            "WHERE p.id IS NULL OR p.amount <> o.total_amount "
            "OR (o.payment_method = 'virtual_account' AND p.account_number IS NULL) "
            "OR NOT EXISTS (SELECT FROM mall_orders m WHERE m.order_id = o.id) "
            "OR EXISTS (SELECT FROM mall_orders m WHERE m.order_id = o.id "
            "  AND (NOT EXISTS (SELECT FROM order_lines l WHERE l.mall_order_id = m.id) "
            "    OR NOT EXISTS (SELECT FROM order_transitions t WHERE t.mall_order_id = m.id))) "
            "OR NOT EXISTS (SELECT FROM notify_messages n WHERE n.idempotency_key = 'order:' || o.id || '\\:received')"
        ))).all()  # fmt: skip
        assert broken == [], "orders missing a part"
        # A message for an order that does not exist would tell a shopper about an order she does not have.
        orphans = await connection.scalar(sa.text(
            "SELECT count(*) FROM notify_messages n WHERE NOT EXISTS "
            "(SELECT FROM orders o WHERE n.idempotency_key LIKE 'order:' || o.id || ':%')"
        ))  # fmt: skip
        assert orphans == 0
        keys = (await connection.execute(sa.text(
            "SELECT k.key, o.id FROM orders o LEFT JOIN order_checkout_keys k ON k.order_id = o.id"
        ))).all()  # fmt: skip
    by_key = {str(key): str(order_id) for key, order_id in keys}
    assert len(by_key) == len(keys), "an order without its key, or a key with two orders"
    return by_key


def orders_placed(checkouts: list[Checkout], answers: list[httpx.Response]) -> dict[str, str]:
    """The order id each checkout's key was answered with."""
    return {checkout.key: answer.json()["id"] for checkout, answer in zip(checkouts, answers, strict=True)}


async def checkout_all(api: Api, checkouts: list[Checkout]) -> list[httpx.Response]:
    async with api.client() as client:
        return list(await asyncio.gather(*(checkout.send(client) for checkout in checkouts)))


@pytest.mark.parametrize("kill_point", list(KILL_POINTS))
async def test_the_api_killed_mid_checkout_leaves_no_stock_taken_without_its_order(
    services: Services,
    settings: Settings,
    engine: AsyncEngine,
    session: AsyncSession,
    api: Callable[[], Awaitable[Api]],
    kill_point: str,
) -> None:
    variants = await stock_catalog(session)
    checkouts = await many_checkouts(session, settings, variants)
    before_kill, at_kill = checkouts[:WAVE], checkouts[WAVE:]
    first = await api()

    # More checkouts at once than the API has connections, by card and virtual account: every one placed (the
    # sandbox gateway opens each virtual account inside its checkout, on connections of its own).
    placed = await checkout_all(first, before_kill)
    assert [answer.status_code for answer in placed] == [201] * WAVE, {a.text for a in placed if a.status_code != 201}
    assert await assert_nothing_half_done(engine) == orders_placed(before_kill, placed)

    lock = TableLock(engine, KILL_POINTS[kill_point])
    await lock.take()
    try:
        async with first.client() as client:
            in_flight = [asyncio.ensure_future(checkout.send(client)) for checkout in at_kill]

            async def every_connection_stuck() -> bool:
                return sum((await waiting(engine)).values()) == POOL_SIZE

            await until(every_connection_stuck, "every pooled connection of the API stuck in a checkout")
            stuck = await waiting(engine)
            await first.kill()
            answers = await asyncio.gather(*in_flight, return_exceptions=True)
    finally:
        await lock.release()
    # Some of the checkouts in the database had taken their stock and written their order when the process
    # died; the rest waited behind the hot dress's row. The others had not reached the database.
    assert stuck.get(KILL_POINTS[kill_point], 0) >= 1, stuck
    assert all(isinstance(answer, httpx.TransportError) for answer in answers), answers
    await until(lambda: no_open_transactions(engine), "the killed process's transactions rolled back")

    # Only what had committed is there, whole; nothing of what was in flight.
    assert await assert_nothing_half_done(engine) == orders_placed(before_kill, placed)

    # The apps retry with the same keys once the API is back.
    second = await api()
    replayed = await checkout_all(second, before_kill)
    assert [(a.status_code, a.json()["id"]) for a in replayed] == [(200, a.json()["id"]) for a in placed]
    # The checkouts that were in flight were never placed: placed now, once each though sent twice at once.
    retried = await checkout_all(second, [c for checkout in at_kill for c in (checkout, checkout)])
    pairs = [(retried[n], retried[n + 1]) for n in range(0, len(retried), 2)]
    assert all(sorted([a.status_code, b.status_code]) == [200, 201] for a, b in pairs), [
        (a.status_code, b.status_code, a.text[:200]) for a, b in pairs
    ]
    assert all(a.json()["id"] == b.json()["id"] for a, b in pairs)
    in_flight_placed = orders_placed(at_kill, [first_answer for first_answer, _ in pairs])
    assert await assert_nothing_half_done(engine) == orders_placed(before_kill, placed) | in_flight_placed
    async with engine.connect() as connection:
        hot_left = await connection.scalar(sa.select(Variant.stock).where(Variant.sku == HOT))
    assert hot_left == INITIAL_STOCK[HOT] - WAVE
    await second.stop()
