"""``python -m bench sync``: partner catalog sync through the API, beside a raw COPY of the same rows.

In each of ``--rounds`` rounds, 20,000 new products (``--products``) with 3 variants each go through ``PUT
/partner/v1/products`` in batches of 500 (``--batch``; one request at a time, as a mall's sync job sends them);
beside them, in the same round and the same PostgreSQL, the same product and variant rows are COPYed into
scratch tables shaped like the real ones (same columns, defaults, indexes; emptied, untimed, before each COPY),
again and again until COPY has run as long as the API did (``bench.rounds``: the order alternates between
rounds, and a checkpoint before each side keeps either from writing out the other's pages). The ratio is the
median of the rounds' own ratios (API rows/s over COPY rows/s). Goals: at least 0.2x, and the API's peak RSS at
most 400 MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import random
import shlex
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx

from bench.cpu_time import CpuSample, _descendants, cpu_use, process_cpu_seconds
from bench.cpus import plan_cpus
from bench.embedded import embedded_services
from bench.report import BUSY_MACHINE_PERCENT, cpu_model, markdown_page, markdown_table, now_utc, save_texts, text_table
from bench.rounds import Lap, Round, interleave, listed
from catalog import keys
from catalog.demo import seed_demo_malls
from catalog.demo_products import generate_product
from shoa_api.database import run_unit_of_work

if TYPE_CHECKING:
    import argparse

    from sqlalchemy.ext.asyncio import AsyncSession

    from bench.rounds import Comparison
    from bench.server import AppServer

MIN_RATIO = 0.20
MAX_RSS_MIB = 400.0
VARIANTS_PER_PRODUCT = 3
MALL = "haru-ilsang"


def run(args: argparse.Namespace) -> int:
    command, started_at = shlex.join(sys.orig_argv), now_utc()
    cpus = plan_cpus()
    print(f"command: {command}")
    print(
        f"{args.rounds} rounds of {args.products:,} products x {VARIANTS_PER_PRODUCT} variants in batches of "
        f"{args.batch}, COPY as long as the API each round; {cpus.describe()}\n"
    )
    partner_limit = {"SHOA_RATE_LIMIT_PARTNER_PER_KEY_PER_MINUTE": "1000000000"}
    with (
        tempfile.TemporaryDirectory(prefix="shoa-bench-sync-") as tmp_name,
        embedded_services(Path(tmp_name), cpus=cpus.load, variables=partner_limit) as services,
    ):
        key = asyncio.run(run_unit_of_work(services.settings.database, _mall_key))
        copy = _Copy(services.socket_dir, _products(args.products, first=0))
        asyncio.run(copy.create_tables())
        with services.api_server(cpus=cpus.server) as server:
            api = _Api(server, key, services.postgres.data_dir, products=args.products, batch=args.batch)
            comparison = interleave(
                args.rounds,
                side=api.sync_round,
                baseline=lambda _number, seconds: copy.copy_for(seconds, server_pid=server.pid),
                settle=lambda: asyncio.run(_checkpoint(services.socket_dir)),
                show=lambda measured: print(_describe(measured, products=args.products)),
            )
            peak_rss = server.peak_rss_mib()
    return _report(
        args, command=command, started_at=started_at, comparison=comparison, api=api, copy=copy, peak_rss=peak_rss
    )


def _products(count: int, *, first: int) -> list[dict[str, Any]]:
    """Products ``first`` to ``first + count - 1`` of the demo generator (new external ids for every round), each
    with ``VARIANTS_PER_PRODUCT`` variants."""
    rng = random.Random(20261129 + first)
    now = datetime.datetime.now(datetime.UTC)
    products = []
    for number in range(first, first + count):
        item = generate_product(rng, number, now=now)
        template = item["variants"][0]
        item["variants"] = [
            template | {"sku": f"{item['external_id']}-{n}", "size": str(n), "options": {"사이즈": str(n)}}
            for n in range(VARIANTS_PER_PRODUCT)
        ]
        products.append(item)
    return products


async def _mall_key(session: AsyncSession) -> str:
    await seed_demo_malls(session)
    mall = await keys.mall_by_slug(session, MALL)
    issued = await keys.issue_key(session, mall_id=mall.id, name="bench", scopes=["catalog:write"])
    return issued.key


async def _checkpoint(socket_dir: Path) -> None:
    """Before each side, untimed: dirty pages written, so neither side pays for the other's."""
    connection = await asyncpg.connect(host=str(socket_dir), user="postgres", database="shoa")
    try:
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


@dataclass(frozen=True)
class _Usage:
    """CPU seconds used so far by the server, by PostgreSQL (every process of it) and by this client."""

    cpu: CpuSample
    postgres_seconds: float
    client_seconds: float

    @classmethod
    def take(cls, server_pid: int, postgres_data_dir: Path) -> _Usage:
        postmaster = int((postgres_data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        postgres_seconds = process_cpu_seconds(postmaster, with_reaped_children=True)
        for pid in _descendants(postmaster):
            with contextlib.suppress(OSError, IndexError, ValueError):  # it exited between listing and reading
                postgres_seconds += process_cpu_seconds(pid, with_reaped_children=True)
        return cls(CpuSample.take(server_pid), postgres_seconds, time.process_time())


@dataclass
class _Api:
    """The measured side: each round, new products through the partner API, and where the CPU went."""

    server: AppServer
    key: str
    postgres_data_dir: Path
    products: int
    batch: int
    requests: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0
    postgres_cpu: float = 0.0
    client_cpu: float = 0.0
    others_percent: list[float] = field(default_factory=list)

    def sync_round(self, number: int) -> Lap:
        bodies = _request_bodies(_products(self.products, first=number * self.products), batch=self.batch)
        before = _Usage.take(self.server.pid, self.postgres_data_dir)
        seconds = _sync_through_api(self.server.base_url, self.key, bodies)
        after = _Usage.take(self.server.pid, self.postgres_data_dir)
        self.requests += len(bodies)
        self.seconds += seconds
        self.server_cpu += after.cpu.server_seconds - before.cpu.server_seconds
        self.postgres_cpu += after.postgres_seconds - before.postgres_seconds
        self.client_cpu += after.client_seconds - before.client_seconds
        self.others_percent.append(cpu_use(before.cpu, after.cpu, test_seconds=seconds).others_percent)
        return Lap(self.products * (1 + VARIANTS_PER_PRODUCT), seconds)

    def per_request_ms(self) -> dict[str, float]:
        def ms(seconds: float) -> float:
            return round(1000 * seconds / self.requests, 1) if self.requests else 0.0

        return {
            "api_ms_per_request": ms(self.seconds),
            "server_cpu_ms_per_request": ms(self.server_cpu),
            "postgres_cpu_ms_per_request": ms(self.postgres_cpu),
            "client_cpu_ms_per_request": ms(self.client_cpu),
        }


def _request_bodies(products: list[dict[str, Any]], *, batch: int) -> list[tuple[bytes, int]]:
    batches = [products[i : i + batch] for i in range(0, len(products), batch)]
    return [(json.dumps({"products": items}).encode(), len(items)) for items in batches]


def _sync_through_api(base_url: str, key: str, bodies: list[tuple[bytes, int]]) -> float:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=base_url, timeout=120.0) as client:
        started = time.perf_counter()
        for number, (body, count) in enumerate(bodies):
            response = client.put("/partner/v1/products", content=body, headers=headers)
            if response.status_code != 200 or response.json()["created"] != count:
                msg = f"batch {number} answered {response.status_code}: {response.text[:300]}"
                raise RuntimeError(msg)
        return time.perf_counter() - started


@dataclass
class _Copy:
    """The baseline: the same rows COPYed into empty scratch tables, as often as it takes to fill the API's time."""

    socket_dir: Path
    products: list[dict[str, Any]]
    others_percent: list[float] = field(default_factory=list)

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(host=str(self.socket_dir), user="postgres", database="shoa")

    async def create_tables(self) -> None:
        connection = await self.connect()
        try:
            await connection.execute(
                "CREATE TABLE scratch_products (LIKE products INCLUDING ALL);"
                "CREATE TABLE scratch_variants (LIKE variants INCLUDING ALL);"
            )
        finally:
            await connection.close()

    def copy_for(self, seconds: float, *, server_pid: int) -> Lap:
        before = CpuSample.take(server_pid)
        lap = asyncio.run(self._copy_for(seconds))
        self.others_percent.append(cpu_use(before, CpuSample.take(server_pid), test_seconds=lap.seconds).others_percent)
        return lap

    async def _copy_for(self, seconds: float) -> Lap:
        connection = await self.connect()
        try:
            mall_id = await connection.fetchval("SELECT id FROM malls WHERE slug = $1", MALL)
            product_rows, variant_rows = _copy_rows(self.products, mall_id)
            rows = len(product_rows) + len(variant_rows)
            lap: Lap | None = None
            while lap is None or lap.seconds < seconds:
                await connection.execute("TRUNCATE scratch_products, scratch_variants")
                started = time.perf_counter()
                async with connection.transaction():
                    await connection.copy_records_to_table(
                        "scratch_products", records=product_rows, columns=_PRODUCT_COLUMNS
                    )
                    await connection.copy_records_to_table(
                        "scratch_variants", records=variant_rows, columns=_VARIANT_COLUMNS
                    )
                unit = Lap(rows, time.perf_counter() - started)
                lap = unit if lap is None else lap + unit
            return lap
        finally:
            await connection.close()


_PRODUCT_COLUMNS = [
    "id", "mall_id", "external_id", "name", "description", "category_path", "style_tags", "target_gender",
    "target_age_bands", "image_urls", "exclusive", "status", "source_updated_at", "content_hash",
]  # fmt: skip
_VARIANT_COLUMNS = [
    "id", "product_id", "mall_id", "sku", "color", "size", "options", "price", "sale_price", "currency", "stock",
    "position",
]  # fmt: skip


def _copy_rows(
    products: list[dict[str, Any]], mall_id: uuid.UUID
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    product_rows, variant_rows = [], []
    for item in products:
        product_id = uuid.uuid4()
        product_rows.append(
            (
                product_id, mall_id, item["external_id"], item["name"], item["description"], item["category_path"],
                item["style_tags"], item["target_gender"], item["target_age_bands"], item["image_urls"],
                item["exclusive"], item["status"], datetime.datetime.fromisoformat(item["source_updated_at"]), "x" * 64,
            )
        )  # fmt: skip
        for position, variant in enumerate(item["variants"]):
            variant_rows.append(
                (
                    uuid.uuid4(), product_id, mall_id, variant["sku"], variant["color"], variant["size"],
                    json.dumps(variant["options"]), variant["price"], variant["sale_price"], "KRW", variant["stock"],
                    position,
                )
            )  # fmt: skip
    return product_rows, variant_rows


def _describe(measured: Round, *, products: int) -> str:
    products_per_second = measured.side.rate / (1 + VARIANTS_PER_PRODUCT)
    return (
        measured.describe(side="API", baseline="COPY", unit="rows/s") + f" ({products_per_second:,.0f} products/s, "
        f"{products:,} products)"
    )


COLUMNS = ("side", "rows/s (median round)", "products/s", "rounds: rows/s", "rounds: seconds", "others CPU %")


def _report(
    args: argparse.Namespace,
    *,
    command: str,
    started_at: str,
    comparison: Comparison,
    api: _Api,
    copy: _Copy,
    peak_rss: float,
) -> int:
    ratio_met = comparison.ratio >= MIN_RATIO
    rss_met = peak_rss <= MAX_RSS_MIB
    variants = 1 + VARIANTS_PER_PRODUCT
    rows = [
        (
            "raw COPY into scratch tables",
            f"{comparison.baseline_rate:,.0f}",
            "",
            listed(comparison.baseline_rates),
            " / ".join(
                f"{measured.baseline.seconds:.1f} ({measured.baseline.repeats})" for measured in comparison.rounds
            ),
            listed(copy.others_percent),
        ),
        (
            f"PUT /partner/v1/products ({args.batch} a batch)",
            f"{comparison.side_rate:,.0f}",
            f"{comparison.side_rate / variants:,.0f}",
            listed(comparison.side_rates),
            listed([measured.side.seconds for measured in comparison.rounds], digits=1),
            listed(api.others_percent),
        ),
    ]
    spent = api.per_request_ms()
    others = max([*api.others_percent, *copy.others_percent], default=0.0)
    notes = [
        f"ratio: {comparison.ratio:.3f}x, the median of the {len(comparison.rounds)} rounds' own ratios "
        f"(API rows/s over COPY rows/s in the same round), {comparison.spread()} ({comparison.per_round()}); "
        f"goal >= {MIN_RATIO:.2f}x: {'met' if ratio_met else 'NOT met'}",
        f"API peak RSS {peak_rss:.0f} MiB (goal <= {MAX_RSS_MIB:.0f}): {'met' if rss_met else 'NOT met'}",
        f"a request ({args.products:,} products a round in batches of {args.batch}): {spent['api_ms_per_request']} "
        f"ms; CPU of the server {spent['server_cpu_ms_per_request']} ms, PostgreSQL "
        f"{spent['postgres_cpu_ms_per_request']} ms, this client {spent['client_cpu_ms_per_request']} ms",
        "rounds: odd rounds the API first, even rounds COPY first (sized by the API's mean time so far); COPY's "
        "seconds are its own timed runs, their count in brackets; a checkpoint before each side, untimed",
        f"others CPU %: of a CPU, taken by processes outside the benchmark during each side's rounds; up to "
        f"{others:.0f}%" + (" - a busy machine, figures unreliable" if others > BUSY_MACHINE_PERCENT else ""),
    ]
    print()
    print(text_table(COLUMNS, rows, numeric={1, 2}))
    print("\n".join(notes))
    document = {
        "benchmark": "sync",
        "command": command,
        "started_at": started_at,
        "cpu": cpu_model(),
        "products": args.products,
        "batch": args.batch,
        "rounds": args.rounds,
        "rows_per_round": args.products * variants,
        "api_products_per_second": round(comparison.side_rate / variants),
        "api_rows_per_second": round(comparison.side_rate),
        "copy_rows_per_second": round(comparison.baseline_rate),
        "ratio": round(comparison.ratio, 3),
        "ratio_low": round(comparison.low, 3),
        "ratio_high": round(comparison.high, 3),
        "api_peak_rss_mib": round(peak_rss, 1),
        **spent,
        "api_others_cpu_percent": [round(percent, 1) for percent in api.others_percent],
        "copy_others_cpu_percent": [round(percent, 1) for percent in copy.others_percent],
        "met": ratio_met and rss_met,
        "comparison": comparison.as_json(),
    }
    markdown = markdown_page(
        benchmark="sync",
        started_at=started_at,
        command=command,
        table=markdown_table(COLUMNS, rows, numeric={1, 2}),
        notes=notes,
        sections={"machine": {"cpu": cpu_model()}},
    )
    texts = {".json": json.dumps(document, indent=2) + "\n", ".md": markdown}
    for path in save_texts(args.output_dir, "sync", started_at, texts):
        print(f"saved {path}")
    return 0
