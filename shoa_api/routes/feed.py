"""``GET /v1/feed``: the personalized feed, for anonymous visitors and logged-in shoppers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from litestar import Request, get
from litestar.datastructures import State  # noqa: TC002 - Litestar reads dependency annotations
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from accounts.segments import ANONYMOUS
from catalog.errors import InvalidCursorError
from personalization import feed_pages
from personalization.errors import FeedExpiredError
from personalization.feed import FeedPage
from shoa_api.auth import provide_optional_shopper
from shoa_api.caching import CATALOG_VERSION_KEY
from shoa_api.openapi import SHOPPER_OR_ANONYMOUS, problems
from shoa_kernel.clock import utc_now

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from accounts.tokens import AccessClaims
    from personalization.events import Recorder
    from personalization.memory import FeedMemory
    from shoa_api.mirror import RedisMirror


class FeedRequest:
    # A plain class, not a dataclass: Litestar would validate a dataclass field by field on every request.
    __slots__ = ("memory", "mirror", "read_sessions", "recorder", "redis", "shopper")

    def __init__(
        self,
        *,
        shopper: AccessClaims | None,
        recorder: Recorder,
        memory: FeedMemory,
        redis: Redis,
        mirror: RedisMirror,
        read_sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        self.shopper = shopper
        self.recorder = recorder
        self.memory = memory
        self.redis = redis
        self.mirror = mirror
        self.read_sessions = read_sessions


async def provide_feed_request(request: Request[Any, Any, Any], state: State) -> FeedRequest:
    """What the feed needs, as one dependency. Litestar resolves two or more dependencies of a handler in an
    anyio task group per request, which cost a sixth of a logged-in shopper's (remembered) feed page."""
    return FeedRequest(
        shopper=await provide_optional_shopper(request, state),
        recorder=state.recorder,
        memory=state.feed_memory,
        redis=state.redis,
        mirror=state.mirror,
        read_sessions=state.read_session_maker,
    )


@get(
    "/v1/feed",
    operation_id="get_feed",
    summary="The feed: products for this shopper, fairly ranked",
    tags=["personalization"],
    # The anonymous first page is the same for every visitor; a logged-in shopper's is never cached.
    cache=True,
    opt={"cache_key_parameters": ("cursor", "limit", "explain")},
    dependencies={"feed_request": Provide(provide_feed_request)},
    security=SHOPPER_OR_ANONYMOUS,  # the token is read by `provide_feed_request`, out of the schema's sight
    responses=problems(
        FeedExpiredError("this feed is more than an hour old; start again without a cursor"),
        InvalidCursorError("cursor is not one this API gave out; start again without it"),
    ),
)
async def get_feed(
    *,
    feed_request: NamedDependency[FeedRequest],
    cursor: Annotated[str | None, QueryParameter(max_length=512, description="`next_cursor` of the last page.")] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=50, description="Items per page, 1 to 50.")] = 20,
    explain: Annotated[bool, QueryParameter(description="Add each item's score parts.")] = False,
) -> FeedPage:
    """Anonymous visitors get the default segment; a logged-in shopper gets their gender x age band segment
    (or the default when they gave neither), re-ranked by their own likes and engagement."""
    redis, shopper, memory = feed_request.redis, feed_request.shopper, feed_request.memory
    memory.follow_catalog(await feed_request.mirror.get(CATALOG_VERSION_KEY) or b"0")
    now = utc_now()
    if shopper is not None and cursor is None:
        # Opens a database session only when her page is not already in memory (the most common request).
        return await feed_pages.shopper_first_page(
            redis,
            feed_request.recorder,
            memory=memory,
            keys=feed_request.mirror,
            open_session=feed_request.read_sessions,
            user_id=shopper.user_id,
            limit=limit,
            explain=explain,
            now=now,
        )
    async with feed_request.read_sessions() as db_read:
        if cursor is not None:
            # The list was fixed by the first page; who asks does not change it.
            return await feed_pages.resumed_page(
                db_read, redis, memory=memory, cursor=cursor, limit=limit, explain=explain
            )
        return await feed_pages.feed_page(
            db_read, redis, feed_request.recorder.decay, memory=memory, segment=ANONYMOUS, taste=None, cursor=None,
            limit=limit, explain=explain, now=now,
        )  # fmt: skip
