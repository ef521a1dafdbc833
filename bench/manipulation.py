"""``python -m bench manipulation``: can bots buy a place in the feed, the rankings or the popularity sort?

An organic population (``bench.feed_population``: seven segments of shoppers and their week of browsing) plays
through the real API over the demo catalog, and the worker's jobs run. Its anonymous devices have been around for a
month: the bench writes the first-seen marks such use would have left (``bench.feed_quality.mark_first_seen``); the
attackers' devices are new to the server, but for the aged ones. Then attacks, one after the other, each on
products of its own that no segment's feed shows in its first 100, no ranking lists and the popularity sort does
not put first:

- one device: 20 events on 5 loafers (each viewed, clicked, liked and put in the cart), as issue 18 found it;
- 100 fresh device ids, each viewing, clicking, liking and carting one product;
- 100 fresh browsing devices: the same, each after viewing three other products, as a person browses;
- 100 aged browsing devices: the same from devices the server first saw two days ago (a patient attacker, who made
  them and sent one event from each two days before; the bench writes their marks as that would have);
- a ring of 20 signed-in accounts of one segment, each viewing, clicking, liking and carting one product.

After each attack the worker's jobs run again, and the report gives the targets' best place before and after in
every segment's feed (its whole first session, read through ``GET /v1/feed`` by a new reader of the segment), in
``GET /v1/rankings`` (realtime, the last hour, per segment; ``--no-rankings`` skips them and the minute's wait
after each attack their window needs) and in ``GET /v1/search?sort=popularity``. The goal: no attack of up to
100 devices brings a product into the first 20 of any segment's feed.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import shlex
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from accounts.segments import ANONYMOUS, korea_today
from bench.cpus import plan_cpus
from bench.feed_population import build_population
from bench.feed_quality import (
    BENCH_VARIABLES,
    _expect,
    _play,
    _run_worker_jobs,
    _seed_catalog,
    mark_first_seen,
    organic_devices,
)
from bench.feed_report import machine_facts
from bench.http import BenchmarkError, _base_environment, _process_pinned_to, _shoa_variables
from bench.report import Laps, markdown_page, markdown_table, now_utc, save_texts, text_table
from bench.server import AppServer
from catalog.models import SearchOutbox
from catalog.search.indexing import index_pending
from catalog.search.tantivy_engine import TantivyEngine
from personalization.candidates import all_segments
from personalization.feed import FEED_LENGTH
from personalization.jobs import REFRESHED_AT_KEY
from shoa_api.database import async_database_url, run_unit_of_work
from shoa_api.migrate import upgrade_to_head
from shoa_api.runtime import EmbeddedPostgres, EmbeddedRedis
from shoa_api.settings import load_settings
from shoa_api.wiring import redis_client

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from bench.feed_population import CatalogItem
    from shoa_api.settings import Settings

FIRST = 20
"""The goal: no device attack brings a target into any segment's first 20."""
TARGETS_AVOID = 100
"""Targets are chosen among products no segment's feed shows in its first 100 before any attack."""
RANKING_LENGTH = 50
SEARCH_PAGES = 4
SEARCH_PER_PAGE = 50
DEVICES = 100
RING = 20
RING_SEGMENT = "female:20s_early"
BROWSED_FIRST = 3
AGED = datetime.timedelta(days=2)
"""How long before the attack the server first saw the aged devices."""
EAGER = ("view", "click", "like", "add_to_cart")
"""Everything an app can say about a product: an attacker says all of it."""
AGES = {"10s": 17, "20s_early": 21, "20s_mid": 25, "20s_late": 28, "30s_early": 31, "30s_mid": 35, "30s_late": 38,
        "40s_plus": 45}  # fmt: skip
PASSWORD = "closet-for-spring-2026"  # noqa: S105 - the benchmark's made-up shoppers
VARIABLES = BENCH_VARIABLES | {
    # Every answer read fresh after each attack: no public cache in between.
    "SHOA_PUBLIC_CACHE_SECONDS": "0",
}

Places = dict[str, int | None]
"""Surface (``feed anonymous``, ``rankings female:20s_early``, ``search popularity``) -> the best place of any
target (from 1), or None when none is within what was read."""


@dataclass(frozen=True)
class Attack:
    name: str
    devices: int
    """How many anonymous devices it uses (0 for signed-in accounts): the goal holds for attacks of up to 100."""
    targets: int
    play: Callable[[httpx.Client, list[str], random.Random, list[str], list[str]], int]
    """Sends the attack on the targets (with the catalog's ids for browsing, and the device ids it may use); how
    many events it sent."""
    age: datetime.timedelta | None = None
    """How long before the attack the server first saw its devices; None: never before."""


@dataclass
class AttackResult:
    name: str
    devices: int
    events: int
    targets: list[str]
    before: Places
    after: Places = field(default_factory=dict)

    def reached_first(self) -> list[str]:
        """The segments' feeds the targets reached the first ``FIRST`` of (having been below before)."""
        return [
            surface
            for surface, place in self.after.items()
            if surface.startswith("feed ") and place is not None and place <= FIRST
            and not ((before := self.before.get(surface)) is not None and before <= FIRST)
        ]  # fmt: skip

    def met(self) -> bool | None:
        """For a device attack of up to ``DEVICES``: no segment's first ``FIRST``; None for other attacks."""
        if not 0 < self.devices <= DEVICES:
            return None
        return not self.reached_first()


@dataclass(frozen=True)
class ManipulationReport:
    command: str
    started_at: str
    options: dict[str, Any]
    seconds: dict[str, float]
    surfaces: list[str]
    depth: dict[str, int]
    """How far each kind of surface was read (``feed``, ``rankings``, ``search``)."""
    results: list[AttackResult]


def run(args: argparse.Namespace) -> int:
    command, started_at = shlex.join(sys.orig_argv), now_utc()
    print(f"command: {command}")
    lap = Laps()

    cpus = plan_cpus()
    with (
        tempfile.TemporaryDirectory(prefix="shoa-bench-manipulation-") as tmp_name,
        _process_pinned_to(cpus.load),
        EmbeddedPostgres(Path(tmp_name) / "postgres", durable=False) as postgres,
        EmbeddedRedis(Path(tmp_name) / "redis", durable=False) as redis,
    ):
        tmp = Path(tmp_name)
        variables = _shoa_variables(database_url=postgres.url, redis_url=redis.url) | VARIABLES
        variables["SHOA_SEARCH_DIR"] = str(tmp / "search")  # the worker here and the API there share it
        settings = load_settings(variables, env_file=None)
        upgrade_to_head(settings.database.url)
        catalog = asyncio.run(run_unit_of_work(settings.database, partial(_seed_catalog, products=args.products)))
        print(f"catalog: {len(catalog):,} products on show")
        population = build_population(
            catalog, shoppers_per_segment=args.shoppers, seed=args.seed, now=datetime.datetime.now(datetime.UTC)
        )
        lap("catalog and population")
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
            sent = _play(client, population)
            print(f"organic: {len(population.shoppers)} shoppers sent {sent:,} events and likes ({len(devices)} "
                  f"anonymous devices, first seen {args.device_age_days:g} days before)")  # fmt: skip
            lap("organic")
            _work(settings)
            lap("worker")
            results = _attack_all(client, settings, catalog, seed=args.seed, rankings=not args.no_rankings, lap=lap)
    report = ManipulationReport(
        command=command,
        started_at=started_at,
        options={
            "products": args.products,
            "shoppers_per_segment": args.shoppers,
            "seed": args.seed,
            "device_age_days": args.device_age_days,
        },
        seconds=lap.with_total(),
        surfaces=_surfaces(rankings=not args.no_rankings),
        depth={"feed": FEED_LENGTH, "rankings": RANKING_LENGTH, "search": SEARCH_PAGES * SEARCH_PER_PAGE},
        results=results,
    )
    print()
    print(render_text(report))
    for path in save_texts(args.output_dir, "manipulation", started_at, {".md": render_markdown(report)}):
        print(f"saved {path}")
    return 0


def attacks() -> list[Attack]:
    return [
        Attack("one device: 20 events on 5 loafers", 1, 5, _one_device),
        Attack(f"{DEVICES} fresh devices on one product", DEVICES, 1, partial(_devices, browse=0)),
        Attack(f"{DEVICES} fresh browsing devices on one product", DEVICES, 1, partial(_devices, browse=BROWSED_FIRST)),
        Attack(
            f"{DEVICES} browsing devices first seen {AGED.days} days before",
            DEVICES,
            1,
            partial(_devices, browse=BROWSED_FIRST),
            age=AGED,
        ),
        Attack(f"a ring of {RING} accounts ({RING_SEGMENT})", 0, 1, _ring),
    ]


def _attack_all(
    client: httpx.Client,
    settings: Settings,
    catalog: list[CatalogItem],
    *,
    seed: int,
    rankings: bool,
    lap: Callable[[str], None],
) -> list[AttackResult]:
    rng = random.Random(seed)
    read = partial(_read_places, rankings=rankings)
    before = read(client, set())
    # Nothing any surface shows near its top: the attacks start from the bottom.
    shown = before.products_near_top
    women = [item for item in catalog if item.in_stock and item.target_gender == "female" and item.id not in shown]
    loafers = [item.id for item in women if item.category_path == "신발/로퍼"]
    others = [item.id for item in women if item.category_path != "신발/로퍼"]
    rng.shuffle(loafers)
    rng.shuffle(others)
    all_ids = [item.id for item in catalog if item.in_stock]
    results = []
    for attack in attacks():
        pool = loafers if attack.targets > 1 and len(loafers) >= attack.targets else others
        targets, pool[:] = pool[: attack.targets], pool[attack.targets :]
        started = read(client, set(targets))
        devices = [f"bot-{uuid.uuid4().hex}" for _ in range(attack.devices)]
        if attack.age is not None:
            asyncio.run(mark_first_seen(settings, devices, age=attack.age))
        events = attack.play(client, targets, rng, all_ids, devices)
        _work(settings)
        if rankings:  # the realtime ranking's window ends on the minute: wait for the one after the attack
            time.sleep(61 - datetime.datetime.now(datetime.UTC).second)
        result = AttackResult(attack.name, attack.devices, events, targets, before=started.places)
        result.after = read(client, set(targets)).places
        results.append(result)
        print(f"{attack.name}: {events} events; first {FIRST} of a feed reached: {result.reached_first() or 'none'}")
        lap(attack.name)
    return results


def _one_device(
    client: httpx.Client, targets: list[str], rng: random.Random, catalog: list[str], devices: list[str]
) -> int:
    events = [_event(product, kind) for product in targets for kind in EAGER]
    return _send(client, {"X-Device-Id": devices[0]}, events)


def _devices(
    client: httpx.Client, targets: list[str], rng: random.Random, catalog: list[str], devices: list[str], *,
    browse: int,
) -> int:  # fmt: skip
    sent = 0
    for device in devices:
        browsed = [_event(product, "view") for product in rng.sample(catalog, browse)]
        events = browsed + [_event(product, kind) for product in targets for kind in EAGER]
        sent += _send(client, {"X-Device-Id": device}, events)
    return sent


def _ring(client: httpx.Client, targets: list[str], rng: random.Random, catalog: list[str], devices: list[str]) -> int:
    sent = 0
    for _ in range(RING):
        headers = _sign_up(client, RING_SEGMENT)
        browsed = [_event(product, "view") for product in rng.sample(catalog, BROWSED_FIRST)]
        sent += _send(client, headers, browsed + [_event(product, kind) for product in targets for kind in EAGER])
    return sent


def _event(product: str, kind: str) -> dict[str, str]:
    at = datetime.datetime.now(datetime.UTC).isoformat()
    return {"id": str(uuid.uuid4()), "kind": kind, "product_id": product, "occurred_at": at}


def _send(client: httpx.Client, headers: dict[str, str], events: list[dict[str, str]]) -> int:
    response = client.post("/v1/events", json={"events": events}, headers=headers)
    _expect(response, 200)
    return int(response.json()["accepted"])


def _sign_up(client: httpx.Client, segment: str) -> dict[str, str]:
    """A new account of ``segment`` (a new device for the anonymous one)."""
    if segment == ANONYMOUS:
        return {"X-Device-Id": f"reader-{uuid.uuid4().hex}"}
    gender, band = segment.split(":")
    # Half a year past a birthday: the age band cannot flip while the benchmark runs.
    birth_date = korea_today() - datetime.timedelta(days=round(365.25 * (AGES[band] + 0.5)))
    body = {"email": f"{uuid.uuid4().hex[:16]}@bench.example.kr", "password": PASSWORD, "gender": gender,
            "birth_date": birth_date.isoformat()}  # fmt: skip
    response = client.post("/v1/auth/signup", json=body)
    _expect(response, 201)
    answer = response.json()
    if answer["profile"]["segment"] != segment:
        msg = f"a reader signed up as {answer['profile']['segment']}, not {segment}"
        raise BenchmarkError(msg)
    return {"Authorization": f"Bearer {answer['access_token']}"}


@dataclass(frozen=True)
class _Read:
    places: Places
    products_near_top: set[str]
    """What the surfaces show near their tops: every feed's first ``TARGETS_AVOID``, every ranking, the first
    page of the popularity sort."""


def _surfaces(*, rankings: bool) -> list[str]:
    segments = all_segments()
    ranked = [f"rankings {s}" for s in segments] if rankings else []
    return [*(f"feed {s}" for s in segments), *ranked, "search popularity"]


def _read_places(client: httpx.Client, targets: set[str], *, rankings: bool) -> _Read:
    places: Places = {}
    near_top: set[str] = set()
    for segment in all_segments():
        feed = _feed(client, segment)
        places[f"feed {segment}"] = _best(feed, targets)
        near_top.update(feed[:TARGETS_AVOID])
        if rankings:
            ranked = _rankings(client, segment)
            places[f"rankings {segment}"] = _best(ranked, targets)
            near_top.update(ranked)
    popular = _popularity(client)
    places["search popularity"] = _best(popular, targets)
    near_top.update(popular[:SEARCH_PER_PAGE])
    return _Read(places, near_top)


def _best(ranked: list[str], targets: set[str]) -> int | None:
    return next((place for place, product in enumerate(ranked, start=1) if product in targets), None)


def _feed(client: httpx.Client, segment: str) -> list[str]:
    """The whole first session of ``segment``'s feed, read by a new reader of it."""
    headers = _sign_up(client, segment)
    items: list[str] = []
    params: dict[str, str | int] = {"limit": 50}
    while True:
        response = client.get("/v1/feed", params=params, headers=headers)
        _expect(response, 200)
        page = response.json()
        if page["segment"] != segment:
            msg = f"a reader of {segment} got the feed of {page['segment']}"
            raise BenchmarkError(msg)
        items += [item["id"] for item in page["items"]]
        if not page["next_cursor"]:
            return items
        params = {"limit": 50, "cursor": page["next_cursor"]}


def _rankings(client: httpx.Client, segment: str) -> list[str]:
    response = client.get("/v1/rankings", params={"segment": segment, "period": "realtime", "limit": RANKING_LENGTH})
    _expect(response, 200)
    return [item["id"] for item in response.json()["items"]]


def _popularity(client: httpx.Client) -> list[str]:
    ids: list[str] = []
    for page in range(1, SEARCH_PAGES + 1):
        params: dict[str, str | int] = {"sort": "popularity", "page": page, "per_page": SEARCH_PER_PAGE}
        response = client.get("/v1/search", params=params)
        _expect(response, 200)
        ids += [item["id"] for item in response.json()["items"]]
    return ids


def _work(settings: Settings) -> None:
    """The worker's jobs, two passes (the roll-up, then candidates from it), as if the minute between candidate
    refreshes had passed; then the search index settled."""
    asyncio.run(_refresh_due(settings))
    asyncio.run(_run_worker_jobs(settings, passes=2))
    asyncio.run(_settle_search(settings))


async def _refresh_due(settings: Settings) -> None:
    redis = redis_client(settings.redis)
    try:
        await redis.set(REFRESHED_AT_KEY, 0)
    finally:
        await redis.aclose()


async def _settle_search(settings: Settings) -> None:
    engine = create_async_engine(async_database_url(settings.database.url))
    writer = TantivyEngine(settings.search.dir)
    try:
        session_maker = async_sessionmaker(engine, expire_on_commit=False)
        while await index_pending(session_maker, writer):
            pass
        async with session_maker() as session:
            left = await session.scalar(sa.select(sa.func.count()).select_from(SearchOutbox))
        if left:
            msg = f"{left} search outbox rows left unindexed"
            raise BenchmarkError(msg)
    finally:
        writer.close()
        await engine.dispose()


def columns(report: ManipulationReport) -> tuple[str, ...]:
    return ("where", *(f"{r.name}: before -> after" for r in report.results))


def rows(report: ManipulationReport) -> list[tuple[str, ...]]:
    def cell(place: int | None, surface: str) -> str:
        return str(place) if place is not None else f">{report.depth[surface.split(maxsplit=1)[0]]}"

    return [
        (surface, *(f"{cell(r.before.get(surface), surface)} -> {cell(r.after.get(surface), surface)}"
                    for r in report.results))
        for surface in report.surfaces
    ]  # fmt: skip


def notes(report: ManipulationReport) -> list[str]:
    lines = [
        f"Each cell: the best place (from 1) of the attack's targets before and after it; >N: not within the first N "
        f"read (feeds: a whole session of {report.depth['feed']}, rankings: {report.depth['rankings']} realtime, "
        f"search: {report.depth['search']} by popularity).",
    ]
    for r in report.results:
        verdict = {None: "for information (no goal)", True: "met", False: "MISSED"}[r.met()]
        reached = ", ".join(r.reached_first()) or "none"
        lines.append(f"{r.name}: {r.events} events accepted; feeds whose first {FIRST} it reached: {reached}; "
                     f"goal: {verdict}.")  # fmt: skip
    return lines


def render_text(report: ManipulationReport) -> str:
    timing = ", ".join(f"{name} {seconds:.0f}s" for name, seconds in report.seconds.items())
    table = text_table(columns(report), rows(report), ())
    return "\n".join([table, "", *notes(report), f"time: {timing}"])


def render_markdown(report: ManipulationReport) -> str:
    return markdown_page(
        benchmark="manipulation",
        started_at=report.started_at,
        command=report.command,
        table=markdown_table(columns(report), rows(report), ()),
        notes=notes(report),
        sections={
            "Time": {name: f"{seconds:.1f} s" for name, seconds in report.seconds.items()},
            "Machine": machine_facts(),
            "Options": report.options,
        },
    )
