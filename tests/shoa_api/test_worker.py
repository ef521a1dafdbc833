"""The worker runs its jobs, survives a failing one, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from shoa_api.worker import HEARTBEAT_KEY_PREFIX, Job, WorkerContext, record_heartbeat, run_worker

if TYPE_CHECKING:
    from redis.asyncio import Redis

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
