"""``python -m bench sync``: partner catalog sync through the API, beside a raw COPY of the same rows.

20,000 products with 3 variants each go through ``PUT /partner/v1/products`` in batches of 500 (one request
at a time, as a mall's sync job sends them); then the same product and variant rows are COPYed into scratch
tables shaped like the real ones (same columns, defaults, indexes) in the same PostgreSQL. The goal: the API
writes at least 0.2x the rows per second COPY does, with the API's peak RSS at most 400 MB.
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx

from bench.cpu_time import CpuSample, _descendants, cpu_use, process_cpu_seconds
from bench.cpus import plan_cpus
from bench.http import _base_environment, _process_pinned_to, _shoa_variables
from bench.report import BUSY_MACHINE_PERCENT, now_utc
from bench.server import AppServer
from catalog import keys
from catalog.demo import seed_demo_malls
from catalog.demo_products import generate_product
from shoa_api.database import run_unit_of_work
from shoa_api.migrate import upgrade_to_head
from shoa_api.runtime import EmbeddedPostgres, EmbeddedRedis
from shoa_api.settings import load_settings

if TYPE_CHECKING:
    import argparse

    from sqlalchemy.ext.asyncio import AsyncSession

MIN_RATIO = 0.20
MAX_RSS_MIB = 400.0
VARIANTS_PER_PRODUCT = 3


def run(args: argparse.Namespace) -> int:
    cpus = plan_cpus()
    print(f"command: {shlex.join(sys.orig_argv)}")
    print(
        f"{args.products:,} products x {VARIANTS_PER_PRODUCT} variants in batches of {args.batch}; {cpus.describe()}\n"
    )
    products = _products(args.products)
    with tempfile.TemporaryDirectory(prefix="shoa-bench-sync-") as tmp_name:
        tmp = Path(tmp_name)
        with (
            _process_pinned_to(cpus.load),
            EmbeddedPostgres(tmp / "postgres", durable=False) as postgres,
            EmbeddedRedis(tmp / "redis", durable=False) as redis,
        ):
            variables = _shoa_variables(database_url=postgres.url, redis_url=redis.url)
            variables["SHOA_RATE_LIMIT_PARTNER_PER_KEY_PER_MINUTE"] = "1000000000"
            settings = load_settings(variables, env_file=None)
            upgrade_to_head(settings.database.url)
            key = asyncio.run(run_unit_of_work(settings.database, _mall_key))
            server = AppServer(
                "shoa_api.app:create_app_from_environment",
                environment=_base_environment() | variables,
                log_path=tmp / "server.log",
                ready_path="/health/live",
                cpus=cpus.server,
                cwd=tmp,
            )
            bodies = _request_bodies(products, batch=args.batch)
            with server:
                before = _Usage.take(server.pid, postgres.data_dir)
                api_seconds = _sync_through_api(server.base_url, key, bodies)
                after = _Usage.take(server.pid, postgres.data_dir)
                peak_rss = server.peak_rss_mib()
            copy_seconds = asyncio.run(_copy(postgres.socket_dir, products))
    rows = len(products) * (1 + VARIANTS_PER_PRODUCT)
    result = {
        "benchmark": "sync",
        "started_at": now_utc(),
        "products": len(products),
        "rows": rows,
        "api_seconds": round(api_seconds, 2),
        "api_products_per_second": round(len(products) / api_seconds),
        "api_rows_per_second": round(rows / api_seconds),
        "copy_seconds": round(copy_seconds, 2),
        "copy_rows_per_second": round(rows / copy_seconds),
        "ratio": round(copy_seconds / api_seconds, 3),
        "api_peak_rss_mib": round(peak_rss, 1),
        **_breakdown(before, after, requests=len(bodies), api_seconds=api_seconds),
    }
    _print(result)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / f"sync-{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"saved {path}")
    return 0


def _products(count: int) -> list[dict[str, Any]]:
    rng = random.Random(20261129)
    now = datetime.datetime.now(datetime.UTC)
    products = []
    for number in range(count):
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
    mall = await keys.mall_by_slug(session, "haru-ilsang")
    issued = await keys.issue_key(session, mall_id=mall.id, name="bench", scopes=["catalog:write"])
    return issued.key


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


def _breakdown(before: _Usage, after: _Usage, *, requests: int, api_seconds: float) -> dict[str, float]:
    """Where a request's time went: CPU of the server, of PostgreSQL and of this client, per request."""

    def per_request_ms(seconds: float) -> float:
        return round(1000 * seconds / requests, 1)

    return {
        "api_ms_per_request": per_request_ms(api_seconds),
        "server_cpu_ms_per_request": per_request_ms(after.cpu.server_seconds - before.cpu.server_seconds),
        "postgres_cpu_ms_per_request": per_request_ms(after.postgres_seconds - before.postgres_seconds),
        "client_cpu_ms_per_request": per_request_ms(after.client_seconds - before.client_seconds),
        "others_cpu_percent": round(cpu_use(before.cpu, after.cpu, test_seconds=api_seconds).others_percent, 1),
    }


async def _copy(socket_dir: Path, products: list[dict[str, Any]]) -> float:
    connection = await asyncpg.connect(host=str(socket_dir), user="postgres", database="shoa")
    try:
        await connection.execute(
            "CREATE TABLE scratch_products (LIKE products INCLUDING ALL);"
            "CREATE TABLE scratch_variants (LIKE variants INCLUDING ALL);"
        )
        mall_id = await connection.fetchval("SELECT id FROM malls WHERE slug = 'haru-ilsang'")
        product_rows, variant_rows = _copy_rows(products, mall_id)
        started = time.perf_counter()
        async with connection.transaction():
            await connection.copy_records_to_table("scratch_products", records=product_rows, columns=_PRODUCT_COLUMNS)
            await connection.copy_records_to_table("scratch_variants", records=variant_rows, columns=_VARIANT_COLUMNS)
        return time.perf_counter() - started
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


def _print(result: dict[str, Any]) -> None:
    ratio_met = result["ratio"] >= MIN_RATIO
    rss_met = result["api_peak_rss_mib"] <= MAX_RSS_MIB
    print(
        f"API sync  : {result['api_products_per_second']:>8,} products/s  {result['api_rows_per_second']:>9,} rows/s  ({result['api_seconds']} s)"
    )
    print(f"raw COPY  : {'':>8}             {result['copy_rows_per_second']:>9,} rows/s  ({result['copy_seconds']} s)")
    print(f"ratio     : {result['ratio']:.3f}x of COPY (goal >= {MIN_RATIO:.2f}x): {'met' if ratio_met else 'NOT met'}")
    print(
        f"peak RSS  : {result['api_peak_rss_mib']} MiB (goal <= {MAX_RSS_MIB:.0f}): {'met' if rss_met else 'NOT met'}"
    )
    print(
        f"a request : {result['api_ms_per_request']} ms; CPU of the server {result['server_cpu_ms_per_request']} ms, "
        f"PostgreSQL {result['postgres_cpu_ms_per_request']} ms, client {result['client_cpu_ms_per_request']} ms"
    )
    busy = result["others_cpu_percent"] > BUSY_MACHINE_PERCENT
    print(
        f"others    : {result['others_cpu_percent']}% of a CPU used outside the benchmark"
        + (" - a busy machine, figures unreliable" if busy else "")
    )
