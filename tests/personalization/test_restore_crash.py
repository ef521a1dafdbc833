"""A worker killed part-way through loading the saved scores back into Redis: the next restore counts each once.

Each scenario starts the real ``shoa worker`` against a Redis that lost its scores, watches the restore fill Redis,
freezes every write (``CLIENT PAUSE WRITE``) once a chosen share of the saved scores is in, checks the restore is
unfinished, and kills the worker with SIGKILL. Then a roll-up restores again, and a shopper's view is saved.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from personalization.models import SegmentScore
from personalization.rollup import forget_rolled_up, roll_up
from personalization.scores import LOADED_KEY, Decay
from shoa_kernel.clock import utc_now
from tests.personalization.test_rollup import (
    SAVED_SEGMENTS,
    create_products,
    loaded_scores,
    save_scores,
    sums_in_postgresql,
    sums_in_redis,
)
from tests.shoa_api.test_auth import bearer, signup

if TYPE_CHECKING:
    from pathlib import Path

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine

    from shoa_api.settings import Settings
    from tests.client import ShoaClient
    from tests.conftest import Services

PRODUCTS = 4_000
"""Saved in four segments: 16,000 scores, many chunks for the worker to load."""
WORKER_NAME = "restore-crash-worker"
KILL_AT_SHARES = (0.05, 0.4, 0.7, 0.9)
"""Where the worker dies: after the first chunk; in the middle of a set; with a whole set staged and not yet merged
(0.7 is the end of the third of four sets); and near the end, the last chunk still to send. The last point is not
later than that: between two looks the worker may run a command or two (how many depends on how the machine
schedules the two processes), and once the last chunk is in, two commands finish the restore — a kill point
there would race the test against the worker."""


def start_worker(services: Services, log: Path) -> subprocess.Popen[bytes]:
    """``shoa worker`` as deployed; its Redis connections are named so the test can tell them apart."""
    separator = "&" if "?" in services.redis_url else "?"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SHOA_")} | services.environ(
        SHOA_REDIS_URL=f"{services.redis_url}{separator}client_name={WORKER_NAME}"
    )
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "shoa_api", "worker"], env=environment, stdout=output, stderr=subprocess.STDOUT
        )


async def kill_when_loaded(redis: Redis, worker: subprocess.Popen[bytes], *, share: float, log: Path) -> int:
    """SIGKILL ``worker`` once its restore has loaded ``share`` of the saved scores; how many were in Redis then.

    The test holds Redis's writes paused (``CLIENT PAUSE WRITE``) while it looks, and lets them run for a moment
    between looks: the worker cannot outrun it, and the command the worker was sending when it died never runs
    (Redis drops a dead client's paused command)."""
    deadline = time.monotonic() + 20
    await redis.client_pause(10_000, all=False)
    try:
        while (loaded := await loaded_scores(redis)) < share * len(SAVED_SEGMENTS) * PRODUCTS:
            assert not await redis.exists(LOADED_KEY), "the restore finished before the test saw it that far"
            assert worker.poll() is None, f"the worker exited early: {_tail(log)}"
            assert time.monotonic() < deadline, "the worker's restore did not get that far in time"
            await redis.client_unpause()  # the worker's waiting command runs, perhaps one more
            await redis.client_pause(10_000, all=False)
            await asyncio.sleep(0.001)  # paused: the worker reads PostgreSQL meanwhile, but writes nothing
        assert not await redis.exists(LOADED_KEY), "the restore finished before the test saw it that far"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        await _until_disconnected(redis, WORKER_NAME)
    finally:
        await redis.client_unpause()
    return loaded


async def _until_disconnected(redis: Redis, name: str) -> None:
    """Until Redis has dropped the connections of ``name`` (a dead process's), and with them what they sent."""
    for _ in range(500):
        if not any(client["name"] == name for client in await redis.client_list()):
            return
        await asyncio.sleep(0.01)
    msg = f"Redis still holds connections of {name}"
    raise AssertionError(msg)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def roll_up_once_the_lock_is_free(engine: AsyncEngine, redis: Redis, decay: Decay) -> None:
    """The worker job's roll-up, committed; retried until PostgreSQL has ended the dead worker's transaction (and
    released its advisory lock), which takes it a moment to notice."""
    deadline = time.monotonic() + 10
    while True:
        async with AsyncSession(engine) as session, session.begin():
            await roll_up(session, redis, decay, now=utc_now())
        if await redis.exists(LOADED_KEY):
            await forget_rolled_up(redis)
            return
        assert time.monotonic() < deadline, "the dead worker's roll-up lock was never released"
        await asyncio.sleep(0.05)


async def saved_score(session: AsyncSession, product_id: uuid.UUID) -> tuple[float, float]:
    """The product's saved score for anonymous shoppers, and the Unix time it is as of."""
    session.expire_all()
    row = await session.get(SegmentScore, ("anonymous", product_id))
    assert row is not None
    return row.score, row.as_of.timestamp()


def plus_one_view(before: tuple[float, float], viewed_at: float, *, as_of: float, settings: Settings) -> float:
    """A saved score as of ``as_of`` once a view at ``viewed_at`` was added to it: each part decayed to then."""
    score, saved_at = before
    half_life = settings.feed.half_life_hours * 3600
    return float(
        score * 0.5 ** ((as_of - saved_at) / half_life)
        + settings.feed.weight_view * 0.5 ** ((as_of - viewed_at) / half_life)
    )


async def view(client: ShoaClient, product_id: uuid.UUID, *, device: str) -> float:
    """A view through the API by a new shopper of the anonymous segment (signed up without gender or birth date:
    counted in full from her first view, as a fresh device is not); when it happened."""
    shopper = bearer(await signup(client, email=f"{device}@example.kr"))
    at = utc_now()
    event = {"id": str(uuid.uuid4()), "kind": "view", "product_id": str(product_id), "occurred_at": at.isoformat()}
    response = await client.post("/v1/events", headers=shopper, json={"events": [event]})
    assert response.json()["accepted"] == 1
    return at.timestamp()


async def test_a_worker_killed_at_any_point_of_a_restore_leaves_each_score_counted_once(
    services: Services,
    settings: Settings,
    engine: AsyncEngine,
    redis_client: Redis,
    session: AsyncSession,
    client: ShoaClient,
    tmp_path: Path,
) -> None:
    decay = Decay(half_life_seconds=settings.feed.half_life_hours * 3600)
    products = await create_products(session, PRODUCTS)
    await save_scores(session, products, segments=SAVED_SEGMENTS, at=utc_now())
    log = tmp_path / "worker.log"

    for scenario, share in enumerate(KILL_AT_SHARES):
        await redis_client.flushdb()  # Redis restarted empty
        early, late = products[scenario], products[PRODUCTS // 2 + scenario]
        early_before = await saved_score(session, early)
        # A view arrives before the worker notices the loss: added to the saved score, not replacing it.
        early_viewed_at = await view(client, early, device=f"device-early-{scenario}")
        worker = start_worker(services, log)
        try:
            loaded = await kill_when_loaded(redis_client, worker, share=share, log=log)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        assert loaded >= share * len(SAVED_SEGMENTS) * PRODUCTS  # and the restore unfinished, checked then

        await roll_up_once_the_lock_is_free(engine, redis_client, decay)

        now = utc_now()
        expected = await sums_in_postgresql(session, decay, now)
        assert await sums_in_redis(redis_client, decay, now) == pytest.approx(expected, rel=1e-9), share
        score, as_of = await saved_score(session, early)
        assert score == pytest.approx(plus_one_view(early_before, early_viewed_at, as_of=as_of, settings=settings))
        # The next view of a product saves its score plus one view, not twice its score.
        late_before = await saved_score(session, late)
        late_viewed_at = await view(client, late, device=f"device-late-{scenario}")
        await roll_up_once_the_lock_is_free(engine, redis_client, decay)
        score, as_of = await saved_score(session, late)
        assert score == pytest.approx(plus_one_view(late_before, late_viewed_at, as_of=as_of, settings=settings))
