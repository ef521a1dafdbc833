"""What only a developer's own Shoa serves (``SHOA_ENV=development``, as ``make run`` sets): the messages the
sandbox provider would have sent. Other environments do not mount these routes at all (404)."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from notify.errors import InvalidCursorError
from notify.providers import sandbox
from notify.schemas import SandboxDeliveryPage
from shoa_api.openapi import problems
from shoa_api.pagination import Cursor, Limit


@get(
    "/dev/messages",
    operation_id="list_sandbox_messages",
    summary="Messages the sandbox provider would have sent, newest first (development only)",
    tags=["development"],
    responses=problems(InvalidCursorError("cursor is not one this API gave out; start again without it")),
)
async def list_sandbox_messages(
    db_read: NamedDependency[AsyncSession], cursor: Cursor = None, limit: Limit = 20
) -> SandboxDeliveryPage:
    return await sandbox.list_deliveries(db_read, cursor=cursor, limit=limit)
