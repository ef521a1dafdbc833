"""An API process that stops leaves nothing open behind it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import sqlalchemy as sa

from shoa_api.app import _stop_tasks, create_app
from tests.client import ShoaClient

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from shoa_api.settings import Settings


async def connections(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        others = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return int(await connection.scalar(others) or 0)


async def test_stopping_the_app_closes_its_database_connections(settings: Settings, engine: AsyncEngine) -> None:
    """Every app used to leave one connection open after it stopped; in a long test run (or a process that
    restarts its app) they piled up until PostgreSQL refused new clients."""
    before = await connections(engine)
    for _ in range(3):
        async with ShoaClient(app=create_app(settings)) as client:
            assert (await client.get("/v1/malls")).status_code == 200
            assert (await client.get("/health/ready")).status_code == 200
            # Two searches (not the same: the second would come from the public cache): the first reads the
            # catalog, the second its changes, on the search engine's own connection.
            for words in ("린넨", "셔츠"):
                assert (await client.get("/v1/search", params={"q": words})).status_code == 200
    assert await connections(engine) == before


async def test_a_background_task_that_swallows_a_cancellation_still_stops() -> None:
    """redis-py's timeouts can turn a cancellation into a timeout and carry on; stopping must not hang."""
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1
                asyncio.current_task().uncancel()  # type: ignore[union-attr]

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(_stop_tasks(task), timeout=10)
    assert task.cancelled()
    assert swallowed == 1
