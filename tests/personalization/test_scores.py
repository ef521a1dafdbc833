"""Segment scores in Redis: decay, rebasing the growth factor, and the people counts that rank a feed."""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest

from personalization.scores import (
    EPOCH_KEY,
    REBASE_AFTER_HALF_LIVES,
    Contributor,
    Decay,
    Signal,
    add_signals,
    engaged_people,
    rebase,
    segment_scores,
)
from tests.catalog.test_sync import _mall, product

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient

DAY = 24 * 3600.0
DECAY = Decay(half_life_seconds=3 * DAY)
NOW = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
async def product_ids(client: ShoaClient, session: AsyncSession) -> list[uuid.UUID]:
    mall = await _mall(session, client)
    answer = await mall.sync(product("P1"), product("P2"), product("P3"))
    return [uuid.UUID(item["product_id"]) for item in answer["items"]]


async def decayed(redis: Redis, segment: str, at: datetime.datetime) -> dict[uuid.UUID, float]:
    return {p: round(s, 4) for p, s in await segment_scores(redis, DECAY, segment, now=at.timestamp())}


async def test_scores_halve_every_half_life_and_order_by_recency_weighted_weight(
    redis_client: Redis, product_ids: list[uuid.UUID]
) -> None:
    a, b, _ = product_ids
    t = NOW.timestamp()
    await add_signals(redis_client, DECAY, [Signal("anonymous", a, 8.0, t - 6 * DAY), Signal("anonymous", b, 3.0, t)],
                      now=t)  # fmt: skip

    assert await decayed(redis_client, "anonymous", NOW) == {b: 3.0, a: 2.0}
    later = NOW + datetime.timedelta(days=3)
    assert await decayed(redis_client, "anonymous", later) == {b: 1.5, a: 1.0}


async def test_a_rebase_keeps_every_score(redis_client: Redis, product_ids: list[uuid.UUID]) -> None:
    a, b, _ = product_ids
    start = NOW.timestamp()
    await add_signals(redis_client, DECAY, [Signal("anonymous", a, 5.0, start)], now=start)
    far = start + (REBASE_AFTER_HALF_LIVES + 2) * DECAY.half_life_seconds
    await add_signals(redis_client, DECAY, [Signal("anonymous", b, 5.0, far)], now=far)
    before = await segment_scores(redis_client, DECAY, "anonymous", now=far)

    assert await rebase(redis_client, DECAY, now=far) == REBASE_AFTER_HALF_LIVES + 2
    assert float(await redis_client.get(EPOCH_KEY) or 0) == pytest.approx(far)
    after = await segment_scores(redis_client, DECAY, "anonymous", now=far)
    assert [p for p, _ in after] == [p for p, _ in before]
    assert [s for _, s in after] == pytest.approx([s for _, s in before])
    assert await rebase(redis_client, DECAY, now=far) == 0  # nothing to do until it is far behind again


async def test_a_feed_ranks_by_how_many_people_engaged_not_how_intensely(
    redis_client: Redis, product_ids: list[uuid.UUID]
) -> None:
    browsed, carted, alone = product_ids
    t = NOW.timestamp()
    # Three shoppers glance at one product; two others put another in their carts; one shopper carts a third.
    for _ in range(3):
        await add_signals(redis_client, DECAY, [Signal("female:20s_late", browsed, 1.0, t)], now=t,
                          contributor=Contributor.shopper(uuid4()))  # fmt: skip
    for _ in range(2):
        await add_signals(redis_client, DECAY, [Signal("female:20s_late", carted, 6.0, t)], now=t,
                          contributor=Contributor.shopper(uuid4()))  # fmt: skip
    await add_signals(redis_client, DECAY, [Signal("female:20s_late", alone, 6.0, t)], now=t,
                      contributor=Contributor.shopper(uuid4()))  # fmt: skip

    assert await decayed(redis_client, "female:20s_late", NOW) == {carted: 12.0, browsed: 3.0, alone: 6.0}
    people = await engaged_people(redis_client, DECAY, "female:20s_late", now=t)
    assert [(p, round(count, 4)) for p, count in people] == [(browsed, 3.0), (carted, 2.0)]
    later = NOW + datetime.timedelta(days=3)
    people = await engaged_people(redis_client, DECAY, "female:20s_late", now=later.timestamp())
    assert [(p, round(count, 4)) for p, count in people] == [(browsed, 1.5)]  # two people three days ago: 1 < 1.5
