"""The messages Shoa sent a logged-in shopper (order steps on AlimTalk, LINE, SMS…), newest first."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.tokens import AccessClaims
from notify import service
from notify.errors import InvalidCursorError
from notify.schemas import ShopperMessagePage
from shoa_api.openapi import problems
from shoa_api.pagination import Cursor, Limit


@get(
    "/v1/me/messages",
    operation_id="list_my_messages",
    summary="The messages sent to me, newest first, a page at a time",
    tags=["account"],
    responses=problems(InvalidCursorError("cursor is not one this API gave out; start again without it")),
)
async def list_my_messages(
    db_read: NamedDependency[AsyncSession],
    shopper: NamedDependency[AccessClaims],
    cursor: Cursor = None,
    limit: Limit = 20,
) -> ShopperMessagePage:
    return await service.shopper_messages(db_read, shopper.user_id, cursor=cursor, limit=limit)
