"""The background worker: runs periodic jobs until asked to stop, finishing the job in hand first.

It only schedules: the jobs' bodies live beside their domains (``catalog.search.jobs``,
``personalization.jobs``, ``notify.worker``) as plain code over a session maker, Redis, the search engine and the
messaging providers, and :func:`default_jobs` says how often each runs with which of the shared clients
(:class:`WorkerContext`): search indexing, the feed's scores and candidates, messages, order timers, and the
event store's roll-up and partitions (``insights.jobs``). A failing job is logged and retried, never
taking the worker down.

Retries stay close to each job's rhythm, so an outage costs about one interval more than it lasted:

- A failing job waits twice its interval, then four times, and so on, but never longer than
  ``max(every, BACKOFF_FLOOR_SECONDS)`` (:meth:`Job.retry_after`): a job that runs every second backs off to
  10 s at most (one log line per 10 s while its dependency is down), the roll-up (every minute) not past its
  minute.
- The heartbeat never backs off (``backs_off=False``): it tries again at its own interval, so a worker is seen
  alive again within one beat of Redis answering, and no health check takes a healthy worker for dead.
- When a job succeeds after failing (a dependency answers again), every job backing off is due at once, instead
  of at the end of its wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from catalog.search.jobs import SearchIndexing
from catalog.search.tantivy_engine import TantivyEngine
from insights import jobs as insights_jobs
from notify.rendering import Templates
from orders import service as order_service
from personalization import jobs as feed_jobs
from shoa_api.database import create_engine, create_session_maker
from shoa_api.wiring import (
    dispatcher_from,
    index_writer,
    messaging_providers,
    order_kit,
    outbox_from,
    recorder_from,
    redis_client,
    winback_kit,
)
from shoa_kernel.clock import utc_now
from winback import consents as winback_consents
from winback import jobs as winback_jobs

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from catalog.search.indexing import IndexWriter
    from notify.worker import Dispatcher
    from shoa_api.settings import Settings
    from shoa_api.wiring import OrderKit
    from winback.jobs import WinbackKit

logger = logging.getLogger(__name__)

EXPIRE_BATCH = 20
"""Unpaid orders one transaction of the deadlines job cancels."""
CONFIRM_BATCH = 200
HEARTBEAT_KEY_PREFIX = "shoa:worker:heartbeat:"
HEARTBEAT_TTL_SECONDS = 30
HEARTBEAT_EVERY_SECONDS = 10.0
EVENT_ROLLUP_EVERY_SECONDS = 60.0
BACKOFF_FLOOR_SECONDS = 10.0
"""A failing job waits at most ``max(every, BACKOFF_FLOOR_SECONDS)`` before its next try."""


@dataclass(frozen=True, kw_only=True)
class WorkerContext:
    settings: Settings
    engine: AsyncEngine
    session_maker: async_sessionmaker[AsyncSession]
    redis: Redis
    http: httpx.AsyncClient
    search_engine: IndexWriter
    """The index the search job feeds: Tantivy's on disk, or Meilisearch's."""
    orders: OrderKit
    """The payment gateway and the order messages, for the orders' deadlines."""
    winback: WinbackKit
    """The outbox, recipients and rules of the win-back jobs."""
    dispatcher: Dispatcher
    """Sends the messaging outbox with the providers the settings name (this worker's own: it remembers which
    providers asked it to wait)."""
    worker_id: str


@dataclass(frozen=True, kw_only=True)
class Job:
    name: str
    every: float
    """Seconds between the end of one run and the start of the next."""
    run: Callable[[WorkerContext], Awaitable[bool | None]]
    """One run; ``True`` when it stopped with work left (it is due again at once instead of after ``every``)."""
    backs_off: bool = True
    """Whether failures in a row space its tries out; the heartbeat's do not."""

    def retry_after(self, failures: int) -> float:
        """Seconds from the end of a failed run to the next try, after ``failures`` failures in a row."""
        if not self.backs_off or failures < 1:
            return self.every
        return min(self.every * 2.0 ** min(failures, 32), max(self.every, BACKOFF_FLOOR_SECONDS))


@dataclass
class _Schedule:
    job: Job
    due: float = 0.0
    failures: int = field(default=0)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when another job's recovery makes this one due sooner."""


async def record_heartbeat(context: WorkerContext) -> None:
    """Tell operators this worker is alive: one key per worker that expires when it stops beating."""
    now = utc_now().isoformat(timespec="seconds")
    await context.redis.set(f"{HEARTBEAT_KEY_PREFIX}{context.worker_id}", now, ex=HEARTBEAT_TTL_SECONDS)


def default_jobs(settings: Settings) -> list[Job]:
    return [
        Job(name="heartbeat", every=HEARTBEAT_EVERY_SECONDS, run=record_heartbeat, backs_off=False),
        search_indexing_job(),
        score_rollup_job(settings),
        candidates_job(settings),
        notify_dispatch_job(),
        order_deadlines_job(),
        restock_waves_job(),
        winback_job(),
        event_rollup_job(),
        event_partitions_job(settings),
    ]


def search_indexing_job() -> Job:
    """Every second: the search outbox's pending rows, sent to the search engine."""
    indexing = SearchIndexing()

    async def index_search_outbox(context: WorkerContext) -> bool:
        return await indexing.run(context.session_maker, context.search_engine)

    return Job(name="search-indexing", every=1.0, run=index_search_outbox)


def notify_dispatch_job() -> Job:
    """Every second: the messaging outbox's due messages, sent through their channels' providers; at once again
    after a run that sent something, so that a busy outbox is sent without a pause."""

    async def dispatch_messages(context: WorkerContext) -> bool:
        return await context.dispatcher.run(context.session_maker) > 0

    return Job(name="notify-dispatch", every=1.0, run=dispatch_messages)


def order_deadlines_job() -> Job:
    """Every 30 s: unpaid orders past their deadline cancelled (their stock given back; a virtual account is asked
    of the gateway first), delivered parts confirmed after seven days, checkout keys older than a day forgotten."""

    async def keep_order_deadlines(context: WorkerContext) -> bool:
        order_context = context.orders.context()
        async with context.session_maker() as session, session.begin():
            expired = await order_service.expire_unpaid(session, order_context, limit=EXPIRE_BATCH)
        async with context.session_maker() as session, session.begin():
            confirmed = await order_service.confirm_delivered(session, order_context, limit=CONFIRM_BATCH)
            await order_service.forget_checkout_keys(session, now=order_context.now)
        return expired == EXPIRE_BATCH or confirmed == CONFIRM_BATCH

    return Job(name="order-deadlines", every=30.0, run=keep_order_deadlines)


def restock_waves_job() -> Job:
    """Every 5 s: the shoppers waiting for a variant back in stock, notified in the order they asked, a chunk per
    transaction, the stock read again before each (a wave stops when the variant sells out again)."""

    async def send_restock_waves(context: WorkerContext) -> bool:
        return await winback_jobs.restock_waves(context.session_maker, context.winback, clock=utc_now)

    return Job(name="restock-waves", every=5.0, run=send_restock_waves)


def winback_job() -> Job:
    """Every minute: price drops on liked products and day-old cart lines decided (sent, held out or suppressed by
    the caps), and the two-yearly notices of marketing consent sent."""

    async def decide_winback(context: WorkerContext) -> bool:
        more = await winback_jobs.price_drops(context.session_maker, context.winback, clock=utc_now)
        more |= await winback_jobs.cart_reminders(context.session_maker, context.winback, clock=utc_now)
        more |= await winback_consents.send_confirmations(context.session_maker, context.winback, clock=utc_now)
        return more

    return Job(name="winback", every=60.0, run=decide_winback)


def event_rollup_job() -> Job:
    """Every minute, look whether an hour has closed: the events received before it counted into the hourly
    aggregates (a run that finds none does nothing)."""

    async def roll_up_events(context: WorkerContext) -> None:
        await insights_jobs.roll_up_events(context.session_maker)

    return Job(name="insights-rollup", every=EVENT_ROLLUP_EVERY_SECONDS, run=roll_up_events)


def event_partitions_job(settings: Settings) -> Job:
    """Every hour (and at start): the event store's day partitions made a week ahead, and those past
    ``SHOA_INSIGHTS_RETENTION_DAYS`` dropped."""
    retention_days = settings.insights.retention_days

    async def keep_event_partitions(context: WorkerContext) -> None:
        await insights_jobs.keep_event_partitions(context.session_maker, retention_days=retention_days)

    return Job(name="insights-partitions", every=3600.0, run=keep_event_partitions)


def score_rollup_job(settings: Settings) -> Job:
    """Every ``SHOA_FEED_ROLLUP_SECONDS``: segment scores saved to PostgreSQL, and products' popularity."""
    decay = recorder_from(settings.feed).decay

    async def roll_up_scores(context: WorkerContext) -> None:
        await feed_jobs.roll_up_scores(context.session_maker, context.redis, decay)

    return Job(name="feed-score-rollup", every=float(settings.feed.rollup_seconds), run=roll_up_scores)


def candidates_job(settings: Settings) -> Job:
    """Every 10 s, look whether the candidate lists are due: a minute old, or many products changed since."""
    decay = recorder_from(settings.feed).decay

    async def refresh_candidates(context: WorkerContext) -> None:
        await feed_jobs.refresh_candidates_when_due(context.session_maker, context.redis, decay)

    return Job(name="feed-candidates", every=10.0, run=refresh_candidates)


async def run_worker(settings: Settings, *, stop: asyncio.Event, jobs: Sequence[Job] | None = None) -> None:
    templates = Templates.load()  # a broken template file stops the worker here, not at send time
    engine = create_engine(settings.database)
    redis = redis_client(settings.redis)
    http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))
    session_maker = create_session_maker(engine)
    providers = messaging_providers(settings, http=http, session_maker=session_maker, templates=templates)
    if settings.env == "production" and (sandboxed := providers.channels_of("sandbox")):
        logger.warning(
            "messages on %s go to the sandbox provider and reach no shopper; set SHOA_NOTIFY_PROVIDER_* to send them",
            ", ".join(sorted(sandboxed)),
        )
    outbox = outbox_from(templates)
    context = WorkerContext(
        settings=settings,
        engine=engine,
        session_maker=session_maker,
        redis=redis,
        http=http,
        search_engine=index_writer(settings, http),
        orders=order_kit(settings, outbox=outbox, http=http, session_maker=session_maker),
        winback=winback_kit(settings, outbox=outbox),
        dispatcher=dispatcher_from(settings, templates=templates, providers=providers),
        worker_id=f"{socket.gethostname()}:{os.getpid()}",
    )
    schedules = [_Schedule(job) for job in (default_jobs(settings) if jobs is None else jobs)]
    logger.info("worker %s started with jobs: %s", context.worker_id, ", ".join(s.job.name for s in schedules))
    try:
        # Each job keeps its own time: a slow run (the feed's candidate refresh waits seconds on PostgreSQL) holds
        # back only itself, never the search index's freshness or a message's delivery.
        await asyncio.gather(*(_keep_running(schedule, schedules, context, stop) for schedule in schedules))
    finally:
        with contextlib.suppress(Exception):
            await redis.delete(f"{HEARTBEAT_KEY_PREFIX}{context.worker_id}")
        if isinstance(context.search_engine, TantivyEngine):
            context.search_engine.close()  # its index writer's lock goes with it
        await http.aclose()
        await redis.aclose()
        await engine.dispose()
        logger.info("worker %s stopped", context.worker_id)


async def _keep_running(
    schedule: _Schedule, schedules: Sequence[_Schedule], context: WorkerContext, stop: asyncio.Event
) -> None:
    """Run ``schedule``'s job whenever it is due, until ``stop`` (a run under way is finished first)."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        schedule.wake.clear()
        if (delay := schedule.due - loop.time()) > 0:
            await _until_set(stop, schedule.wake, seconds=delay)
            continue
        if await _run_once(schedule, context, now=loop.time):
            # It failed before and works now: whatever it waited for answers again, and the jobs backing off
            # most likely waited for the same.
            for other in schedules:
                if other.failures:
                    other.due = min(other.due, loop.time())
                    other.wake.set()


async def _until_set(*events: asyncio.Event, seconds: float) -> None:
    """Until one of ``events`` is set, or ``seconds`` have passed."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _run_once(schedule: _Schedule, context: WorkerContext, *, now: Callable[[], float]) -> bool:
    """Run the job and set when it is due next; whether it succeeded after failing."""
    try:
        more = await schedule.job.run(context)
    except Exception:
        schedule.failures += 1
        wait = schedule.job.retry_after(schedule.failures)
        logger.exception("job %s failed (%d in a row); next try in %.1fs", schedule.job.name, schedule.failures, wait)
        schedule.due = now() + wait
        return False
    recovered = schedule.failures > 0
    if recovered:
        logger.info("job %s works again after %d failures", schedule.job.name, schedule.failures)
    schedule.failures = 0
    schedule.due = now() + (0.0 if more else schedule.job.every)
    return recovered


def serve_worker(settings: Settings) -> None:
    """Run the worker in this process until SIGTERM or SIGINT."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop=stop)

    asyncio.run(main())
