"""``python -m bench mix``: a day's traffic mix against one API process with the worker running, beside the bare app.

``--products`` demo products (through the partner sync, indexed into Tantivy by a ``shoa worker``) and
``--shoppers`` shoppers; then, with a ``shoa worker`` running every production job, k6 at ``--connections``
plays the mix of :mod:`bench.mix_plan` (70% feed and search, 20% product pages and likes, 8% cart, 2% checkout,
chatbot turns and partner syncs on top) for ``--duration`` seconds, after the bare hello-world app was loaded
for as long on the same server settings. Reported: requests/s, p50/p95/p99 and errors per endpoint; the peak
memory of the API, the worker, PostgreSQL and Redis; and PostgreSQL statements per request, counted by
``pg_stat_statements`` for the API's own database role (the worker and this process use another), during the
mix and in a probe afterwards that sends each kind alone, and the feed and search at 10 and at 50 items a page.
The goals: no errors, and p99 <= 100 ms for every endpoint at the throughput measured.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import os
import random
import secrets
import shlex
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx

from bench.cpu_time import CpuSample, _descendants, cpu_use
from bench.cpus import plan_cpus
from bench.http import BARE, _base_environment, _process_pinned_to, _shoa_variables, seed_catalog
from bench.index import ShoaWorker, fill_index, tantivy_variables
from bench.load import LoadGeneratorError, LoadResult, _run_to_end, find_k6, k6_version, run_load
from bench.mix_plan import (
    K6_SCRIPT,
    KINDS,
    TREND_STATS,
    USER_KEY,
    Population,
    request_plan,
    search_path,
)
from bench.report import BUSY_MACHINE_PERCENT, cpu_model, markdown_page, markdown_table, now_utc, save_texts, text_table
from bench.server import AppServer
from bench.support import BOT_ID, parse_mix
from catalog import keys
from shoa_api.database import run_unit_of_work
from shoa_api.runtime import EmbeddedPostgres, EmbeddedRedis
from shoa_api.settings import load_settings
from shoa_api.wiring import access_tokens_from

if TYPE_CHECKING:
    import argparse

    from sqlalchemy.ext.asyncio import AsyncSession

MAX_P99_MS = 100.0
API_ROLE = "shoa_api_bench"
"""The API's own PostgreSQL role, so ``pg_stat_statements`` tells its statements from the worker's."""
PROBE_REQUESTS = 30
"""Requests per probe row, one at a time, each a different shopper or query so no cache answers."""
PROBE_SHOPPERS = 2 * PROBE_REQUESTS
"""Shoppers who send nothing in the mix: each asks for her feed's first page once in the probe."""
EXIT_GRACE_SECONDS = 60.0
COLUMNS = ("endpoint", "share %", "requests", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors",
           "statements/request", "p99 <= 100 ms, 0 errors")  # fmt: skip


class BenchmarkError(RuntimeError):
    pass


def run(args: argparse.Namespace) -> int:
    command, started_at = shlex.join(sys.orig_argv), now_utc()
    cpus, k6 = plan_cpus(), find_k6()
    print(f"command: {command}\n{args.products:,} products, {args.shoppers:,} shoppers; {cpus.describe()}\n")
    if args.shoppers <= PROBE_SHOPPERS:
        msg = f"--shoppers must be more than the {PROBE_SHOPPERS} kept for the probe"
        raise BenchmarkError(msg)
    secret = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="shoa-bench-mix-") as tmp_name:
        tmp = Path(tmp_name)
        with (
            _process_pinned_to(cpus.load),
            EmbeddedPostgres(tmp / "postgres", durable=False) as postgres,
            EmbeddedRedis(tmp / "redis", durable=False) as redis,
        ):
            asyncio.run(_enable_statement_counts(postgres.socket_dir))
            # Restarted so shared_preload_libraries takes effect; the data directory stays.
            postgres.stop()
            postgres.start()
            asyncio.run(_create_extension(postgres.socket_dir))
            variables = (
                _shoa_variables(database_url=postgres.url, redis_url=redis.url)
                | tantivy_variables(tmp / "index")
                | {"SHOA_SUPPORT_KAKAO_SKILL_SECRET": secret, "SHOA_SUPPORT_KAKAO_BOT_ID": BOT_ID}
            )
            seed_catalog(variables, args.products)
            fill_index(variables, work_dir=tmp, cpus=cpus.server)
            population = asyncio.run(_population(variables, postgres.socket_dir, shoppers=args.shoppers, secret=secret))
            plan_path = tmp / "plan.json"
            # The first shoppers are kept out of the mix: the probe's feed pages are then built, not remembered.
            mixed = dataclasses.replace(population, authorizations=population.authorizations[PROBE_SHOPPERS:])
            plan_path.write_text(json.dumps(request_plan(mixed, seed=args.seed), ensure_ascii=False))
            api_variables = variables | {"SHOA_DATABASE_URL": postgres.url.replace("postgres@", f"{API_ROLE}@")}
            bare = AppServer(BARE.factory, environment=_base_environment(), ready_path="/",
                             log_path=tmp / "bare-server.log", cpus=cpus.server, cwd=tmp)  # fmt: skip
            shoa = AppServer("shoa_api.app:create_app_from_environment", environment=_base_environment() | api_variables,
                             ready_path="/health/live", log_path=tmp / "shoa-server.log", cpus=cpus.server, cwd=tmp)  # fmt: skip
            worker = ShoaWorker(environment=_base_environment() | variables, log_path=tmp / "mix-worker.log",
                                cpus=cpus.server, cwd=tmp)  # fmt: skip
            memory = _MemoryWatch(os.getpid())
            with bare, shoa, worker, memory:
                outcome = _measure(args, k6=k6, cpus=cpus.load, bare=bare, shoa=shoa, plan_path=plan_path,
                                   socket_dir=postgres.socket_dir)  # fmt: skip
                outcome.probe = asyncio.run(_probe(shoa.base_url, population, postgres.socket_dir, seed=args.seed))
                worker.check_running()
                outcome.peak_rss = memory.peaks() | {"API": shoa.peak_rss_mib(), "worker": worker.peak_rss_mib(),
                                                     "bare app": bare.peak_rss_mib()}  # fmt: skip
    return _report(args, command=command, started_at=started_at, k6=k6_version(k6), outcome=outcome)


async def _connect(socket_dir: Path) -> asyncpg.Connection:
    return await asyncpg.connect(host=str(socket_dir), user="postgres", database="shoa")


async def _enable_statement_counts(socket_dir: Path) -> None:
    connection = await _connect(socket_dir)
    try:
        await connection.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        await connection.execute("ALTER SYSTEM SET pg_stat_statements.max = 10000")
        # Statements only: BEGIN, COMMIT and SET are not what grows with a page.
        await connection.execute("ALTER SYSTEM SET pg_stat_statements.track_utility = off")
    finally:
        await connection.close()


async def _create_extension(socket_dir: Path) -> None:
    connection = await _connect(socket_dir)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        # A superuser, so it reads and writes every table as the postgres role does; only its name differs.
        await connection.execute(f"CREATE ROLE {API_ROLE} LOGIN SUPERUSER")
    finally:
        await connection.close()


async def api_statements(connection: asyncpg.Connection) -> int:
    """Statements the API's role has run so far."""
    value = await connection.fetchval(
        "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
        "WHERE r.rolname = $1",
        API_ROLE,
    )
    return int(value)


async def _population(variables: dict[str, str], socket_dir: Path, *, shoppers: int, secret: str) -> Population:
    """Shoppers COPYed in (every segment), their tokens, a partner key, the catalog's products and variants."""
    settings = load_settings(variables, env_file=None)
    rng, now = random.Random(shoppers), datetime.datetime.now(datetime.UTC)
    users = [(uuid.uuid4(), f"mix{n}@bench.shoa.test", f"+8210{60_000_000 + n}", rng.choice(("female", "male")),
              datetime.date(rng.randint(1970, 2007), rng.randint(1, 12), rng.randint(1, 28)))
             for n in range(shoppers)]  # fmt: skip
    connection = await _connect(socket_dir)
    try:
        await connection.copy_records_to_table(
            "users", records=users, columns=["id", "email", "phone", "gender", "birth_date"]
        )
        products = [row[0] for row in await connection.fetch("SELECT id FROM products WHERE in_stock")]
        # Variants that can take every checkout of the run without selling out: a sold-out 409 would be an error.
        await connection.execute("UPDATE variants SET stock = 100000")
        variants = [row[0] for row in await connection.fetch("SELECT id FROM variants ORDER BY random() LIMIT 5000")]
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    signer = access_tokens_from(settings.security)
    authorizations = [f"Bearer {signer.issue(user[0], now=now)[0]}" for user in users]

    async def partner_key(session: AsyncSession) -> str:
        mall = await keys.mall_by_slug(session, "haru-ilsang")
        return (await keys.issue_key(session, mall_id=mall.id, name="bench-mix", scopes=["catalog:write"])).key

    key = await run_unit_of_work(settings.database, partner_key)
    return Population(products=products, variants=variants, authorizations=authorizations,
                      partner_authorization=f"Bearer {key}", chat_secret=secret)  # fmt: skip


@dataclass
class _Outcome:
    bare: LoadResult
    bare_cpu_percent: float
    overall: LoadResult
    kinds: dict[str, LoadResult]
    server_cpu_percent: float
    others_cpu_percent: float
    statements_in_mix: int
    probe: dict[str, float] = field(default_factory=dict)
    peak_rss: dict[str, float] = field(default_factory=dict)


def _measure(
    args: argparse.Namespace,
    *,
    k6: Path,
    cpus: frozenset[int] | None,
    bare: AppServer,
    shoa: AppServer,
    plan_path: Path,
    socket_dir: Path,
) -> _Outcome:
    connections = args.connections
    if args.warmup > 0:
        print(f"warm-up {args.warmup:g}s each")
        run_load(k6, f"{bare.base_url}/", seconds=args.warmup, connections=connections, cpus=cpus)
        _play(k6, shoa.base_url, plan_path, seconds=args.warmup, connections=connections, cpus=cpus, run="warm")
    before = CpuSample.take(bare.pid)
    bare_result = run_load(k6, f"{bare.base_url}/", seconds=args.duration, connections=connections, cpus=cpus)
    bare_cpu = cpu_use(before, CpuSample.take(bare.pid), test_seconds=bare_result.seconds)
    print(f"bare app: {bare_result.requests_per_second:,.0f} requests/s")
    statements_before = asyncio.run(_statements(socket_dir))
    before = CpuSample.take(shoa.pid)
    overall, kinds = _play(k6, shoa.base_url, plan_path, seconds=args.duration, connections=connections, cpus=cpus,
                           run="mix")  # fmt: skip
    cpu = cpu_use(before, CpuSample.take(shoa.pid), test_seconds=overall.requests / overall.requests_per_second
                  if overall.requests_per_second else args.duration)  # fmt: skip
    statements = asyncio.run(_statements(socket_dir)) - statements_before
    print(f"mix: {overall.requests_per_second:,.0f} requests/s, p99 {overall.p99_ms:.0f} ms, {overall.failed} failed, "
          f"server CPU {cpu.server_percent:.0f}%, other processes {cpu.others_percent:.0f}%")  # fmt: skip
    return _Outcome(bare=bare_result, bare_cpu_percent=bare_cpu.server_percent, overall=overall, kinds=kinds,
                    server_cpu_percent=cpu.server_percent, others_cpu_percent=cpu.others_percent,
                    statements_in_mix=statements)  # fmt: skip


async def _statements(socket_dir: Path) -> int:
    connection = await _connect(socket_dir)
    try:
        return await api_statements(connection)
    finally:
        await connection.close()


def _play(
    k6: Path, base_url: str, plan_path: Path, *, seconds: float, connections: int, cpus: frozenset[int] | None, run: str
) -> tuple[LoadResult, dict[str, LoadResult]]:
    with tempfile.TemporaryDirectory(prefix="shoa-k6-mix-") as tmp:
        script, summary, output = Path(tmp) / "mix.js", Path(tmp) / "summary.json", Path(tmp) / "k6.out"
        script.write_text(K6_SCRIPT)
        command = [
            str(k6), "run", "--quiet", "--no-usage-report", "--address", "",
            "--vus", str(connections), "--duration", f"{seconds:g}s",
            "--summary-export", str(summary), "--summary-trend-stats", TREND_STATS, str(script),
        ]  # fmt: skip
        environment = os.environ | {"GOMAXPROCS": "1", "BASE": base_url, "PLAN": str(plan_path),
                                    "PLACEHOLDER": USER_KEY, "RUN": f"{run}-{uuid.uuid4().hex[:8]}"}  # fmt: skip
        _run_to_end(command, environment, output, cpus, timeout=seconds + EXIT_GRACE_SECONDS)
        if not summary.is_file():
            msg = f"k6 wrote no summary for the mix: {output.read_text(errors='replace')[-600:]}"
            raise LoadGeneratorError(msg)
        mix = parse_mix(json.loads(summary.read_text()), [kind.name for kind in KINDS])
        return mix.overall, mix.kinds


async def _probe(base_url: str, population: Population, socket_dir: Path, *, seed: int) -> dict[str, float]:
    """Statements per request of each kind alone, and of the feed and search at 10 and 50 items a page, sent one
    at a time by shoppers (or queries) not seen before in the probe, so the page is built, not remembered."""
    mixed = dataclasses.replace(population, authorizations=population.authorizations[PROBE_SHOPPERS:])
    plan = request_plan(mixed, seed=seed + 1, per_kind=PROBE_REQUESTS)
    fresh = iter(population.authorizations[:PROBE_SHOPPERS])
    rows: dict[str, list[dict[str, Any]]] = {kind.name: plan["requests"][kind.name] for kind in KINDS}
    for limit in (10, 50):
        rows[f"feed_shopper_{limit}"] = [
            {"method": "GET", "path": f"/v1/feed?limit={limit}", "body": None,
             "headers": {"Authorization": next(fresh)}, "idempotent": False}
            for _ in range(PROBE_REQUESTS)
        ]  # fmt: skip
        rows[f"search_{limit}"] = [
            {"method": "GET", "path": search_path(random.Random(n), per_page=limit) + f"&price_min={n}", "body": None,
             "headers": {}, "idempotent": False}
            for n in range(PROBE_REQUESTS)
        ]  # fmt: skip
    found: dict[str, float] = {}
    connection = await _connect(socket_dir)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
            for name, requests in rows.items():
                before, sent = await api_statements(connection), 0
                for request in requests:
                    headers = dict(request["headers"])
                    if request["idempotent"]:
                        headers["Idempotency-Key"] = str(uuid.uuid4())
                    body = request["body"]
                    if body is not None:
                        body = body.replace(USER_KEY, f"probe-{uuid.uuid4().hex[:12]}")
                    response = await client.request(request["method"], request["path"], content=body, headers=headers)
                    if not response.is_success:
                        msg = f"probe {name}: {request['method']} {request['path']} answered {response.status_code}: "
                        raise BenchmarkError(msg + response.text[:300])
                    sent += 1
                # pg_stat_statements counts a statement when it ends; the API's last one has, by its answer.
                found[name] = (await api_statements(connection) - before) / sent
    finally:
        await connection.close()
    return found


class _MemoryWatch:
    """Each second, the memory of PostgreSQL (every process: the sum of their PSS, shared memory counted once) and
    Redis; the highest seen."""

    def __init__(self, root: int) -> None:
        self.root = root
        self._peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def peaks(self) -> dict[str, float]:
        return dict(self._peaks)

    def __enter__(self) -> _MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            totals: dict[str, float] = {}
            for pid in _descendants(self.root):
                try:
                    name = Path(f"/proc/{pid}/comm").read_text().strip()
                    group = "PostgreSQL (PSS, all processes)" if name.startswith("postgres") else None
                    group = "Redis (PSS)" if "redis" in name else group
                    if group is None:
                        continue
                    totals[group] = totals.get(group, 0.0) + _pss_mib(pid)
                except (OSError, ValueError):
                    continue  # it exited between the listing and the reading
            for group, mib in totals.items():
                self._peaks[group] = max(self._peaks.get(group, 0.0), mib)


def _pss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _report(args: argparse.Namespace, *, command: str, started_at: str, k6: str, outcome: _Outcome) -> int:
    weights = sum(kind.weight for kind in KINDS)
    probe = outcome.probe
    rows = [("bare hello-world GET /", "", f"{outcome.bare.requests:,}", f"{outcome.bare.requests_per_second:,.0f}",
             f"{outcome.bare.p50_ms:.1f}", "", f"{outcome.bare.p99_ms:.1f}", _errors(outcome.bare), "", "baseline")]  # fmt: skip
    missed = []
    for kind in KINDS:
        result = outcome.kinds[kind.name]
        met = result.requests > 0 and result.failed == 0 and result.p99_ms <= MAX_P99_MS
        if not met:
            missed.append(kind.label)
        rows.append((kind.label, f"{100 * kind.weight / weights:.1f}", f"{result.requests:,}",
                     f"{result.requests_per_second:,.1f}", f"{result.p50_ms:.1f}", _ms(result.p95_ms),
                     f"{result.p99_ms:.1f}", _errors(result), f"{probe.get(kind.name, 0.0):.1f}",
                     "yes" if met else "NO"))  # fmt: skip
    overall = outcome.overall
    per_request = outcome.statements_in_mix / overall.requests if overall.requests else 0.0
    rows.append(("the whole mix", "100", f"{overall.requests:,}", f"{overall.requests_per_second:,.0f}",
                 f"{overall.p50_ms:.1f}", _ms(overall.p95_ms), f"{overall.p99_ms:.1f}", _errors(overall),
                 f"{per_request:.1f}", "yes" if not missed else "NO"))  # fmt: skip
    numeric = {1, 2, 3, 4, 5, 6, 8}
    page_columns = ("statements/request", "limit / per_page 10", "limit / per_page 50", "grows")
    page_rows = [
        (label, f"{probe[f'{name}_10']:.1f}", f"{probe[f'{name}_50']:.1f}",
         "yes" if probe[f"{name}_50"] > probe[f"{name}_10"] + 0.5 else "no")
        for name, label in (("feed_shopper", "GET /v1/feed (logged-in shopper, first page)"),
                            ("search", "GET /v1/search (uncached query)"))
    ]  # fmt: skip
    memory_rows = [(name, f"{mib:,.0f}") for name, mib in outcome.peak_rss.items()]
    busy = outcome.others_cpu_percent > BUSY_MACHINE_PERCENT
    notes = [
        f"{args.products:,} products, {args.shoppers:,} shoppers, {args.connections} connections, "
        f"{args.duration:g} s of the bare app then {args.duration:g} s of the mix, with `shoa worker` running.",
        f"API server CPU {outcome.server_cpu_percent:.0f}% of its CPU during the mix (bare app: "
        f"{outcome.bare_cpu_percent:.0f}%); other processes {outcome.others_cpu_percent:.0f}% of a CPU"
        + (" - a busy machine, figures unreliable." if busy else "."),
        "statements/request: PostgreSQL statements of the API's role (pg_stat_statements, BEGIN/COMMIT not counted) "
        f"per request, from a probe after the mix sending {PROBE_REQUESTS} of each kind one at a time; "
        "the whole mix's figure is over all its requests (cached answers cost none).",
        f"goals: error rate 0 and p99 <= {MAX_P99_MS:g} ms per endpoint at "
        f"{overall.requests_per_second:,.0f} requests/s: "
        + ("met." if not missed else f"missed by {', '.join(missed)}."),
    ]
    print()
    print(text_table(COLUMNS, rows, numeric))
    print()
    print(text_table(page_columns, page_rows, {1, 2}))
    print()
    print(text_table(("process", "peak memory MiB"), memory_rows, {1}))
    print()
    print("\n".join(notes))
    document = {
        "benchmark": "mix", "command": command, "started_at": started_at, "cpu": cpu_model(), "k6": k6,
        "products": args.products, "shoppers": args.shoppers, "connections": args.connections,
        "duration_s": args.duration, "bare": outcome.bare.__dict__, "overall": overall.__dict__,
        "error_rate": overall.failure_rate,
        "kinds": {name: result.__dict__ | {"error_rate": result.failure_rate} for name, result in outcome.kinds.items()},
        "statements_per_request": probe, "statements_per_request_in_mix": per_request,
        "peak_memory_mib": outcome.peak_rss, "server_cpu_percent": outcome.server_cpu_percent,
        "others_cpu_percent": outcome.others_cpu_percent, "missed": missed,
    }  # fmt: skip
    markdown = markdown_page(
        benchmark="mix", started_at=started_at, command=command,
        table=[*markdown_table(COLUMNS, rows, numeric), "", *markdown_table(page_columns, page_rows, {1, 2}), "",
               *markdown_table(("process", "peak memory MiB"), memory_rows, {1})],
        notes=notes, sections={"machine": {"cpu": cpu_model(), "k6": k6}},
    )  # fmt: skip
    texts = {".json": json.dumps(document, indent=2) + "\n", ".md": markdown}
    for path in save_texts(args.output_dir, "mix", started_at, texts):
        print(f"saved {path}")
    return 0 if not missed else 1


def _errors(result: LoadResult) -> str:
    return f"{result.failed} ({result.failure_rate:.2%})"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"
