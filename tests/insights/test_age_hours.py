"""Who comes when, for the staff page's heat map: distinct people by age band and Korean hour of the day, one mall's
products only, each person once per cell however many days or events, and a cell of fewer than 5 people withheld."""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import async_sessionmaker

from accounts.segments import KOREA, korea_today
from insights.age_hours import AGE_ROWS, audience_by_age_and_hour
from insights.jobs import roll_up_events
from insights.service import Period
from shoa_kernel.clock import utc_now
from tests.insights.conftest import raw_event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from insights.models import Event

MALL, OTHER_MALL, DRESS, BAG = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
YESTERDAY = korea_today(utc_now()) - datetime.timedelta(days=1)


def at_kst(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), KOREA)


def by(who: str, at: datetime.datetime, *, age_band: str | None, product: uuid.UUID = DRESS, mall: uuid.UUID = MALL,
       kind: str = "view") -> Event:  # fmt: skip
    event = raw_event(at, kind, product_id=product, mall_id=mall, who=who,
                      segment=f"female:{age_band}" if age_band else "anonymous")  # fmt: skip
    event.gender, event.age_band = ("female" if age_band else None), age_band
    return event


async def test_people_are_counted_once_per_age_band_and_korean_hour_and_few_are_withheld(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    women = [f"woman-{n}" for n in range(5)]
    session.add_all([
        *(by(who, at_kst(YESTERDAY, 21, 5 + n), age_band="20s_early") for n, who in enumerate(women)),
        by(women[0], at_kst(YESTERDAY, 21, 50), age_band="20s_early", kind="like"),  # again, the same hour
        by(women[1], at_kst(YESTERDAY - datetime.timedelta(days=1), 21, 30), age_band="20s_early"),  # another day
        *(by(f"d-{n}", at_kst(YESTERDAY, 21, 10), age_band=None) for n in range(4)),  # 4 devices: too few
        by("minji", at_kst(YESTERDAY, 9), age_band="30s_early"),
        *(by(f"other-{n}", at_kst(YESTERDAY, 21), age_band="20s_early", product=BAG, mall=OTHER_MALL)
          for n in range(5)),
    ])  # fmt: skip
    await session.commit()
    await roll_up_events(async_sessionmaker(engine), now=utc_now() + datetime.timedelta(hours=2))
    week = Period(first=YESTERDAY - datetime.timedelta(days=6), last=YESTERDAY + datetime.timedelta(days=1))

    answer = await audience_by_age_and_hour(session, MALL, period=week)

    cells = {(cell.age_band, cell.hour): cell for cell in answer.cells}
    assert len(answer.cells) == len(AGE_ROWS) * 24
    evening = cells["20s_early", 21]
    assert (evening.label, evening.suppressed, evening.people, evening.views) == ("20대 초반", False, 5, 6)
    assert (cells[None, 21].label, cells[None, 21].suppressed, cells[None, 21].people) == ("나이 미상", True, None)
    assert cells["30s_early", 9].suppressed
    assert sum(1 for cell in answer.cells if not cell.suppressed) == 1  # the other mall's women are not ours
