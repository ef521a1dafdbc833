"""The Redis mirror: fewer round trips, and never a value Redis no longer holds."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import pytest
from redis.asyncio import Redis

from shoa_api.mirror import RedisMirror

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from tests.conftest import Services


@pytest.fixture
async def mirror(services: Services) -> AsyncIterator[RedisMirror]:
    # A client of its own, as the app has: the commands it sends are the ones counted below.
    client = Redis.from_url(services.redis_url)
    mirrored = RedisMirror(client, ("m:",), check_every=0.2)
    task = asyncio.create_task(mirrored.run())
    await asyncio.wait_for(mirrored.live_since.wait(), 5)
    yield mirrored
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await client.aclose()


async def gets_sent(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_get", {}).get("calls", 0))


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 3.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if await check():
            return
        await asyncio.sleep(0.01)
    pytest.fail("the mirror never caught up")


async def test_a_value_is_read_from_redis_once_while_it_stays_the_same(
    mirror: RedisMirror, redis_client: Redis
) -> None:
    await redis_client.set("m:version", "7")
    before = await gets_sent(redis_client)
    assert [await mirror.get("m:version") for _ in range(50)] == [b"7"] * 50
    assert await mirror.exists("m:missing") is False
    assert await mirror.exists("m:missing") is False
    assert await gets_sent(redis_client) - before == 2


async def test_a_change_by_another_client_shows_at_once(mirror: RedisMirror, redis_client: Redis) -> None:
    """Writes, deletes, expiries and flushes by anyone: the mirror forgets what it held."""
    await redis_client.set("m:token", "1")
    assert await mirror.get("m:token") == b"1"
    await redis_client.set("m:token", "2")
    await eventually(lambda: _equals(mirror, "m:token", b"2"))

    await redis_client.delete("m:token")
    await eventually(lambda: _equals(mirror, "m:token", None))

    assert await mirror.exists("m:revoked") is False
    await redis_client.set("m:revoked", "1", px=150)
    await eventually(lambda: _equals(mirror, "m:revoked", b"1"))
    await asyncio.sleep(0.2)
    await redis_client.get("m:revoked")  # an expired key is deleted when touched, or by Redis's own sweep
    await eventually(lambda: _equals(mirror, "m:revoked", None))

    await redis_client.set("m:a", "1")
    assert await mirror.get("m:a") == b"1"
    await redis_client.flushdb()
    await eventually(lambda: _equals(mirror, "m:a", None))


async def test_keys_outside_the_prefixes_are_always_read_from_redis(mirror: RedisMirror, redis_client: Redis) -> None:
    await redis_client.set("other:key", "1")
    before = await gets_sent(redis_client)
    for _ in range(5):
        assert await mirror.get("other:key") == b"1"
    assert await gets_sent(redis_client) - before == 5


async def test_a_lost_connection_costs_speed_never_correctness(mirror: RedisMirror, redis_client: Redis) -> None:
    await redis_client.set("m:k", "1")
    assert await mirror.get("m:k") == b"1"
    # Redis drops the listener: from then until it is back, nothing is kept and every read goes to Redis.
    await redis_client.client_kill_filter(_type="pubsub")
    await eventually(lambda: _not_live(mirror))
    await redis_client.set("m:k", "2")
    assert await mirror.get("m:k") == b"2"
    # It comes back by itself, and keeps values again.
    await asyncio.wait_for(mirror.live_since.wait(), 5)
    assert await mirror.get("m:k") == b"2"
    before = await gets_sent(redis_client)
    assert await mirror.get("m:k") == b"2"
    assert await gets_sent(redis_client) == before


async def test_the_tracking_connection_lost_is_noticed(mirror: RedisMirror, redis_client: Redis) -> None:
    """Without its tracking connection the listener would hear nothing, silently: the mirror checks for it."""
    await redis_client.set("m:k", "1")
    assert await mirror.get("m:k") == b"1"
    tracking = [client["id"] for client in await redis_client.client_list() if "t" in client["flags"]]
    assert len(tracking) == 1
    await redis_client.client_kill_filter(_id=tracking[0])
    await eventually(lambda: _not_live(mirror))
    await redis_client.set("m:k", "2")
    assert await mirror.get("m:k") == b"2"


async def test_a_writer_in_this_process_reads_its_own_write(mirror: RedisMirror, redis_client: Redis) -> None:
    await redis_client.set("m:mine", "1")
    assert await mirror.get("m:mine") == b"1"
    await redis_client.set("m:mine", "2")
    mirror.forget("m:mine")  # what the writer does, before the invalidation message arrives
    assert await mirror.get("m:mine") == b"2"


async def _equals(mirror: RedisMirror, key: str, value: bytes | None) -> bool:
    return await mirror.get(key) == value


async def _not_live(mirror: RedisMirror) -> bool:
    return not mirror.live
