"""The worker runs its jobs, survives a failing one, retries promptly after an outage, and stops cleanly on
SIGTERM."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from shoa_api import worker as worker_module
from shoa_api.runtime import EmbeddedRedis
from shoa_api.settings import load_settings
from shoa_api.worker import (
    BACKOFF_FLOOR_SECONDS,
    HEARTBEAT_KEY_PREFIX,
    Job,
    WorkerContext,
    default_jobs,
    record_heartbeat,
    run_worker,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from shoa_api.settings import Settings
    from tests.conftest import Services


async def _wait_for(condition: object, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    msg = "condition not met in time"
    raise AssertionError(msg)


async def test_the_worker_beats_and_clears_its_heartbeat_on_stop(settings: Settings, redis_client: Redis) -> None:
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop))

    async def beating() -> bool:
        return bool(await redis_client.keys(f"{HEARTBEAT_KEY_PREFIX}*"))

    await _wait_for(beating)
    stop.set()
    await asyncio.wait_for(worker, timeout=10)

    assert await redis_client.keys(f"{HEARTBEAT_KEY_PREFIX}*") == []


async def test_a_failing_job_does_not_stop_the_others(settings: Settings, redis_client: Redis) -> None:
    attempts = 0

    async def broken(context: WorkerContext) -> None:
        nonlocal attempts
        attempts += 1
        msg = "provider is down"
        raise RuntimeError(msg)

    stop = asyncio.Event()
    jobs = [Job(name="broken", every=0.01, run=broken), Job(name="heartbeat", every=0.05, run=record_heartbeat)]
    worker = asyncio.create_task(run_worker(settings, stop=stop, jobs=jobs))

    async def beating() -> bool:
        return bool(await redis_client.keys(f"{HEARTBEAT_KEY_PREFIX}*"))

    await _wait_for(beating)
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(worker, timeout=10)

    assert attempts >= 1
    assert attempts < 10  # failures back off instead of spinning


async def test_a_job_in_progress_finishes_before_the_worker_stops(settings: Settings) -> None:
    finished = asyncio.Event()
    started = asyncio.Event()

    async def slow(context: WorkerContext) -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.set()

    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop, jobs=[Job(name="slow", every=60, run=slow)]))
    await asyncio.wait_for(started.wait(), timeout=10)
    stop.set()
    await asyncio.wait_for(worker, timeout=10)

    assert finished.is_set()


def test_shoa_worker_stops_cleanly_on_sigterm(services: Services) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SHOA_")} | services.environ()
    process = subprocess.Popen(
        [sys.executable, "-m", "shoa_api", "worker"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "started with jobs" in line:
            break

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=20) == 0
    assert "stopped" in process.stdout.read()


async def _idle(context: WorkerContext) -> None:
    pass


def test_a_failing_job_waits_at_most_its_interval_or_the_floor_and_the_heartbeat_never_waits_longer(
    settings: Settings,
) -> None:
    jobs = [
        *default_jobs(settings),
        Job(name="twice-a-second", every=0.5, run=_idle),
        Job(name="hourly", every=3600.0, run=_idle),
    ]
    for job in jobs:
        waits = [job.retry_after(failures) for failures in range(1, 200)]
        assert all(job.every <= wait <= max(job.every, BACKOFF_FLOOR_SECONDS) for wait in waits), job.name
    by_name = {job.name: job for job in jobs}
    assert {by_name["heartbeat"].retry_after(failures) for failures in range(1, 200)} == {by_name["heartbeat"].every}
    # Losing Redis costs the roll-up at most one more interval, not minutes.
    assert by_name["feed-score-rollup"].retry_after(10) == settings.feed.rollup_seconds
    assert by_name["twice-a-second"].retry_after(1) == 1.0  # a failure still spaces out a fast job's tries


async def test_the_worker_keeps_retrying_a_failing_job_within_the_cap(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "BACKOFF_FLOOR_SECONDS", 0.2)  # the floor at the scale of a test
    tries: list[float] = []

    async def broken(context: WorkerContext) -> None:
        tries.append(time.monotonic())
        msg = "provider is down"
        raise RuntimeError(msg)

    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop, jobs=[Job(name="broken", every=0.05, run=broken)]))
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.wait_for(worker, timeout=10)

    gaps = [later - earlier for earlier, later in itertools.pairwise(tries)]
    assert len(tries) >= 5
    # Backing off (twice the interval, then four times), but never past the cap, however long it keeps failing.
    assert all(0.1 - 0.02 <= gap < 0.2 + 0.15 for gap in gaps), gaps


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of the test's own, to stop and start again (the suite's shared one stays up)."""
    redis = EmbeddedRedis(tmp_path / "redis", durable=False).start()
    try:
        yield redis
    finally:
        redis.stop()


async def test_after_a_redis_outage_the_heartbeat_and_the_jobs_come_back_at_once(
    services: Services, own_redis: EmbeddedRedis
) -> None:
    settings = load_settings(services.environ(SHOA_REDIS_URL=own_redis.url), env_file=None)
    heartbeat = next(job for job in default_jobs(settings) if job.name == "heartbeat")
    beats: list[float] = []

    async def beat(context: WorkerContext) -> None:
        beats.append(time.monotonic())
        await record_heartbeat(context)

    # A job that needs Redis and fails at once while it is down (its client does not retry): when it runs is the
    # worker's schedule alone.
    fast_failing = Redis.from_url(own_redis.url, retry=Retry(NoBackoff(), 0))
    runs: list[float] = []

    async def needs_redis(context: WorkerContext) -> None:
        await fast_failing.ping()
        runs.append(time.monotonic())

    jobs = [dataclasses.replace(heartbeat, every=0.2, run=beat), Job(name="needs-redis", every=0.5, run=needs_redis)]
    watcher = Redis.from_url(own_redis.url)

    async def beating() -> bool:
        return bool(await watcher.keys(f"{HEARTBEAT_KEY_PREFIX}*"))

    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop=stop, jobs=jobs))
    try:
        await _wait_for(beating)
        own_redis.stop()
        down = time.monotonic()
        await asyncio.sleep(3.0)
        own_redis.start()  # empty, as after a restart without persistence
        up = time.monotonic()
        await _wait_for(beating, within=10)
        beating_again = time.monotonic()

        async def ran_again() -> bool:
            return bool(runs) and runs[-1] > up

        await _wait_for(ran_again, within=15)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)
        await fast_failing.aclose()
        await watcher.aclose()

    # The heartbeat kept trying at its own pace through the outage (one try per 0.2 s, give or take)...
    assert sum(down < at < up for at in beats) >= (up - down) / 0.2 / 2
    # ...so it beat again within a beat or so of Redis answering, and the job backing off ran right after.
    assert beating_again - up < 1.0
    assert runs[-1] - up < 1.0


async def test_a_job_that_stopped_with_work_left_runs_again_at_once(settings: Settings) -> None:
    """A busy outbox is worked through without the job's interval between its runs; an idle one waits it."""
    runs: list[float] = []
    left = 3

    async def busy_then_idle(context: WorkerContext) -> bool:
        nonlocal left
        runs.append(time.monotonic())
        left -= 1
        return left > 0

    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(settings, stop=stop, jobs=[Job(name="outbox", every=3600.0, run=busy_then_idle)])
    )
    await _wait_for(lambda: _true(len(runs) >= 3))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(worker, 10)

    assert len(runs) == 3  # twice again at once, then its hour
    assert runs[-1] - runs[0] < 2.0


async def test_a_slow_job_holds_back_only_itself(settings: Settings) -> None:
    """The search index stays fresh while the feed's candidate refresh waits seconds on the database."""
    slow_running = asyncio.Event()
    quick_runs_meanwhile = 0

    async def slow(context: WorkerContext) -> None:
        slow_running.set()
        await asyncio.sleep(1.0)
        slow_running.clear()

    async def quick(context: WorkerContext) -> None:
        nonlocal quick_runs_meanwhile
        if slow_running.is_set():
            quick_runs_meanwhile += 1

    stop = asyncio.Event()
    jobs = [Job(name="candidates", every=60.0, run=slow), Job(name="search-indexing", every=0.05, run=quick)]
    worker = asyncio.create_task(run_worker(settings, stop=stop, jobs=jobs))
    await asyncio.wait_for(slow_running.wait(), timeout=10)
    await asyncio.sleep(0.8)
    stop.set()
    await asyncio.wait_for(worker, 10)

    assert quick_runs_meanwhile >= 5  # every 50 ms while the slow one ran, not once it was done


async def _true(value: bool) -> bool:
    return value
