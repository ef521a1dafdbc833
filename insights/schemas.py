"""What mall insights hand across their boundary: msgspec structs, read by the partner API and the staff page alike.

Every figure is about one mall's own products. A *cell* (a day, a segment, an hour of the week, a product…) counts
the distinct people behind it (a signed-in shopper is one, an anonymous device is one); a cell of fewer than
``MIN_PEOPLE`` is ``suppressed``: it carries ``"suppressed": true`` and no figures, so that no one shopper's doings
can be read off it.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Literal

import msgspec

MIN_PEOPLE = 5
"""A cell counting fewer distinct people is suppressed."""
MIN_MALLS = 5
"""A category's benchmark is given only when at least this many malls contribute to it."""

SortKey = Literal["views", "likes", "carts", "purchases", "revenue", "conversion"]
CategoryStatus = Literal["available", "too_few_malls"]


class Figures(msgspec.Struct, frozen=True, kw_only=True):
    """What the people of one cell did with the mall's products."""

    views: int
    likes: int
    carts: int
    """Products added to a cart."""
    purchases: int
    """Order lines paid (a line of 2 units is one purchase)."""
    units: int
    """Units paid for."""
    revenue: int
    """What the paid lines cost, in won."""
    conversion: float | None
    """``purchases / views``: paid order lines per product view, as a ratio (0.0125 is 1.25%) rounded to 4 places;
    ``null`` when there was no view."""
    shoppers: int
    """Distinct people: signed-in shoppers and anonymous devices, each counted once in the cell."""


class Cell(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A cell with no label of its own (a whole period)."""

    suppressed: bool
    figures: Figures | None = None
    """Absent when suppressed."""


class DayCell(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    day: datetime.date
    """A day in Korea (00:00 to 24:00 KST)."""
    suppressed: bool
    figures: Figures | None = None


class SegmentCell(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    segment: str
    """``female:20s_early`` and the like, or ``anonymous``: not signed in, or gender or age unknown."""
    gender: str | None
    age_band: str | None
    label: str
    """The segment in Korean, as staff read it: ``여성 20대 초반``, ``비로그인·미상``."""
    suppressed: bool
    figures: Figures | None = None


class HourCell(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    weekday: int
    """ISO day of the week in Korea: 1 is Monday, 7 Sunday."""
    hour: int
    """Hour of the day in Korea, 0-23: 21 holds 21:00-21:59 KST."""
    suppressed: bool
    figures: Figures | None = None


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /partner/v1/insights/summary``: the mall's products, day by day."""

    from_: datetime.date = msgspec.field(name="from")
    to: datetime.date
    as_of: datetime.datetime
    """Events are counted once the hourly roll-up has: those received before this time (UTC)."""
    total: Cell
    """The whole period, its people counted once each."""
    days: list[DayCell]
    """Every day of the period, oldest first."""


class Audience(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /partner/v1/insights/audience``: who the mall's shoppers are and when they come."""

    from_: datetime.date = msgspec.field(name="from")
    to: datetime.date
    as_of: datetime.datetime
    segments: list[SegmentCell]
    """Every segment, always in the same order (women by age band, men by age band, then ``anonymous``)."""
    hours: list[HourCell]
    """The week's 168 hours in Korea's time zone, Monday 0:00 first, summed over the period."""


class ProductCell(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    rank: int | None
    """1 for the first by the sort; ``null`` for a suppressed product, listed after the ranked ones."""
    product_id: uuid.UUID
    external_id: str
    """The mall's own id for it."""
    name: str
    suppressed: bool
    figures: Figures | None = None


class ProductRanking(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /partner/v1/insights/products``: the mall's products that people of the segment met in the period."""

    from_: datetime.date = msgspec.field(name="from")
    to: datetime.date
    as_of: datetime.datetime
    segment: str | None
    """The segment ranked for; ``null`` for everyone."""
    sort: SortKey
    items: list[ProductCell]
    """The ranked products first (best first; ties by external id), then the suppressed ones; at most ``limit``."""
    suppressed_products: int
    """How many of the products met in the period are suppressed (some may be past ``limit``)."""


class MallConversion(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The mall's own conversion in the category for one segment."""

    suppressed: bool
    views: int | None = None
    purchases: int | None = None
    conversion: float | None = None
    """``purchases / views``; ``null`` with no view."""


class CategoryAverage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The category's conversion for one segment over every mall selling in it, each mall weighing the same."""

    status: CategoryStatus
    """``available``, or ``too_few_malls``: fewer than 5 malls had 5 or more of the segment's people viewing their
    products of the category (a mean over fewer could single a mall out)."""
    average_conversion: float | None = None
    """The mean of the contributing malls' conversions (yours included, each mall weighing the same, so that no
    large mall's rate shows through); only when ``available``."""


class BenchmarkRow(msgspec.Struct, frozen=True, kw_only=True):
    segment: str
    gender: str | None
    age_band: str | None
    label: str
    mall: MallConversion
    category: CategoryAverage


class Benchmark(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /partner/v1/insights/benchmark``: the mall's conversion per segment beside the category's average.
    No other mall is named, counted or identifiable: an average is given only over at least 5 malls."""

    category: str
    from_: datetime.date = msgspec.field(name="from")
    to: datetime.date
    as_of: datetime.datetime
    enough_malls: bool
    """Whether at least 5 malls contributed to the category in the period; when not, no segment has an average."""
    detail: str
    """What the answer holds, in words: an average over malls, or too few malls to give one."""
    segments: list[BenchmarkRow]
    """Every segment, in the order of ``Audience.segments``."""
