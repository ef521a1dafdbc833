"""The worker's insights jobs: the hourly roll-up, and the event store's partitions kept a week ahead and within
the retention. Plain functions over a session maker; ``shoa_api.worker`` decides when they run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from insights.partitions import PartitionChanges, keep_partitions
from insights.rollup import Rollup, roll_up_hours
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    import datetime

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def roll_up_events(
    session_maker: async_sessionmaker[AsyncSession], *, now: datetime.datetime | None = None
) -> Rollup:
    """One roll-up run, in one transaction."""
    async with session_maker() as session, session.begin():
        return await roll_up_hours(session, now=now or utc_now())


async def keep_event_partitions(
    session_maker: async_sessionmaker[AsyncSession], *, retention_days: int, now: datetime.datetime | None = None
) -> PartitionChanges:
    """The partitions of today and the next week made, those past ``retention_days`` dropped (UTC days)."""
    today = (now or utc_now()).date()
    async with session_maker() as session, session.begin():
        return await keep_partitions(session, today=today, retention_days=retention_days)
