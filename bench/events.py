"""``python -m bench events``: behaviour events through ``POST /v1/events`` into the event store, beside a raw COPY.

The demo catalog (``--products``, 5,000 by default) and a population of apps: ``DEVICES`` anonymous devices and
``SHOPPERS`` signed-in shoppers of every segment (70% of the batches come from devices). Each request is a batch
of ``BATCH`` events (views, clicks, likes, carts) of one device or shopper about products of the catalog, popular
ones more often, as an app sends what it buffered; ``--connections`` requests at a time against a real API
process (uvicorn running the app factory, as ``shoa serve`` does), which checks them, scores them in Redis and
appends them to ``insights_events`` in the request's transaction.

Beside it, in the same run and on the same PostgreSQL: rows of the same shape (segment, age band, gender, mall,
product, category, kind, time, who) COPYed straight into ``insights_events``, the floor of what storing an event
costs. The two sides take turns for ``--rounds`` rounds; in each, the API posts for ``--duration`` seconds and
COPY then runs for as long as the API side took (COPYs of ``COPY_ROWS`` rows, each its own transaction), so both
see the table at the same size; before each side, untimed, ``ANALYZE`` and ``CHECKPOINT`` (see :func:`_settle`).
The ratio is the median of the rounds' ratios (issue 20: a one-second COPY swung by 1.7x between runs).
Afterwards the store must hold exactly what the API accepted plus what COPY wrote.
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
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import sqlalchemy as sa

from accounts.segments import AgeBand, audience_for, korea_today
from bench.cpu_time import CpuSample, cpu_use
from bench.cpus import plan_cpus
from bench.embedded import embedded_services
from bench.report import BUSY_MACHINE_PERCENT, cpu_model, markdown_page, markdown_table, now_utc, save_texts, text_table
from bench.rounds import Lap, interleave_async, listed, repeat_for_async
from catalog.demo import seed_demo_malls
from catalog.demo_products import seed_demo_products
from catalog.models import Product
from insights.jobs import keep_event_partitions
from shoa_api.database import create_engine, create_session_maker, run_unit_of_work
from shoa_api.wiring import access_tokens_from

if TYPE_CHECKING:
    import argparse

    from sqlalchemy.ext.asyncio import AsyncSession

    from bench.rounds import Comparison
    from bench.server import AppServer
    from shoa_api.settings import Settings

DEVICES = 20_000
SHOPPERS = 2_000
DEVICE_SHARE = 0.7
"""Of the batches, those an anonymous device sends; the rest come from signed-in shoppers."""
BATCH = 20
KINDS = (("view", 0.70), ("click", 0.15), ("like", 0.08), ("add_to_cart", 0.07))
COPY_ROWS = 5_000
"""Rows per COPY of the baseline, each in its own transaction."""
EVENT_COLUMNS = [
    "at", "id", "kind", "product_id", "mall_id", "category_path", "segment", "gender", "age_band", "shopper_id",
    "device_id", "dedupe_key",
]  # fmt: skip


class BenchmarkError(RuntimeError):
    pass


@dataclass(frozen=True, kw_only=True)
class Sender:
    """One app: an anonymous device (``device_id``) or a signed-in shopper (``authorization``), in a segment."""

    device_id: str | None = None
    authorization: str | None = None
    user_id: uuid.UUID | None = None
    segment: str = "anonymous"
    gender: str | None = None
    age_band: str | None = None

    def headers(self) -> dict[str, str]:
        if self.authorization is not None:
            return {"Authorization": self.authorization, "Content-Type": "application/json"}
        return {"X-Device-Id": str(self.device_id), "Content-Type": "application/json"}


@dataclass(frozen=True)
class Shelf:
    """The products events are about: id, mall and category path, most popular first."""

    products: list[tuple[uuid.UUID, uuid.UUID, str]]
    weights: list[float]
    where: dict[uuid.UUID, tuple[uuid.UUID, str]]
    """Each product's mall and category path."""

    @classmethod
    def of(cls, products: list[tuple[uuid.UUID, uuid.UUID, str]]) -> Shelf:
        # A long tail, as engagement is: the n-th product about 1/n as often as the first (Zipf, s = 0.8).
        weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(products))]
        return cls(products, weights, {product: (mall, path) for product, mall, path in products})


def event_batch(rng: random.Random, shelf: Shelf, *, now: datetime.datetime, size: int = BATCH) -> list[dict[str, Any]]:
    """One app's batch: ``size`` events of the last few minutes, new ids, products by popularity."""
    products = rng.choices(shelf.products, weights=shelf.weights, k=size)
    kinds = rng.choices([kind for kind, _ in KINDS], weights=[share for _, share in KINDS], k=size)
    return [
        {"id": str(uuid.uuid4()), "kind": kind, "product_id": str(product_id),
         "occurred_at": (now - datetime.timedelta(seconds=rng.uniform(0, 180))).isoformat()}
        for (product_id, _, _), kind in zip(products, kinds, strict=True)
    ]  # fmt: skip


def copy_rows(
    rng: random.Random, shelf: Shelf, senders: list[Sender], *, now: datetime.datetime, count: int
) -> list[tuple[Any, ...]]:
    """``count`` rows as the store holds them, of the same population and catalog as the posted events."""
    rows = []
    for _ in range(count // BATCH + 1):
        sender = rng.choice(senders)
        for event in event_batch(rng, shelf, now=now):
            product_id = uuid.UUID(event["product_id"])
            mall_id, category_path = shelf.where[product_id]
            rows.append((
                datetime.datetime.fromisoformat(event["occurred_at"]), uuid.uuid4(), event["kind"], product_id,
                mall_id, category_path, sender.segment, sender.gender, sender.age_band, sender.user_id,
                sender.device_id, uuid.uuid4(),
            ))  # fmt: skip
    return rows[:count]


@dataclass
class Posting:
    accepted: int = 0
    requests: int = 0
    latencies_ms: list[float] = field(default_factory=list)


def run(args: argparse.Namespace) -> int:
    command, started_at = shlex.join(sys.orig_argv), now_utc()
    cpus = plan_cpus()
    print(f"command: {command}")
    print(
        f"{args.products:,} products; {DEVICES:,} devices and {SHOPPERS:,} shoppers post batches of {BATCH}, "
        f"{args.connections} at a time; {args.rounds} rounds of {args.duration:g} s each side; {cpus.describe()}\n"
    )
    with (
        tempfile.TemporaryDirectory(prefix="shoa-bench-events-") as tmp_name,
        embedded_services(Path(tmp_name), cpus=cpus.load) as services,
    ):
        settings, started = services.settings, time.perf_counter()
        shelf = asyncio.run(run_unit_of_work(settings.database, lambda s: _catalog(s, products=args.products)))
        senders = asyncio.run(_population(services.socket_dir, settings))
        asyncio.run(_partitions(settings))
        print(f"seeded {len(shelf.products):,} products and {SHOPPERS:,} shoppers in "
              f"{time.perf_counter() - started:.1f}s")  # fmt: skip
        with services.api_server(cpus=cpus.server) as server:
            outcome = asyncio.run(_rounds(args, server, services.socket_dir, shelf, senders))
            peak_rss = server.peak_rss_mib()
    return _report(args, command=command, started_at=started_at, outcome=outcome, peak_rss=peak_rss)


async def _catalog(session: AsyncSession, *, products: int) -> Shelf:
    await seed_demo_malls(session)
    await seed_demo_products(session, products=products)
    rows = await session.execute(
        sa.select(Product.id, Product.mall_id, Product.category_path).where(Product.status != "hidden")
    )
    found = [(product_id, mall_id, path) for product_id, mall_id, path in rows]
    random.Random(products).shuffle(found)  # which products are popular: any, not the first made
    return Shelf.of(found)


async def _population(socket_dir: Path, settings: Settings) -> list[Sender]:
    """Devices, and shoppers (rows COPYed in, tokens signed as the API signs them) of every gender and age."""
    rng, now = random.Random(SHOPPERS), datetime.datetime.now(datetime.UTC)
    signer = access_tokens_from(settings.security)
    bands = {AgeBand.TEENS: 17, AgeBand.EARLY_20S: 21, AgeBand.MID_20S: 25, AgeBand.LATE_20S: 28,
             AgeBand.EARLY_30S: 31, AgeBand.MID_30S: 35, AgeBand.LATE_30S: 38, AgeBand.FORTIES_PLUS: 45}  # fmt: skip
    shoppers, rows = [], []
    for number in range(SHOPPERS):
        user_id, gender = uuid.uuid4(), rng.choices(["female", "male"], weights=[0.8, 0.2])[0]
        age = rng.choice(list(bands.values()))
        birth_date = datetime.date(now.year - age - 1, rng.randint(1, 12), rng.randint(1, 28))
        audience = audience_for(gender, birth_date, today=korea_today(now))
        rows.append((user_id, f"bench{number}@bench.shoa.test", gender, birth_date))
        shoppers.append(Sender(
            authorization=f"Bearer {signer.issue(user_id, now=now)[0]}", user_id=user_id, segment=audience.segment,
            gender=audience.gender, age_band=audience.age_band.value if audience.age_band else None,
        ))  # fmt: skip
    connection = await asyncpg.connect(host=str(socket_dir), user="postgres", database="shoa")
    try:
        await connection.copy_records_to_table("users", records=rows, columns=["id", "email", "gender", "birth_date"])
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    devices = [Sender(device_id=f"bench-device-{number:06d}") for number in range(DEVICES)]
    return devices + shoppers


async def _partitions(settings: Settings) -> None:
    """Today's and the next week's day partitions, as the worker makes them when it starts."""
    engine = create_engine(settings.database)
    try:
        await keep_event_partitions(create_session_maker(engine), retention_days=settings.insights.retention_days)
    finally:
        await engine.dispose()


@dataclass
class _Outcome:
    comparison: Comparison
    latencies_ms: list[float]
    cpu_others_percent: float
    stored: int
    expected: int


async def _rounds(
    args: argparse.Namespace, server: AppServer, socket_dir: Path, shelf: Shelf, senders: list[Sender]
) -> _Outcome:
    devices = [s for s in senders if s.device_id is not None]
    shoppers = [s for s in senders if s.authorization is not None]
    rng = random.Random(args.seed)
    latencies: list[float] = []
    others: list[float] = []
    connection = await asyncpg.connect(host=str(socket_dir), user="postgres", database="shoa")
    limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30.0, limits=limits) as client:
            warm = await _post_for(client, args.warmup, rng=rng, shelf=shelf, devices=devices, shoppers=shoppers,
                                   connections=args.connections)  # fmt: skip
            expected = warm.accepted

            async def api_side(_number: int) -> Lap:
                nonlocal expected
                before = CpuSample.take(server.pid)
                started = time.perf_counter()
                posted = await _post_for(client, args.duration, rng=rng, shelf=shelf, devices=devices,
                                         shoppers=shoppers, connections=args.connections)  # fmt: skip
                seconds = time.perf_counter() - started
                others.append(cpu_use(before, CpuSample.take(server.pid), test_seconds=seconds).others_percent)
                latencies.extend(posted.latencies_ms)
                expected += posted.accepted
                return Lap(posted.accepted, seconds)

            async def copy_side(_number: int, seconds: float) -> Lap:
                nonlocal expected
                lap = await _copy_for(connection, seconds, rng, shelf, senders)
                expected += int(lap.work)
                return lap

            comparison = await interleave_async(
                args.rounds,
                side=api_side,
                baseline=copy_side,
                settle=lambda: _settle(connection),
                show=lambda measured: print(measured.describe(side="API", baseline="COPY", unit="events/s")),
            )
        stored = int(await connection.fetchval("SELECT count(*) FROM insights_events"))
    finally:
        await connection.close()
    return _Outcome(comparison, latencies, statistics.median(others), stored, expected)


async def _settle(connection: asyncpg.Connection) -> None:
    """Between the sides, untimed: the store analyzed, as autovacuum keeps a growing day partition analyzed (a plan
    made while the partition was nearly empty would scan it whole once COPY has filled it), and a checkpoint, so
    neither side writes out the other's dirty pages."""
    await connection.execute("ANALYZE insights_events")
    await connection.execute("CHECKPOINT")


async def _post_for(
    client: httpx.AsyncClient,
    seconds: float,
    *,
    rng: random.Random,
    shelf: Shelf,
    devices: list[Sender],
    shoppers: list[Sender],
    connections: int,
) -> Posting:
    """``connections`` apps posting batches one after another for ``seconds``."""
    posting, deadline = Posting(), time.perf_counter() + seconds

    async def one_app() -> None:
        while time.perf_counter() < deadline:
            sender = rng.choice(devices if rng.random() < DEVICE_SHARE else shoppers)
            body = json.dumps({"events": event_batch(rng, shelf, now=datetime.datetime.now(datetime.UTC))})
            started = time.perf_counter()
            response = await client.post("/v1/events", content=body, headers=sender.headers())
            posting.latencies_ms.append(1000 * (time.perf_counter() - started))
            if response.status_code != 200:
                msg = f"POST /v1/events answered {response.status_code}: {response.text[:300]}"
                raise BenchmarkError(msg)
            answer = response.json()
            if answer["rejected"]:
                msg = f"the API rejected events: {answer['items'][:3]}"
                raise BenchmarkError(msg)
            posting.accepted += answer["accepted"]
            posting.requests += 1

    await asyncio.gather(*(one_app() for _ in range(connections)))
    return posting


async def _copy_for(
    connection: asyncpg.Connection, seconds: float, rng: random.Random, shelf: Shelf, senders: list[Sender]
) -> Lap:
    """COPYs of ``COPY_ROWS`` rows until they have taken ``seconds`` between them (making the rows is not timed)."""

    async def one_copy() -> Lap:
        rows = copy_rows(rng, shelf, senders, now=datetime.datetime.now(datetime.UTC), count=COPY_ROWS)
        started = time.perf_counter()
        await connection.copy_records_to_table("insights_events", records=rows, columns=EVENT_COLUMNS)
        return Lap(len(rows), time.perf_counter() - started)

    return await repeat_for_async(seconds, one_copy)


def _report(args: argparse.Namespace, *, command: str, started_at: str, outcome: _Outcome, peak_rss: float) -> int:
    comparison = outcome.comparison
    latencies = sorted(outcome.latencies_ms)
    p50, p99 = latencies[len(latencies) // 2], latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    rows = [
        ("raw COPY into insights_events", f"{comparison.baseline_rate:,.0f}", "", "", "1.00x", "",
         listed(comparison.baseline_rates)),
        (f"POST /v1/events ({BATCH} a batch)", f"{comparison.side_rate:,.0f}", f"{p50:.1f}", f"{p99:.1f}",
         f"{comparison.ratio:.3f}x", comparison.spread(), listed(comparison.side_rates)),
    ]  # fmt: skip
    columns = ("side", "events/s (median round)", "p50 ms", "p99 ms", "ratio (median)", "range", "rounds")
    print()
    print(text_table(columns, rows, numeric={1, 2, 3, 4}))
    audit = "every event stored once" if outcome.stored == outcome.expected else "MISMATCH"
    notes = [
        f"ratio: the median of the {len(comparison.rounds)} rounds' own ratios (API events/s over COPY rows/s in "
        f"that round): {comparison.per_round()}; odd rounds the API first, even rounds COPY first",
        "seconds per round, API / COPY: "
        + ", ".join(f"{measured.side.seconds:.1f} / {measured.baseline.seconds:.1f}" for measured in comparison.rounds),
        f"store: {outcome.stored:,} rows, expected {outcome.expected:,} (accepted by the API + COPYed): {audit}",
        f"API peak RSS {peak_rss:.0f} MiB; others' CPU use during the API rounds {outcome.cpu_others_percent:.0f}%"
        + (" - a busy machine, figures unreliable" if outcome.cpu_others_percent > BUSY_MACHINE_PERCENT else ""),
    ]
    print("\n".join(notes))
    document = {
        "benchmark": "events", "command": command, "started_at": started_at, "cpu": cpu_model(),
        "products": args.products, "devices": DEVICES, "shoppers": SHOPPERS, "batch": BATCH,
        "connections": args.connections, "rounds": args.rounds, "duration_s": args.duration,
        "api_events_per_s": [round(rate) for rate in comparison.side_rates],
        "copy_rows_per_s": [round(rate) for rate in comparison.baseline_rates],
        "ratio": round(comparison.ratio, 3), "ratio_low": round(comparison.low, 3),
        "ratio_high": round(comparison.high, 3), "comparison": comparison.as_json(), "p50_ms": round(p50, 1),
        "p99_ms": round(p99, 1), "api_peak_rss_mib": round(peak_rss),
        "stored": outcome.stored, "expected": outcome.expected,
    }  # fmt: skip
    markdown = markdown_page(
        benchmark="events", started_at=started_at, command=command,
        table=markdown_table(columns, rows, numeric={1, 2, 3, 4}), notes=notes,
        sections={"machine": {"cpu": cpu_model()}},
    )  # fmt: skip
    for path in save_texts(args.output_dir, "events", started_at, {".json": json.dumps(document, indent=2) + "\n",
                                                                      ".md": markdown}):  # fmt: skip
        print(f"saved {path}")
    if outcome.stored != outcome.expected:
        msg = f"the store holds {outcome.stored:,} events, not the {outcome.expected:,} accepted and COPYed"
        raise BenchmarkError(msg)
    return 0
