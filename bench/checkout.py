"""``python -m bench checkout``: shoppers checking out in parallel through the real API, beside raw stock updates.

100,000 products (by default, one variant each) are COPYed into the catalog, with 5 hot variants that 70% of the
checkouts want, stocked to sell out near the end of the run, and 1,000 shoppers reachable on AlimTalk. 3,000
checkouts (by default, after 200 unmeasured ones) go through ``POST /v1/orders`` of a real uvicorn server with
the production settings and the sandbox gateway, ``--connections`` at a time: 80% by card (no gateway call at
checkout), 20% by virtual account (the sandbox opens the account inside the checkout). Measured: checkouts/s and
the latency of a placed order. Beside it, in the same run and on the same database: the same baskets as raw
transactions at the same concurrency, each a conditional ``UPDATE variants SET stock = stock - n WHERE id = $1 AND
stock >= n`` per line (rolled back when a line is short), pass after pass (the stock put back, untimed, before
each) until they have run as long as the API's checkouts did. The two take turns for ``--rounds`` rounds
(``bench.rounds``: the API first in odd rounds, the raw passes first in even ones); the ratio is the median of
the rounds' own ratios. Each API round starts from the initial stock.

After each API round, by SQL over that round's order lines: no variant below zero, none sold beyond its initial
stock, and every unit taken off a variant in an order line. There is no speed goal: the run fails on an
oversell, a unit taken without its order, or any answer that is neither an order nor a sold-out 409.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx

from bench.cpu_time import CpuSample, cpu_use
from bench.cpus import plan_cpus
from bench.embedded import embedded_services
from bench.report import BUSY_MACHINE_PERCENT, cpu_model, markdown_page, markdown_table, now_utc, save_texts
from bench.rounds import Lap, interleave, listed
from shoa_api.wiring import access_tokens_from

if TYPE_CHECKING:
    import argparse
    from collections.abc import Awaitable, Callable, Iterator, Sequence

    from bench.rounds import Comparison
    from bench.server import AppServer

MALLS = 5
SHOPPERS = 1_000
HOT_VARIANTS = 5
HOT_SHARE = 0.7
"""Of the checkouts, those with a hot variant (one unit) in the basket."""
HOT_SOLD_OUT_AT = 0.9
"""The hot variants are stocked for this share of the demand the measured checkouts make for them."""
COLD_STOCK = 1_000
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
    print(
        f"{products:,} products, {args.checkouts:,} checkouts {concurrency} at a time in each of {args.rounds} "
        f"rounds; {cpus.describe()}\n"
    )
    with (
        tempfile.TemporaryDirectory(prefix="shoa-bench-checkout-") as tmp_name,
        embedded_services(Path(tmp_name), cpus=cpus.load) as services,
    ):
        database = _Database(services.socket_dir)
        started = time.perf_counter()
        catalog = asyncio.run(database.seed(products=products, hot_stock=_hot_stock(args.checkouts)))
        print(f"seeded {products:,} products and {SHOPPERS:,} shoppers in {time.perf_counter() - started:.1f}s")
        warmup, baskets = _baskets(catalog, checkouts=args.checkouts, seed=args.seed)
        signer, now = access_tokens_from(services.settings.security), datetime.datetime.now(datetime.UTC)
        tokens = [f"Bearer {signer.issue(user_id, now=now)[0]}" for user_id in catalog.shoppers]
        with services.api_server(cpus=cpus.server) as server:
            api = _ApiSide(server, database, tokens, warmup, baskets, concurrency=concurrency, hot=catalog.variants)
            raw = _RawSide(database, warmup, baskets, concurrency=concurrency)
            comparison = interleave(
                args.rounds,
                side=api.checkout_round,
                baseline=raw.updates_for,
                show=lambda measured: print(measured.describe(side="API", baseline="raw", unit="checkouts/s")),
            )
    return _report(args, command=command, started_at=started_at, comparison=comparison, api=api, raw=raw,
                   attempts=len(baskets), warmup=len(warmup))  # fmt: skip


@dataclass
class _ApiSide:
    """The measured side: each round, the initial stock back, then every basket through ``POST /v1/orders``
    (after the unmeasured warm-up in the first), then the round's audit."""

    server: AppServer
    database: _Database
    tokens: list[str]
    warmup: list[Basket]
    baskets: list[Basket]
    concurrency: int
    hot: list[uuid.UUID]
    runs: list[Timed] = field(default_factory=list)
    audits: list[dict[str, int]] = field(default_factory=list)
    server_cpu_percent: list[float] = field(default_factory=list)
    others_percent: list[float] = field(default_factory=list)
    placed_in_total: int = 0

    def checkout_round(self, number: int) -> Lap:
        asyncio.run(self.database.start_round())
        checkouts = _Checkouts(self.server.base_url, self.tokens, concurrency=self.concurrency)
        if number == 1:
            warm = asyncio.run(checkouts.run(self.warmup))
            self.placed_in_total += len(warm.placed)
        before = CpuSample.take(self.server.pid)
        timed = asyncio.run(checkouts.run(self.baskets))
        cpu = cpu_use(before, CpuSample.take(self.server.pid), test_seconds=timed.seconds)
        self.placed_in_total += len(timed.placed)
        self.runs.append(timed)
        self.server_cpu_percent.append(cpu.server_percent)
        self.others_percent.append(cpu.others_percent)
        self.audits.append(asyncio.run(self.database.audit(hot=self.hot[:HOT_VARIANTS])))
        return Lap(len(self.baskets), timed.seconds)


@dataclass
class _RawSide:
    """The baseline: the same baskets as raw transactions, pass after pass (the stock put back before each,
    untimed), for as long as the API's round took."""

    database: _Database
    warmup: list[Basket]
    baskets: list[Basket]
    concurrency: int
    runs: list[Timed] = field(default_factory=list)

    def updates_for(self, _number: int, seconds: float) -> Lap:
        passes = asyncio.run(self.database.raw_updates(self.warmup, self.baskets, concurrency=self.concurrency,
                                                       seconds=seconds))  # fmt: skip
        self.runs += passes
        return Lap(len(self.baskets) * len(passes), sum(timed.seconds for timed in passes), repeats=len(passes))


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
                await connection.execute("CREATE TABLE bench_counted_lines (id uuid PRIMARY KEY)")
            await connection.execute("VACUUM ANALYZE")  # as autovacuum would, soon after a bulk load
        finally:
            await connection.close()
        return Catalog(variants=[row[0] for row in variant_rows], shoppers=shoppers)

    async def raw_updates(
        self, warmup: list[Basket], baskets: list[Basket], *, concurrency: int, seconds: float
    ) -> list[Timed]:
        """Each basket as one transaction of conditional UPDATEs, ``concurrency`` connections at a time, pass after
        pass from the initial stock until the passes have taken ``seconds`` between them (once at least)."""
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
            await self.put_stock_back()
            await _timed(warmup, take, concurrency=concurrency)
            passes: list[Timed] = []
            while not passes or sum(timed.seconds for timed in passes) < seconds:
                await self.put_stock_back()
                passes.append(await _timed(baskets, take, concurrency=concurrency))
            return passes
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

    async def start_round(self) -> None:
        """The initial stock back, and the order lines so far set aside: the next audit counts the round's own."""
        connection = await self.connect()
        try:
            await connection.execute(
                "INSERT INTO bench_counted_lines SELECT id FROM order_lines ON CONFLICT DO NOTHING"
            )
        finally:
            await connection.close()
        await self.put_stock_back()

    async def audit(self, *, hot: list[uuid.UUID]) -> dict[str, int]:
        """Oversells and stock taken without its order in this round, by SQL over the whole catalog; orders
        without a payment over the whole run."""
        connection = await self.connect()
        try:
            row = await connection.fetchrow("""
                SELECT count(*) FILTER (WHERE v.stock < 0) AS below_zero,
                       count(*) FILTER (WHERE coalesce(s.sold, 0) > i.stock) AS sold_beyond_stock,
                       count(*) FILTER (WHERE i.stock - v.stock <> coalesce(s.sold, 0)) AS taken_not_sold,
                       coalesce(sum(v.stock) FILTER (WHERE v.id = ANY($1::uuid[])), 0) AS hot_left,
                       coalesce(sum(s.sold) FILTER (WHERE v.id = ANY($1::uuid[])), 0) AS hot_sold
                FROM variants v JOIN bench_initial_stock i ON i.id = v.id
                LEFT JOIN (SELECT variant_id, sum(quantity) AS sold FROM order_lines l
                           WHERE NOT EXISTS (SELECT FROM bench_counted_lines c WHERE c.id = l.id)
                           GROUP BY variant_id) s
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
    comparison: Comparison,
    api: _ApiSide,
    raw: _RawSide,
    attempts: int,
    warmup: int,
) -> int:
    shoa, raw_all = _merged(api.runs), _merged(raw.runs)
    shoa_figures = shoa.summary(attempts * len(api.runs))
    raw_figures = raw_all.summary(attempts * len(raw.runs))
    audit = _summed(api.audits)
    orders = api.audits[-1]["orders"] if api.audits else 0
    without_payment = api.audits[-1]["without_payment"] if api.audits else 0
    oversells = audit["below_zero"] + audit["sold_beyond_stock"]
    lost = audit["taken_not_sold"] + without_payment + abs(orders - api.placed_in_total)
    failed = bool(oversells or lost or shoa.errors or raw_all.errors)
    concurrency = args.connections
    rounds = len(comparison.rounds)
    rows = [
        (f"raw conditional UPDATEs, {concurrency} at a time", f"{comparison.baseline_rate:,.0f}",
         f"{raw_figures['placed_per_s']:,.0f}", f"{raw_figures['p50_ms']:.2f}", f"{raw_figures['p99_ms']:.2f}",
         "1.000x", "", listed(comparison.baseline_rates), f"{raw_all.sold_out / max(1, len(raw.runs)):,.0f}",
         str(len(raw_all.errors)), "", "baseline"),
        (f"`POST /v1/orders`, {concurrency} at a time", f"{comparison.side_rate:,.0f}",
         f"{shoa_figures['placed_per_s']:,.0f}", f"{shoa_figures['p50_ms']:.2f}", f"{shoa_figures['p99_ms']:.2f}",
         f"{comparison.ratio:.3f}x", comparison.spread(), listed(comparison.side_rates),
         f"{shoa.sold_out / max(1, len(api.runs)):,.0f}", str(len(shoa.errors)), str(oversells),
         "0 oversells, 0 errors: " + ("NOT met" if failed else "met")),
    ]  # fmt: skip
    headers = ("path", "checkouts/s (median round)", "orders/s", "p50 ms", "p99 ms", "vs raw (median)", "range",
               "rounds: checkouts/s", "sold out a pass", "errors", "oversells", "goal")  # fmt: skip
    table = markdown_table(headers, rows, numeric={1, 2, 3, 4, 5, 8, 9, 10})
    others = max(api.others_percent, default=0.0)
    notes = [
        f"{args.products:,} products (one variant each) over {MALLS} malls, {SHOPPERS:,} shoppers; {attempts:,} "
        f"checkouts a round in {rounds} rounds, after {warmup} unmeasured; seed {args.seed}",
        f"vs raw: the median of the rounds' own ratios ({comparison.per_round()}); odd rounds the API first, even "
        "rounds the raw passes first; in each round the raw passes (the stock put back, untimed, before each) ran "
        "as long as the API's checkouts: "
        + ", ".join(
            f"{m.side.seconds:.1f} s / {m.baseline.seconds:.1f} s ({m.baseline.repeats} passes)"
            for m in comparison.rounds
        ),
        f"{HOT_VARIANTS} hot variants in {HOT_SHARE:.0%} of the baskets, stocked for {HOT_SOLD_OUT_AT:.0%} of that "
        "demand; sold by round: "
        + listed([a["hot_sold"] for a in api.audits])
        + ", left: "
        + listed([a["hot_left"] for a in api.audits]),
        f"payment: {VIRTUAL_ACCOUNT_SHARE:.0%} virtual account (the sandbox opens it inside the checkout), the rest "
        "card (confirmed later, not part of the checkout)",
        "checkouts/s: answers (orders and sold-out 409s) per second; vs raw compares those with the raw "
        "transactions (committed or rolled back for a short line) over the same baskets; orders/s, p50/p99: of "
        "placed orders over every round",
        f"audit by SQL after each round: {audit['below_zero']} variants below zero, {audit['sold_beyond_stock']} sold "
        f"beyond their stock, {audit['taken_not_sold']} with units taken that no order line holds; {orders:,} "
        f"orders for {api.placed_in_total:,} answered 201, {without_payment} without a payment",
        "server CPU % by round: " + listed(api.server_cpu_percent) + f" of its CPU; others up to {others:.0f}% "
        "of a CPU" + (" - a busy machine, figures unreliable" if others > BUSY_MACHINE_PERCENT else ""),
    ]
    print()
    print("\n".join(table))
    print("\n" + "\n".join(notes))
    for label, errors in (("checkout", shoa.errors), ("raw", raw_all.errors)):
        for error in errors[:5]:
            print(f"{label} error: {error}")
    document = {"benchmark": "checkout", "command": command, "started_at": started_at, "cpu": cpu_model(),
                "products": args.products, "shoppers": SHOPPERS, "concurrency": concurrency, "seed": args.seed,
                "checkouts": attempts, "rounds": rounds, "raw": raw_figures, "shoa": shoa_figures,
                "raw_rounds_per_s": [round(rate, 1) for rate in comparison.baseline_rates],
                "shoa_rounds_per_s": [round(rate, 1) for rate in comparison.side_rates],
                "ratio": round(comparison.ratio, 4), "ratio_low": round(comparison.low, 4),
                "ratio_high": round(comparison.high, 4), "comparison": comparison.as_json(), "audit": audit,
                "audits": api.audits, "server_cpu_percent": [round(p, 1) for p in api.server_cpu_percent],
                "others_cpu_percent": [round(p, 1) for p in api.others_percent], "met": not failed}  # fmt: skip
    markdown = markdown_page(
        benchmark="checkout", started_at=started_at, command=command, table=table, notes=notes,
        sections={"machine": {"cpu": cpu_model()}},
    )  # fmt: skip
    texts = {".json": json.dumps(document, indent=2, ensure_ascii=False) + "\n", ".md": markdown}
    for path in save_texts(args.output_dir, "checkout", started_at, texts):
        print(f"saved {path}")
    return 1 if failed else 0


def _merged(runs: Sequence[Timed]) -> Timed:
    """Runs of baskets as one: their seconds, placed latencies, sold-outs and errors together."""
    return Timed(
        seconds=sum(timed.seconds for timed in runs),
        placed=[latency for timed in runs for latency in timed.placed],
        sold_out=sum(timed.sold_out for timed in runs),
        errors=[error for timed in runs for error in timed.errors],
    )


def _summed(audits: Sequence[dict[str, int]]) -> dict[str, int]:
    keys = ("below_zero", "sold_beyond_stock", "taken_not_sold", "hot_sold")
    return {key: sum(audit[key] for audit in audits) for key in keys}


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
