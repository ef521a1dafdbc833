"""``python -m bench checkout``: shoppers checking out in parallel through the real API, beside raw stock updates.

100,000 products (by default, one variant each) are COPYed into the catalog, with 5 hot variants that 70% of the
checkouts want, stocked to sell out near the end of the run, and 1,000 shoppers reachable on AlimTalk. 3,000
checkouts (by default, after 200 unmeasured ones) go through ``POST /v1/orders`` of a real uvicorn server with
the production settings and the sandbox gateway, ``--connections`` at a time: 80% by card (no gateway call at
checkout), 20% by virtual account (the sandbox opens the account inside the checkout). Measured: orders/s and
the latency of a placed order. Beside it, in the same run and on the same database, before the checkouts: the
same baskets as raw transactions at the same concurrency, each a conditional ``UPDATE variants SET stock =
stock - n WHERE id = $1 AND stock >= n`` per line (rolled back when a line is short), in three rounds with the
stock put back after each.

Afterwards, by SQL: no variant below zero, none sold (in order lines) beyond its initial stock, and every unit
taken off a variant in an order line. There is no speed goal: the run fails on an oversell, a unit taken
without its order, or any answer that is neither an order nor a sold-out 409.
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
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx

from bench.cpu_time import CpuSample, cpu_use
from bench.cpus import plan_cpus
from bench.http import _base_environment, _process_pinned_to, _shoa_variables
from bench.report import BUSY_MACHINE_PERCENT, cpu_model, markdown_page, markdown_table, now_utc, save_texts
from bench.server import AppServer
from shoa_api.migrate import upgrade_to_head
from shoa_api.runtime import EmbeddedPostgres, EmbeddedRedis
from shoa_api.settings import load_settings
from shoa_api.wiring import access_tokens_from

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable, Iterator

    from bench.cpu_time import CpuUse

MALLS = 5
SHOPPERS = 1_000
HOT_VARIANTS = 5
HOT_SHARE = 0.7
"""Of the checkouts, those with a hot variant (one unit) in the basket."""
HOT_SOLD_OUT_AT = 0.9
"""The hot variants are stocked for this share of the demand the measured checkouts make for them."""
COLD_STOCK = 1_000
RAW_ROUNDS = 3
"""The raw baseline takes about a second a round: the median of three, so one noisy second does not set it."""
VIRTUAL_ACCOUNT_SHARE = 0.2
WARMUP_CHECKOUTS = 200
"""Sent first, with one line of a cold variant each, and not measured (connections, caches, the planner)."""
ADDRESS = {"postcode": "04044", "road_address": "서울특별시 마포구 양화로 45", "detail": "101동 1203호",
           "recipient": "김하루", "phone": "010-1234-5678"}  # fmt: skip

REFUND_ACCOUNT = {"bank": "신한은행", "account_number": "110-123-456789", "holder": "김하루"}


class BenchmarkError(RuntimeError):
    pass


@dataclass(frozen=True, kw_only=True)
class Basket:
    """One checkout: its lines (variant, quantity), in variant order, its payment method and its shopper."""

    lines: tuple[tuple[uuid.UUID, int], ...]
    method: str
    shopper: int


@dataclass(frozen=True, kw_only=True)
class Catalog:
    variants: list[uuid.UUID]
    """Every variant; the first ``HOT_VARIANTS`` are the hot ones."""
    shoppers: list[uuid.UUID]


@dataclass(frozen=True, kw_only=True)
class Timed:
    """What a run of baskets did: per basket, whether it went through and how long it took."""

    seconds: float
    placed: list[float]
    """Latencies of the baskets that went through (an order placed, a transaction committed)."""
    sold_out: int
    errors: list[str]

    def summary(self, attempts: int) -> dict[str, Any]:
        return {
            "attempts": attempts,
            "seconds": round(self.seconds, 3),
            "attempts_per_s": round(attempts / self.seconds, 1),
            "placed": len(self.placed),
            "placed_per_s": round(len(self.placed) / self.seconds, 1),
            "p50_ms": round(_percentile(self.placed, 0.50) * 1000, 2),
            "p99_ms": round(_percentile(self.placed, 0.99) * 1000, 2),
            "sold_out": self.sold_out,
            "errors": len(self.errors),
            "first_errors": self.errors[:5],
        }


def run(args: argparse.Namespace) -> int:
    command, started_at = shlex.join(sys.orig_argv), now_utc()
    cpus = plan_cpus()
    concurrency, products = args.connections, args.products
    if products < 2 * HOT_VARIANTS:
        raise BenchmarkError(f"--products must be at least {2 * HOT_VARIANTS}")
    print(f"command: {command}")
    print(f"{products:,} products, {args.checkouts:,} checkouts {concurrency} at a time; {cpus.describe()}\n")
    with tempfile.TemporaryDirectory(prefix="shoa-bench-checkout-") as tmp_name:
        tmp = Path(tmp_name)
        with (
            _process_pinned_to(cpus.load),
            EmbeddedPostgres(tmp / "postgres", durable=False) as postgres,
            EmbeddedRedis(tmp / "redis", durable=False) as redis,
        ):
            variables = _shoa_variables(database_url=postgres.url, redis_url=redis.url)
            settings = load_settings(variables, env_file=None)
            upgrade_to_head(settings.database.url)
            database = _Database(postgres.socket_dir)
            started = time.perf_counter()
            catalog = asyncio.run(database.seed(products=products, hot_stock=_hot_stock(args.checkouts)))
            print(f"seeded {products:,} products and {SHOPPERS:,} shoppers in {time.perf_counter() - started:.1f}s")
            warmup, baskets = _baskets(catalog, checkouts=args.checkouts, seed=args.seed)

            raw_rounds = []
            for _ in range(RAW_ROUNDS):
                raw_rounds.append(asyncio.run(database.raw_updates(warmup, baskets, concurrency=concurrency)))
                asyncio.run(database.put_stock_back())
            raw = sorted(raw_rounds, key=lambda timed: timed.seconds)[RAW_ROUNDS // 2]
            raw_rates = [round(len(baskets) / timed.seconds) for timed in raw_rounds]
            print(f"raw UPDATEs: {', '.join(f'{rate:,}' for rate in raw_rates)} transactions/s")

            signer, now = access_tokens_from(settings.security), datetime.datetime.now(datetime.UTC)
            tokens = [f"Bearer {signer.issue(user_id, now=now)[0]}" for user_id in catalog.shoppers]
            server = AppServer(
                "shoa_api.app:create_app_from_environment",
                environment=_base_environment() | variables,
                log_path=tmp / "server.log",
                ready_path="/health/live",
                cpus=cpus.server,
                cwd=tmp,
            )
            with server:
                checkout = _Checkouts(server.base_url, tokens, concurrency=concurrency)
                asyncio.run(checkout.run(warmup))
                before = CpuSample.take(server.pid)
                shoa = asyncio.run(checkout.run(baskets))
                after = CpuSample.take(server.pid)
            audit = asyncio.run(database.audit(hot=catalog.variants[:HOT_VARIANTS]))
    cpu = cpu_use(before, after, test_seconds=shoa.seconds)
    return _report(args, command=command, started_at=started_at, raw=raw, raw_rates=raw_rates, shoa=shoa,
                   audit=audit, cpu=cpu, attempts=len(baskets), warmup=len(warmup))  # fmt: skip


def _hot_stock(checkouts: int) -> int:
    demand = checkouts * HOT_SHARE / HOT_VARIANTS
    return max(1, int(demand * HOT_SOLD_OUT_AT))


def _baskets(catalog: Catalog, *, checkouts: int, seed: int) -> tuple[list[Basket], list[Basket]]:
    """The warm-up's baskets (one cold line each) and the measured ones."""
    rng = random.Random(seed)
    hot, cold = catalog.variants[:HOT_VARIANTS], catalog.variants[HOT_VARIANTS:]

    def basket(number: int, lines: dict[uuid.UUID, int]) -> Basket:
        method = "virtual_account" if rng.random() < VIRTUAL_ACCOUNT_SHARE else "card"
        return Basket(lines=tuple(sorted(lines.items())), method=method, shopper=number % SHOPPERS)

    warmup = [basket(n, {rng.choice(cold): 1}) for n in range(WARMUP_CHECKOUTS)]
    measured = []
    for number in range(WARMUP_CHECKOUTS, WARMUP_CHECKOUTS + checkouts):
        lines: dict[uuid.UUID, int] = {}
        if rng.random() < HOT_SHARE:
            lines[rng.choice(hot)] = 1
            if rng.random() < 0.5:
                lines[rng.choice(cold)] = rng.randint(1, 2)
        else:
            for variant_id in rng.sample(cold, rng.randint(1, 2)):
                lines[variant_id] = rng.randint(1, 2)
        measured.append(basket(number, lines))
    return warmup, measured


class _Database:
    """The benchmark's own statements, through asyncpg on PostgreSQL's socket."""

    def __init__(self, socket_dir: Path) -> None:
        self.socket_dir = socket_dir

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(host=str(self.socket_dir), user="postgres", database="shoa")

    async def seed(self, *, products: int, hot_stock: int) -> Catalog:
        """Malls, products with one variant each (COPY), the initial stock kept aside, shoppers; analyzed."""
        rng = random.Random(products)
        now = datetime.datetime.now(datetime.UTC)
        malls = [uuid.uuid4() for _ in range(MALLS)]
        product_rows, variant_rows = [], []
        for number in range(products):
            product_id, variant_id, mall_id = uuid.uuid4(), uuid.uuid4(), malls[number % MALLS]
            product_rows.append((product_id, mall_id, f"B{number:07d}", f"데일리 코튼 셔츠 {number}", "상의/셔츠",
                                 "female", [f"https://img.shoa.test/B{number:07d}.jpg"], "on_sale", True, now,
                                 "0" * 64))  # fmt: skip
            stock = hot_stock if number < HOT_VARIANTS else COLD_STOCK
            variant_rows.append((variant_id, product_id, mall_id, f"B{number:07d}-BK-M", "블랙", "M",
                                 rng.randrange(10, 90) * 1000, "KRW", stock, 0))  # fmt: skip
        shoppers = [uuid.uuid4() for _ in range(SHOPPERS)]
        shopper_rows = [(user_id, f"shopper{n}@bench.shoa.test", f"+8210{70_000_000 + n}", True, "alimtalk")
                        for n, user_id in enumerate(shoppers)]  # fmt: skip
        connection = await self.connect()
        try:
            async with connection.transaction():
                await connection.executemany(
                    "INSERT INTO malls (id, slug, name, logo_url) VALUES ($1, $2, $3, NULL)",
                    [(mall_id, f"bench-mall-{n}", f"벤치몰 {n}") for n, mall_id in enumerate(malls)],
                )
                await connection.copy_records_to_table("products", records=product_rows, columns=[
                    "id", "mall_id", "external_id", "name", "category_path", "target_gender", "image_urls", "status",
                    "in_stock", "source_updated_at", "content_hash",
                ])  # fmt: skip
                await connection.copy_records_to_table("variants", records=variant_rows, columns=[
                    "id", "product_id", "mall_id", "sku", "color", "size", "price", "currency", "stock", "position",
                ])  # fmt: skip
                await connection.copy_records_to_table("users", records=shopper_rows, columns=[
                    "id", "email", "phone", "consent_alimtalk", "preferred_messenger",
                ])  # fmt: skip
                await connection.execute("CREATE TABLE bench_initial_stock AS SELECT id, stock FROM variants")
            await connection.execute("VACUUM ANALYZE")  # as autovacuum would, soon after a bulk load
        finally:
            await connection.close()
        return Catalog(variants=[row[0] for row in variant_rows], shoppers=shoppers)

    async def raw_updates(self, warmup: list[Basket], baskets: list[Basket], *, concurrency: int) -> Timed:
        """Each basket as one transaction of conditional UPDATEs, ``concurrency`` connections at a time."""
        connections = [await self.connect() for _ in range(concurrency)]
        idle: asyncio.Queue[asyncpg.Connection] = asyncio.Queue()
        for connection in connections:
            idle.put_nowait(connection)

        async def take(basket: Basket) -> str:
            connection = await idle.get()
            try:
                return await _take_stock(connection, basket)
            finally:
                idle.put_nowait(connection)

        try:
            await _timed(warmup, take, concurrency=concurrency)
            return await _timed(baskets, take, concurrency=concurrency)
        finally:
            for connection in connections:
                await connection.close()

    async def put_stock_back(self) -> None:
        connection = await self.connect()
        try:
            await connection.execute(
                "UPDATE variants v SET stock = i.stock FROM bench_initial_stock i WHERE v.id = i.id AND v.stock <> i.stock"
            )
            await connection.execute("VACUUM ANALYZE variants")
        finally:
            await connection.close()

    async def audit(self, *, hot: list[uuid.UUID]) -> dict[str, int]:
        """Oversells and stock taken without its order, by SQL over the whole catalog."""
        connection = await self.connect()
        try:
            row = await connection.fetchrow("""
                SELECT count(*) FILTER (WHERE v.stock < 0) AS below_zero,
                       count(*) FILTER (WHERE coalesce(s.sold, 0) > i.stock) AS sold_beyond_stock,
                       count(*) FILTER (WHERE i.stock - v.stock <> coalesce(s.sold, 0)) AS taken_not_sold,
                       coalesce(sum(v.stock) FILTER (WHERE v.id = ANY($1::uuid[])), 0) AS hot_left,
                       coalesce(sum(s.sold) FILTER (WHERE v.id = ANY($1::uuid[])), 0) AS hot_sold
                FROM variants v JOIN bench_initial_stock i ON i.id = v.id
                LEFT JOIN (SELECT variant_id, sum(quantity) AS sold FROM order_lines GROUP BY variant_id) s
                  ON s.variant_id = v.id
            """, hot)  # fmt: skip
            orders = await connection.fetchval("SELECT count(*) FROM orders")
            unpaid = await connection.fetchval(
                "SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT FROM order_payments p WHERE p.order_id = o.id)"
            )
        finally:
            await connection.close()
        assert row is not None
        return {
            **{key: int(value) for key, value in row.items()},
            "orders": int(orders),
            "without_payment": int(unpaid),
        }


class _SoldOutError(Exception):
    pass


async def _take_stock(connection: asyncpg.Connection, basket: Basket) -> str:
    try:
        async with connection.transaction():
            for variant_id, quantity in basket.lines:
                status = await connection.execute(
                    "UPDATE variants SET stock = stock - $2 WHERE id = $1 AND stock >= $2", variant_id, quantity
                )
                if status != "UPDATE 1":
                    raise _SoldOutError
    except _SoldOutError:
        return "sold out"
    return "placed"


class _Checkouts:
    """Baskets through ``POST /v1/orders``, each by its shopper with a fresh ``Idempotency-Key``."""

    def __init__(self, base_url: str, tokens: list[str], *, concurrency: int) -> None:
        self.base_url, self.tokens, self.concurrency = base_url, tokens, concurrency

    async def run(self, baskets: list[Basket]) -> Timed:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(base_url=self.base_url, limits=limits, timeout=60) as client:

            async def check_out(basket: Basket) -> str:
                body: dict[str, Any] = {
                    "address": ADDRESS,
                    "payment_method": basket.method,
                    "lines": [{"variant_id": str(variant_id), "quantity": n} for variant_id, n in basket.lines],
                }
                if basket.method == "virtual_account":
                    body["refund_account"] = REFUND_ACCOUNT
                headers = {"Authorization": self.tokens[basket.shopper], "Idempotency-Key": str(uuid.uuid4())}
                try:
                    answer = await client.post("/v1/orders", json=body, headers=headers)
                except httpx.HTTPError as exc:
                    return f"{type(exc).__name__}: {exc}"
                if answer.status_code == 201:
                    return "placed"
                if answer.status_code == 409 and _sold_out(answer):
                    return "sold out"
                return f"{answer.status_code}: {answer.text[:300]}"

            return await _timed(baskets, check_out, concurrency=self.concurrency)


def _sold_out(answer: httpx.Response) -> bool:
    problem = answer.json()
    lines = problem.get("lines") or []
    return bool(lines) and all(line["problem"] in {"out_of_stock", "not_enough_stock"} for line in lines)


async def _timed(baskets: list[Basket], send: Callable[[Basket], Awaitable[str]], *, concurrency: int) -> Timed:
    """``send`` every basket, ``concurrency`` at a time, each sender taking the next basket as it is free."""
    placed: list[float] = []
    errors: list[str] = []
    sold_out = 0
    queue: Iterator[Basket] = iter(baskets)

    async def sender() -> None:
        nonlocal sold_out
        for basket in queue:
            began = time.perf_counter()
            outcome = await send(basket)
            if outcome == "placed":
                placed.append(time.perf_counter() - began)
            elif outcome == "sold out":
                sold_out += 1
            else:
                errors.append(outcome)

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return Timed(seconds=time.perf_counter() - started, placed=placed, sold_out=sold_out, errors=errors)


def _report(
    args: argparse.Namespace,
    *,
    command: str,
    started_at: str,
    raw: Timed,
    raw_rates: list[int],
    shoa: Timed,
    audit: dict[str, int],
    cpu: CpuUse,
    attempts: int,
    warmup: int,
) -> int:
    raw_figures, shoa_figures = raw.summary(attempts), shoa.summary(attempts)
    ratio = shoa_figures["attempts_per_s"] / raw_figures["attempts_per_s"]
    oversells = audit["below_zero"] + audit["sold_beyond_stock"]
    placed_in_total = len(shoa.placed) + warmup
    lost = audit["taken_not_sold"] + audit["without_payment"] + abs(audit["orders"] - placed_in_total)
    failed = bool(oversells or lost or shoa.errors or raw.errors)
    concurrency = args.connections
    rows = [
        (f"raw conditional UPDATEs, {concurrency} at a time", f"{raw_figures['attempts_per_s']:,.0f}",
         f"{raw_figures['placed_per_s']:,.0f}", f"{raw_figures['p50_ms']:.2f}", f"{raw_figures['p99_ms']:.2f}",
         "1.000x", f"{raw.sold_out:,}", str(len(raw.errors)), "", "baseline"),
        (f"`POST /v1/orders`, {concurrency} at a time", f"{shoa_figures['attempts_per_s']:,.0f}",
         f"{shoa_figures['placed_per_s']:,.0f}", f"{shoa_figures['p50_ms']:.2f}", f"{shoa_figures['p99_ms']:.2f}",
         f"{ratio:.3f}x", f"{shoa.sold_out:,}", str(len(shoa.errors)), str(oversells),
         "0 oversells, 0 errors: " + ("NOT met" if failed else "met")),
    ]  # fmt: skip
    headers = ("path", "checkouts/s", "orders/s", "p50 ms", "p99 ms", "vs raw", "sold out", "errors", "oversells",
               "goal")  # fmt: skip
    table = markdown_table(headers, rows, numeric={1, 2, 3, 4, 5, 6, 7, 8})
    notes = [
        f"{args.products:,} products (one variant each) over {MALLS} malls, {SHOPPERS:,} shoppers; {attempts:,} "
        f"checkouts measured after {warmup} unmeasured; seed {args.seed}",
        f"{HOT_VARIANTS} hot variants in {HOT_SHARE:.0%} of the baskets, stocked for {HOT_SOLD_OUT_AT:.0%} of that "
        f"demand: {audit['hot_sold']:,} sold, {audit['hot_left']} left",
        f"payment: {VIRTUAL_ACCOUNT_SHARE:.0%} virtual account (the sandbox opens it inside the checkout), the rest "
        "card (confirmed later, not part of the checkout)",
        "checkouts/s: answers (orders and sold-out 409s) per second; vs raw compares those with the raw "
        "transactions (committed or rolled back for a short line) over the same baskets; p50/p99: of placed orders",
        f"raw rounds (the stock put back after each): {', '.join(f'{rate:,}' for rate in raw_rates)} transactions/s; "
        "the median round is shown",
        f"audit by SQL: {audit['below_zero']} variants below zero, {audit['sold_beyond_stock']} sold beyond their "
        f"stock, {audit['taken_not_sold']} with units taken that no order line holds; {audit['orders']:,} orders "
        f"for {placed_in_total:,} answered 201, {audit['without_payment']} without a payment",
        f"server CPU {cpu.server_percent:.0f}% of its CPU; others {cpu.others_percent:.0f}% of a CPU"
        + (" - a busy machine, figures unreliable" if cpu.others_percent > BUSY_MACHINE_PERCENT else ""),
    ]
    print("\n".join(table))
    print("\n" + "\n".join(notes))
    for label, errors in (("checkout", shoa.errors), ("raw", raw.errors)):
        for error in errors[:5]:
            print(f"{label} error: {error}")
    document = {"benchmark": "checkout", "command": command, "started_at": started_at, "cpu": cpu_model(),
                "products": args.products, "shoppers": SHOPPERS, "concurrency": concurrency, "seed": args.seed,
                "raw": raw_figures, "raw_rounds_per_s": raw_rates, "shoa": shoa_figures, "ratio": round(ratio, 3), "audit": audit,
                "server_cpu_percent": round(cpu.server_percent, 1), "others_cpu_percent": round(cpu.others_percent, 1),
                "met": not failed}  # fmt: skip
    markdown = markdown_page(
        benchmark="checkout", started_at=started_at, command=command, table=table, notes=notes,
        sections={"machine": {"cpu": cpu_model()}},
    )  # fmt: skip
    texts = {".json": json.dumps(document, indent=2, ensure_ascii=False) + "\n", ".md": markdown}
    for path in save_texts(args.output_dir, "checkout", started_at, texts):
        print(f"saved {path}")
    return 1 if failed else 0


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
