"""The real worker (``shoa worker``) killed with SIGKILL at chosen steps of the jobs no other crash test covers, and
started again: nothing lost, nothing done twice.

- **Search indexing** (``catalog.search.indexing``), 600 changed products, two batches: killed with a batch
  claimed while it reads the products (the test holds ``LOCK TABLE malls IN ACCESS EXCLUSIVE MODE``), then with a
  batch committed to the Tantivy index but its outbox rows not yet deleted (``LOCK TABLE search_outbox IN SHARE
  MODE``); the catalog changes meanwhile. The index ends up holding exactly the documents the database gives, and
  the search shows every product as stored.
- **Order deadlines** (``orders.service.expire_unpaid``, ``confirm_delivered``, ``forget_checkout_keys``): killed
  with every overdue order cancelled (its stock given back, its message written) or found paid, uncommitted, and
  one virtual account already closed at the gateway (which commits on its own) while the worker waits to close the
  next (the test holds that account's row); then with every overdue order committed but the week-old deliveries'
  confirmations not (``LOCK TABLE order_checkout_keys IN SHARE MODE``). Each order moves once, its stock comes
  back once, its gateway payment is closed once, and each shopper hears of each step once, on LINE.
- **The feed's score roll-up** (``personalization.jobs.roll_up_scores``): killed once its scores and the
  products' popularity are committed but before it forgets the marks it took (Redis's writes paused), with one
  product skipped because a mall's sync held it. The next roll-up saves each score once more as it is and writes
  the skipped popularity; the search index sorts by the same.
- **Win-back** (``winback.jobs.price_drops``, ``cart_reminders``): killed while the price drops' messages are
  written (``LOCK TABLE notify_messages IN SHARE MODE``), before the watches move to the new price and before any
  cart reminder. Each drop and each cart is decided once, with one message, and each watch moves once.

Each kill point is reached without a hook in the worker, as the crash tests of the other jobs reach theirs: the
test holds a lock the job's transaction must wait for (or pauses Redis's writes), sees the worker's statement
waiting in ``pg_stat_activity``, and kills it there. The sends, the score restore, the event roll-up, the restock
waves, checkout and the chatbot have crash tests in their packages. Not here, as a kill can leave nothing half
done in them: the feed's candidate lists (each segment's list and its pointer set in one MULTI, all of them
recomputed from the scores on the next run), the event store's partitions (one transaction) and the heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import signal
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker

from catalog.models import Product, SearchOutbox
from catalog.search.jobs import BATCH_SIZE
from insights.models import Event
from notify.models import Message
from notify.providers.base import retry_key
from orders.models import CartItem, MallOrder, Order, Payment, SandboxPayment, Transition
from orders.payments.sandbox import SandboxGateway
from personalization.models import SegmentScore
from personalization.popularity import popularity_value
from personalization.rollup import ROLLING_KEY
from personalization.scores import EVERYONE, Decay, segment_scores
from shoa_kernel.clock import utc_now
from tests.faults.processes import running_worker, until
from tests.faults.test_concurrent_processes import (
    ADDRESS,
    Partner,
    Shopper,
    Traffic,
    create_partners,
    create_shoppers,
    every_message_settled,
    index_as_stored,
    index_as_the_database_says,
    logs,
    product_item,
    search_outbox_empty,
    search_shows_the_database,
    set_stock,
    sync,
)
from tests.locks import TableLock
from winback.models import PriceWatch, Send

if TYPE_CHECKING:
    import subprocess
    from collections.abc import AsyncIterator, Mapping
    from pathlib import Path

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from shoa_api.settings import Settings
    from tests.client import ShoaClient
    from tests.conftest import Services
    from tests.notify.fakes.line import FakeLine

ROLL_UP_WORKER = "roll-up-crash-worker"
REFUND_ACCOUNT = {"bank": "국민은행", "account_number": "123456-01-234567", "holder": "김지영"}


# --- The worker, stopped where the test wants it ----------------------------------------------------------------


async def waiting_backend(engine: AsyncEngine, statement: str) -> int | None:
    """The backend waiting for a lock at a statement beginning with ``statement``, if one is."""
    query = sa.text(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE :statement "
        "AND datname = current_database()"
    )
    async with engine.connect() as connection:
        found = await connection.scalar(query, {"statement": f"{statement}%"})
    return int(found) if found is not None else None


async def gone(engine: AsyncEngine, pid: int) -> bool:
    """Whether PostgreSQL has ended a dead worker's backend, rolling its transaction back."""
    async with engine.connect() as connection:
        return not await connection.scalar(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )


async def kill_when_waiting(
    environment: Mapping[str, str], folder: Path, engine: AsyncEngine, statement: str, *, run: int
) -> int:
    """Start ``shoa worker``, wait until one of its transactions waits for a lock at ``statement``, and SIGKILL it
    there; the backend of that transaction (PostgreSQL ends it, rolling back, once the lock it waits for is
    released)."""
    async with running_worker(environment, folder / f"worker-{run}.log") as worker:
        found: list[int] = []

        async def waiting() -> bool:
            assert worker.poll() is None, logs(folder)
            if (pid := await waiting_backend(engine, statement)) is not None:
                found.append(pid)
            return bool(found)

        await until(waiting, f"the worker waiting at {statement}", within=60)
        await kill(worker)
    return found[0]


async def rolled_back(engine: AsyncEngine, backend: int) -> None:
    await until(lambda: gone(engine, backend), "the dead worker's transaction rolled back")


async def kill(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGKILL)
    await asyncio.to_thread(worker.wait, 10)


@contextlib.asynccontextmanager
async def row_held(
    engine: AsyncEngine, table: str, column: str, value: object, *, strength: str = "UPDATE"
) -> AsyncIterator[None]:
    """One row locked by the test (``FOR UPDATE``, or as an ``UPDATE`` of other columns than its key locks it:
    ``NO KEY UPDATE``) until the block ends."""
    async with engine.connect() as connection, connection.begin():
        await connection.execute(
            sa.text(f"SELECT 1 FROM {table} WHERE {column} = :value FOR {strength}"),  # noqa: S608
            {"value": value},
        )
        yield
        await connection.rollback()


@contextlib.asynccontextmanager
async def table_held(engine: AsyncEngine, table: str, mode: str = "SHARE") -> AsyncIterator[None]:
    """``LOCK TABLE … IN <mode> MODE`` held by the test until the block ends (``SHARE``: reads pass, writes wait)."""
    async with engine.connect() as connection, connection.begin():
        await connection.execute(sa.text(f"LOCK TABLE {table} IN {mode} MODE"))
        yield
        await connection.rollback()


# --- Search indexing --------------------------------------------------------------------------------------------


async def oldest_changes(engine: AsyncEngine, count: int) -> set[str]:
    """The products of the ``count`` oldest search-outbox rows: the indexer's next batch."""
    async with engine.connect() as connection:
        oldest = sa.select(SearchOutbox.product_id).order_by(SearchOutbox.id).limit(count)
        return {str(product_id) for product_id in await connection.scalars(oldest)}


async def claimed(engine: AsyncEngine) -> int:
    """Search-outbox rows another transaction holds (``FOR UPDATE``): an indexer's batch."""
    query = sa.text(
        "SELECT (SELECT count(*) FROM search_outbox) - (SELECT count(*) FROM (SELECT id FROM "
        "search_outbox FOR UPDATE SKIP LOCKED) free)"
    )
    async with engine.connect() as connection, connection.begin():
        return int(await connection.scalar(query) or 0)


async def outbox_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(sa.select(sa.func.count()).select_from(SearchOutbox)) or 0)


async def test_the_indexer_killed_mid_batch_leaves_the_index_exactly_as_the_database_says(
    services: Services,
    settings: Settings,
    engine: AsyncEngine,
    session: AsyncSession,
    client: ShoaClient,
    tmp_path: Path,
) -> None:
    haru, mono = await create_partners(session)
    traffic = Traffic([client, client])
    for partner in (haru, mono):
        await sync(
            traffic, 0, partner, [product_item(partner, n, version=1, stock=5, price=39000) for n in range(1, 301)]
        )
    assert await outbox_rows(engine) == 600 > BATCH_SIZE  # two batches of the indexer's
    environment = services.environ(SHOA_SEARCH_DIR=str(settings.search.dir))

    # 1. A batch claimed, its products being read: nothing reaches the index.
    async with table_held(engine, "malls", "ACCESS EXCLUSIVE"):
        statement = "SELECT products.id, products.mall_id, malls.name AS mall_name"  # documents_for's
        backend = await kill_when_waiting(environment, tmp_path, engine, statement, run=1)
        assert await claimed(engine) == BATCH_SIZE  # by the dead worker, until its transaction ends
    await rolled_back(engine, backend)
    assert index_as_stored(settings.search.dir) == {}
    assert await outbox_rows(engine) == 600
    # Meanwhile the malls rename, reprice, sell out and delete.
    await sync(traffic, 0, haru, [product_item(haru, n, version=2, stock=5, price=35000) for n in range(1, 51)])
    await set_stock(traffic, 0, mono, {mono.sku(n, size): 0 for n in range(1, 21) for size in ("M", "L")})
    for number in (3, 250):
        deleted = await client.delete(f"/partner/v1/products/{haru.code}{number:02d}", headers=haru.headers)
        assert deleted.status_code == 204, deleted.text

    # 2. The first batch committed to the index, its outbox rows not yet deleted.
    first_batch, changes = await oldest_changes(engine, BATCH_SIZE), await outbox_rows(engine)
    async with table_held(engine, "search_outbox"):
        backend = await kill_when_waiting(environment, tmp_path, engine, "DELETE FROM search_outbox", run=2)
        assert await claimed(engine) == BATCH_SIZE
    await rolled_back(engine, backend)
    as_stored_now = await index_as_the_database_says(engine)
    assert index_as_stored(settings.search.dir) == {
        product_id: document for product_id, document in as_stored_now.items() if product_id in first_batch
    }  # the whole first batch, as it was read (its deleted products left out), and nothing else
    assert await outbox_rows(engine) == changes  # nothing acknowledged
    # Meanwhile: products of that batch renamed, one deleted, one back in stock.
    await sync(traffic, 0, haru, [product_item(haru, n, version=3, stock=9, price=31000) for n in range(40, 61)])
    await set_stock(traffic, 0, mono, {mono.sku(1, "M"): 4})
    deleted = await client.delete(f"/partner/v1/products/{haru.code}10", headers=haru.headers)
    assert deleted.status_code == 204, deleted.text
    assert traffic.failures == [], "\n".join(traffic.failures)

    # The worker started again sends everything, once the dead one's claims are gone.
    async with running_worker(environment, tmp_path / "worker-3.log") as worker:

        async def indexed() -> bool:
            assert worker.poll() is None, logs(tmp_path)
            return await search_outbox_empty(engine)

        await until(indexed, "every change indexed", within=60)
    assert index_as_stored(settings.search.dir) == await index_as_the_database_says(engine)
    assert len(index_as_stored(settings.search.dir)) == 600 - 3
    for partner in (haru, mono):
        assert await search_shows_the_database(client, partner, engine)
    assert "job search-indexing failed" not in logs(tmp_path)


# --- Order deadlines --------------------------------------------------------------------------------------------


async def place(
    client: ShoaClient, shopper: Shopper, lines: Mapping[uuid.UUID, int], *, method: str = "virtual_account"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "address": ADDRESS,
        "payment_method": method,
        "lines": [{"variant_id": str(v), "quantity": q} for v, q in lines.items()],
    }
    if method == "virtual_account":
        body["refund_account"] = REFUND_ACCOUNT
    answer = await client.post(
        "/v1/orders", json=body, headers=shopper.headers | {"Idempotency-Key": str(uuid.uuid4())}
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def delivered(
    client: ShoaClient,
    gateway: SandboxGateway,
    partners: Mapping[uuid.UUID, Partner],
    order: dict[str, Any],
    shopper: Shopper,
) -> None:
    """The card order paid, then each part accepted, shipped and delivered by its mall."""
    payment_key = await gateway.authorize_card(
        order_id=order["number"], order_name=order["name"], amount=order["total_amount"]
    )
    paid = await client.post(
        f"/v1/orders/{order['id']}/payment/confirm",
        headers=shopper.headers,
        json={"payment_key": payment_key, "amount": order["total_amount"]},
    )
    assert paid.status_code == 200, paid.text
    for part in order["mall_orders"]:
        partner = partners[uuid.UUID(part["mall_id"])]
        for step, body in (
            ("accept", None),
            ("ship", {"carrier": "cj", "tracking_number": "640123456789"}),
            ("deliver", None),
        ):
            answer = await client.post(f"/partner/v1/orders/{part['id']}/{step}", json=body, headers=partner.headers)
            assert answer.status_code == 200, answer.text


async def moves(engine: AsyncEngine, order: dict[str, Any]) -> list[list[tuple[str | None, str, str]]]:
    """Each part's recorded moves, oldest first."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(Transition.mall_order_id, Transition.from_status, Transition.to_status, Transition.actor)
            .join(MallOrder, MallOrder.id == Transition.mall_order_id)
            .where(MallOrder.order_id == order["id"])
            .order_by(Transition.mall_order_id, Transition.id)
        )
        parts: dict[uuid.UUID, list[tuple[str | None, str, str]]] = {}
        for part_id, before, after, actor in rows:
            parts.setdefault(part_id, []).append((before, after, actor))
    return [parts[uuid.UUID(part["id"])] for part in order["mall_orders"]]


async def stock_of(engine: AsyncEngine, variant_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.text("SELECT id, stock FROM variants WHERE id = ANY(:ids)"), {"ids": variant_ids}
        )
        return dict(rows.all())


async def payment_statuses(engine: AsyncEngine, orders: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    """Each order's payment as the database has it, and as the gateway (the sandbox's own table) has it."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(Order.number, Payment.status, SandboxPayment.payment["status"].astext)
            .join(Payment, Payment.order_id == Order.id)
            .outerjoin(SandboxPayment, SandboxPayment.order_id == Order.number)
            .where(Order.id.in_([order["id"] for order in orders]))
        )
        return {number: (status, at_gateway) for number, status, at_gateway in rows}


async def test_the_order_deadlines_killed_at_each_step_move_each_order_once_and_message_it_once(
    services: Services,
    settings: Settings,
    engine: AsyncEngine,
    session: AsyncSession,
    client: ShoaClient,
    line: FakeLine,
    tmp_path: Path,
) -> None:
    haru, mono = await create_partners(session)
    partners = {haru.mall_id: haru, mono.mall_id: mono}
    shoppers = await create_shoppers(session, settings, 8)
    traffic = Traffic([client, client])
    for partner in (haru, mono):
        await sync(traffic, 0, partner, [product_item(partner, n, version=1, stock=10, price=39000) for n in (1, 2)])
    assert traffic.failures == [], "\n".join(traffic.failures)
    async with engine.connect() as connection:
        variants: dict[str, uuid.UUID] = dict((await connection.execute(sa.text("SELECT sku, id FROM variants"))).all())
    gateway = SandboxGateway(session_maker=async_sessionmaker(engine, expire_on_commit=False))
    h1, h2, m1, m2 = (variants[sku] for sku in ("H01-M", "H02-M", "M01-M", "M02-M"))

    # Due: two virtual accounts past their date (one over both malls), a card order never paid, and a deposit whose
    # webhook was lost. Placed in the order the worker takes them (by id): the last is the one it is stopped at.
    first_overdue = await place(client, shoppers[0], {h1: 2, m1: 1})
    unpaid_card = await place(client, shoppers[1], {m2: 1}, method="card")
    deposited = await place(client, shoppers[2], {h2: 1})
    await gateway.deposit(deposited["number"])  # its webhook never arrives
    last_overdue = await place(client, shoppers[3], {h1: 1})
    in_time = await place(client, shoppers[4], {h2: 2})
    # Delivered over a week ago (confirmed by the worker), and yesterday (not yet).
    week_old = [await place(client, shoppers[n], {m1: 1, h2: 1}, method="card") for n in (5, 6)]
    recent = await place(client, shoppers[7], {m2: 1}, method="card")
    for number, order in ((5, week_old[0]), (6, week_old[1]), (7, recent)):
        await delivered(client, gateway, partners, order, shoppers[number])
    moment = utc_now()
    await session.execute(
        sa.update(Payment)
        .where(Payment.order_id.in_([first_overdue["id"], deposited["id"], last_overdue["id"]]))
        .values(due_at=moment - datetime.timedelta(minutes=1))
    )
    await session.execute(
        sa.update(Order)
        .where(Order.id == unpaid_card["id"])
        .values(created_at=moment - datetime.timedelta(minutes=settings.orders.card_minutes + 1))
    )
    await session.execute(
        sa.update(MallOrder)
        .where(MallOrder.order_id.in_([order["id"] for order in week_old]))
        .values(delivered_at=moment - datetime.timedelta(days=8))
    )
    await session.execute(
        sa.update(MallOrder)
        .where(MallOrder.order_id == recent["id"])
        .values(delivered_at=moment - datetime.timedelta(days=1))
    )
    await session.commit()
    everyone = [first_overdue, unpaid_card, deposited, last_overdue, in_time, *week_old, recent]
    stock_before = await stock_of(engine, [h1, h2, m1, m2])
    moves_before = {order["id"]: await moves(engine, order) for order in everyone}
    environment = services.environ(
        SHOA_SEARCH_DIR=str(settings.search.dir),
        SHOA_NOTIFY_PROVIDER_LINE="line",
        SHOA_LINE_MESSAGING_CHANNEL_ACCESS_TOKEN=line.channel_access_token,
        SHOA_LINE_MESSAGING_BASE_URL=line.url,
        # A message a killed worker had claimed waits out its lease before the next one sends it.
        SHOA_NOTIFY_LEASE_SECONDS="3",
    )

    # 1. Every due order cancelled or paid, their stock given back, messages written, the first overdue account
    # closed at the gateway (committed there): all uncommitted here, the worker waiting to close the last account.
    async with row_held(engine, "order_sandbox_payments", "order_id", last_overdue["number"]):
        backend = await kill_when_waiting(environment, tmp_path, engine, "SELECT order_sandbox_payments", run=1)
    await rolled_back(engine, backend)
    assert {order["id"]: await moves(engine, order) for order in everyone} == moves_before  # nothing moved
    assert await stock_of(engine, [h1, h2, m1, m2]) == stock_before
    accounts = await payment_statuses(engine, [first_overdue, last_overdue])
    assert accounts[first_overdue["number"]] == ("WAITING_FOR_DEPOSIT", "CANCELED")
    assert accounts[last_overdue["number"]] == ("WAITING_FOR_DEPOSIT", "WAITING_FOR_DEPOSIT")

    # 2. Every due order committed; the week-old deliveries confirmed, uncommitted.
    async with table_held(engine, "order_checkout_keys"):
        backend = await kill_when_waiting(environment, tmp_path, engine, "DELETE FROM order_checkout_keys", run=2)
    await rolled_back(engine, backend)
    due = (first_overdue, unpaid_card, deposited, last_overdue)
    assert [(await moves(engine, order))[-1][-1][1] for order in due] == ["cancelled", "cancelled", "paid", "cancelled"]
    for order in week_old:
        assert await moves(engine, order) == moves_before[order["id"]]

    # The worker started again finishes, and sends every message.
    async with running_worker(environment, tmp_path / "worker-3.log") as worker:

        async def done() -> bool:
            assert worker.poll() is None, logs(tmp_path)
            confirmed = [(await moves(engine, order))[0][-1][1] for order in week_old]
            return confirmed == ["confirmed", "confirmed"] and await every_message_settled(engine)

        await until(done, "the deliveries confirmed and every message sent", within=60)

    # Each order moved once.
    for order in (first_overdue, last_overdue):
        assert await moves(engine, order) == [
            [*before, ("awaiting_deposit", "cancelled", "system")] for before in moves_before[order["id"]]
        ]
    assert await moves(engine, unpaid_card) == [
        [*moves_before[unpaid_card["id"]][0], ("awaiting_payment", "cancelled", "system")]
    ]
    assert await moves(engine, deposited) == [
        [*moves_before[deposited["id"]][0], ("awaiting_deposit", "paid", "gateway")]
    ]
    for order in week_old:
        assert await moves(engine, order) == [
            [*before, ("delivered", "confirmed", "system")] for before in moves_before[order["id"]]
        ]
    for order in (in_time, recent):
        assert await moves(engine, order) == moves_before[order["id"]]
    # Stock given back once: only what the cancelled orders held.
    assert await stock_of(engine, [h1, h2, m1, m2]) == {
        h1: stock_before[h1] + 3,
        h2: stock_before[h2],
        m1: stock_before[m1] + 1,
        m2: stock_before[m2] + 1,
    }
    # The overdue accounts closed at the gateway, and every payment as the gateway has it.
    assert await payment_statuses(engine, [first_overdue, unpaid_card, deposited, last_overdue, in_time]) == {
        first_overdue["number"]: ("CANCELED", "CANCELED"),
        unpaid_card["number"]: ("EXPIRED", None),
        deposited["number"]: ("DONE", "DONE"),
        last_overdue["number"]: ("CANCELED", "CANCELED"),
        in_time["number"]: ("WAITING_FOR_DEPOSIT", "WAITING_FOR_DEPOSIT"),
    }
    # The lost deposit's purchase stored once.
    async with engine.connect() as connection:
        purchases = await connection.scalar(
            sa.select(sa.func.count()).where(Event.kind == "purchase", Event.shopper_id == shoppers[2].user_id)
        )
    assert purchases == 1
    # Each shopper heard of each step once: every message enqueued delivered once, under its own retry key.
    async with engine.connect() as connection:
        sent = (
            await connection.execute(sa.select(Message.idempotency_key, Message.delivery_key, Message.status))
        ).all()
    assert {status for _, _, status in sent} == {"accepted"}
    assert set(line.accepted) == {str(retry_key(delivery_key)) for _, delivery_key, _ in sent}
    assert len(line.delivered) == len(sent)
    keys = {key for key, _, _ in sent}
    cancelled = [
        transition
        for order in (first_overdue, unpaid_card, last_overdue)
        for transition in await steps_to(engine, order, "cancelled")
    ]
    assert len(cancelled) == 4
    assert {f"order-step:{transition}" for transition in cancelled} <= keys
    assert f"order:{deposited['id']}:paid" in keys
    assert "job order-deadlines failed" not in logs(tmp_path)


async def steps_to(engine: AsyncEngine, order: dict[str, Any], status: str) -> list[int]:
    """The ids of the order's moves to ``status``."""
    async with engine.connect() as connection:
        return list(
            await connection.scalars(
                sa.select(Transition.id)
                .join(MallOrder, MallOrder.id == Transition.mall_order_id)
                .where(MallOrder.order_id == order["id"], Transition.to_status == status)
            )
        )


# --- The feed's score roll-up -----------------------------------------------------------------------------------


async def test_the_score_roll_up_killed_between_its_commit_and_forgetting_its_marks_counts_each_score_once(
    services: Services,
    settings: Settings,
    engine: AsyncEngine,
    session: AsyncSession,
    client: ShoaClient,
    redis_client: Redis,
    tmp_path: Path,
) -> None:
    """Killed once it has saved the scores and the products' popularity (committed) but not yet forgotten the marks
    it took, while a mall's sync held one of the products (skipped, to be written after the next roll-up): the
    restarted worker saves each score once more as it is (not added again), and writes the skipped popularity."""
    haru, _ = await create_partners(session)
    shoppers = await create_shoppers(session, settings, 2)
    traffic = Traffic([client, client])
    await sync(traffic, 0, haru, [product_item(haru, n, version=1, stock=5, price=39000) for n in (1, 2, 3)])
    async with engine.connect() as connection:
        products = dict((await connection.execute(sa.select(Product.external_id, Product.id))).all())
    liked, held = products["H01"], products["H02"]
    for shopper in shoppers:  # two people, so the products count for the popularity order
        events = [
            {"id": str(uuid.uuid4()), "kind": kind, "product_id": str(product_id), "occurred_at": utc_now().isoformat()}
            for product_id in (liked, held)
            for kind in ("view", "like")
        ]
        answer = await traffic.call(0, "POST", "/v1/events", json={"events": events}, headers=shopper.headers)
        assert answer.json()["accepted"] == 4, answer.text
    separator = "&" if "?" in services.redis_url else "?"
    # The worker's Redis connections named, so that the test can tell when Redis has dropped a dead one's.
    named = f"{services.redis_url}{separator}client_name={ROLL_UP_WORKER}"
    environment = services.environ(SHOA_SEARCH_DIR=str(settings.search.dir), SHOA_REDIS_URL=named)
    decay = Decay(half_life_seconds=settings.feed.half_life_hours * 3600)

    # The roll-up writes the popularity last, before its commit: held there, then let through with Redis's writes
    # paused, it commits and waits to forget its marks; killed there.
    writes_to_products = TableLock(engine, "products")
    async with row_held(engine, "products", "id", held, strength="NO KEY UPDATE"):  # as a sync's UPDATE holds it
        await writes_to_products.take()
        try:
            async with running_worker(environment, tmp_path / "worker-1.log") as worker:

                async def publishing() -> bool:
                    assert worker.poll() is None, logs(tmp_path)
                    return await waiting_backend(engine, "UPDATE products") is not None

                await until(publishing, "the roll-up writing the products' popularity", within=60)
                await redis_client.client_pause(30_000, all=False)
                await writes_to_products.release()
                await until(lambda: popularity_of(engine, liked, above=0), "the roll-up committed")
                assert not await disconnected(redis_client, ROLL_UP_WORKER)
                await kill(worker)
                # Redis drops what a dead client sent while paused only once it sees the connection closed.
                await until(lambda: disconnected(redis_client, ROLL_UP_WORKER), "Redis dropping the dead worker")
        finally:
            await writes_to_products.release()
            await redis_client.client_unpause()
    assert await redis_client.exists(ROLLING_KEY), "the marks were forgotten before the kill"
    assert await popularity_of(engine, held, above=None)  # skipped: its row was held

    async with running_worker(environment, tmp_path / "worker-2.log") as worker:

        async def caught_up() -> bool:
            assert worker.poll() is None, logs(tmp_path)
            return (
                await popularity_of(engine, held, above=0)
                and not await redis_client.exists(ROLLING_KEY)
                and await search_outbox_empty(engine)
            )

        await until(caught_up, "the next roll-up and the index catching up", within=60)

    now = utc_now()
    in_redis = dict(await segment_scores(redis_client, decay, EVERYONE, now=now.timestamp()))
    async with engine.connect() as connection:
        faded = SegmentScore.score * sa.func.power(
            0.5, sa.extract("epoch", sa.literal(now) - SegmentScore.as_of) / decay.half_life_seconds
        )
        rows = await connection.execute(
            sa.select(SegmentScore.product_id, faded).where(SegmentScore.segment == EVERYONE)
        )
        saved = dict(rows.all())
        popularity = dict((await connection.execute(sa.select(Product.id, Product.popularity))).all())
    # Each score counted once: two people's view and like, in Redis and as saved.
    assert in_redis == {liked: pytest.approx(10.0, rel=1e-3), held: pytest.approx(10.0, rel=1e-3)}
    assert saved == {product_id: pytest.approx(score, rel=1e-6) for product_id, score in in_redis.items()}
    # Both popularities written from those scores; the search index sorts by the same.
    for product_id in (liked, held):
        assert popularity[product_id] == pytest.approx(
            popularity_value(in_redis[product_id], at=now.timestamp(), decay=decay), abs=0.01
        )
    assert popularity[products["H03"]] == 0.0
    assert index_as_stored(settings.search.dir) == await index_as_the_database_says(engine)
    assert "job feed-score-rollup failed" not in logs(tmp_path)


async def disconnected(redis: Redis, name: str) -> bool:
    return not any(client["name"] == name for client in await redis.client_list())


async def popularity_of(engine: AsyncEngine, product_id: uuid.UUID, *, above: float | None) -> bool:
    """Whether the product's stored popularity is above ``above`` (None: whether it is still 0)."""
    async with engine.connect() as connection:
        value = await connection.scalar(sa.select(Product.popularity).where(Product.id == product_id))
    return value == 0 if above is None else value is not None and value > above


# --- Win-back: price drops and cart reminders -------------------------------------------------------------------


async def winback_state(engine: AsyncEngine) -> tuple[list[tuple[str, str]], list[str], list[tuple[uuid.UUID, int]]]:
    """Every win-back decision (occasion, outcome), every win-back message's key, and every price watch's price."""
    async with engine.connect() as connection:
        decisions = [
            (occasion, outcome)
            for occasion, outcome in await connection.execute(
                sa.select(Send.occasion, Send.outcome).order_by(Send.occasion)
            )
        ]
        messages = list(
            await connection.scalars(
                sa.select(Message.idempotency_key)
                .where(Message.idempotency_key.like("winback:%"))
                .order_by(Message.idempotency_key)
            )
        )
        watches = [
            (user_id, price)
            for user_id, price in await connection.execute(
                sa.select(PriceWatch.user_id, PriceWatch.reference_price).order_by(PriceWatch.user_id)
            )
        ]
    return decisions, messages, watches


async def test_the_winback_job_killed_mid_decision_tells_each_shopper_of_each_drop_and_cart_once(
    services: Services,
    settings: Settings,
    engine: AsyncEngine,
    session: AsyncSession,
    client: ShoaClient,
    tmp_path: Path,
) -> None:
    """Four shoppers agreed to advertising on LINE, each liked a dress at 39,000 won (watched from that price) and
    left a slacks in her cart 30 hours ago; the mall drops the dress to 31,000. The job decides the price drops
    first: killed while it writes their messages (``LOCK TABLE notify_messages IN SHARE MODE``), before it moves
    the watches to the new price and before any cart reminder. Started again, it decides each drop and each cart
    once, with one message each, and the watches follow the new price once."""
    haru, _ = await create_partners(session)
    shoppers = await create_shoppers(session, settings, 4)
    traffic = Traffic([client, client])
    await sync(traffic, 0, haru, [product_item(haru, n, version=1, stock=5, price=39000) for n in (1, 2)])
    async with engine.connect() as connection:
        dress = await connection.scalar(sa.select(Product.id).where(Product.external_id == "H01"))
        slacks = await connection.scalar(sa.text("SELECT id FROM variants WHERE sku = 'H02-M'"))
    for shopper in shoppers:
        for method, path, body in (
            ("PUT", "/v1/me/marketing/line", None),
            ("PUT", f"/v1/likes/{dress}", None),
            ("PUT", f"/v1/cart/items/{slacks}", {"quantity": 1}),
        ):
            answer = await client.request(method, path, json=body, headers=shopper.headers)
            assert answer.is_success, answer.text
    await session.execute(sa.update(CartItem).values(added_at=utc_now() - datetime.timedelta(hours=30)))
    await session.commit()
    dropped = await client.patch(
        f"/partner/v1/products/{haru.code}01",
        headers=haru.headers,
        json={"variants": [{"sku": haru.sku(1, size), "price": 31000} for size in ("M", "L")]},
    )
    assert dropped.status_code == 200, dropped.text
    environment = services.environ(SHOA_SEARCH_DIR=str(settings.search.dir), SHOA_WINBACK_HOLDOUT_PERCENT="0")

    async with table_held(engine, "notify_messages"):
        backend = await kill_when_waiting(environment, tmp_path, engine, "INSERT INTO notify_messages", run=1)
    await rolled_back(engine, backend)
    watched = sorted(shopper.user_id for shopper in shoppers)
    assert await winback_state(engine) == ([], [], [(user_id, 39000) for user_id in watched])

    async with running_worker(environment, tmp_path / "worker-2.log") as worker:

        async def decided() -> bool:
            assert worker.poll() is None, logs(tmp_path)
            decisions, _, _ = await winback_state(engine)
            return len(decisions) == 2 * len(shoppers)

        await until(decided, "every drop and cart decided", within=60)
    decisions, messages, watches = await winback_state(engine)
    async with engine.connect() as connection:
        carts = [
            f"cart:{user_id}:{variant_id}:{added_at.isoformat()}"
            for user_id, variant_id, added_at in await connection.execute(
                sa.select(CartItem.user_id, CartItem.variant_id, CartItem.added_at)
            )
        ]
    occasions = [f"price:{shopper.user_id}:{dress}:39000:31000" for shopper in shoppers] + carts
    assert decisions == sorted((occasion, "sent") for occasion in occasions)
    assert messages == sorted(f"winback:{occasion}" for occasion in occasions)
    assert watches == [(user_id, 31000) for user_id in watched]
    assert "job winback failed" not in logs(tmp_path)
