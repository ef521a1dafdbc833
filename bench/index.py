"""``python -m bench index``: a catalog into an empty Tantivy index through the real ``shoa worker``, beside raw
Tantivy; then how soon a partner's change is searchable (``bench.freshness``).

The catalog (100,000 products by default) is the demo generator's, written through the partner sync, which
leaves one search-outbox row per product, as a mall's first sync does. Then, in each of ``--rounds`` rounds
(``bench.rounds``: the worker first in odd rounds, raw Tantivy first in even ones):

- the ``shoa worker`` process with every production job, draining the outbox into an empty index: claim,
  documents read from the tables, the engine's writer, rows deleted after the commit. Its products/s are
  counted from its first commit to the empty outbox (start-up is shown apart). Before every round but the
  first, the outbox is filled again with the sync's rows (untimed), and each round's index is a new one;
- then the engine's writer (``TantivyEngine.apply_changes``) fed the same documents in the worker's batches,
  without the database: what our analysis, replace-by-id and a commit per batch cost (for information);
- raw Tantivy, the baseline: the same products' index entries, built once beforehand, added by one writer into
  an empty index and committed once, pass after pass until the passes have run as long as the worker did: what
  the library does alone on this machine.

Each ratio is the median of the rounds' own ratios. Every writer runs on the server's CPU, PostgreSQL and this
process on the other. Afterwards a worker runs on the last round's index, the API starts beside it, and
``bench.freshness`` measures partner changes one at a time.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import sqlalchemy as sa
import tantivy
from sqlalchemy.ext.asyncio import create_async_engine

from bench.cpus import child_setup, plan_cpus
from bench.embedded import embedded_services
from bench.freshness import GOAL_P99_SECONDS, Freshness, measure_beside_api, partner_products
from bench.http import _base_environment, _process_pinned_to, seed_catalog
from bench.report import cpu_model, markdown_page, markdown_table, now_utc, save_texts
from bench.rounds import Lap, compare, interleave, listed
from catalog import keys
from catalog.models import Product, SearchOutbox
from catalog.search.documents import documents_for
from catalog.search.jobs import BATCH_SIZE
from catalog.search.tantivy_engine import WRITER_HEAP_BYTES, TantivyEngine
from catalog.search.tantivy_index import entry, schema
from shoa_api.database import run_unit_of_work
from shoa_api.runtime import stop_process

if TYPE_CHECKING:
    import argparse
    from types import TracebackType

    from sqlalchemy.ext.asyncio import AsyncSession

    from bench.cpus import CpuPlan
    from bench.rounds import Comparison

DRAIN_TIMEOUT_SECONDS = 1800.0
WORKER_STOP_SECONDS = 60.0
DOCUMENTS_PER_READ = 5_000
PARTNER_MALL = "haru-ilsang"


class BenchmarkError(RuntimeError):
    """The worker stopped, or did not empty the outbox in time; the message has the end of its log."""


def tantivy_variables(index_dir: Path) -> dict[str, str]:
    """The settings that make the API and the worker use a Tantivy index in ``index_dir``."""
    return {"SHOA_SEARCH_ENGINE": "tantivy", "SHOA_SEARCH_DIR": str(index_dir)}


class ShoaWorker:
    """``python -m shoa_api worker`` (``shoa worker``) in a child process, its output in ``log_path``."""

    def __init__(self, *, environment: dict[str, str], log_path: Path, cpus: frozenset[int] | None, cwd: Path) -> None:
        self.environment = environment
        self.log_path = log_path
        self.cpus = cpus
        self.cwd = cwd  # away from the work tree, whose .env the worker would otherwise read
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "shoa_api", "worker"],
                env=self.environment,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only us; we stop the worker in order
                preexec_fn=child_setup(self.cpus, signal.SIGTERM),  # noqa: PLW1509 - pinning, parent-death signal
            )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, signal.SIGTERM, WORKER_STOP_SECONDS, name="shoa worker")

    def check_running(self) -> None:
        if self._process is None or self._process.poll() is not None:
            msg = f"the worker stopped: {self.log_tail()}"
            raise BenchmarkError(msg)

    def peak_rss_mib(self) -> float:
        """The high-water mark of the worker's resident memory so far (``VmHWM``)."""
        self.check_running()
        assert self._process is not None
        for line in Path(f"/proc/{self._process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        msg = f"no VmHWM for the worker (pid {self._process.pid})"
        raise BenchmarkError(msg)

    def log_tail(self, lines: int = 10) -> str:
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or f"(empty log at {self.log_path})"


@dataclass(frozen=True)
class Drain:
    """The worker emptying the search outbox."""

    products: int
    """Outbox rows when the worker started: one per product."""
    startup_seconds: float
    """From the worker's start to the first commit seen (process start, imports, connections, first batch)."""
    steady_products: int
    """Rows left at the first commit seen."""
    steady_seconds: float
    """From the first commit seen to the empty outbox."""
    peak_rss_mib: float

    @property
    def products_per_second(self) -> float:
        return self.steady_products / self.steady_seconds if self.steady_seconds else 0.0


def drain_outbox(worker: ShoaWorker, database_url: str) -> Drain:
    """Wait until ``worker`` (just started) has sent every search-outbox row to the index."""
    return asyncio.run(_drain(worker, database_url))


async def _drain(worker: ShoaWorker, database_url: str) -> Drain:
    engine = create_async_engine(database_url)
    pending = sa.select(sa.func.count()).select_from(SearchOutbox)
    started = time.perf_counter()
    try:
        async with engine.connect() as connection:
            products = await connection.scalar(pending) or 0
            first: tuple[float, int] | None = None
            while True:
                left = await connection.scalar(pending) or 0
                await connection.rollback()  # each count in a transaction of its own, so it sees the latest commit
                now = time.perf_counter()
                if first is None and left < products:
                    first = (now, left)
                if left == 0:
                    break
                worker.check_running()
                if now - started > DRAIN_TIMEOUT_SECONDS:
                    msg = f"{left:,} of {products:,} outbox rows left after {now - started:.0f}s: {worker.log_tail()}"
                    raise BenchmarkError(msg)
                await asyncio.sleep(0.05)
    finally:
        await engine.dispose()
    first_at, first_left = first or (now, 0)
    return Drain(
        products=products,
        startup_seconds=first_at - started,
        steady_products=first_left,
        steady_seconds=now - first_at,
        peak_rss_mib=worker.peak_rss_mib(),
    )


def fill_index(variables: dict[str, str], *, work_dir: Path, cpus: frozenset[int] | None) -> Drain:
    """Index the catalog as production does: a ``shoa worker`` drains the search outbox, then stops."""
    with ShoaWorker(
        environment=_base_environment() | variables, log_path=work_dir / "worker.log", cpus=cpus, cwd=work_dir
    ) as worker:
        drain = drain_outbox(worker, variables["SHOA_DATABASE_URL"])
    print(
        f"the worker indexed {drain.products:,} products in {drain.startup_seconds + drain.steady_seconds:.0f}s "
        f"({drain.products_per_second:,.0f} products/s after its first commit)\n"
    )
    return drain


@dataclass(frozen=True)
class WriterRun:
    products: int
    seconds: float

    @property
    def products_per_second(self) -> float:
        return self.products / self.seconds if self.seconds else 0.0


def raw_tantivy(entries: list[tantivy.Document], index_dir: Path) -> WriterRun:
    """``entries`` added by one writer with the engine's heap and thread, and committed once."""
    index_dir.mkdir()
    writer = tantivy.Index(schema(), path=str(index_dir)).writer(heap_size=WRITER_HEAP_BYTES, num_threads=1)
    started = time.perf_counter()
    for document in entries:
        writer.add_document(document)
    writer.commit()
    seconds = time.perf_counter() - started
    writer.wait_merging_threads()
    return WriterRun(len(entries), seconds)


def engine_batches(documents: list[dict[str, Any]], index_dir: Path) -> WriterRun:
    """``documents`` through the engine's writer in the worker's batches, a commit each, no database."""
    engine = TantivyEngine(index_dir)

    async def write() -> None:
        for start in range(0, len(documents), BATCH_SIZE):
            await engine.apply_changes(upserts=documents[start : start + BATCH_SIZE], deletes=())

    started = time.perf_counter()
    asyncio.run(write())
    seconds = time.perf_counter() - started
    engine.close()
    return WriterRun(len(documents), seconds)


def raw_tantivy_for(entries: list[tantivy.Document], work_dir: Path, *, seconds: float) -> Lap:
    """:func:`raw_tantivy` pass after pass, each into an empty index (removed after it, untimed), until the
    passes have run for ``seconds`` between them."""
    lap: Lap | None = None
    while lap is None or lap.seconds < seconds:
        index_dir = work_dir / f"raw-{lap.repeats if lap else 0}"
        run = raw_tantivy(entries, index_dir)
        shutil.rmtree(index_dir)
        unit = Lap(run.products, run.seconds)
        lap = unit if lap is None else lap + unit
    return lap


async def _all_documents(session: AsyncSession) -> list[dict[str, Any]]:
    ids = list(await session.scalars(sa.select(Product.id).order_by(Product.id)))
    documents: list[dict[str, Any]] = []
    for start in range(0, len(ids), DOCUMENTS_PER_READ):
        found, _ = await documents_for(session, ids[start : start + DOCUMENTS_PER_READ])
        documents.extend(found)
    return documents


async def _partner_key(session: AsyncSession) -> str:
    mall = await keys.mall_by_slug(session, PARTNER_MALL)
    issued = await keys.issue_key(session, mall_id=mall.id, name="bench", scopes=["catalog:write"])
    return issued.key


def run(args: argparse.Namespace) -> int:
    command, started_at = shlex.join(sys.orig_argv), now_utc()
    cpus = plan_cpus()
    print(f"command: {command}")
    print(
        f"{args.products:,} products in {args.rounds} rounds; then {args.changes} partner changes; {cpus.describe()}\n"
    )
    quick = {"SHOA_RATE_LIMIT_PARTNER_PER_KEY_PER_MINUTE": "1000000000", "SHOA_PUBLIC_CACHE_SECONDS": "0"}
    with (
        tempfile.TemporaryDirectory(prefix="shoa-bench-index-") as tmp_name,
        embedded_services(Path(tmp_name), cpus=cpus.load, variables=quick) as services,
    ):
        tmp = Path(tmp_name)
        seed_catalog(services.variables, args.products)
        asyncio.run(_execute(services.postgres.url, KEEP_OUTBOX))
        documents = asyncio.run(run_unit_of_work(services.settings.database, _all_documents))
        with _process_pinned_to(cpus.server):
            started = time.perf_counter()
            entries = [entry(document) for document in documents]
            entry_seconds = time.perf_counter() - started
        key = asyncio.run(run_unit_of_work(services.settings.database, _partner_key))
        rounds = _Rounds(tmp, services.variables, cpus, documents, entries)
        del documents, entries
        comparison = interleave(
            args.rounds,
            side=rounds.worker_round,
            baseline=lambda _number, seconds: rounds.raw(seconds),
            show=lambda measured: print(
                measured.describe(side="the worker", baseline="raw Tantivy", unit="products/s")
            ),
        )
        rounds.release()
        environment = _base_environment() | services.variables | tantivy_variables(rounds.index_dir(args.rounds))
        with ShoaWorker(environment=environment, log_path=tmp / "worker.log", cpus=cpus.server, cwd=tmp) as worker:
            asyncio.run(_execute(services.postgres.url, TOUCH_ONE_PRODUCT))
            drain_outbox(worker, services.postgres.url)  # the worker is up and has indexed a change
            index_mib = sum(path.stat().st_size for path in rounds.index_dir(args.rounds).rglob("*") if path.is_file())
            freshness = measure_beside_api(
                environment,
                work_dir=tmp,
                cpus=cpus.server,
                partner_key=key,
                products=partner_products(PARTNER_MALL, args.changes, catalog=args.products),
            )
            worker.check_running()
    batched = compare(rounds.batched, [measured.baseline for measured in comparison.rounds])
    results = _Results(comparison, batched, rounds.drains, entry_seconds, index_mib / 2**20, freshness)
    return _report(results, args=args, command=command, started_at=started_at)


class _Rounds:
    """The worker's side of a round (and the engine's writer after it, for information), and raw Tantivy's."""

    def __init__(
        self,
        tmp: Path,
        variables: dict[str, str],
        cpus: CpuPlan,
        documents: list[dict[str, Any]],
        entries: list[tantivy.Document],
    ) -> None:
        self.tmp, self.variables, self.cpus = tmp, variables, cpus
        self.documents, self.entries = documents, entries
        self.drains: list[Drain] = []
        self.batched: list[Lap] = []

    def release(self) -> None:
        """The documents and entries are not needed once the rounds are over (they are large)."""
        self.documents, self.entries = [], []

    def index_dir(self, number: int) -> Path:
        return self.tmp / f"index-{number}"

    def worker_round(self, number: int) -> Lap:
        database_url = self.variables["SHOA_DATABASE_URL"]
        if number > 1:
            asyncio.run(_execute(database_url, REFILL_OUTBOX))
            shutil.rmtree(self.index_dir(number - 1), ignore_errors=True)
        environment = _base_environment() | self.variables | tantivy_variables(self.index_dir(number))
        log = self.tmp / f"worker-{number}.log"
        with ShoaWorker(environment=environment, log_path=log, cpus=self.cpus.server, cwd=self.tmp) as worker:
            drain = drain_outbox(worker, database_url)
        self.drains.append(drain)
        with _process_pinned_to(self.cpus.server):
            batched = engine_batches(self.documents, self.tmp / f"engine-{number}")
        shutil.rmtree(self.tmp / f"engine-{number}")
        self.batched.append(Lap(batched.products, batched.seconds))
        print(f"  the engine's writer in batches: {batched.products_per_second:,.0f} products/s (for information)")
        return Lap(drain.steady_products, drain.steady_seconds)

    def raw(self, seconds: float) -> Lap:
        with _process_pinned_to(self.cpus.server):
            return raw_tantivy_for(self.entries, self.tmp, seconds=seconds)


KEEP_OUTBOX = "CREATE TABLE bench_search_outbox AS SELECT product_id, action FROM search_outbox ORDER BY id"
"""The sync's search-outbox rows, kept aside to fill the outbox again before each round."""
REFILL_OUTBOX = "INSERT INTO search_outbox (product_id, action) SELECT product_id, action FROM bench_search_outbox"
TOUCH_ONE_PRODUCT = f"{REFILL_OUTBOX} LIMIT 1"
"""One outbox row, so that draining it shows the worker started for the freshness measurement is up."""


async def _execute(database_url: str, statement: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class _Results:
    worker: Comparison
    """The worker's products/s against raw Tantivy's, round by round."""
    batched: Comparison
    """The engine's writer against the same raw rounds (for information)."""
    drains: list[Drain]
    entry_seconds: float
    """Building the index entries of every product (``tantivy_index.entry``: analysis included)."""
    index_mib: float
    freshness: Freshness


def _report(results: _Results, *, args: argparse.Namespace, command: str, started_at: str) -> int:
    worker, batched, freshness = results.worker, results.batched, results.freshness
    products = args.products
    writers = [
        ("raw Tantivy: add_document, one commit (entries built beforehand)",
         " / ".join(f"{m.baseline.seconds:.1f} ({m.baseline.repeats})" for m in worker.rounds),
         f"{worker.baseline_rate:,.0f}", listed(worker.baseline_rates), "1.00x", "", "baseline"),
        (f"engine's writer: entries, replace by id, a commit per {BATCH_SIZE} (no database)",
         listed([m.side.seconds for m in batched.rounds], digits=1), f"{batched.side_rate:,.0f}",
         listed(batched.side_rates), f"{batched.ratio:.2f}x", batched.spread(2), "for info"),
        ("`shoa worker`: search outbox → documents → engine's writer → rows deleted",
         listed([m.side.seconds for m in worker.rounds], digits=1), f"{worker.side_rate:,.0f}",
         listed(worker.side_rates), f"{worker.ratio:.2f}x", worker.spread(2), "for info"),
    ]  # fmt: skip
    writer_table = markdown_table(
        ("path", "rounds: seconds", "products/s (median round)", "rounds: products/s", "vs raw (median)", "range",
         "goal"),
        writers,
        {2, 4},
    )  # fmt: skip
    met = freshness.percentile(0.99) <= GOAL_P99_SECONDS and not freshness.missed and not freshness.failed_searches
    fresh_rows = [
        (
            f"{len(freshness.delays)}",
            *(f"{freshness.percentile(share):.2f}" for share in (0.50, 0.90, 0.99)),
            f"{max(freshness.delays, default=0.0):.2f}",
            f"{freshness.put_ms_p50:.0f}",
            f"{freshness.missed}",
            f"{len(freshness.failed_searches)}",
            f"p99 <= {GOAL_P99_SECONDS:g} s",
            "yes" if met else "NO",
        )
    ]
    fresh_table = markdown_table(
        ("changes", "p50 s", "p90 s", "p99 s", "max s", "PUT p50 ms", "not found", "failed searches", "goal", "met"),
        fresh_rows,
        {0, 1, 2, 3, 4, 5, 6, 7},
    )
    notes = [
        f"{products:,} products a round, {len(worker.rounds)} rounds; vs raw: the median of the rounds' own ratios "
        f"(the worker {worker.per_round(2)}; the engine's writer {batched.per_round(2)}); odd rounds the worker "
        "and the engine's writer first, even rounds raw Tantivy first, its passes (in brackets) until it has run "
        "as long as the worker",
        f"building the {products:,} index entries (analysis included): {results.entry_seconds:.1f}s, "
        f"{1e6 * results.entry_seconds / max(products, 1):.0f} µs a product; not in the raw row, in the others",
        "the worker, by round: "
        + listed([d.startup_seconds for d in results.drains], digits=1)
        + "s from its start to its first commit seen; products after it: "
        + listed([d.steady_products for d in results.drains])
        + f"; peak RSS {max(d.peak_rss_mib for d in results.drains):.0f} MiB; index on disk "
        f"{results.index_mib:.0f} MiB",
        "freshness: a partner's PUT of one product (a new word in its name) until a search for that word finds it, "
        "with the worker at its default interval and the API's public cache off; from the PUT's answer",
        *(f"first failed search: {failure}" for failure in freshness.failed_searches[:1]),
    ]
    print("\n".join(writer_table))
    print()
    print("\n".join(fresh_table))
    print()
    print("\n".join(notes))
    document = {
        "benchmark": "index",
        "command": command,
        "started_at": started_at,
        "cpu": cpu_model(),
        "products": products,
        "rounds": len(worker.rounds),
        "raw_products_per_second": worker.baseline_rate,
        "engine_batches_products_per_second": batched.side_rate,
        "worker_products_per_second": worker.side_rate,
        "worker_ratio": worker.ratio,
        "engine_batches_ratio": batched.ratio,
        "worker_vs_raw": worker.as_json(),
        "engine_batches_vs_raw": batched.as_json(),
        "drains": [asdict(d) | {"products_per_second": d.products_per_second} for d in results.drains],
        "entry_seconds": results.entry_seconds,
        "index_mib": results.index_mib,
        "freshness": {
            "delays_s": list(freshness.delays),
            "p50_s": freshness.percentile(0.50),
            "p90_s": freshness.percentile(0.90),
            "p99_s": freshness.percentile(0.99),
            "put_ms_p50": freshness.put_ms_p50,
            "not_found": freshness.missed,
            "failed_searches": list(freshness.failed_searches),
            "goal_p99_s": GOAL_P99_SECONDS,
            "met": met,
        },
    }
    markdown = markdown_page(
        benchmark="index",
        started_at=started_at,
        command=command,
        table=[*writer_table, "", *fresh_table],
        notes=notes,
        sections={
            "machine": {"cpu": cpu_model()},
            "options": {"products": args.products, "changes": args.changes, "rounds": args.rounds},
        },
    )
    texts = {".json": json.dumps(document, indent=2, ensure_ascii=False) + "\n", ".md": markdown}
    for path in save_texts(args.output_dir, "index", started_at, texts):
        print(f"saved {path}")
    return 0 if met else 1
