"""The hourly roll-up: its aggregates equal the raw events (counts per kind, distinct shoppers, units and revenue),
a run twice counts nothing twice, a late event recomputes its hour, and a run that fails half-way (a rolled-back
transaction) leaves nothing behind."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker

from insights.jobs import roll_up_events
from insights.models import CategoryHour, ProductHour
from insights.rollup import roll_up_hours
from tests.insights.conftest import hour, raw_event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from insights.models import Event

MALL, OTHER_MALL = uuid.uuid4(), uuid.uuid4()
DRESS, BAG = uuid.uuid4(), uuid.uuid4()


def a_morning() -> list[Event]:
    """Two hours of one day: views, clicks, likes, carts and purchases of a dress and a bag, by three shoppers
    of one segment and two anonymous devices."""
    dress: dict[str, Any] = {"product_id": DRESS, "mall_id": MALL, "category_path": "원피스/셔츠원피스"}
    bag: dict[str, Any] = {"product_id": BAG, "mall_id": OTHER_MALL, "category_path": "가방/토트백"}
    women: dict[str, Any] = {"segment": "female:20s_late"}
    anonymous: dict[str, Any] = {"segment": "anonymous"}
    return [
        raw_event(hour(6, 9, 1), "view", who="jiyoung", **dress, **women),
        raw_event(hour(6, 9, 2), "view", who="jiyoung", **dress, **women),
        raw_event(hour(6, 9, 3), "click", who="jiyoung", **dress, **women),
        raw_event(hour(6, 9, 5), "view", who="minji", **dress, **women),
        raw_event(hour(6, 9, 6), "like", who="minji", **dress, **women),
        raw_event(hour(6, 9, 7), "add_to_cart", who="minji", **dress, **women),
        raw_event(hour(6, 9, 30), "purchase", who="minji", quantity=2, amount=78_000, **dress, **women),
        raw_event(hour(6, 9, 40), "view", who="seoyeon", **bag, **women),
        raw_event(hour(6, 9, 41), "view", who="device-a", **dress, **anonymous),
        raw_event(hour(6, 9, 42), "view", who="device-b", **dress, **anonymous),
        raw_event(hour(6, 10, 15), "view", who="jiyoung", **dress, **women),
        raw_event(hour(6, 10, 20), "purchase", who="seoyeon", quantity=1, amount=19_000, **bag, **women),
    ]


async def store(session: AsyncSession, events: list[Event]) -> None:
    session.add_all(events)
    await session.commit()


async def product_hours(session: AsyncSession) -> dict[tuple[Any, ...], tuple[int, ...]]:
    rows = await session.scalars(sa.select(ProductHour).execution_options(populate_existing=True))
    found = {(r.hour, r.mall_id, r.product_id, r.segment): _figures(r) for r in rows}
    await session.commit()
    return found


async def category_hours(session: AsyncSession) -> dict[tuple[Any, ...], tuple[int, ...]]:
    rows = await session.scalars(sa.select(CategoryHour).execution_options(populate_existing=True))
    found = {(r.hour, r.category_path, r.segment): _figures(r) for r in rows}
    await session.commit()
    return found


def _figures(row: ProductHour | CategoryHour) -> tuple[int, ...]:
    """views, clicks, likes, carts, purchases, units, revenue, distinct shoppers"""
    return (row.views, row.clicks, row.likes, row.carts, row.purchases, row.units, row.revenue, row.shoppers)


async def raw_totals(session: AsyncSession) -> tuple[int, ...]:
    """The raw events' totals, counted straight from the store."""
    row = (await session.execute(sa.text("""
        SELECT count(*) FILTER (WHERE kind = 'view'), count(*) FILTER (WHERE kind = 'click'),
               count(*) FILTER (WHERE kind = 'like'), count(*) FILTER (WHERE kind = 'add_to_cart'),
               count(*) FILTER (WHERE kind = 'purchase'), coalesce(sum(quantity), 0), coalesce(sum(amount), 0)
        FROM insights_events
    """))).one()  # fmt: skip
    await session.commit()
    return tuple(int(value) for value in row)


def totals(cells: dict[tuple[Any, ...], tuple[int, ...]]) -> tuple[int, ...]:
    """Summed over the cells, without the distinct shoppers (which do not add up)."""
    return tuple(sum(figures[i] for figures in cells.values()) for i in range(7))


@pytest.fixture
def maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def test_the_hourly_cells_count_each_kind_the_distinct_shoppers_and_the_revenue(
    session: AsyncSession, maker: async_sessionmaker[AsyncSession]
) -> None:
    await store(session, a_morning())

    rollup = await roll_up_events(maker, now=hour(6, 11, 10))

    assert rollup.hours == [hour(6, 9), hour(6, 10)]
    women, anonymous = "female:20s_late", "anonymous"
    assert await product_hours(session) == {
        # views clicks likes carts purchases units revenue shoppers
        (hour(6, 9), MALL, DRESS, women): (3, 1, 1, 1, 1, 2, 78_000, 2),
        (hour(6, 9), MALL, DRESS, anonymous): (2, 0, 0, 0, 0, 0, 0, 2),
        (hour(6, 9), OTHER_MALL, BAG, women): (1, 0, 0, 0, 0, 0, 0, 1),
        (hour(6, 10), MALL, DRESS, women): (1, 0, 0, 0, 0, 0, 0, 1),
        (hour(6, 10), OTHER_MALL, BAG, women): (0, 0, 0, 0, 1, 1, 19_000, 1),
    }
    assert await category_hours(session) == {
        (hour(6, 9), "원피스/셔츠원피스", women): (3, 1, 1, 1, 1, 2, 78_000, 2),
        (hour(6, 9), "원피스/셔츠원피스", anonymous): (2, 0, 0, 0, 0, 0, 0, 2),
        (hour(6, 9), "가방/토트백", women): (1, 0, 0, 0, 0, 0, 0, 1),
        (hour(6, 10), "원피스/셔츠원피스", women): (1, 0, 0, 0, 0, 0, 0, 1),
        (hour(6, 10), "가방/토트백", women): (0, 0, 0, 0, 1, 1, 19_000, 1),
    }
    assert totals(await product_hours(session)) == totals(await category_hours(session)) == await raw_totals(session)


async def test_an_open_hour_waits_and_a_second_run_counts_nothing_twice(
    session: AsyncSession, maker: async_sessionmaker[AsyncSession]
) -> None:
    await store(session, a_morning())

    early = await roll_up_events(maker, now=hour(6, 10, 3))  # 10:00 closed less than 5 minutes ago
    first = await roll_up_events(maker, now=hour(6, 10, 30))
    after_first = await product_hours(session)
    second = await roll_up_events(maker, now=hour(6, 10, 50))

    assert early.hours == []
    assert first.hours == [hour(6, 9)]  # 10:15 and 10:20 happened in the open hour
    assert second.hours == []
    assert await product_hours(session) == after_first
    third = await roll_up_events(maker, now=hour(6, 11, 10))
    assert third.hours == [hour(6, 10)]
    assert totals(await product_hours(session)) == await raw_totals(session)


async def test_a_late_event_recomputes_its_hour(session: AsyncSession, maker: async_sessionmaker[AsyncSession]) -> None:
    await store(session, a_morning())
    await roll_up_events(maker, now=hour(6, 11, 10))

    # Sent by the app a day late: it happened at 9:50 on the 6th, the store received it at 8:00 on the 7th.
    late = raw_event(hour(6, 9, 50), "view", who="device-c", product_id=DRESS, mall_id=MALL, segment="anonymous",
                     category_path="원피스/셔츠원피스", recorded_at=hour(7, 8))  # fmt: skip
    await store(session, [late])
    rollup = await roll_up_events(maker, now=hour(7, 9, 10))

    assert rollup.hours == [hour(6, 9)]
    cells = await product_hours(session)
    assert cells[(hour(6, 9), MALL, DRESS, "anonymous")] == (3, 0, 0, 0, 0, 0, 0, 3)
    assert totals(cells) == await raw_totals(session)


async def test_a_run_that_fails_half_way_leaves_nothing_and_the_next_counts_everything_once(
    session: AsyncSession, maker: async_sessionmaker[AsyncSession]
) -> None:
    await store(session, a_morning())

    async with maker() as failing:
        await failing.begin()
        rolled = await roll_up_hours(failing, now=hour(6, 11, 10))
        assert rolled.hours  # the cells and the watermark written, not committed
        await failing.rollback()  # the process died before its commit
    assert await product_hours(session) == {}

    await roll_up_events(maker, now=hour(6, 11, 10))
    await roll_up_events(maker, now=hour(6, 11, 20))

    assert totals(await product_hours(session)) == totals(await category_hours(session)) == await raw_totals(session)
