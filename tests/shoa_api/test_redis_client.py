"""A process's Redis client waits for a free connection when all are busy, instead of refusing the request.

redis-py's default pool raises ``MaxConnectionsError`` at once past 100 connections: 200 checkouts at once against
one API process answered 100 of them 503. The client Shoa builds queues them instead.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import msgspec

from shoa_api.wiring import redis_client

if TYPE_CHECKING:
    from shoa_api.settings import Settings


async def test_more_callers_than_connections_wait_their_turn_and_all_get_answers(settings: Settings) -> None:
    narrow = msgspec.structs.replace(settings.redis, max_connections=4)
    redis = redis_client(narrow)
    try:
        started = time.monotonic()
        # Each call holds its connection for 0.2 s (nothing to pop): twelve callers, four connections.
        answers = await asyncio.gather(*(redis.blpop([f"shoa:test:empty:{n}"], timeout=0.2) for n in range(12)))
        elapsed = time.monotonic() - started
    finally:
        await redis.aclose()

    assert answers == [None] * 12  # every caller was answered, none refused
    assert elapsed >= 0.55  # three rounds of four: they waited for each other rather than opening more
