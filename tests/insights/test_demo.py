"""``shoa dev``'s month of made-up behaviour: what a newcomer's first look at the insights and rankings shows is
counted like real events (the aggregates equal the store), shows figures rather than a page of dashes for the
demo partner key's mall, and never mixes with real events."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from catalog.demo import DEMO_MALLS, seed_demo_malls
from catalog.demo_products import seed_demo_products
from catalog.keys import mall_by_slug
from insights import service
from insights.demo import seed_demo_behaviour
from insights.models import Event, ProductHour
from insights.rollup import closed_hour

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

NOW = datetime.datetime(2026, 12, 7, 3, 30, tzinfo=datetime.UTC)


@pytest.fixture
async def demo_catalog(session: AsyncSession) -> None:
    await seed_demo_malls(session)
    await seed_demo_products(session, products=2000)
    await session.commit()


async def test_the_month_is_counted_and_the_demo_mall_sees_figures(demo_catalog: None, session: AsyncSession) -> None:
    stored = await seed_demo_behaviour(session, now=NOW)
    await session.commit()

    assert stored > 10_000
    raw = (await session.execute(sa.select(Event.kind, sa.func.count()).group_by(Event.kind))).all()
    kinds = dict(raw)
    assert kinds["view"] > kinds["click"] > kinds["add_to_cart"] > kinds["purchase"] > 0
    assert kinds["like"] > 0
    first, last = (await session.execute(sa.select(sa.func.min(Event.at), sa.func.max(Event.at)))).one()
    assert NOW - datetime.timedelta(days=31) <= first < last < NOW
    # Every event of a closed hour is in the aggregates, once.
    closed = closed_hour(NOW)
    counted = await session.scalar(sa.select(sa.func.sum(ProductHour.views)))
    views_before = await session.scalar(sa.select(sa.func.count()).where(Event.kind == "view", Event.at < closed))
    assert counted == views_before

    mall = await mall_by_slug(session, DEMO_MALLS[0].slug)
    today = datetime.date(2026, 12, 7)
    month = service.period(today - datetime.timedelta(days=29), today, today=today, retention_days=90)
    summary = await service.summary(session, mall.id, period=month)
    assert summary.total.figures is not None
    assert summary.total.figures.views > summary.total.figures.purchases > 0
    shown_days = [day for day in summary.days if not day.suppressed]
    assert len(shown_days) >= 20, "most days of the demo mall show figures"
    audience = await service.audience(session, mall.id, period=month)
    assert sum(not cell.suppressed for cell in audience.segments) >= 6


async def test_only_into_an_empty_store(demo_catalog: None, session: AsyncSession) -> None:
    assert await seed_demo_behaviour(session, now=NOW) > 0
    await session.commit()
    before = await session.scalar(sa.select(sa.func.count()).select_from(Event))

    assert await seed_demo_behaviour(session, now=NOW + datetime.timedelta(days=1)) == 0
    assert await session.scalar(sa.select(sa.func.count()).select_from(Event)) == before


async def test_the_same_seed_makes_the_same_month(demo_catalog: None, session: AsyncSession) -> None:
    first = await seed_demo_behaviour(session, now=NOW)
    await session.rollback()

    assert await seed_demo_behaviour(session, now=NOW) == first
