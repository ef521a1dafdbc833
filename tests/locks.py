"""Holding a table lock from a test, to stop a real process at a chosen step of its work (the crash tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class TableLock:
    """``LOCK TABLE … IN SHARE MODE`` held by the test: reads pass, writes wait."""

    def __init__(self, engine: AsyncEngine, table: str) -> None:
        self.engine, self.table = engine, table
        self.connection: AsyncConnection | None = None

    async def take(self) -> None:
        self.connection = await self.engine.connect()
        await self.connection.begin()
        await self.connection.execute(sa.text(f"LOCK TABLE {self.table} IN SHARE MODE"))

    async def release(self) -> None:
        if self.connection is not None:
            await self.connection.rollback()
            await self.connection.close()
            self.connection = None
