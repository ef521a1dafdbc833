"""The worker's feed jobs, run as ``shoa worker`` runs them: candidates kept fresh, scores kept safe."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import TYPE_CHECKING

import sqlalchemy as sa

from catalog.demo import seed_demo_malls
from catalog.demo_products import seed_demo_products
from catalog.models import Product
from personalization.candidates import KEY_PREFIX, all_segments
from personalization.jobs import REFRESHED_AT_KEY
from personalization.models import SegmentScore
from shoa_api.worker import candidates_job, run_worker, score_rollup_job
from tests.shoa_api.test_auth import bearer, signup

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoa_api.settings import Settings
    from tests.client import ShoaClient


async def run_once(settings: Settings, *jobs: object) -> None:
    """Start the worker with ``jobs``, let each run once, stop it."""
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop, jobs=list(jobs)))  # type: ignore[arg-type]
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(worker, timeout=30)


async def versions(redis: Redis) -> dict[str, bytes | str | None]:
    return {segment: await redis.get(f"{KEY_PREFIX}{segment}:current") for segment in all_segments()}


async def test_candidates_are_refreshed_when_due_or_after_a_large_catalog_change(
    settings: Settings, session: AsyncSession, redis_client: Redis
) -> None:
    await seed_demo_malls(session)
    await seed_demo_products(session, products=600)
    await session.commit()

    await run_once(settings, candidates_job(settings))
    first = await versions(redis_client)
    assert all(first.values())  # every segment has a list

    await run_once(settings, candidates_job(settings))
    assert await versions(redis_client) == first  # not due yet, little changed

    await session.execute(sa.update(Product).values(updated_at=datetime.datetime.now(datetime.UTC)))
    await session.commit()
    await run_once(settings, candidates_job(settings))
    changed = await versions(redis_client)
    assert all(changed[s] != first[s] for s in first)  # 600 products changed: refreshed at once

    await redis_client.set(REFRESHED_AT_KEY, 0)  # a minute has passed
    await run_once(settings, candidates_job(settings))
    latest = await versions(redis_client)
    assert all(latest[s] != changed[s] for s in first)


async def test_the_rollup_job_saves_scores_to_postgresql(
    settings: Settings, client: ShoaClient, session: AsyncSession
) -> None:
    await seed_demo_malls(session)
    await seed_demo_products(session, products=50)
    await session.commit()
    product_id = await session.scalar(sa.select(Product.id).where(Product.in_stock).limit(1))
    event = {
        "id": str(uuid.uuid4()),
        "kind": "add_to_cart",
        "product_id": str(product_id),
        "occurred_at": datetime.datetime.now(datetime.UTC).isoformat(),
    }
    shopper = bearer(await signup(client))  # no gender or birth date given: the anonymous segment
    response = await client.post("/v1/events", headers=shopper, json={"events": [event]})
    assert response.json()["accepted"] == 1

    await run_once(settings, score_rollup_job(settings))

    saved = (await session.execute(sa.select(SegmentScore.segment, SegmentScore.product_id))).all()
    # The scores, and how many people they come from (decision 0039).
    assert sorted(saved) == [(segment, product_id) for segment in
                             ("anonymous", "everyone", "people:anonymous", "people:everyone")]  # fmt: skip
