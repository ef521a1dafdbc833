"""The mall's audience by age band and hour of the day in Korea: who comes when, for the staff page's heat map.

The age band as it was at the time of each event (women and men together; a shopper whose age is unknown, and
every anonymous device, under ``None``), by the hour of the day in Korea, summed over the period's days. Counted
like every insights cell (``insights.service``): from the raw events the roll-up has counted, one mall's products
only, distinct people per cell, and a cell of fewer than ``MIN_PEOPLE`` people suppressed.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

import msgspec
import sqlalchemy as sa

from accounts.segments import AgeBand
from insights.models import Event
from insights.schemas import MIN_PEOPLE
from insights.service import KOREA_ZONE, counted_until

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from insights.service import Period

UNKNOWN_AGE_LABEL = "나이 미상"
AGE_ROWS: tuple[AgeBand | None, ...] = (*AgeBand, None)
"""The heat map's rows: youngest band first, then the people whose age is unknown."""


class AgeHourCell(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    age_band: str | None
    """``20s_early`` and the like; ``null`` for age unknown (anonymous devices, shoppers who gave no age)."""
    label: str
    """The age band in Korean: ``20대 초반``, ``나이 미상``."""
    hour: int
    """Hour of the day in Korea, 0-23."""
    suppressed: bool
    people: int | None = None
    """Distinct people (signed-in shoppers and anonymous devices) who did anything with the mall's products."""
    views: int | None = None
    """Their views of the mall's products."""


class AgeHours(msgspec.Struct, frozen=True, kw_only=True):
    from_: datetime.date = msgspec.field(name="from")
    to: datetime.date
    as_of: datetime.datetime
    cells: list[AgeHourCell]
    """Every row of ``AGE_ROWS`` by every hour 0-23, in that order."""


async def audience_by_age_and_hour(session: AsyncSession, mall_id: uuid.UUID, *, period: Period) -> AgeHours:
    as_of = await counted_until(session)
    hour = sa.cast(sa.extract("hour", sa.func.timezone(KOREA_ZONE, Event.at)), sa.Integer).label("hour")
    person = sa.func.coalesce(
        sa.literal("shopper:") + sa.cast(Event.shopper_id, sa.Text), sa.literal("device:") + Event.device_id
    )
    rows = await session.execute(
        sa.select(
            Event.age_band,
            hour,
            sa.func.count(sa.distinct(person)).label("people"),
            sa.func.count().filter(Event.kind == "view").label("views"),
        )
        .where(Event.mall_id == mall_id, Event.at >= period.start, Event.at < period.end, Event.recorded_at < as_of)
        .group_by(Event.age_band, hour)
    )
    found = {(row.age_band, row.hour): (int(row.people), int(row.views)) for row in rows}
    cells = []
    for band in AGE_ROWS:
        key, label = (band.value, band.label) if band is not None else (None, UNKNOWN_AGE_LABEL)
        for at in range(24):
            people, views = found.get((key, at), (0, 0))
            if people < MIN_PEOPLE:
                cells.append(AgeHourCell(age_band=key, label=label, hour=at, suppressed=True))
            else:
                cells.append(AgeHourCell(age_band=key, label=label, hour=at, suppressed=False, people=people,
                                         views=views))  # fmt: skip
    return AgeHours(from_=period.first, to=period.last, as_of=as_of, cells=cells)
