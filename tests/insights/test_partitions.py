"""The event store keeps a partition per day a week ahead and drops the days past the retention; an event whose day
has no partition yet waits in the default partition and moves into its day's partition when that is made.

The clock is a parameter: the tests run the worker's real job on days long past, so today's partitions (which the
other tests of this database write into) are never touched."""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker

from insights.jobs import keep_event_partitions
from insights.partitions import DAYS_AHEAD, day_partitions
from tests.insights.conftest import raw_event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

START = datetime.date(2025, 3, 1)
"""A day long before the suite's real clock: only these tests make partitions around it."""


def day(offset: int) -> datetime.date:
    return START + datetime.timedelta(days=offset)


def noon(of: datetime.date) -> datetime.datetime:
    return datetime.datetime(of.year, of.month, of.day, 12, tzinfo=datetime.UTC)


async def partitions_around_start(session: AsyncSession) -> list[datetime.date]:
    days = await day_partitions(session)
    await session.commit()  # no lock held past the read: the job drops tables
    return sorted(d for d in days if START - datetime.timedelta(days=10) <= d <= day(150))


async def partition_of(session: AsyncSession, at: datetime.datetime) -> str:
    query = sa.text("SELECT tableoid::regclass::text FROM insights_events WHERE at = :at")
    found = str(await session.scalar(query, {"at": at}))
    await session.commit()
    return found


async def test_partitions_are_made_a_week_ahead_and_dropped_after_the_retention(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        made = await keep_event_partitions(maker, retention_days=90, now=noon(START))
        assert made.created == [day(n) for n in range(DAYS_AHEAD + 1)]
        assert await partitions_around_start(session) == [day(n) for n in range(8)]

        again = await keep_event_partitions(maker, retention_days=90, now=noon(START))  # the next hour's run
        assert (again.created, again.dropped) == ([], [])

        # 96 days on: days 0 to 5 are older than 90 days; day 6 onwards stay, days 96 to 103 are new.
        later = await keep_event_partitions(maker, retention_days=90, now=noon(day(96)))
        assert later.dropped == [day(n) for n in range(6)]
        assert await partitions_around_start(session) == [day(6), day(7), *(day(n) for n in range(96, 104))]
    finally:
        await keep_event_partitions(maker, retention_days=8, now=noon(day(200)))  # drop them all again


async def test_an_event_without_its_day_s_partition_waits_in_the_default_one_and_moves_in_later(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    maker = async_sessionmaker(engine, expire_on_commit=False)
    early = noon(day(10))
    session.add(raw_event(early, product_id=uuid.uuid4(), mall_id=uuid.uuid4(), who="device-1"))
    await session.commit()
    try:
        assert await partition_of(session, early) == "insights_partitions.insights_events_default"

        made = await keep_event_partitions(maker, retention_days=90, now=noon(day(5)))

        assert made.moved_from_default == 1
        assert await partition_of(session, early) == "insights_partitions.insights_events_20250311"
        # Past the retention, the day goes with its events; so would events left in the default partition.
        await keep_event_partitions(maker, retention_days=90, now=noon(day(101)))
        assert await session.scalar(sa.text("SELECT count(*) FROM insights_events WHERE at = :at"), {"at": early}) == 0
        await session.commit()
    finally:
        await keep_event_partitions(maker, retention_days=8, now=noon(day(200)))
