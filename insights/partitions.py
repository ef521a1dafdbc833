"""The event store's day partitions: made a week ahead, dropped after the retention.

Each UTC day of ``insights_events`` is its own table, ``insights_partitions.insights_events_YYYYMMDD``, so that
dropping a day is a ``DROP TABLE`` (no mass ``DELETE``, no bloat) and a day's roll-up reads one table. A default
partition, ``insights_partitions.insights_events_default``, takes any event whose day has no partition yet (the
worker was down a week): an append never fails for want of one, and the day's partition, when it is made, takes
those rows out of the default partition in the same transaction.

Run by the worker (:mod:`insights.jobs`) in one transaction under an advisory lock, so two workers never race
on the same ``CREATE TABLE``.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from insights.models import PARTITION_SCHEMA, Event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

DAYS_AHEAD = 7
"""Partitions exist this many days past today, so a week of worker outage costs nothing."""
DEFAULT_PARTITION = "insights_events_default"
PARTITIONS_LOCK = 0x5E0A_0001
"""The advisory lock (transaction scope) that makes one worker at a time change the partitions."""
_DAY_NAME = re.compile(r"^insights_events_(\d{8})$")


@dataclass(frozen=True, kw_only=True)
class PartitionChanges:
    created: list[datetime.date]
    dropped: list[datetime.date]
    moved_from_default: int
    """Events that had waited in the default partition for their day's partition."""


async def keep_partitions(session: AsyncSession, *, today: datetime.date, retention_days: int) -> PartitionChanges:
    """Make the partitions of ``today`` and the ``DAYS_AHEAD`` days after it, and drop those of the days before
    ``today - retention_days``; in the caller's transaction."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(PARTITIONS_LOCK)))
    existing = await day_partitions(session)
    created, moved = [], 0
    for offset in range(DAYS_AHEAD + 1):
        day = today + datetime.timedelta(days=offset)
        if day not in existing:
            moved += await _create_partition(session, day)
            created.append(day)
    oldest_kept = today - datetime.timedelta(days=retention_days)
    dropped = sorted(day for day in existing if day < oldest_kept)
    for day in dropped:
        await session.execute(sa.text(f"DROP TABLE {_qualified(partition_name(day))}"))
    default = sa.table(DEFAULT_PARTITION, sa.column("at"), schema=PARTITION_SCHEMA)
    await session.execute(sa.delete(default).where(default.c.at < _midnight(oldest_kept)))
    return PartitionChanges(created=created, dropped=dropped, moved_from_default=moved)


async def day_partitions(session: AsyncSession) -> set[datetime.date]:
    """The days that have their own partition."""
    names = await session.scalars(
        sa.text(
            "SELECT child.relname FROM pg_inherits i "
            "JOIN pg_class child ON child.oid = i.inhrelid JOIN pg_class parent ON parent.oid = i.inhparent "
            "JOIN pg_namespace ns ON ns.oid = child.relnamespace "
            "WHERE parent.oid = CAST(:parent AS regclass) AND ns.nspname = :schema"
        ),
        {"parent": Event.__tablename__, "schema": PARTITION_SCHEMA},
    )
    return {
        datetime.datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=datetime.UTC).date()
        for name in names
        if (match := _DAY_NAME.match(name))
    }


def partition_name(day: datetime.date) -> str:
    return f"insights_events_{day:%Y%m%d}"


async def _create_partition(session: AsyncSession, day: datetime.date) -> int:
    """Create ``day``'s partition, first taking that day's events out of the default partition (PostgreSQL
    refuses to attach a range the default partition holds rows of); how many moved."""
    table, default = _qualified(partition_name(day)), _qualified(DEFAULT_PARTITION)
    lower, upper = _midnight(day), _midnight(day + datetime.timedelta(days=1))
    bounds = f"FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"
    in_default = sa.table(DEFAULT_PARTITION, sa.column("at"), schema=PARTITION_SCHEMA)
    waiting = await session.scalar(
        sa.select(sa.func.count()).select_from(in_default).where(in_default.c.at >= lower, in_default.c.at < upper)
    )
    if not waiting:
        await session.execute(sa.text(f"CREATE TABLE {table} PARTITION OF {Event.__tablename__} FOR VALUES {bounds}"))
        return 0
    await session.execute(sa.text(f"CREATE TABLE {table} (LIKE {Event.__tablename__} INCLUDING DEFAULTS)"))
    await session.execute(
        sa.text(
            f"WITH moved AS (DELETE FROM {default} WHERE at >= :lower AND at < :upper RETURNING *) "  # noqa: S608 - our own names
            f"INSERT INTO {table} SELECT * FROM moved"
        ),
        {"lower": lower, "upper": upper},
    )
    await session.execute(sa.text(f"ALTER TABLE {Event.__tablename__} ATTACH PARTITION {table} FOR VALUES {bounds}"))
    return int(waiting)


def _qualified(name: str) -> str:
    return f'"{PARTITION_SCHEMA}"."{name}"'


def _midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)
