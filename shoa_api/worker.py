"""The background worker: runs periodic jobs until asked to stop, finishing the job in hand first.

Later issues register their jobs here (search indexing, notification dispatch, order timers). Each job gets
the shared clients through :class:`WorkerContext`; a failing job is logged and retried on its next turn,
never taking the worker down.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from redis.asyncio import Redis

from shoa_api.database import create_engine, create_session_maker

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from shoa_api.settings import Settings

logger = logging.getLogger(__name__)

HEARTBEAT_KEY_PREFIX = "shoa:worker:heartbeat:"
HEARTBEAT_TTL_SECONDS = 30


@dataclass(frozen=True, kw_only=True)
class WorkerContext:
    settings: Settings
    engine: AsyncEngine
    session_maker: async_sessionmaker[AsyncSession]
    redis: Redis
    http: httpx.AsyncClient
    worker_id: str


@dataclass(frozen=True, kw_only=True)
class Job:
    name: str
    every: float
    """Seconds between the end of one run and the start of the next."""
    run: Callable[[WorkerContext], Awaitable[None]]


@dataclass
class _Schedule:
    job: Job
    due: float = 0.0
    failures: int = field(default=0)


async def record_heartbeat(context: WorkerContext) -> None:
    """Tell operators this worker is alive: one key per worker that expires when it stops beating."""
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    await context.redis.set(f"{HEARTBEAT_KEY_PREFIX}{context.worker_id}", now, ex=HEARTBEAT_TTL_SECONDS)


def default_jobs(settings: Settings) -> list[Job]:
    # Imported here: these modules build on this one's Job.
    from shoa_api.feed_jobs import candidates_job, score_rollup_job  # noqa: PLC0415
    from shoa_api.search_indexing import search_indexing_job  # noqa: PLC0415

    return [
        Job(name="heartbeat", every=10.0, run=record_heartbeat),
        search_indexing_job(),
        score_rollup_job(settings),
        candidates_job(),
    ]


async def run_worker(settings: Settings, *, stop: asyncio.Event, jobs: Sequence[Job] | None = None) -> None:
    engine = create_engine(settings.database)
    redis = Redis.from_url(settings.redis.url, socket_timeout=5.0, socket_connect_timeout=3.0)
    http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
    context = WorkerContext(
        settings=settings,
        engine=engine,
        session_maker=create_session_maker(engine),
        redis=redis,
        http=http,
        worker_id=f"{socket.gethostname()}:{os.getpid()}",
    )
    schedules = [_Schedule(job) for job in (default_jobs(settings) if jobs is None else jobs)]
    logger.info("worker %s started with jobs: %s", context.worker_id, ", ".join(s.job.name for s in schedules))
    loop = asyncio.get_running_loop()
    try:
        while not stop.is_set():
            for schedule in schedules:
                if stop.is_set():
                    break
                if loop.time() >= schedule.due:
                    await _run_once(schedule, context, now=loop.time)
            next_due = min((s.due for s in schedules), default=loop.time() + 60)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_due - loop.time()))
    finally:
        with contextlib.suppress(Exception):
            await redis.delete(f"{HEARTBEAT_KEY_PREFIX}{context.worker_id}")
        await http.aclose()
        await redis.aclose()
        await engine.dispose()
        logger.info("worker %s stopped", context.worker_id)


async def _run_once(schedule: _Schedule, context: WorkerContext, *, now: Callable[[], float]) -> None:
    try:
        await schedule.job.run(context)
    except Exception:
        schedule.failures += 1
        backoff = min(schedule.job.every * 2 ** min(schedule.failures, 6), 300.0)
        logger.exception(
            "job %s failed (%d in a row); next try in %.0fs", schedule.job.name, schedule.failures, backoff
        )
        schedule.due = now() + backoff
    else:
        schedule.failures = 0
        schedule.due = now() + schedule.job.every


def serve_worker(settings: Settings) -> None:
    """Run the worker in this process until SIGTERM or SIGINT."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop=stop)

    asyncio.run(main())
