"""``python -m bench rollup``: the worker's score roll-up, beside copying every score as it once did.

Every demo product (20,000 by default) is engaged: a score in one segment and in everyone's pool, 2 scores a
product. The roll-up job's work (``personalization.rollup.roll_up``, then the products' popularity) is timed for
three minutes: the first, when every score is new; a quiet one, nothing new; and a busy one, with 1% of the
products engaged again. Beside them, the baseline: what the roll-up did until 2026-12-02 each minute, whatever had
changed (read every score from Redis, delete every saved row, insert them all again).

In each of ``--rounds`` rounds (``bench.rounds``) the state is made afresh (untimed: Redis flushed, the saved
scores, popularity values and their outbox rows gone, every product engaged again with the same signals), then:
the first minute once; the baseline again and again until it has run as long; the quiet minute, and the busy one
(1% engaged afresh, untimed, before each), each again and again until it has run as long as one baseline copy.
The order is fixed, as only a fresh state has a first minute. Each minute's figure is the median of the rounds'
own ratios (jobs/s over the baseline's copies/s in the same round: above 1, faster than copying everything). No
goal: the ratios are for information.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import random
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.embedded import embedded_services
from bench.report import cpu_model, markdown_page, markdown_table, now_utc, save_texts
from bench.rounds import Comparison, Lap, Round, listed, repeat_for_async
from catalog.demo import seed_demo_malls
from catalog.demo_products import seed_demo_products
from catalog.models import Product
from personalization.models import SegmentScore
from personalization.popularity import publish_popularity
from personalization.rollup import forget_rolled_up, roll_up, upsert_scores
from personalization.scores import EVERYONE, Decay, Signal, add_signals, segment_scores

if TYPE_CHECKING:
    import argparse
    import uuid

    from sqlalchemy.ext.asyncio import AsyncEngine

DECAY = Decay(half_life_seconds=72 * 3600.0)
SEGMENT = "female:20s_late"
BUSY_SHARE = 0.01


FIRST, QUIET, BUSY = "first: every score new", "quiet: nothing new", f"busy: {BUSY_SHARE:.0%} engaged again"
COLUMNS = ("minute", "seconds a job (median round)", "rounds: seconds a job", "vs copying every score (median)",
           "range", "rounds: jobs timed")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    command, started_at = shlex.join(sys.orig_argv), now_utc()
    print(f"command: {command}")
    print(f"{args.products:,} products, each with a score in {SEGMENT} and in everyone's pool; {args.rounds} rounds\n")
    with (
        tempfile.TemporaryDirectory(prefix="shoa-bench-rollup-") as tmp_name,
        embedded_services(Path(tmp_name), cpus=None) as services,
    ):
        minutes, baseline = asyncio.run(
            _measure(services.postgres.url, services.redis.url, products=args.products, rounds=args.rounds)
        )
    rows = [
        (
            "baseline: copy every score",
            f"{1 / _median_rate(baseline):.3f}",
            listed([1 / lap.rate for lap in baseline], digits=3),
            "1.00x",
            "",
            listed([lap.repeats for lap in baseline]),
        )
    ]
    for name, comparison in minutes.items():
        rows.append(
            (
                name,
                f"{1 / comparison.side_rate:.3f}",
                listed([1 / rate for rate in comparison.side_rates], digits=3),
                f"{comparison.ratio:.3f}x",
                comparison.spread(),
                listed([measured.side.repeats for measured in comparison.rounds]),
            )
        )
    table = markdown_table(COLUMNS, rows, numeric={1, 3})
    notes = [
        f"{args.products:,} products, each with a score in {SEGMENT} and in everyone's pool",
        f"vs copying every score: per round, the minute's jobs/s over the baseline's copies/s in that round; the "
        f"median of the {args.rounds} rounds (above 1: faster than copying everything); per round: "
        + "; ".join(f"{name.partition(':')[0]} {comparison.per_round()}" for name, comparison in minutes.items()),
        "order in each round (fixed: only a fresh state has a first minute): the first minute once, the baseline "
        "for as long, then the quiet and the busy minute each for as long as one baseline copy",
    ]
    print("\n".join(table))
    print("\n".join(notes))
    document = {"benchmark": "rollup", "command": command, "started_at": started_at, "cpu": cpu_model(),
                "products": args.products, "rounds": args.rounds,
                "baseline_seconds": [round(1 / lap.rate, 4) for lap in baseline],
                "minutes": {name: comparison.as_json() for name, comparison in minutes.items()}}  # fmt: skip
    markdown = markdown_page(
        benchmark="rollup",
        started_at=started_at,
        command=command,
        table=table,
        notes=notes,
        sections={"machine": {"cpu": cpu_model()}},
    )
    texts = {".json": json.dumps(document, indent=2) + "\n", ".md": markdown}
    for path in save_texts(args.output_dir, "rollup", started_at, texts):
        print(f"saved {path}")
    return 0


def _median_rate(laps: list[Lap]) -> float:
    return statistics.median(lap.rate for lap in laps)


async def _measure(
    database_url: str, redis_url: str, *, products: int, rounds: int
) -> tuple[dict[str, Comparison], list[Lap]]:
    engine = create_async_engine(database_url)
    redis = Redis.from_url(redis_url)
    try:
        async with AsyncSession(engine) as session, session.begin():
            await seed_demo_malls(session)
            await seed_demo_products(session, products=products)
            await session.execute(sa.text("CREATE TABLE bench_popularity AS SELECT id, popularity FROM products"))
            seeded_outbox = await session.scalar(sa.text("SELECT coalesce(max(id), 0) FROM search_outbox"))
        async with AsyncSession(engine) as session:
            ids = list(await session.scalars(sa.select(Product.id)))
        now = datetime.datetime.now(datetime.UTC)
        laps: dict[str, list[Round]] = {FIRST: [], QUIET: [], BUSY: []}
        baselines: list[Lap] = []
        busy_draws = random.Random(2)

        async def job() -> Lap:
            return Lap(1, await _job(engine, redis, now))

        async def busy_job() -> Lap:
            busy = busy_draws.sample(ids, max(1, int(len(ids) * BUSY_SHARE)))
            await _engage(redis, busy, now=now, rng=random.Random(busy_draws.random()))
            return await job()

        async def copy() -> Lap:
            return Lap(1, await _copy_everything(engine, redis, now))

        for number in range(1, rounds + 1):
            await _afresh(engine, redis, seeded_outbox=int(seeded_outbox or 0))
            await _engage(redis, ids, now=now, rng=random.Random(1))
            first = await job()
            baseline = await repeat_for_async(first.seconds, copy)
            one_copy = baseline.seconds / baseline.repeats
            quiet = await repeat_for_async(one_copy, job)
            busy = await repeat_for_async(one_copy, busy_job)
            baselines.append(baseline)
            for name, lap in ((FIRST, first), (QUIET, quiet), (BUSY, busy)):
                laps[name].append(Round(number, lap, baseline))
            print(
                f"round {number}: first {first.seconds:.3f}s; baseline {one_copy:.3f}s a copy ({baseline.repeats}); "
                f"quiet {quiet.seconds / quiet.repeats:.3f}s a job ({quiet.repeats}); busy "
                f"{busy.seconds / busy.repeats:.3f}s a job ({busy.repeats})"
            )
        return {name: Comparison(tuple(measured)) for name, measured in laps.items()}, baselines
    finally:
        await redis.aclose()
        await engine.dispose()


async def _afresh(engine: AsyncEngine, redis: Redis, *, seeded_outbox: int) -> None:
    """Untimed: no score saved or held, every product's popularity as seeded, no outbox row the roll-up wrote."""
    await redis.flushdb()
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(sa.delete(SegmentScore))
        await session.execute(
            sa.text(
                "UPDATE products p SET popularity = b.popularity FROM bench_popularity b "
                "WHERE p.id = b.id AND p.popularity IS DISTINCT FROM b.popularity"
            )
        )
        await session.execute(sa.text("DELETE FROM search_outbox WHERE id > :seeded"), {"seeded": seeded_outbox})
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(sa.text("VACUUM ANALYZE products, segment_scores, search_outbox"))


async def _engage(redis: Redis, ids: list[uuid.UUID], *, now: datetime.datetime, rng: random.Random) -> None:
    at = now.timestamp()
    signals = [
        Signal(SEGMENT, product_id, rng.choice((1.0, 2.0, 6.0)), at - rng.uniform(0, 5 * 86400)) for product_id in ids
    ]
    for start in range(0, len(signals), 2000):
        await add_signals(redis, DECAY, signals[start : start + 2000], now=at)


async def _job(engine: AsyncEngine, redis: Redis, now: datetime.datetime) -> float:
    """One turn of the roll-up job, as ``personalization.jobs`` runs it."""
    started = time.perf_counter()
    async with AsyncSession(engine) as session, session.begin():
        rolled_up = await roll_up(session, redis, DECAY, now=now)
        await publish_popularity(session, rolled_up.pooled, DECAY, now=now)
    await forget_rolled_up(redis)
    return time.perf_counter() - started


async def _copy_everything(engine: AsyncEngine, redis: Redis, now: datetime.datetime) -> float:
    """The roll-up before 2026-12-02: every segment's every score read, deleted and written again."""
    started = time.perf_counter()
    async with AsyncSession(engine) as session, session.begin():
        for segment in (SEGMENT, EVERYONE):
            scores = await segment_scores(redis, DECAY, segment, now=now.timestamp())
            await session.execute(sa.delete(SegmentScore).where(SegmentScore.segment == segment))
            await session.execute(upsert_scores([(segment, product, score) for product, score in scores], now))
    return time.perf_counter() - started
