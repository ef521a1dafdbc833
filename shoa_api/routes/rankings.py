"""``GET /v1/rankings``: what a segment's people engage with and buy, for anonymous visitors and shoppers."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.tokens import AccessClaims
from catalog.categories import CATEGORY_PATHS
from insights import rankings
from insights.errors import InvalidPeriodError, UnknownCategoryError, UnknownSegmentError
from shoa_api.openapi import SHOPPER_OR_ANONYMOUS, problems
from shoa_kernel.clock import utc_now

RANKING_PARAMETERS = ("segment", "category", "period", "limit")
"""Every parameter of the ranking: each is part of a cached anonymous answer's key."""


@get(
    "/v1/rankings",
    operation_id="get_rankings",
    summary="Rankings: the products a segment's people engage with and buy, counted per person",
    tags=["personalization"],
    # An anonymous answer is the same for everyone who asks the same; a logged-in shopper's is never cached.
    cache=True,
    opt={"cache_key_parameters": RANKING_PARAMETERS},
    security=SHOPPER_OR_ANONYMOUS,
    responses=problems(
        UnknownSegmentError("`segment` must be one of anonymous, female:10s, …; got 'female:20s'"),
        UnknownCategoryError("unknown category '상의/점프수트'; see GET /v1/categories"),
        InvalidPeriodError("`period` must be one of realtime, daily, weekly; got 'monthly'"),
    ),
)
async def get_rankings(
    *,
    db_read: NamedDependency[AsyncSession],
    redis: NamedDependency[Redis],
    optional_shopper: NamedDependency[AccessClaims | None],
    period: Annotated[
        str,
        QueryParameter(
            max_length=20,
            description="`realtime` (the last hour, to the minute), `daily` (the last 24 hours) or `weekly` "
            "(the last 7 days); each compared with the window of the same length before it.",
            schema_extra={"enum": list(rankings.PERIODS)},
        ),
    ] = "realtime",
    segment: Annotated[
        str | None,
        QueryParameter(
            max_length=24,
            description="`anonymous` (the default segment) or gender:age band (`female:20s_early` …). Without it: "
            "the logged-in shopper's own segment, or the default one.",
            schema_extra={"enum": list(rankings.SEGMENTS)},
        ),
    ] = None,
    category: Annotated[
        str | None,
        QueryParameter(
            max_length=100,
            description="A category path (`상의`, `상의/니트`).",
            schema_extra={"enum": sorted(CATEGORY_PATHS)},
        ),
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=rankings.MAX_LENGTH, description="Places, 1 to 50.")] = 20,
) -> rankings.Rankings:
    """Products ranked by how many distinct people of the segment viewed, clicked, liked, carted and bought them,
    each person counted once per kind whatever the number of events; sold-out and hidden products left out, at
    most 2 of one mall in any 10 places, and each product's change since the window before."""
    return await rankings.rank_products(
        db_read, redis, period=period, segment=segment, category=category, limit=limit, now=utc_now(),
        shopper_id=optional_shopper.user_id if optional_shopper is not None else None,
    )  # fmt: skip
