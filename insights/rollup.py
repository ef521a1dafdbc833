"""The hourly roll-up: events counted into mall x product x segment x hour and category x segment x hour.

A watermark on the time the store *received* events (``recorded_at``), not the time they happened: the app may
send an event up to a week late, and it must still count. Each run takes the events received between the
watermark and the last full hour (less ``SETTLE``, for requests still committing), finds the hours they happened
in, and recomputes those hours whole from the raw events, replacing their aggregate rows; then it moves the
watermark. All in one transaction, with the watermark's row locked: a run that crashes leaves nothing behind, a
second run finds nothing new, and two workers take turns. Recomputing whole hours (rather than adding to them)
is also what keeps the distinct-shopper counts exact.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from insights.models import CategoryHour, ProductHour, RollupWatermark

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

WATERMARK = "hourly"
SETTLE = datetime.timedelta(minutes=5)
"""Events are rolled up once they were received this long before the hour closed."""
LATENESS = datetime.timedelta(days=8)
"""The latest an event is received after it happened (the events API refuses those over 7 days old)."""
EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)

_FIGURES = """
    count(*) FILTER (WHERE kind = 'view') AS views,
    count(*) FILTER (WHERE kind = 'click') AS clicks,
    count(*) FILTER (WHERE kind = 'like') AS likes,
    count(*) FILTER (WHERE kind = 'add_to_cart') AS carts,
    count(*) FILTER (WHERE kind = 'purchase') AS purchases,
    coalesce(sum(quantity) FILTER (WHERE kind = 'purchase'), 0) AS units,
    coalesce(sum(amount) FILTER (WHERE kind = 'purchase'), 0) AS revenue,
    count(DISTINCT coalesce('shopper:' || shopper_id::text, 'device:' || device_id)) AS shoppers
"""
_HOURS_OF_EVENTS = """
    FROM insights_events
    WHERE at >= :first AND at < :last AND date_trunc('hour', at, 'UTC') = ANY(CAST(:hours AS timestamptz[]))
      AND recorded_at < :until
"""


@dataclass(frozen=True, kw_only=True)
class Rollup:
    hours: list[datetime.datetime]
    """The hours recomputed."""
    recorded_before: datetime.datetime
    """The watermark after the run."""


def closed_hour(now: datetime.datetime) -> datetime.datetime:
    """The watermark a run at ``now`` moves to."""
    return (now - SETTLE).astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)


async def roll_up_hours(session: AsyncSession, *, now: datetime.datetime) -> Rollup:
    """Recompute the hours of the events received since the watermark, in the caller's transaction."""
    until = closed_hour(now)
    await session.execute(
        insert(RollupWatermark).values(name=WATERMARK, recorded_before=EPOCH).on_conflict_do_nothing()
    )
    since = await session.scalar(
        sa.select(RollupWatermark.recorded_before).where(RollupWatermark.name == WATERMARK).with_for_update()
    )
    assert since is not None  # inserted above
    if until <= since:
        return Rollup(hours=[], recorded_before=since)
    hours = sorted(
        await session.scalars(
            sa.text(
                "SELECT DISTINCT date_trunc('hour', at, 'UTC') FROM insights_events "
                "WHERE recorded_at >= :since AND recorded_at < :until AND at >= :earliest"
            ),
            {"since": since, "until": until, "earliest": since - LATENESS},
        )
    )
    if hours:
        await _recompute(session, hours, until=until)
    await session.execute(
        sa.update(RollupWatermark).where(RollupWatermark.name == WATERMARK).values(recorded_before=until)
    )
    return Rollup(hours=hours, recorded_before=until)


async def _recompute(session: AsyncSession, hours: list[datetime.datetime], *, until: datetime.datetime) -> None:
    window = {"hours": hours, "first": hours[0], "last": hours[-1] + datetime.timedelta(hours=1), "until": until}
    await session.execute(sa.delete(ProductHour).where(ProductHour.hour.in_(hours)))
    await session.execute(
        sa.text(f"""
            INSERT INTO {ProductHour.__tablename__}
                (hour, mall_id, product_id, segment, views, clicks, likes, carts, purchases, units, revenue, shoppers)
            SELECT date_trunc('hour', at, 'UTC'), mall_id, product_id, segment, {_FIGURES}
            {_HOURS_OF_EVENTS}
            GROUP BY 1, 2, 3, 4
        """),
        window,
    )
    await session.execute(sa.delete(CategoryHour).where(CategoryHour.hour.in_(hours)))
    await session.execute(
        sa.text(f"""
            INSERT INTO {CategoryHour.__tablename__}
                (hour, category_path, segment, views, clicks, likes, carts, purchases, units, revenue, shoppers)
            SELECT date_trunc('hour', at, 'UTC'), category_path, segment, {_FIGURES}
            {_HOURS_OF_EVENTS}
            GROUP BY 1, 2, 3
        """),
        window,
    )
