"""Shoppers' engagement orders the search's popularity sort: the worker writes it, and only what moved."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from catalog.models import Product, SearchOutbox
from personalization.popularity import popularity_value, publish_popularity
from personalization.scores import EVERYONE, Decay, Signal, add_signals, segment_scores
from shoa_api.worker import score_rollup_job
from tests.catalog.test_sync import _mall, product
from tests.personalization.test_jobs import run_once
from tests.shoa_api.test_auth import bearer, signup

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from shoa_api.settings import Settings
    from tests.client import ShoaClient
    from tests.conftest import SearchIndex

DECAY = Decay(half_life_seconds=72 * 3600)
NOW = datetime.datetime(2026, 12, 2, 12, tzinfo=datetime.UTC)


async def _products(session: AsyncSession, client: ShoaClient, *external_ids: str) -> dict[str, uuid.UUID]:
    mall = await _mall(session, client)
    await mall.sync(*(product(external_id) for external_id in external_ids))
    return dict((await session.execute(sa.select(Product.external_id, Product.id))).all())


def _event(product_id: uuid.UUID, kind: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "product_id": str(product_id),
        "occurred_at": datetime.datetime.now(datetime.UTC).isoformat(),
    }


async def _two_shoppers(client: ShoaClient) -> list[dict[str, str]]:
    """Two signed-in shoppers (no gender or birth date given: the anonymous segment)."""
    return [bearer(await signup(client, email=f"shopper{n}@example.kr")) for n in range(2)]


async def _engage(
    redis: Redis, *engagement: tuple[uuid.UUID, float, datetime.datetime], now: datetime.datetime
) -> None:
    """Everyone's engagement, as the events' signals leave it."""
    signals = [Signal(EVERYONE, product_id, weight, at.timestamp()) for product_id, weight, at in engagement]
    await add_signals(redis, DECAY, signals, now=now.timestamp(), pooled=False)


async def _pool(redis: Redis, now: datetime.datetime) -> list[tuple[uuid.UUID, float]]:
    """Everyone's scores as of ``now``, as the roll-up hands them on."""
    return await segment_scores(redis, DECAY, EVERYONE, now=now.timestamp())


async def _popularity(session: AsyncSession) -> dict[uuid.UUID, float]:
    session.expire_all()
    return dict((await session.execute(sa.select(Product.id, Product.popularity))).all())


async def test_what_shoppers_engage_with_comes_first_in_the_popularity_sort(
    settings: Settings, client: ShoaClient, session: AsyncSession, search_index: SearchIndex
) -> None:
    ids = await _products(session, client, "P1", "P2", "P3", "P4")
    before = dict((await session.execute(sa.select(Product.id, Product.updated_at))).all())
    assert await search_index.settle() == 4
    for shopper in await _two_shoppers(client):  # one alone makes nothing popular (decision 0039)
        events = [_event(ids["P2"], "add_to_cart"), _event(ids["P2"], "click"), _event(ids["P3"], "view")]
        assert (await client.post("/v1/events", headers=shopper, json={"events": events})).json()["accepted"] == 3

    await run_once(settings, score_rollup_job(settings))

    # The index hears of it through the outbox; the mall's content did not change.
    assert set(await session.scalars(sa.select(SearchOutbox.product_id))) == {ids["P2"], ids["P3"]}
    await search_index.settle()
    answer = (await client.get("/v1/search", params={"sort": "popularity"})).json()
    order = [uuid.UUID(item["id"]) for item in answer["items"]]
    assert order[:2] == [ids["P2"], ids["P3"]]
    assert set(order[2:]) == {ids["P1"], ids["P4"]}
    after = dict((await session.execute(sa.select(Product.id, Product.updated_at))).all())
    assert after == before


async def test_time_alone_rewrites_nothing_and_the_order_follows_the_decayed_scores(
    session: AsyncSession, client: ShoaClient, redis_client: Redis
) -> None:
    ids = await _products(session, client, "P1", "P2")
    old, recent = NOW - datetime.timedelta(days=6), NOW - datetime.timedelta(hours=1)
    # P1: much engagement a week ago; P2: a little, lately. Decayed, P2 is ahead (8 x 1/4 < 3).
    await _engage(redis_client, (ids["P1"], 8.0, old), (ids["P2"], 3.0, recent), now=NOW)

    assert (await publish_popularity(session, await _pool(redis_client, NOW), DECAY, now=NOW)).written == 2
    first = await _popularity(session)
    assert first[ids["P2"]] > first[ids["P1"]] > 0

    # Two days on, the same scores decayed: their values stand, and nothing is written.
    later = NOW + datetime.timedelta(days=2)
    assert (await publish_popularity(session, await _pool(redis_client, later), DECAY, now=later)).written == 0
    assert await _popularity(session) == first

    await _engage(redis_client, (ids["P1"], 20.0, later), now=later)
    assert (await publish_popularity(session, await _pool(redis_client, later), DECAY, now=later)).written == 1
    assert (await _popularity(session))[ids["P1"]] > first[ids["P2"]]


async def test_a_product_held_by_a_sync_is_written_after_the_next_roll_up(
    settings: Settings, engine: AsyncEngine, session: AsyncSession, client: ShoaClient
) -> None:
    ids = await _products(session, client, "P1", "P2")
    await session.commit()
    for shopper in await _two_shoppers(client):
        events = [_event(ids["P1"], "click"), _event(ids["P2"], "add_to_cart")]
        assert (await client.post("/v1/events", headers=shopper, json={"events": events})).json()["accepted"] == 2
    async with engine.connect() as sync:  # a mall's sync, midway: it has written P2 and not committed yet
        await sync.execute(sa.update(Product).where(Product.id == ids["P2"]).values(price_from=1000))

        await asyncio.wait_for(run_once(settings, score_rollup_job(settings)), timeout=10)

        held = await _popularity(session)
        assert (held[ids["P1"]] > 0, held[ids["P2"]]) == (True, 0.0)
        await sync.commit()

    # No new behaviour since: the skipped product was handed to the next roll-up all the same.
    await run_once(settings, score_rollup_job(settings))
    assert (await _popularity(session))[ids["P2"]] > held[ids["P1"]]


def test_a_value_is_the_same_for_a_score_and_half_of_it_a_half_life_later() -> None:
    at = NOW.timestamp()
    assert popularity_value(8.0, at=at, decay=DECAY) == popularity_value(4.0, at=at + 72 * 3600, decay=DECAY)
    assert popularity_value(8.0, at=at, decay=DECAY) - popularity_value(4.0, at=at, decay=DECAY) == 1.0
    assert popularity_value(0.0, at=at, decay=DECAY) == 0.0


async def test_rows_a_sync_holds_are_skipped_not_waited_for(
    engine: AsyncEngine, session: AsyncSession, client: ShoaClient, redis_client: Redis
) -> None:
    ids = await _products(session, client, "P1", "P2")
    await session.commit()
    await _engage(redis_client, (ids["P1"], 2.0, NOW), (ids["P2"], 5.0, NOW), now=NOW)
    async with engine.connect() as sync:
        await sync.execute(sa.update(Product).where(Product.id == ids["P2"]).values(price_from=1000))

        pool = await _pool(redis_client, NOW)
        published = await asyncio.wait_for(publish_popularity(session, pool, DECAY, now=NOW), timeout=5)
        await session.commit()

        assert (published.written, published.skipped) == (1, [ids["P2"]])
        await sync.commit()
