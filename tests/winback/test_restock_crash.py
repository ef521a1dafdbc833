"""The real worker (``shoa worker``) killed with SIGKILL in the middle of a restock wave: once the job runs again,
every waiting shopper has heard once — one ``restock_available`` message in notify's outbox, one decision, her
alert ``notified`` — in the order the shoppers asked; and two workers on one wave send each message once.

2,500 shoppers, each reachable on AlimTalk, wait for a sold-out dress (three chunks of ``WAVE_CHUNK``); they signed
up in another order than they asked, and their alerts were stored in yet another, so only the alerts' ids say who
asked first. The mall restocks the dress. ``shoa worker`` has no option to run one job alone: it runs all of them,
as deployed, and its other jobs write nothing the wave reads. Each kill point is reached without a hook in the
worker, by something the wave's transaction must wait for:

1. **messages written**: ``LOCK TABLE winback_sends IN SHARE MODE``. The first chunk has locked its 1,000 alerts
   and written their outbox rows, and waits to write its decisions. Nothing is committed.
2. **decisions written**: ``LOCK TABLE winback_restock_alerts IN SHARE MODE``. The chunk's ``FOR UPDATE`` row
   locks pass (a table's ROW SHARE lock does not conflict with SHARE); its messages and decisions are written and
   the ``UPDATE`` that marks its alerts notified waits. Nothing is committed.
3. **a chunk committed, the next half written**: the test writes, in a transaction it leaves open, the decision of
   the second chunk's last alert (occasion ``restock:<alert 2,000>``). The first chunk never touches it and
   commits; the second writes its messages and 999 decisions, and its ``INSERT … ON CONFLICT DO NOTHING`` waits
   for the test's transaction to learn whether the last one conflicts. Neither a table lock taken once the first
   chunk's rows appear (the second chunk may be past that table already) nor row locks on the second chunk's
   alerts (the wave skips locked alerts and would take the next ones) stop the second chunk alone.

Once the lock is gone, PostgreSQL rolls back what the dead worker left open, and only whole chunks are left; the
job's next run (in-process, with the app's own win-back kit, to keep the test short) finishes the wave.

Two real workers started at once are held by the ``winback_sends`` lock at their first decisions, together: each
has locked a different chunk (``FOR UPDATE SKIP LOCKED``). Their chunks run side by side, so the order the shoppers
asked in holds within each transaction, not across the two workers.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import pytest
import sqlalchemy as sa
from uuid_utils.compat import uuid7

from accounts.models import User
from catalog.models import Product, Variant
from notify.models import Message
from shoa_api.settings import child_environment
from shoa_kernel.clock import utc_now
from tests.factories import create_mall
from tests.locks import TableLock
from winback.jobs import WAVE_CHUNK
from winback.models import AlertStatus, Kind, Outcome, RestockAlert, Send

if TYPE_CHECKING:
    import uuid
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

    from tests.conftest import Services
    from tests.winback.conftest import Jobs

SHOPPERS = 2 * WAVE_CHUNK + WAVE_CHUNK // 2
"""Two full chunks and a half one."""


@dataclass(frozen=True, kw_only=True)
class Alert:
    id: uuid.UUID
    user_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class Line:
    """The shoppers waiting for the dress, in the order they asked (their alerts' ids)."""

    alerts: list[Alert]
    mall_id: uuid.UUID
    product_id: uuid.UUID
    variant_id: uuid.UUID


async def a_line_for_a_restocked_dress(session: AsyncSession) -> Line:
    """``SHOPPERS`` shoppers (AlimTalk consented and preferred) waiting for a sold-out dress, which then comes back
    in stock; committed."""
    mall = await create_mall(session, name="하루일상", slug="haru")
    product = Product(mall_id=mall.id, external_id="H1", name="린넨 셔츠 원피스", category_path="원피스/셔츠원피스",
                      target_gender="female", image_urls=["https://img.shoa.test/H1.jpg"], status="on_sale",
                      in_stock=True, source_updated_at=utc_now(), content_hash="0" * 64)  # fmt: skip
    session.add(product)
    await session.flush()
    variant = Variant(product_id=product.id, mall_id=mall.id, sku="H1-BK-L", color="블랙", size="L", price=39000,
                      currency="KRW", stock=0, position=0)  # fmt: skip
    session.add(variant)
    await session.flush()
    users = [{"email": f"waiting{n}@example.kr", "phone": f"+8210{5000_0000 + n}", "consent_alimtalk": True,
              "preferred_messenger": "alimtalk"} for n in range(SHOPPERS)]  # fmt: skip
    user_ids = list(await session.scalars(sa.insert(User).returning(User.id, sort_by_parameter_order=True), users))
    random.Random(7).shuffle(user_ids)  # who signed up first is not who asked first
    alerts = [Alert(id=uuid7(), user_id=user_id) for user_id in user_ids]
    stored = [{"id": alert.id, "user_id": alert.user_id, "variant_id": variant.id, "product_id": product.id,
               "mall_id": mall.id} for alert in alerts]  # fmt: skip
    random.Random(11).shuffle(stored)  # nor is the order the rows were written in
    await session.execute(sa.insert(RestockAlert), stored)
    await session.execute(sa.update(Variant).where(Variant.id == variant.id).values(stock=3))
    await session.commit()
    return Line(alerts=alerts, mall_id=mall.id, product_id=product.id, variant_id=variant.id)


# --- What the shoppers got --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Wave:
    """What is committed of the wave."""

    messages: list[tuple[str, uuid.UUID | None, str | None]]
    """Every restock message's key, shopper and channel, in the order they were enqueued (their ids)."""
    decisions: list[tuple[str, uuid.UUID, str, str | None]]
    """Every restock decision's occasion, shopper, outcome and its message's key, by occasion."""
    notified: list[uuid.UUID]
    """The notified alerts, by id; the others wait."""


def heard(alerts: list[Alert]) -> Wave:
    """The wave when exactly these shoppers have heard, each once, in this order."""
    return Wave(
        messages=[(f"winback:restock:{alert.id}", alert.user_id, "alimtalk") for alert in alerts],
        decisions=sorted(
            (f"restock:{alert.id}", alert.user_id, Outcome.SENT.value, f"winback:restock:{alert.id}")
            for alert in alerts
        ),
        notified=[alert.id for alert in alerts],
    )


async def the_wave(engine: AsyncEngine) -> Wave:
    async with engine.connect() as connection:
        messages = await connection.execute(
            sa.select(Message.idempotency_key, Message.user_id, Message.channel)
            .where(Message.event == "restock_available")
            .order_by(Message.id)
        )
        decisions = await connection.execute(
            sa.select(Send.occasion, Send.user_id, Send.outcome, Message.idempotency_key)
            .outerjoin(Message, Message.id == Send.message_id)
            .where(Send.kind == Kind.RESTOCK.value)
            .order_by(Send.occasion)
        )
        notified = await connection.scalars(
            sa.select(RestockAlert.id)
            .where(RestockAlert.status == AlertStatus.NOTIFIED.value)
            .order_by(RestockAlert.id)
        )
        return Wave(
            messages=[(key, user_id, channel) for key, user_id, channel in messages],
            decisions=[(occasion, user_id, outcome, key) for occasion, user_id, outcome, key in decisions],
            notified=list(notified),
        )


async def transactions_of_the_wave(engine: AsyncEngine) -> list[list[str]]:
    """The restock messages' keys, grouped by the transaction that decided them (the decision rows' ``xmin``: the
    dispatcher updates the messages, never the decisions), each group in message order."""
    query = sa.text(
        "SELECT s.xmin::text, m.idempotency_key FROM winback_sends s JOIN notify_messages m ON m.id = s.message_id "
        "WHERE s.kind = 'restock' ORDER BY m.id"
    )
    groups: dict[str, list[str]] = {}
    async with engine.connect() as connection:
        for transaction, key in await connection.execute(query):
            groups.setdefault(transaction, []).append(key)
    return list(groups.values())


async def waiting_alerts(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        query = sa.select(sa.func.count()).where(RestockAlert.status == AlertStatus.WAITING.value)
        return int(await connection.scalar(query) or 0)


# --- The worker and the locks that stop it ----------------------------------------------------------------------


class Hold(Protocol):
    async def take(self) -> None: ...
    async def release(self) -> None: ...


class HeldDecision:
    """One alert's restock decision written in a transaction the test leaves open: a wave deciding the same alert
    waits on it, at its ``INSERT … ON CONFLICT DO NOTHING``, until the test rolls it back."""

    def __init__(self, engine: AsyncEngine, line: Line, alert: Alert) -> None:
        self.engine, self.line, self.alert = engine, line, alert
        self.connection: AsyncConnection | None = None

    async def take(self) -> None:
        self.connection = await self.engine.connect()
        await self.connection.begin()
        await self.connection.execute(
            sa.insert(Send).values(
                occasion=f"restock:{self.alert.id}", kind=Kind.RESTOCK.value, user_id=self.alert.user_id,
                mall_id=self.line.mall_id, product_id=self.line.product_id, variant_id=self.line.variant_id,
                outcome=Outcome.SENT.value, decided_at=utc_now(),
            )
        )  # fmt: skip

    async def release(self) -> None:
        if self.connection is not None:
            await self.connection.rollback()
            await self.connection.close()
            self.connection = None


@dataclass(frozen=True, kw_only=True)
class KillPoint:
    statement: str
    """How the statement the wave waits at begins."""
    committed: int
    """The shoppers whose chunk had committed when the worker died."""
    hold: Callable[[AsyncEngine, Line], Hold]


KILL_POINTS = {
    "messages written": KillPoint(
        statement="INSERT INTO winback_sends", committed=0, hold=lambda engine, _: TableLock(engine, "winback_sends")
    ),
    "decisions written": KillPoint(
        statement="UPDATE winback_restock_alerts",
        committed=0,
        hold=lambda engine, _: TableLock(engine, "winback_restock_alerts"),
    ),
    "a chunk committed, the next half written": KillPoint(
        statement="INSERT INTO winback_sends",
        committed=WAVE_CHUNK,
        hold=lambda engine, line: HeldDecision(engine, line, line.alerts[2 * WAVE_CHUNK - 1]),
    ),
}


@pytest.fixture
async def workers(services: Services, tmp_path: Path) -> AsyncIterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts ``shoa worker`` as deployed, on the suite's PostgreSQL and Redis (its restock wave runs as soon as it
    starts); every worker a test starts is gone at its end, whatever happened."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        with (tmp_path / f"worker-{len(started)}.log").open("ab") as output:
            worker = subprocess.Popen(
                [sys.executable, "-m", "shoa_api", "worker"],
                env=child_environment(services.environ()),
                cwd=tmp_path,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.poll() is None:
            worker.kill()
            await asyncio.to_thread(worker.wait, 10)


def logs(tmp_path: Path) -> str:
    return "\n".join(log.read_text(errors="replace")[-2000:] for log in sorted(tmp_path.glob("worker-*.log")))


async def until(condition: Callable[[], Awaitable[bool]], what: str, tmp_path: Path, *, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {logs(tmp_path)}"
        await asyncio.sleep(0.05)


async def waves_waiting_at(engine: AsyncEngine, statement: str) -> list[int]:
    """The backends of waves waiting for a lock at ``statement``."""
    query = sa.text("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE :statement")
    async with engine.connect() as connection:
        return [int(pid) for pid in await connection.scalars(query, {"statement": f"{statement} %"})]


async def gone(engine: AsyncEngine, pids: list[int]) -> bool:
    """Whether PostgreSQL has ended these backends of a dead worker, rolling their transactions back."""
    query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)")
    async with engine.connect() as connection:
        return not await connection.scalar(query, {"pids": pids})


async def kill(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGKILL)
    await asyncio.to_thread(worker.wait, 10)


# --- The stories ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kill_point", list(KILL_POINTS))
async def test_a_worker_killed_in_the_middle_of_a_wave_leaves_every_shopper_hearing_once_in_her_turn(
    engine: AsyncEngine,
    session: AsyncSession,
    workers: Callable[[], subprocess.Popen[bytes]],
    jobs: Jobs,
    tmp_path: Path,
    kill_point: str,
) -> None:
    line = await a_line_for_a_restocked_dress(session)
    point = KILL_POINTS[kill_point]
    hold = point.hold(engine, line)
    await hold.take()
    try:
        worker = workers()

        async def wave_waiting() -> bool:
            assert worker.poll() is None, f"the worker exited: {logs(tmp_path)}"
            return bool(await waves_waiting_at(engine, point.statement))

        await until(wave_waiting, f"the wave waiting at {point.statement}", tmp_path)
        [backend] = await waves_waiting_at(engine, point.statement)
        await kill(worker)
    finally:
        await hold.release()
    await until(lambda: gone(engine, [backend]), "the dead worker's transaction rolled back", tmp_path)
    # Only whole chunks are there: the first ``committed`` shoppers heard, nobody else.
    assert await the_wave(engine) == heard(line.alerts[: point.committed])

    # The next run of the job (here in-process, with the app's own win-back kit) finishes the wave.
    assert await jobs.restock() is False, "the wave did not finish within the job's run"

    # Everyone heard once, in the order they asked: those of the committed chunk first, then the rest.
    assert await the_wave(engine) == heard(line.alerts)
    assert "job restock-waves failed" not in logs(tmp_path)


async def test_two_workers_on_one_wave_take_different_chunks_and_send_each_message_once(
    engine: AsyncEngine,
    session: AsyncSession,
    workers: Callable[[], subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    line = await a_line_for_a_restocked_dress(session)
    lock = TableLock(engine, "winback_sends")
    await lock.take()
    try:
        started = [workers(), workers()]

        async def both_holding_a_chunk() -> bool:
            assert all(worker.poll() is None for worker in started), f"a worker exited: {logs(tmp_path)}"
            return len(await waves_waiting_at(engine, "INSERT INTO winback_sends")) == 2

        # Each has locked a chunk of alerts and enqueued its messages, at the same time: not the same chunk (the
        # second would wait for the first one's alerts, or its messages' keys, and never reach its decisions).
        await until(both_holding_a_chunk, "both workers deciding a chunk at once", tmp_path)
    finally:
        await lock.release()
    await until(lambda: _nobody_waits(engine), "the workers finishing the wave", tmp_path)
    for worker in started:
        await kill(worker)

    wave = await the_wave(engine)
    assert sorted(wave.messages) == sorted(heard(line.alerts).messages)
    assert wave.decisions == heard(line.alerts).decisions
    assert wave.notified == heard(line.alerts).notified
    # Each transaction wrote its shoppers in the order they asked, a chunk at most.
    ranks = {f"winback:restock:{alert.id}": rank for rank, alert in enumerate(line.alerts)}
    transactions = [[ranks[key] for key in keys] for keys in await transactions_of_the_wave(engine)]
    assert all(ranked == sorted(ranked) and len(ranked) <= WAVE_CHUNK for ranked in transactions), transactions
    assert "job restock-waves failed" not in logs(tmp_path)


async def _nobody_waits(engine: AsyncEngine) -> bool:
    return await waiting_alerts(engine) == 0
