"""``GET /v1/feed``: the personalized feed, for anonymous visitors and logged-in shoppers."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from personalization import feed
from personalization.feed import FeedPage
from personalization.segments import ANONYMOUS
from shoa_api.accounts.models import utc_now
from shoa_api.accounts.service import shopper_segment
from shoa_api.accounts.tokens import AccessClaims
from shoa_api.routes.signals import recorder_for
from shoa_api.settings import Settings


@get(
    "/v1/feed",
    operation_id="get_feed",
    summary="The feed: products for this shopper, fairly ranked",
    tags=["personalization"],
    # The anonymous first page is the same for every visitor; a logged-in shopper's is never cached.
    cache=True,
    opt={"cache_key_parameters": ("cursor", "limit", "explain")},
)
async def get_feed(
    *,
    db_read: NamedDependency[AsyncSession],
    redis: NamedDependency[Redis],
    settings: NamedDependency[Settings],
    optional_shopper: NamedDependency[AccessClaims | None],
    cursor: Annotated[str | None, QueryParameter(max_length=512, description="`next_cursor` of the last page.")] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=50, description="Items per page, 1 to 50.")] = 20,
    explain: Annotated[bool, QueryParameter(description="Add each item's score parts.")] = False,
) -> FeedPage:
    """Anonymous visitors get the default segment; a logged-in shopper gets their gender x age band segment
    (or the default when they gave neither), re-ranked by their own likes and engagement."""
    now = utc_now()
    segment, taste = ANONYMOUS, None
    if optional_shopper is not None:
        segment = await shopper_segment(db_read, optional_shopper.user_id, now=now)
        taste = await feed.taste_of(db_read, redis, optional_shopper.user_id)
    return await feed.feed_page(
        db_read,
        redis,
        recorder_for(settings.feed).decay,
        segment=segment,
        taste=taste,
        cursor=cursor,
        limit=limit,
        explain=explain,
        now=now,
        tile_seconds=settings.app.public_cache_seconds,
    )
