"""Mall insights: what shoppers did with one mall's products, by Korean day, by segment, by hour of the week, by
product, and beside its category's other malls.

Every cell is counted from the raw events (``insights_events``) in one pass: its figures and its distinct people
come from the same rows, so a cell is suppressed exactly when fewer than ``MIN_PEOPLE`` people are behind what it
would show. Distinct counts do not add up (the hourly aggregates' ``shoppers`` summed over hours counts a
returning shopper once per hour), which is why no cell here is built from them; decision 0037 says more. Only
events the hourly roll-up has counted are read (received before its watermark, ``as_of``), so these figures and
the aggregates always agree, and a period reaches back no further than the store keeps raw events.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from accounts.segments import ANONYMOUS, KOREA, SEGMENT_GENDERS, AgeBand
from catalog.categories import CATEGORY_PATHS
from catalog.models import Product
from insights.errors import InvalidPeriodError, UnknownCategoryError, UnknownSegmentError
from insights.models import Event, RollupWatermark
from insights.rollup import EPOCH, WATERMARK
from insights.schemas import (
    MIN_MALLS,
    MIN_PEOPLE,
    Audience,
    Benchmark,
    BenchmarkRow,
    CategoryAverage,
    Cell,
    DayCell,
    Figures,
    HourCell,
    MallConversion,
    ProductCell,
    ProductRanking,
    SegmentCell,
    SortKey,
    Summary,
)

if TYPE_CHECKING:
    import uuid
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

MAX_DAYS = 92
"""The longest period one call reports: a quarter."""
BENCHMARK_DAYS = 28
"""The benchmark's period when none is asked for: the last four weeks, today included."""
KOREA_ZONE = "Asia/Seoul"
SEGMENTS: tuple[str, ...] = (*(f"{gender}:{band.value}" for gender in SEGMENT_GENDERS for band in AgeBand), ANONYMOUS)
"""Every segment, in the order insights list them."""
_GENDER_LABELS = {"female": "여성", "male": "남성"}
_ANONYMOUS_LABEL = "비로그인·미상"


@dataclass(frozen=True, kw_only=True)
class Period:
    """Whole days in Korea, ``first`` to ``last`` included."""

    first: datetime.date
    last: datetime.date

    @property
    def start(self) -> datetime.datetime:
        return datetime.datetime.combine(self.first, datetime.time(), KOREA)

    @property
    def end(self) -> datetime.datetime:
        return datetime.datetime.combine(self.last + datetime.timedelta(days=1), datetime.time(), KOREA)

    def days(self) -> list[datetime.date]:
        return [self.first + datetime.timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def period(first: datetime.date, last: datetime.date, *, today: datetime.date, retention_days: int) -> Period:
    """The period ``first`` to ``last`` (Korean days), refused unless it is in order, at most ``MAX_DAYS`` long,
    not past ``today`` (in Korea) and within the raw events' retention."""
    if last < first:
        msg = f"`to` ({last}) is before `from` ({first})"
        raise InvalidPeriodError(msg, parameter="to")
    if (last - first).days + 1 > MAX_DAYS:
        msg = f"a period is at most {MAX_DAYS} days; {first} to {last} is {(last - first).days + 1}"
        raise InvalidPeriodError(msg, parameter="to")
    if last > today:
        msg = f"`to` ({last}) is after today in Korea ({today})"
        raise InvalidPeriodError(msg, parameter="to")
    earliest = today - datetime.timedelta(days=retention_days - 1)
    if first < earliest:
        msg = f"insights keep the last {retention_days} days of events: `from` must be {earliest} or later"
        raise InvalidPeriodError(msg, parameter="from")
    return Period(first=first, last=last)


def parse_day(text: str, *, parameter: str) -> datetime.date:
    """A query's ISO date (``2026-12-07``), or a refusal naming ``parameter``."""
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        msg = f"`{parameter}` must be an ISO date such as 2026-12-07; got {text[:40]!r}"
        raise InvalidPeriodError(msg, parameter=parameter) from None


def recent_period(*, today: datetime.date, retention_days: int) -> Period:
    """The last ``BENCHMARK_DAYS`` Korean days, today included (fewer if the store keeps fewer)."""
    return Period(first=today - datetime.timedelta(days=min(BENCHMARK_DAYS, retention_days) - 1), last=today)


def check_segment(segment: str) -> str:
    if segment not in SEGMENTS:
        msg = f"`segment` must be one of {', '.join(SEGMENTS)}; got {segment!r}"
        raise UnknownSegmentError(msg, parameter="segment")
    return segment


# --- The calls ------------------------------------------------------------------------------------------------


async def summary(session: AsyncSession, mall_id: uuid.UUID, *, period: Period) -> Summary:
    """The mall's products' figures for the whole period and for each Korean day of it."""
    as_of = await counted_until(session)
    where = _mall_events(mall_id, period, as_of)
    total = (await session.execute(sa.select(*_figures()).where(*where))).one()
    day = sa.cast(_KOREAN_TIME, sa.Date).label("day")
    by_day = {row.day: row for row in await session.execute(sa.select(day, *_figures()).where(*where).group_by(day))}
    return Summary(
        from_=period.first,
        to=period.last,
        as_of=as_of,
        total=Cell(**_cell(total)),
        days=[DayCell(day=each, **_cell(by_day.get(each))) for each in period.days()],
    )


async def audience(session: AsyncSession, mall_id: uuid.UUID, *, period: Period) -> Audience:
    """The mall's products' figures by segment (gender x age band, or anonymous), and by hour of the week in Korea."""
    as_of = await counted_until(session)
    where = _mall_events(mall_id, period, as_of)
    by_segment = {
        row.segment: row
        for row in await session.execute(sa.select(Event.segment, *_figures()).where(*where).group_by(Event.segment))
    }
    weekday = sa.cast(sa.extract("isodow", _KOREAN_TIME), sa.Integer).label("weekday")
    hour = sa.cast(sa.extract("hour", _KOREAN_TIME), sa.Integer).label("hour")
    by_hour = {
        (row.weekday, row.hour): row
        for row in await session.execute(sa.select(weekday, hour, *_figures()).where(*where).group_by(weekday, hour))
    }
    return Audience(
        from_=period.first,
        to=period.last,
        as_of=as_of,
        segments=[SegmentCell(**_segment_fields(each), **_cell(by_segment.get(each))) for each in SEGMENTS],
        hours=[
            HourCell(weekday=day, hour=at, **_cell(by_hour.get((day, at)))) for day in range(1, 8) for at in range(24)
        ],
    )


async def products(
    session: AsyncSession,
    mall_id: uuid.UUID,
    *,
    period: Period,
    segment: str | None,
    sort: SortKey,
    limit: int,
) -> ProductRanking:
    """The mall's products people of ``segment`` (everyone for ``None``) met in the period, best by ``sort`` first;
    suppressed products after the ranked ones, by external id."""
    as_of = await counted_until(session)
    where = _mall_events(mall_id, period, as_of)
    if segment is not None:
        where.append(Event.segment == check_segment(segment))
    counted = sa.select(Event.product_id, *_figures()).where(*where).group_by(Event.product_id).subquery()
    rows = await session.execute(
        sa.select(counted, Product.external_id, Product.name).join(Product, Product.id == counted.c.product_id)
    )
    cells = [(row, _figures_of(row)) for row in rows]
    ranked = sorted(
        ((row, figures) for row, figures in cells if figures is not None),
        key=lambda pair: (-_sort_value(pair[1], sort), pair[0].external_id),
    )
    withheld = sorted((row for row, figures in cells if figures is None), key=lambda row: row.external_id)
    items = [
        ProductCell(rank=rank, product_id=row.product_id, external_id=row.external_id, name=row.name,
                    suppressed=False, figures=figures)
        for rank, (row, figures) in enumerate(ranked, start=1)
    ] + [
        ProductCell(rank=None, product_id=row.product_id, external_id=row.external_id, name=row.name, suppressed=True)
        for row in withheld
    ]  # fmt: skip
    return ProductRanking(
        from_=period.first,
        to=period.last,
        as_of=as_of,
        segment=segment,
        sort=sort,
        items=items[:limit],
        suppressed_products=len(withheld),
    )


async def benchmark(session: AsyncSession, mall_id: uuid.UUID, *, category: str, period: Period) -> Benchmark:
    """The mall's conversion in ``category`` (a path of the shared tree; a top level takes in its children) per
    segment, beside the mean conversion of the malls selling in it, given only over at least ``MIN_MALLS`` malls.

    A mall contributes to a segment's mean when at least ``MIN_PEOPLE`` of the segment's people viewed its products
    of the category: a rate over fewer would be a few people's doings, and would sway the mean.
    """
    if category not in CATEGORY_PATHS:
        msg = f"{category!r} is not a category of the shared tree (GET /v1/categories lists them)"
        raise UnknownCategoryError(msg, parameter="category")
    as_of = await counted_until(session)
    in_category = sa.or_(Event.category_path == category, Event.category_path.startswith(f"{category}/"))
    where = [*_period_events(period, as_of), in_category]
    cells = await session.execute(
        sa.select(Event.mall_id, Event.segment, *_figures()).where(*where).group_by(Event.mall_id, Event.segment)
    )
    by_segment: dict[str, list[Any]] = {}
    for row in cells:
        by_segment.setdefault(row.segment, []).append(row)
    malls = await session.execute(
        sa.select(Event.mall_id).where(*where).group_by(Event.mall_id).having(_people() >= MIN_PEOPLE)
    )
    enough_malls = len(malls.all()) >= MIN_MALLS
    rows = [
        _benchmark_row(segment, by_segment.get(segment, []), mall_id=mall_id, enough_malls=enough_malls)
        for segment in SEGMENTS
    ]
    if enough_malls:
        detail = (f"Your conversion in {category} per segment beside the mean of the malls selling in it; a segment "
                  f"with fewer than {MIN_MALLS} malls of {MIN_PEOPLE} or more shoppers has no mean.")  # fmt: skip
    else:
        detail = (f"Too few malls: fewer than {MIN_MALLS} malls had {MIN_PEOPLE} or more shoppers in {category} in "
                  f"this period, so no average is given (it would show another mall's figures).")  # fmt: skip
    return Benchmark(
        category=category,
        from_=period.first,
        to=period.last,
        as_of=as_of,
        enough_malls=enough_malls,
        detail=detail,
        segments=rows,
    )


async def counted_until(session: AsyncSession) -> datetime.datetime:
    """The roll-up's watermark: every event received before it is counted (the epoch before the first run)."""
    found = await session.scalar(sa.select(RollupWatermark.recorded_before).where(RollupWatermark.name == WATERMARK))
    return found or EPOCH


# --- Counting -------------------------------------------------------------------------------------------------

_KOREAN_TIME = sa.func.timezone(KOREA_ZONE, Event.at)
"""The event's wall-clock time in Korea."""


def _people() -> sa.ColumnElement[int]:
    """Distinct people: a signed-in shopper once, an anonymous device once (as the roll-up counts them). An erased
    account's events count no one, which can only suppress more."""
    person = sa.func.coalesce(
        sa.literal("shopper:") + sa.cast(Event.shopper_id, sa.Text), sa.literal("device:") + Event.device_id
    )
    return sa.func.count(sa.distinct(person))


def _figures() -> list[sa.Label[Any]]:
    purchase = Event.kind == "purchase"
    return [
        sa.func.count().filter(Event.kind == "view").label("views"),
        sa.func.count().filter(Event.kind == "like").label("likes"),
        sa.func.count().filter(Event.kind == "add_to_cart").label("carts"),
        sa.func.count().filter(purchase).label("purchases"),
        sa.func.coalesce(sa.func.sum(Event.quantity).filter(purchase), 0).label("units"),
        sa.func.coalesce(sa.func.sum(Event.amount).filter(purchase), 0).label("revenue"),
        _people().label("shoppers"),
    ]


def _period_events(period: Period, as_of: datetime.datetime) -> list[sa.ColumnElement[bool]]:
    return [Event.at >= period.start, Event.at < period.end, Event.recorded_at < as_of]


def _mall_events(mall_id: uuid.UUID, period: Period, as_of: datetime.datetime) -> list[sa.ColumnElement[bool]]:
    return [Event.mall_id == mall_id, *_period_events(period, as_of)]


def _figures_of(row: Any) -> Figures | None:
    """A row of ``_figures()`` as a cell shows it: ``None`` (suppressed) under ``MIN_PEOPLE`` people, or no row."""
    if row is None or row.shoppers < MIN_PEOPLE:
        return None
    return Figures(
        views=row.views,
        likes=row.likes,
        carts=row.carts,
        purchases=row.purchases,
        units=int(row.units),
        revenue=int(row.revenue),
        conversion=conversion(row.purchases, row.views),
        shoppers=row.shoppers,
    )


def _cell(row: Any) -> dict[str, Any]:
    figures = _figures_of(row)
    return {"suppressed": figures is None, "figures": figures}


def conversion(purchases: int, views: int) -> float | None:
    """Paid order lines per product view, rounded to 4 places; ``None`` with no view."""
    return round(purchases / views, 4) if views else None


def _sort_value(figures: Figures, sort: SortKey) -> float:
    value = figures.conversion if sort == "conversion" else getattr(figures, sort)
    return -1.0 if value is None else float(value)


def _segment_fields(segment: str) -> dict[str, Any]:
    if segment == ANONYMOUS:
        return {"segment": segment, "gender": None, "age_band": None, "label": _ANONYMOUS_LABEL}
    gender, _, band = segment.partition(":")
    return {"segment": segment, "gender": gender, "age_band": band,
            "label": f"{_GENDER_LABELS[gender]} {AgeBand(band).label}"}  # fmt: skip


def _benchmark_row(segment: str, cells: Sequence[Any], *, mall_id: uuid.UUID, enough_malls: bool) -> BenchmarkRow:
    """One segment: the mall's own cell, and the mean over the malls with enough people (the mall's included)."""
    own = next((cell for cell in cells if cell.mall_id == mall_id), None)
    if own is None or own.shoppers < MIN_PEOPLE:
        mine = MallConversion(suppressed=True)
    else:
        mine = MallConversion(suppressed=False, views=own.views, purchases=own.purchases,
                              conversion=conversion(own.purchases, own.views))  # fmt: skip
    rates = [conversion(cell.purchases, cell.views) for cell in cells if cell.shoppers >= MIN_PEOPLE]
    contributing = [rate for rate in rates if rate is not None]
    if enough_malls and len(contributing) >= MIN_MALLS:
        average = round(sum(contributing) / len(contributing), 4)
        category = CategoryAverage(status="available", average_conversion=average)
    else:
        category = CategoryAverage(status="too_few_malls")
    return BenchmarkRow(**_segment_fields(segment), mall=mine, category=category)
