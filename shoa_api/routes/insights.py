"""The partner API's insights: what shoppers did with the mall's own products, by day, by segment and hour of the
week, by product, and beside the category's other malls. Every call needs the ``insights:read`` scope.

A mall sees only its own products' figures; a cell of fewer than 5 distinct people is ``"suppressed": true``
with no figures (``insights.service`` says how they are counted). Periods are Korean days, ``from`` and ``to``
included, within the store's retention and at most 92 days.
"""

from __future__ import annotations

import datetime
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.segments import korea_today
from catalog.categories import CATEGORY_PATHS
from catalog.keys import PartnerIdentity
from insights import service
from insights.errors import InvalidPeriodError, UnknownCategoryError, UnknownSegmentError
from insights.schemas import Audience, Benchmark, ProductRanking, SortKey, Summary
from shoa_api.auth import require_partner_key
from shoa_api.openapi import problems
from shoa_api.settings import Settings
from shoa_kernel.clock import utc_now
from winback.report import winback_report
from winback.schemas import WinbackReport

_SCOPE = {"scope": "insights:read"}
_BAD_PERIOD = InvalidPeriodError("`to` (2026-12-01) is before `from` (2026-12-07)")
# Dates are read here rather than by Litestar, so that a bad one is refused under its own name (`from`).
From = Annotated[
    str, QueryParameter(name="from", format="date", max_length=10, description="First day, in Korea (ISO date).")
]
To = Annotated[
    str, QueryParameter(format="date", max_length=10, description="Last day, included, in Korea; today at the latest.")
]
OptionalFrom = Annotated[
    str | None,
    QueryParameter(name="from", format="date", max_length=10, description="First day (default: 27 days before `to`)."),
]
OptionalTo = Annotated[
    str | None, QueryParameter(format="date", max_length=10, description="Last day, included (default: today).")
]
Segment = Annotated[
    str | None,
    QueryParameter(
        max_length=24,
        description="`female:20s_early` and the like, or `anonymous`; everyone when absent.",
        schema_extra={"enum": list(service.SEGMENTS)},
    ),
]
Sort = Annotated[SortKey, QueryParameter(description="What the products are ranked by, highest first.")]
Limit = Annotated[int, QueryParameter(ge=1, le=100, description="Products in the answer, 1 to 100.")]
Category = Annotated[
    str,
    QueryParameter(
        max_length=100,
        description="A path of the shared tree: `원피스` or `원피스/셔츠원피스`.",
        schema_extra={"enum": sorted(CATEGORY_PATHS)},
    ),
]


class InsightsController(Controller):
    path = "/partner/v1/insights"
    tags = ["partner"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [require_partner_key]  # noqa: RUF012

    @get(
        "/summary",
        operation_id="partner_insights_summary",
        summary="Views, likes, carts, purchases, revenue and conversion of my products, by day (KST)",
        opt=_SCOPE,
        responses=problems(_BAD_PERIOD),
    )
    async def summary(
        self,
        db_read: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        settings: NamedDependency[Settings],
        from_: From,
        to: To,
    ) -> Summary:
        period = _period(settings, from_, to)
        return await service.summary(db_read, partner.mall_id, period=period)

    @get(
        "/winback",
        operation_id="partner_insights_winback",
        summary="My win-back messages by kind: sent, tapped, purchases within 7 days, beside the hold-out's rate",
        description="Restock alerts, price drops and cart reminders about my products over the period (Korean "
        "days). The hold-out is a stable 10% of shoppers who get no price-drop or cart-reminder message: the "
        "uplift is the messaged shoppers' purchase rate minus theirs, with its 95% interval.",
        opt=_SCOPE,
        responses=problems(_BAD_PERIOD),
    )
    async def winback(
        self,
        db_read: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        settings: NamedDependency[Settings],
        from_: From,
        to: To,
    ) -> WinbackReport:
        period = _period(settings, from_, to)
        return await winback_report(db_read, partner.mall_id, period=period)

    @get(
        "/audience",
        operation_id="partner_insights_audience",
        summary="The same figures by gender x age band, and by hour of the week in Korea",
        opt=_SCOPE,
        responses=problems(_BAD_PERIOD),
    )
    async def audience(
        self,
        db_read: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        settings: NamedDependency[Settings],
        from_: From,
        to: To,
    ) -> Audience:
        period = _period(settings, from_, to)
        return await service.audience(db_read, partner.mall_id, period=period)

    @get(
        "/products",
        operation_id="partner_insights_products",
        summary="My products ranked for a segment (or everyone) by views, likes, carts, purchases, revenue or "
        "conversion",
        opt=_SCOPE,
        responses=problems(_BAD_PERIOD, UnknownSegmentError("`segment` must be one of female:10s, …; got 'women'")),
    )
    async def products(
        self,
        *,
        db_read: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        settings: NamedDependency[Settings],
        from_: From,
        to: To,
        segment: Segment = None,
        sort: Sort = "views",
        limit: Limit = 20,
    ) -> ProductRanking:
        period = _period(settings, from_, to)
        return await service.products(db_read, partner.mall_id, period=period, segment=segment, sort=sort, limit=limit)

    @get(
        "/benchmark",
        operation_id="partner_insights_benchmark",
        summary="My conversion per segment beside the category's average over its malls (given from 5 malls)",
        opt=_SCOPE,
        responses=problems(_BAD_PERIOD, UnknownCategoryError("'원피스/드레스' is not a category of the shared tree")),
    )
    async def benchmark(
        self,
        *,
        db_read: NamedDependency[AsyncSession],
        partner: NamedDependency[PartnerIdentity],
        settings: NamedDependency[Settings],
        category: Category,
        from_: OptionalFrom = None,
        to: OptionalTo = None,
    ) -> Benchmark:
        today = korea_today(utc_now())
        if from_ is None and to is None:
            period = service.recent_period(today=today, retention_days=settings.insights.retention_days)
        else:
            last = service.parse_day(to, parameter="to") if to is not None else today
            first = (
                service.parse_day(from_, parameter="from")
                if from_ is not None
                else last - datetime.timedelta(days=service.BENCHMARK_DAYS - 1)
            )
            period = _checked(settings, first, last)
        return await service.benchmark(db_read, partner.mall_id, category=category, period=period)


def _period(settings: Settings, first: str, last: str) -> service.Period:
    return _checked(settings, service.parse_day(first, parameter="from"), service.parse_day(last, parameter="to"))


def _checked(settings: Settings, first: datetime.date, last: datetime.date) -> service.Period:
    return service.period(first, last, today=korea_today(utc_now()), retention_days=settings.insights.retention_days)
