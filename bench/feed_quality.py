"""``python -m bench feed-quality``: does ``GET /v1/feed`` show each segment what its shoppers go on to buy?

The demo catalog (20,000 products through the partner sync) and a synthetic population (``bench.feed_population``:
seven segments with tastes of their own, 100 shoppers each by default) on embedded PostgreSQL and Redis. The shoppers sign up
(anonymous ones browse with a device id), and their week of views, clicks, likes and carts goes through the real
API; the worker's jobs run (two passes, as two turns of a running worker would). Each segment's later purchases
are held out: never sent, they are what the feed is judged against. A fresh account of each segment (a fresh
device for ``anonymous``) then reads the feed's first 100 products through its cursors. The anonymous shoppers'
devices have been around a month: before they send their week, the bench writes the first-seen marks a month of
use would have left (``mark_first_seen``), since a device the server met today counts nothing (``insights.devices``).

Reported per segment: NDCG@20 of the feed against the held-out purchases, beside two baselines ranking the same
products the feed may show (on show, in stock, for the segment's gender): newest first, and global popularity
(every event of every segment, weighted as the API weighs them), both spread by the feed's own diversity rules;
and the mall mix of the feed's first 100. The whole is run for ``--seeds`` populations (4 by default), each on a
catalog of its own, and judged on their mean (decision of issue 18): the goal is that for every segment the
feed's mean beats both baselines' and no seed is below either by more than 0.01, and that no mall has more than
20% of any segment's first 100. Each segment's share of the true-taste ceiling is printed beside it.
"""

from __future__ import annotations

import asyncio
import datetime
import shlex
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import create_async_engine

from accounts.segments import korea_today
from bench.cpus import plan_cpus
from bench.feed_metrics import gap_interval, mall_mix, ndcg_at, rank_by
from bench.feed_population import TASTES, CatalogItem, Interaction, Population, Taste, build_population
from bench.feed_report import (
    FEED,
    NEWEST,
    POPULARITY,
    SEGMENT_TOP,
    TRUE_TASTE,
    FeedQualityReport,
    FeedQualitySeries,
    SegmentResult,
    render_series_text,
    render_text,
    save,
)
from bench.http import BenchmarkError, _base_environment, _process_pinned_to, _shoa_variables
from bench.report import Laps, now_utc
from bench.server import AppServer
from catalog.demo import seed_demo_malls
from catalog.demo_products import seed_demo_products
from catalog.models import Mall, MallStatus, Product, ProductStatus
from insights.devices import FIRST_SEEN_KEEP
from insights.models import Device
from personalization.candidates import Candidate
from personalization.feed import RANK_DEPTH, Ranked, diversify
from personalization.scores import FIRST_SEEN_PREFIX
from shoa_api.database import async_database_url, run_unit_of_work
from shoa_api.migrate import upgrade_to_head
from shoa_api.runtime import EmbeddedPostgres, EmbeddedRedis
from shoa_api.settings import load_settings
from shoa_api.wiring import redis_client
from shoa_api.worker import Job, WorkerContext, default_jobs, run_worker

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from shoa_api.settings import FeedSettings, Settings

K = 20
FIRST_ITEMS = 100
PAGE_SIZE = 50
BATCH = 100
WORKER_PASSES = 2
PASSWORD = "closet-for-spring-2026"  # noqa: S105 - the benchmark's made-up shoppers
BENCH_VARIABLES = {
    # Every shopper signs up and sends events from this one address, far faster than people do.
    "SHOA_RATE_LIMIT_SIGNUP_PER_IP_PER_HOUR": "1000000000",
    "SHOA_FEED_EVENTS_PER_DEVICE_PER_MINUTE": "1000000000",
    # Hundreds of signups: password hashing is not what this benchmark is about.
    "SHOA_ARGON2_TIME_COST": "1",
    "SHOA_ARGON2_MEMORY_KIB": "1024",
    "SHOA_ARGON2_PARALLELISM": "1",
}


@dataclass(frozen=True)
class FeedRead:
    segment: str
    items: list[dict[str, Any]]
    pages_ms: list[float]


def run(args: argparse.Namespace) -> int:
    command, started_at = shlex.join(sys.orig_argv), now_utc()
    print(f"command: {command}")
    seeds = [args.seed + n for n in range(args.seeds)]
    reports = []
    for seed in seeds:
        print(f"{len(TASTES)} segments x {args.shoppers} shoppers over {args.products:,} products, seed {seed}\n")
        report = _run_seed(args, seed=seed, command=command, started_at=started_at)
        print()
        print(render_text(report))
        print()
        reports.append(report)
    series = FeedQualitySeries(command=command, started_at=started_at, reports=reports)
    print(render_series_text(series))
    for path in save(series, args.output_dir):
        print(f"saved {path}")
    return 0


def _run_seed(args: argparse.Namespace, *, seed: int, command: str, started_at: str) -> FeedQualityReport:
    """One population (``seed``) on a catalog of its own, played, worked and read."""
    lap = Laps()

    cpus = plan_cpus()
    with (
        tempfile.TemporaryDirectory(prefix="shoa-bench-feed-") as tmp_name,
        _process_pinned_to(cpus.load),
        EmbeddedPostgres(Path(tmp_name) / "postgres", durable=False) as postgres,
        EmbeddedRedis(Path(tmp_name) / "redis", durable=False) as redis,
    ):
        tmp = Path(tmp_name)
        variables = _shoa_variables(database_url=postgres.url, redis_url=redis.url) | BENCH_VARIABLES
        settings = load_settings(variables, env_file=None)
        upgrade_to_head(settings.database.url)
        catalog = asyncio.run(run_unit_of_work(settings.database, partial(_seed_catalog, products=args.products)))
        print(f"catalog: {len(catalog):,} products on show, seeded through the partner sync")
        lap("catalog")
        population = build_population(
            catalog, shoppers_per_segment=args.shoppers, seed=seed, now=datetime.datetime.now(datetime.UTC)
        )
        print(f"population: {len(population.shoppers)} shoppers, {len(population.interactions()):,} interactions")
        lap("population")
        server = AppServer(
            "shoa_api.app:create_app_from_environment",
            environment=_base_environment() | variables,
            log_path=tmp / "server.log",
            ready_path="/health/live",
            cpus=cpus.server,
            cwd=tmp,
        )
        with server, httpx.Client(base_url=server.base_url, timeout=60.0) as client:
            devices = organic_devices(population, settings, age_days=args.device_age_days)
            print(f"{len(devices)} anonymous devices first seen {args.device_age_days:g} days before their week")
            sent = _play(client, population)
            print(f"sent {sent:,} events and likes through the API")
            lap("signals")
            jobs = asyncio.run(_run_worker_jobs(settings, passes=WORKER_PASSES))
            print(f"worker: {WORKER_PASSES} passes of {', '.join(jobs)}")
            lap("worker")
            feeds = {taste.segment: _read_feed(client, taste) for taste in TASTES}
            lap("feeds")
    results = [_evaluate(taste, catalog, population, feeds[taste.segment], settings.feed) for taste in TASTES]
    return FeedQualityReport(
        command=command,
        started_at=started_at,
        options={
            "products": args.products,
            "shoppers_per_segment": args.shoppers,
            "seed": seed,
            "device_age_days": args.device_age_days,
        },
        seconds=lap.with_total(),
        results=results,
        k=K,
        first_items=FIRST_ITEMS,
    )


async def _seed_catalog(session: AsyncSession, *, products: int) -> list[CatalogItem]:
    """The demo malls and products, then every product on show as the population sees it."""
    await seed_demo_malls(session)
    await seed_demo_products(session, products=products)
    columns = (
        Product.id, Product.external_id, Product.mall_id, Mall.slug, Product.category_path, Product.style_tags,
        Product.target_gender, Product.target_age_bands, Product.price_from, Product.in_stock,
    )  # fmt: skip
    query = (
        sa.select(*columns)
        .join(Mall, Mall.id == Product.mall_id)
        .where(Product.status != ProductStatus.HIDDEN.value, Mall.status == MallStatus.ACTIVE.value)
    )
    return [
        CatalogItem(
            id=str(row.id),
            external_id=row.external_id,
            mall_id=str(row.mall_id),
            mall_slug=row.slug,
            category_path=row.category_path,
            style_tags=tuple(row.style_tags),
            target_gender=row.target_gender,
            target_age_bands=tuple(row.target_age_bands),
            price_from=row.price_from,
            in_stock=row.in_stock,
        )
        for row in await session.execute(query)
    ]


def organic_devices(population: Population, settings: Settings, *, age_days: float) -> list[str]:
    """The device ids of the population's anonymous shoppers, as ``_identify`` names them, marked as first seen by
    the server ``age_days`` ago (none: new to it) before they send anything."""
    devices = [_device_id(shopper.name) for shopper in population.shoppers if shopper.taste.gender is None]
    if age_days:
        asyncio.run(mark_first_seen(settings, devices, age=datetime.timedelta(days=age_days)))
    return devices


async def mark_first_seen(settings: Settings, device_ids: Sequence[str], *, age: datetime.timedelta) -> None:
    """Mark ``device_ids`` as first seen by the server ``age`` ago, where the feed (Redis) and the event store note
    it: the marks that much real use would have left, written before the devices send anything."""
    if not device_ids:
        return
    first_seen = datetime.datetime.now(datetime.UTC) - age
    redis = redis_client(settings.redis)
    engine = create_async_engine(async_database_url(settings.database.url))
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for device in device_ids:
                pipe.set(f"{FIRST_SEEN_PREFIX}device:{device}", repr(first_seen.timestamp()),
                         ex=int(FIRST_SEEN_KEEP.total_seconds()))  # fmt: skip
            await pipe.execute()
        async with engine.begin() as connection:
            rows = [{"device_id": device, "first_seen": first_seen} for device in device_ids]
            await connection.execute(
                insert(Device)
                .values(rows)
                .on_conflict_do_update(index_elements=[Device.device_id], set_={"first_seen": first_seen})
            )
    finally:
        await redis.aclose()
        await engine.dispose()


def _device_id(name: str) -> str:
    return f"bench-{name}"


def _play(client: httpx.Client, population: Population) -> int:
    """Sign every shopper up (anonymous ones get a device id) and send their week, as the app would."""
    sent = 0
    for shopper in population.shoppers:
        headers = _identify(client, shopper.taste, name=shopper.name)
        logged_in = "Authorization" in headers
        # The heart button of a logged-in shopper calls PUT /v1/likes; everything else is an event.
        likes = [i for i in shopper.interactions if i.kind == "like" and logged_in]
        events = [i for i in shopper.interactions if not (i.kind == "like" and logged_in)]
        for start in range(0, len(events), BATCH):
            batch = [
                {"id": str(i.id), "kind": i.kind, "product_id": i.product_id, "occurred_at": i.occurred_at.isoformat()}
                for i in events[start : start + BATCH]
            ]
            response = client.post("/v1/events", json={"events": batch}, headers=headers)
            _expect(response, 200)
            answer = response.json()
            if answer["rejected"]:
                reasons = Counter(item.get("reason") for item in answer["items"] if item["result"] == "rejected")
                msg = f"{shopper.name}: {answer['rejected']} events rejected: {dict(reasons)}"
                raise BenchmarkError(msg)
            sent += answer["accepted"]
        for like in likes:
            _expect(client.put(f"/v1/likes/{like.product_id}", headers=headers), 200, 201)
            sent += 1
    return sent


def _identify(client: httpx.Client, taste: Taste, *, name: str) -> dict[str, str]:
    """Headers that make requests come from a shopper of ``taste``: a new account, or a new device."""
    if taste.gender is None or taste.age is None:
        return {"X-Device-Id": _device_id(name)}
    # Half a year past a birthday: the age band cannot flip while the benchmark runs.
    birth_date = korea_today() - datetime.timedelta(days=round(365.25 * (taste.age + 0.5)))
    body = {
        "email": f"{name}@bench.example.kr",
        "password": PASSWORD,
        "gender": taste.gender,
        "birth_date": birth_date.isoformat(),
    }
    response = client.post("/v1/auth/signup", json=body)
    _expect(response, 201)
    answer = response.json()
    if answer["profile"]["segment"] != taste.segment:
        msg = f"{name} signed up as {answer['profile']['segment']}, not {taste.segment}"
        raise BenchmarkError(msg)
    return {"Authorization": f"Bearer {answer['access_token']}"}


async def _run_worker_jobs(settings: Settings, *, passes: int) -> list[str]:
    """Every job of the worker, ``passes`` times in its own order, through the worker's own loop."""
    stop = asyncio.Event()
    failures: list[str] = []
    finished = 0

    def failures_noted(job: Job) -> Job:
        async def run(context: WorkerContext) -> None:
            try:
                await job.run(context)
            except Exception as exc:
                failures.append(f"{job.name}: {exc!r}")
                raise  # the worker logs it, as it would in production

        return Job(name=job.name, every=0.0, run=run)

    async def end_of_pass(context: WorkerContext) -> None:
        nonlocal finished
        finished += 1
        if finished >= passes:
            stop.set()

    jobs = [failures_noted(job) for job in default_jobs(settings)]
    await run_worker(settings, stop=stop, jobs=[*jobs, Job(name="bench-end-of-pass", every=0.0, run=end_of_pass)])
    if failures:
        msg = f"worker jobs failed: {'; '.join(failures)}"
        raise BenchmarkError(msg)
    return [job.name for job in jobs]


def _read_feed(client: httpx.Client, taste: Taste) -> FeedRead:
    """The first ``FIRST_ITEMS`` products a new shopper of ``taste`` sees, page by page."""
    headers = _identify(client, taste, name=f"reader-{taste.segment.replace(':', '-')}-{uuid.uuid4().hex[:8]}")
    items: list[dict[str, Any]] = []
    pages_ms: list[float] = []
    segment = ""
    params: dict[str, str | int] = {"limit": PAGE_SIZE, "explain": "true"}
    while len(items) < FIRST_ITEMS:
        started = time.perf_counter()
        response = client.get("/v1/feed", params=params, headers=headers)
        pages_ms.append(1000 * (time.perf_counter() - started))
        _expect(response, 200)
        page = response.json()
        segment = page["segment"]
        items += page["items"]
        if not page["items"] or not page.get("next_cursor"):
            break
        params = {"limit": PAGE_SIZE, "explain": "true", "cursor": page["next_cursor"]}
    if segment != taste.segment:
        msg = f"a shopper of {taste.segment} got the feed of {segment}"
        raise BenchmarkError(msg)
    return FeedRead(segment, items[:FIRST_ITEMS], pages_ms)


def _evaluate(
    taste: Taste, catalog: list[CatalogItem], population: Population, feed: FeedRead, feed_settings: FeedSettings
) -> SegmentResult:
    by_id = {item.id: item for item in catalog}
    gender = taste.gender or "female"
    # What the feed may show this segment; the baselines rank the same products.
    universe = [i.id for i in catalog if i.in_stock and i.target_gender in (gender, "unisex")]
    everyone = _popularity(population.interactions(), feed_settings)
    own = _popularity(population.interactions(taste.segment), feed_settings)
    # The baselines are judged under the feed's own rules: mall and category diversity (``diversify``).
    rankings = {
        FEED: [str(item["id"]) for item in feed.items],
        NEWEST: _diversified(rank_by(universe, lambda p: (uuid.UUID(p).int,), RANK_DEPTH), by_id),
        POPULARITY: _diversified(rank_by(universe, lambda p: (everyone[p], uuid.UUID(p).int), RANK_DEPTH), by_id),
        SEGMENT_TOP: _diversified(rank_by(universe, lambda p: (own[p], uuid.UUID(p).int), RANK_DEPTH), by_id),
        TRUE_TASTE: _true_taste(taste, [by_id[p] for p in universe], population),
    }
    purchases = population.purchases(taste.segment)
    relevance = {product: float(count) for product, count in purchases.items()}
    mall_of = {item.id: item.mall_slug for item in catalog}
    return SegmentResult(
        segment=taste.segment,
        shoppers=sum(1 for shopper in population.shoppers if shopper.taste is taste),
        events=len(population.interactions(taste.segment)),
        purchases=sum(purchases.values()),
        distinct_purchased=len(purchases),
        ndcg={name: ndcg_at(ranked, relevance, K) for name, ranked in rankings.items()},
        mix={name: mall_mix([mall_of.get(p, "(unknown)") for p in ranked]) for name, ranked in rankings.items()},
        feed_items=len(feed.items),
        gap=gap_interval(
            rankings[FEED],
            [rankings[NEWEST], rankings[POPULARITY]],
            list(purchases.elements()),
            k=K,
            seed=len(universe),
        ),
        feed_ms=feed.pages_ms,
        findings=_findings(feed, by_id, gender=gender),
        explained=[{"id": item["id"], "mall": item["mall"]["name"], **item.get("explain", {})} for item in feed.items],
    )


def _true_taste(taste: Taste, universe: list[CatalogItem], population: Population) -> list[str]:
    """The universe by the segment's expected draw, spread over malls and categories by the feed's rules: the
    ceiling for any feed that keeps those promises."""
    ordered = sorted(universe, key=lambda item: (population.expected_draw(taste, item), item.id), reverse=True)
    return _diversified([item.id for item in ordered[:RANK_DEPTH]], {item.id: item for item in universe})


def _diversified(ranked: list[str], by_id: dict[str, CatalogItem]) -> list[str]:
    """``ranked``, best first, spread by the feed's own diversity rules (at most 2 of a mall and 4 of a top-level
    category in any 10); its first ``FIRST_ITEMS``."""
    entries = [
        Ranked(
            Candidate(uuid.UUID(p), uuid.UUID(by_id[p].mall_id), by_id[p].category_path.split("/", 1)[0], 0, 0, 0, 0),
            mall_affinity=0, category_affinity=0, bought=False, score=0, rank_by_score=n,
        )
        for n, p in enumerate(ranked, start=1)
    ]  # fmt: skip
    return [str(entry.candidate.product_id) for entry in diversify(entries)][:FIRST_ITEMS]


def _findings(feed: FeedRead, by_id: dict[str, CatalogItem], *, gender: str) -> list[str]:
    """What stands out in the feed's first items: what a shopper of the segment should not see (sold out, for
    the other gender, repeats), and why the first ``K`` came first (the score parts ``explain`` gives)."""
    ids = [str(item["id"]) for item in feed.items]
    shown = [by_id[p] for p in ids if p in by_id]
    findings = []
    if len(feed.items) < FIRST_ITEMS:
        findings.append(f"the feed ended after {len(feed.items)} products")
    if (repeats := len(ids) - len(set(ids))) > 0:
        findings.append(f"{repeats} products shown twice across pages")
    if (unknown := len(ids) - len(shown)) > 0:
        findings.append(f"{unknown} products not on show")
    if (sold_out := sum(1 for item in shown if not item.in_stock)) > 0:
        findings.append(f"{sold_out} sold-out products")
    if (other := sum(1 for item in shown if item.target_gender not in (gender, "unisex"))) > 0:
        findings.append(f"{other} products for the other gender")
    explained = [item["explain"] for item in feed.items[:K] if "explain" in item]
    if explained:
        unengaged = sum(1 for parts in explained if parts["popularity"] == 0)
        targets = Counter(parts["target"] for parts in explained)
        findings.append(
            f"first {K}: {unengaged} never engaged by the segment (popularity 0); target parts "
            + ", ".join(f"{target:g} x{count}" for target, count in sorted(targets.items(), reverse=True))
        )
    return findings


def _popularity(interactions: list[Interaction], feed: FeedSettings) -> defaultdict[str, float]:
    """Each product's events, weighted per kind as the API weighs its signals (a cart counts more than a view)."""
    weights = {"view": feed.weight_view, "click": feed.weight_click, "like": feed.weight_like,
               "add_to_cart": feed.weight_add_to_cart}  # fmt: skip
    popularity: defaultdict[str, float] = defaultdict(float)
    for interaction in interactions:
        popularity[interaction.product_id] += weights[interaction.kind]
    return popularity


def _expect(response: httpx.Response, *statuses: int) -> None:
    if response.status_code not in statuses:
        msg = f"{response.request.method} {response.request.url.path} answered {response.status_code}: {response.text[:300]}"
        raise BenchmarkError(msg)
