"""``python -m bench rollup``: the worker's score roll-up, beside copying every score as it once did.

Every demo product (20,000 by default) is engaged: a score in one segment and in everyone's pool, 2 scores a
product. The roll-up job's work (``personalization.rollup.roll_up``, then the products' popularity) is timed for
three minutes: the first, when every score is new; a quiet one, nothing new; and a busy one, with 1% of the
products engaged again. Beside them, in the same run, the baseline: what the roll-up did until 2026-12-02 each
minute, whatever had changed (read every score from Redis, delete every saved row, insert them all again). No
goal: the ratios are for information.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.report import cpu_model, markdown_page, markdown_table, now_utc, save_texts
from catalog.demo import seed_demo_malls
from catalog.demo_products import seed_demo_products
from catalog.models import Product
from personalization.models import SegmentScore
from personalization.popularity import publish_popularity
from personalization.rollup import forget_rolled_up, roll_up, upsert_scores
from personalization.scores import EVERYONE, Decay, Signal, add_signals, segment_scores
from shoa_api.migrate import upgrade_to_head
from shoa_api.runtime import EmbeddedPostgres, EmbeddedRedis

if TYPE_CHECKING:
    import argparse
    import uuid

    from sqlalchemy.ext.asyncio import AsyncEngine

DECAY = Decay(half_life_seconds=72 * 3600.0)
SEGMENT = "female:20s_late"
BUSY_SHARE = 0.01


def run(args: argparse.Namespace) -> int:
    command, started_at = shlex.join(sys.orig_argv), now_utc()
    print(f"command: {command}")
    print(f"{args.products:,} products, each with a score in {SEGMENT} and in everyone's pool\n")
    with (
        tempfile.TemporaryDirectory(prefix="shoa-bench-rollup-") as tmp_name,
        EmbeddedPostgres(Path(tmp_name) / "postgres", durable=False) as postgres,
        EmbeddedRedis(Path(tmp_name) / "redis", durable=False) as redis,
    ):
        upgrade_to_head(postgres.url)
        timings = asyncio.run(_measure(postgres.url, redis.url, products=args.products))
    baseline = timings["baseline: copy every score"]
    rows = [(name, f"{seconds:.3f}", f"{seconds / baseline:.3f}x") for name, seconds in timings.items()]
    table = markdown_table(("minute", "seconds", "vs baseline"), rows, numeric={1, 2})
    print("\n".join(table))
    document = {"benchmark": "rollup", "command": command, "started_at": started_at, "cpu": cpu_model(),
                "products": args.products, "timings_s": timings}  # fmt: skip
    markdown = markdown_page(
        benchmark="rollup",
        started_at=started_at,
        command=command,
        table=table,
        notes=[f"{args.products:,} products, each with a score in {SEGMENT} and in everyone's pool"],
        sections={"machine": {"cpu": cpu_model()}},
    )
    texts = {".json": json.dumps(document, indent=2) + "\n", ".md": markdown}
    for path in save_texts(args.output_dir, "rollup", started_at, texts):
        print(f"saved {path}")
    return 0


async def _measure(database_url: str, redis_url: str, *, products: int) -> dict[str, float]:
    engine = create_async_engine(database_url)
    redis = Redis.from_url(redis_url)
    try:
        async with AsyncSession(engine) as session, session.begin():
            await seed_demo_malls(session)
            await seed_demo_products(session, products=products)
        async with AsyncSession(engine) as session:
            ids = list(await session.scalars(sa.select(Product.id)))
        now = datetime.datetime.now(datetime.UTC)
        await _engage(redis, ids, now=now, rng=random.Random(1))
        timings = {"first: every score new": await _job(engine, redis, now)}
        timings["quiet: nothing new"] = await _job(engine, redis, now)
        busy = random.Random(2).sample(ids, max(1, int(len(ids) * BUSY_SHARE)))
        await _engage(redis, busy, now=now, rng=random.Random(3))
        timings[f"busy: {BUSY_SHARE:.0%} engaged again"] = await _job(engine, redis, now)
        timings["baseline: copy every score"] = await _copy_everything(engine, redis, now)
        return timings
    finally:
        await redis.aclose()
        await engine.dispose()


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
