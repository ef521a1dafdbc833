"""``python -m bench http``: Shoa's requests per second against a bare Litestar app on the same server settings.

The bare app sets the ceiling of this machine, server and framework; each Shoa endpoint has a goal as a share of
it. Shoa runs with its production defaults (JSON access log included) against embedded PostgreSQL and Redis
holding the demo catalog.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from accounts.models import User
from bench.cpu_time import CpuSample, CpuUse, cpu_use
from bench.cpus import CpuPlan, plan_cpus
from bench.load import find_k6, k6_version, run_load
from bench.report import Measurement, Report, machine_facts, now_utc, render_text, save
from bench.rounds import Lap, compare, in_round_order
from bench.server import AppServer
from catalog.demo import seed_demo_malls
from catalog.demo_products import seed_demo_products
from catalog.models import Product
from personalization.models import Like
from shoa_api.database import run_unit_of_work
from shoa_api.migrate import upgrade_to_head
from shoa_api.runtime import EmbeddedPostgres, EmbeddedRedis
from shoa_api.settings import Settings, generate_secret_key, load_settings
from shoa_api.wiring import access_tokens_from

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator

    from sqlalchemy.ext.asyncio import AsyncSession

    from bench.load import LoadResult


class BenchmarkError(RuntimeError):
    """An endpoint is not fit to be measured (wrong status, empty catalog); the message says which."""


@dataclass(frozen=True)
class Endpoint:
    path: str
    minimum_ratio: float | None
    """Of the bare app's requests/s; ``None`` for the bare app itself and for figures shown for information."""
    lists_items: bool = False
    baseline: bool = False
    max_p99_ms: float | None = None
    max_rss_mib: float | None = None
    """A memory goal on the server's peak RSS (after all its runs)."""
    connections: int | None = None
    """Instead of ``--connections``."""
    as_shopper: bool = False
    """Sent with the benchmark shopper's access token (``prepare`` makes the shopper)."""

    @property
    def label(self) -> str:
        """As the table names it: who asks matters as much as the path."""
        return f"GET {self.path}" + (" (logged-in shopper)" if self.as_shopper else "")


@dataclass(frozen=True)
class Target:
    name: str
    factory: str
    endpoints: tuple[Endpoint, ...]
    variables: tuple[tuple[str, str], ...] = ()
    """SHOA_* settings of this target beyond the production defaults."""


BARE = Target("bare", "bench.hello:create_hello_app", (Endpoint("/", minimum_ratio=None, baseline=True),))
FEED_CONNECTIONS = 32
SHOA = Target(
    "shoa",
    "shoa_api.app:create_app_from_environment",
    (
        Endpoint("/health/live", minimum_ratio=0.80),
        Endpoint("/v1/malls", minimum_ratio=0.40, lists_items=True),
        # The feed's first page (the most expensive: a logged-in shopper's is ranked and stored afresh).
        Endpoint("/v1/feed", minimum_ratio=0.25, lists_items=True, max_p99_ms=50.0, connections=FEED_CONNECTIONS),
        Endpoint(
            "/v1/feed?limit=20",
            minimum_ratio=0.25,
            lists_items=True,
            max_p99_ms=50.0,
            connections=FEED_CONNECTIONS,
            as_shopper=True,
        ),
    ),
)
SHOA_UNCACHED = Target(
    "shoa, cache off",
    "shoa_api.app:create_app_from_environment",
    # Every request reads PostgreSQL: what pages after a cursor, and a cold first page, cost.
    (Endpoint("/v1/malls", minimum_ratio=None, lists_items=True),),
    variables=(("SHOA_PUBLIC_CACHE_SECONDS", "0"),),
)


@dataclass(frozen=True)
class LoadPlan:
    k6: Path
    seconds: float
    warmup_seconds: float
    connections: int
    cpus: frozenset[int] | None
    rounds: int
    shopper_authorization: str | None = None


TARGETS = (BARE, SHOA, SHOA_UNCACHED)


def run(args: argparse.Namespace) -> int:
    return run_targets(args, benchmark="http", targets=TARGETS, prepare=_prepare_database)


def run_targets(
    args: argparse.Namespace,
    *,
    benchmark: str,
    targets: tuple[Target, ...],
    prepare: Callable[[dict[str, str]], str | None],
) -> int:
    """Start every target against one embedded PostgreSQL and Redis (``prepare`` fills the database), load each
    endpoint in interleaved rounds, print the table and save the report."""
    cpus = plan_cpus()
    k6 = find_k6()
    plan = LoadPlan(k6, args.duration, args.warmup, args.connections, cpus.load, args.rounds)
    report = Report(
        benchmark=benchmark,
        command=shlex.join(sys.orig_argv),
        started_at=now_utc(),
        machine=machine_facts(k6_version=k6_version(k6), cpu_placement=cpus.describe()),
        options={
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "rounds": args.rounds,
        },
        measurements=[],
    )
    print(f"command: {report.command}")
    for name, value in report.machine.items():
        print(f"{name}: {value}")
    print(
        f"each endpoint: {args.warmup:g}s warm-up, then {args.rounds} rounds of {args.duration:g}s "
        f"with {args.connections} connections (the order reversed every other round); the median round is "
        "reported, and each endpoint's ratio is the median of its rounds' own ratios\n"
    )

    with tempfile.TemporaryDirectory(prefix="shoa-bench-") as tmp_name:
        report.measurements.extend(_measure_all(Path(tmp_name), cpus, plan, targets, prepare))

    print()
    print(render_text(report))
    for path in save(report, args.output_dir):
        print(f"saved {path}")
    return 0


def _measure_all(
    tmp: Path,
    cpus: CpuPlan,
    plan: LoadPlan,
    targets: tuple[Target, ...],
    prepare: Callable[[dict[str, str]], str | None],
) -> list[Measurement]:
    # The database and cache are someone else's machine in production: keep them off the server's CPU.
    with (
        _process_pinned_to(cpus.load),
        EmbeddedPostgres(tmp / "postgres", durable=False) as postgres,
        EmbeddedRedis(tmp / "redis", durable=False) as redis,
        contextlib.ExitStack() as servers,
    ):
        variables = _shoa_variables(database_url=postgres.url, redis_url=redis.url)
        authorization = prepare(variables)
        plan = dataclasses.replace(plan, shopper_authorization=authorization)
        running = {
            target.name: servers.enter_context(_server(target, tmp, variables=variables, cpus=cpus))
            for target in targets
        }
        return _measure_in_rounds(running, plan, targets)


def _server(target: Target, tmp: Path, *, variables: dict[str, str], cpus: CpuPlan) -> AppServer:
    shoa_variables = {} if target is BARE else variables | dict(target.variables)
    return AppServer(
        target.factory,
        environment=_base_environment() | shoa_variables,
        log_path=tmp / f"{target.name.replace(' ', '-').replace(',', '')}-server.log",
        ready_path=target.endpoints[0].path,
        cpus=cpus.server,
        cwd=tmp,
    )


def _measure_in_rounds(servers: dict[str, AppServer], plan: LoadPlan, targets: tuple[Target, ...]) -> list[Measurement]:
    """Every endpoint once per round, rounds one after another, and each endpoint's median round reported.

    All servers stay up (idle but for their turn), so the bare app and Shoa are measured side by side in time:
    a slow minute on a shared machine then touches every endpoint alike instead of skewing one ratio. Every
    endpoint runs as long as the bare app (``--duration``), and the order reverses every other round
    (``bench.rounds.in_round_order``), so no endpoint is always the one nearest to, or furthest from, the bare
    app's turn; each endpoint's ratio is the median of its rounds' own ratios.
    """
    runs: dict[tuple[str, str], list[tuple[LoadResult, CpuUse]]] = {}
    turns = [(target, endpoint) for target in targets for endpoint in target.endpoints]
    for number in range(1, plan.rounds + 1):
        print(f"round {number} of {plan.rounds}")
        for target, endpoint in in_round_order(turns, number):
            warm = (target.name, endpoint.path) in runs
            run = _load_endpoint(servers[target.name], endpoint, target, plan, warm=warm)
            runs.setdefault((target.name, endpoint.path), []).append(run)
    baseline_laps = [_lap(result) for result, _ in runs[(BARE.name, BARE.endpoints[0].path)]]
    measurements = []
    for target in targets:
        peak_rss_mib = servers[target.name].peak_rss_mib()
        for endpoint in target.endpoints:
            ordered = sorted(runs[(target.name, endpoint.path)], key=lambda run: run[0].requests_per_second)
            result, cpu = ordered[len(ordered) // 2]
            comparison = compare([_lap(run) for run, _ in runs[(target.name, endpoint.path)]], baseline_laps)
            measurements.append(
                Measurement(
                    target=target.name,
                    endpoint=endpoint.label,
                    load=result,
                    cpu=cpu,
                    peak_rss_mib=peak_rss_mib,
                    minimum_ratio=endpoint.minimum_ratio,
                    baseline=endpoint.baseline,
                    rounds=tuple(run[0].requests_per_second for run in runs[(target.name, endpoint.path)]),
                    paired_ratio=comparison.ratio,
                    round_ratios=tuple(comparison.ratios),
                    max_p99_ms=endpoint.max_p99_ms,
                    max_rss_mib=endpoint.max_rss_mib,
                )
            )
    return measurements


def _lap(result: LoadResult) -> Lap:
    return Lap(result.requests, result.seconds)


def _load_endpoint(
    server: AppServer, endpoint: Endpoint, target: Target, plan: LoadPlan, *, warm: bool
) -> tuple[LoadResult, CpuUse]:
    url = f"{server.base_url}{endpoint.path}"
    authorization = plan.shopper_authorization if endpoint.as_shopper else None
    if endpoint.as_shopper and authorization is None:
        msg = f"{endpoint.path} is measured as a shopper, but no shopper was prepared"
        raise BenchmarkError(msg)
    connections = endpoint.connections or plan.connections
    _check_answers(url, endpoint, authorization)
    print(f"  {target.name} {endpoint.label}: ", end="", flush=True)
    if plan.warmup_seconds > 0 and not warm:
        print(f"warm-up {plan.warmup_seconds:g}s, ", end="", flush=True)
        run_load(
            plan.k6, url, seconds=plan.warmup_seconds, connections=connections, cpus=plan.cpus,
            authorization=authorization,
        )  # fmt: skip
    print(f"measuring {plan.seconds:g}s ... ", end="", flush=True)
    before = CpuSample.take(server.pid)
    result = run_load(
        plan.k6, url, seconds=plan.seconds, connections=connections, cpus=plan.cpus, authorization=authorization
    )
    # The server idles while k6 starts and stops, so its CPU time all falls within the test's own duration.
    cpu = cpu_use(before, CpuSample.take(server.pid), test_seconds=result.seconds)
    print(
        f"{result.requests_per_second:,.0f} requests/s, {result.failed} failed, "
        f"server CPU {cpu.server_percent:.0f}%, other processes {cpu.others_percent:.0f}%"
    )
    return result, cpu


def _check_answers(url: str, endpoint: Endpoint, authorization: str | None) -> None:
    """Measure only what works: an endpoint answering errors or an empty page would be fast and meaningless."""
    response = httpx.get(url, timeout=10.0, headers={"Authorization": authorization} if authorization else {})
    if response.status_code != 200:
        msg = f"GET {url} answered {response.status_code}, not 200: {response.text[:300]}"
        raise BenchmarkError(msg)
    if endpoint.lists_items and not response.json().get("items"):
        msg = f"GET {url} listed no items: {response.text[:300]}"
        raise BenchmarkError(msg)


def _base_environment() -> dict[str, str]:
    """This process's environment without any SHOA_* a developer has set, so every run measures the same app."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("SHOA_")}
    # The servers run from a scratch directory; `bench` itself is not an installed package.
    repository = str(Path(__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [repository, environment.get("PYTHONPATH")]))
    return environment


def _shoa_variables(*, database_url: str, redis_url: str) -> dict[str, str]:
    return {
        "SHOA_DATABASE_URL": database_url,
        "SHOA_REDIS_URL": redis_url,
        "SHOA_SECRET_KEY": generate_secret_key(),
        # Production defaults, spelled out so that the app's own JSON access log is part of what is measured.
        "SHOA_ENV": "production",
        "SHOA_LOG_LEVEL": "INFO",
        "SHOA_LOG_FORMAT": "json",
        # All load comes from one address: keep the limiter counting (its cost is measured) but never refusing.
        "SHOA_RATE_LIMIT_ANONYMOUS_PER_IP_PER_MINUTE": "1000000000",
        # The benchmark shopper's token must outlive the run.
        "SHOA_ACCESS_TOKEN_MINUTES": "120",
    }


FEED_PRODUCTS = 100_000


def _prepare_database(variables: dict[str, str]) -> str:
    """Demo malls, 100,000 products, and a shopper with a few likes; the shopper's ``Authorization`` value."""
    seed_catalog(variables, FEED_PRODUCTS)
    settings = load_settings(variables, env_file=None)
    return asyncio.run(run_unit_of_work(settings.database, lambda session: _bench_shopper(session, settings)))


def seed_catalog(variables: dict[str, str], products: int) -> None:
    """Migrate, seed the demo malls and ``products`` generated products, then analyze (as autovacuum would)."""
    settings = load_settings(variables, env_file=None)
    upgrade_to_head(settings.database.url)
    started = time.perf_counter()

    async def seed(session: AsyncSession) -> int:
        await seed_demo_malls(session)
        return await seed_demo_products(session, products=products)

    created = asyncio.run(run_unit_of_work(settings.database, seed))
    print(f"seeded {created:,} products through the partner sync in {time.perf_counter() - started:.0f}s")
    # What autovacuum does within a minute of a bulk load in production: planner statistics, and the GIN
    # index's pending entries merged. Measuring before it would measure a state no running shop stays in.
    asyncio.run(_vacuum_analyze(settings.database.url))
    print("VACUUM ANALYZE done\n")


async def _vacuum_analyze(url: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


async def _bench_shopper(session: AsyncSession, settings: Settings) -> str:
    """A shopper in the female 20s_late segment who liked five products, so her feed is personalized."""
    # No password: this shopper exists only through the token made below.
    user = User(email="bench@shoa.test", gender="female", birth_date=datetime.date(1998, 3, 3))
    session.add(user)
    await session.flush()
    liked = await session.scalars(sa.select(Product.id).where(Product.in_stock).order_by(Product.id).limit(5))
    session.add_all(Like(user_id=user.id, product_id=product_id) for product_id in liked)
    token, _ = access_tokens_from(settings.security).issue(user.id, now=datetime.datetime.now(datetime.UTC))
    return f"Bearer {token}"


@contextlib.contextmanager
def _process_pinned_to(cpus: frozenset[int] | None) -> Iterator[None]:
    """Pin this process, and so every child it starts from now on, to ``cpus``."""
    if cpus is None:
        yield
        return
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)
