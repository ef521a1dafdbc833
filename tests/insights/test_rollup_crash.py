"""The real worker (``shoa worker``) killed with SIGKILL in the middle of the hourly roll-up, twice: the next run
counts every event exactly once, and the aggregates equal the raw events, cell for cell.

The kill points are reached without a hook in the worker: the test holds ``LOCK TABLE … IN SHARE MODE`` on one
aggregate table, so the roll-up, having locked its watermark and found the hours to recompute, waits there —

1. on ``insights_product_hours``: before it has replaced anything;
2. on ``insights_category_hours``: with the product hours already deleted and written again, uncommitted.

The hours it recomputes hold late events (received after an earlier run had counted their hour), so a run that
added instead of replacing, or moved its watermark without its aggregates, would count something twice or never.
"""

from __future__ import annotations

import asyncio
import datetime
import signal
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker

from insights.jobs import keep_event_partitions, roll_up_events
from insights.models import RollupWatermark
from insights.rollup import SETTLE, closed_hour
from shoa_api.settings import child_environment
from shoa_kernel.clock import utc_now
from tests.insights.conftest import raw_event
from tests.locks import TableLock

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from insights.models import Event
    from tests.conftest import Services

HOUR = datetime.timedelta(hours=1)
DRESS, KNIT, BAG = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
MALL, OTHER_MALL = uuid.uuid4(), uuid.uuid4()
KILL_POINTS = ("insights_product_hours", "insights_category_hours")

_CELLS = """
    count(*) FILTER (WHERE kind = 'view'), count(*) FILTER (WHERE kind = 'click'),
    count(*) FILTER (WHERE kind = 'like'), count(*) FILTER (WHERE kind = 'add_to_cart'),
    count(*) FILTER (WHERE kind = 'purchase'), coalesce(sum(quantity), 0), coalesce(sum(amount), 0),
    count(DISTINCT coalesce('shopper:' || shopper_id::text, 'device:' || device_id))
"""
_FIGURES = "views, clicks, likes, carts, purchases, units, revenue, shoppers"


def events_of_hour(start: datetime.datetime, *, received: datetime.datetime | None = None, tag: str) -> list[Event]:
    """Twenty-odd events in the hour from ``start``, of three products of two malls, by two segments' people (some
    people twice); received at ``received`` (late) or as they happen."""
    made = []
    for n in range(24):
        at = start + datetime.timedelta(minutes=2 * n + 1)
        product, mall, path = ((DRESS, MALL, "원피스/셔츠원피스"), (KNIT, MALL, "상의/니트"),
                               (BAG, OTHER_MALL, "가방/토트백"))[n % 3]  # fmt: skip
        kind = ("view", "view", "click", "like", "add_to_cart", "purchase")[n % 6]
        who = f"d-{tag}-{n % 7}" if n % 2 else f"shopper-{tag}-{n % 5}"
        extra: dict[str, Any] = {"quantity": 1 + n % 2, "amount": 19_000 * (1 + n % 2)} if kind == "purchase" else {}
        made.append(raw_event(at, kind, product_id=product, mall_id=mall, category_path=path,
                              segment=("female:20s_late", "anonymous")[n % 2], who=who,
                              recorded_at=received or at, **extra))  # fmt: skip
    return made


_QUERIES = {
    "product hours": f"SELECT hour, mall_id, product_id, segment, {_FIGURES} FROM insights_product_hours",  # noqa: S608
    "product hours from the events": f"SELECT date_trunc('hour', at, 'UTC'), mall_id, product_id, segment, {_CELLS} "  # noqa: S608
    "FROM insights_events GROUP BY 1, 2, 3, 4",
    "category hours": f"SELECT hour, category_path, segment, {_FIGURES} FROM insights_category_hours",  # noqa: S608
    "category hours from the events": f"SELECT date_trunc('hour', at, 'UTC'), category_path, segment, {_CELLS} "  # noqa: S608
    "FROM insights_events GROUP BY 1, 2, 3",
}
"""The aggregates as they are, and as the raw events say they should be (every event counted once)."""


async def cells(engine: AsyncEngine) -> dict[str, set[tuple[Any, ...]]]:
    async with engine.connect() as connection:
        return {
            name: {tuple(row) for row in await connection.execute(sa.text(query))} for name, query in _QUERIES.items()
        }


async def watermark(engine: AsyncEngine) -> datetime.datetime:
    async with engine.connect() as connection:
        found = await connection.scalar(sa.select(RollupWatermark.recorded_before))
    assert isinstance(found, datetime.datetime)
    return found


def start_worker(services: Services, log: Path) -> subprocess.Popen[bytes]:
    """``shoa worker`` as deployed, on the suite's PostgreSQL and Redis: its roll-up runs as soon as it starts."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "shoa_api", "worker"], env=child_environment(services.environ()),
            cwd=log.parent, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip


async def blocked_roll_up(engine: AsyncEngine, table: str) -> int | None:
    """The backend of a roll-up waiting to delete ``table``'s rows, if one is."""
    async with engine.connect() as connection:
        found = await connection.scalar(
            sa.text(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE :statement"
            ).bindparams(statement=f"DELETE FROM {table} %")  # noqa: S608 - a LIKE pattern, not a statement
        )
    return int(found) if found is not None else None


async def until_gone(engine: AsyncEngine, pid: int) -> None:
    """Until PostgreSQL has ended the dead worker's backend, rolling its transaction back."""
    deadline = time.monotonic() + 30
    while True:
        async with engine.connect() as connection:
            if not await connection.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                           {"pid": pid}):  # fmt: skip
                return
        assert time.monotonic() < deadline, "the dead worker's backend never ended"
        await asyncio.sleep(0.05)


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def test_a_worker_killed_in_the_middle_of_the_roll_up_leaves_the_next_run_counting_every_event_once(
    services: Services, engine: AsyncEngine, session: AsyncSession, tmp_path: Path
) -> None:
    maker = async_sessionmaker(engine, expire_on_commit=False)
    now = utc_now()
    await keep_event_partitions(maker, retention_days=90, now=now)  # as the worker made them before
    until = closed_hour(now)
    earlier = until - 2 * HOUR  # an earlier run counted everything received before this
    first, second, third = earlier - 3 * HOUR, earlier - 2 * HOUR, until - HOUR
    session.add_all(events_of_hour(first, tag="a") + events_of_hour(second, tag="b"))
    await session.commit()
    counted = await roll_up_events(maker, now=earlier + SETTLE)
    assert counted.hours == [first, second]
    # Since then: late events of the first hour (some by the same people), and a new hour.
    late = events_of_hour(first, received=earlier + 30 * datetime.timedelta(minutes=1), tag="a")
    session.add_all(late + events_of_hour(third, tag="c"))
    await session.commit()
    before = await cells(engine)
    assert before["product hours"] != before["product hours from the events"]  # the late events are not counted

    log = tmp_path / "worker.log"
    for table in KILL_POINTS:
        lock = TableLock(engine, table)
        await lock.take()
        worker = start_worker(services, log)
        try:
            deadline = time.monotonic() + 60
            while (backend := await blocked_roll_up(engine, table)) is None:
                assert worker.poll() is None, f"the worker exited: {tail(log)}"
                assert time.monotonic() < deadline, f"the roll-up never reached {table}: {tail(log)}"
                await asyncio.sleep(0.05)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            # Dead before its commit: nothing it did is seen, its watermark has not moved.
            assert await cells(engine) == before, table
            assert await watermark(engine) == earlier
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            await lock.release()
        await until_gone(engine, backend)
        assert await cells(engine) == before, table

    worker = start_worker(services, log)
    try:
        deadline = time.monotonic() + 60
        while await watermark(engine) < until:
            assert worker.poll() is None, f"the worker exited: {tail(log)}"
            assert time.monotonic() < deadline, f"the restarted worker never rolled up: {tail(log)}"
            await asyncio.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)

    after = await cells(engine)
    assert after["product hours"] == after["product hours from the events"]
    assert after["category hours"] == after["category hours from the events"]
    assert {row[0] for row in after["product hours"]} == {first, second, third}
    # The late events' hour was recomputed whole: each person once, whichever run saw them first.
    assert after["product hours"] != before["product hours"]
