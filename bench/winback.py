"""``python -m bench winback``: win-back's decisions over a simulated population whose response is known, a
restock wave's rate beside raw outbox inserts, and a restock wave from the mall's call to every shopper's phone.

Embedded PostgreSQL and Redis with the demo catalog (``--products``), one API process (uvicorn on the app
factory, as ``shoa serve`` runs it) for the malls' and shoppers' calls, and the worker's own win-back jobs run in
this process with the kit the worker builds (:func:`shoa_api.wiring.winback_kit`), on clocks the run chooses.

1. Uplift (``bench.winback_simulation``): ``--shoppers`` shoppers (``bench.winback_population``) over three
   rounds of price drops and cart reminders. After a sent decision a shopper buys its product within 7 days with
   ``--base-rate`` + ``--uplift`` percent, after a held-out one with ``--base-rate``. The malls' ``GET
   /partner/v1/insights/winback`` are summed, the uplift's 95% interval is worked out from the summed counts with
   the report's formula, and the model's uplift must lie inside it.
2. Restock wave (``bench.winback_wave``): ``--waiting`` shoppers wait for one variant; it is restocked and
   :func:`winback.jobs.restock_waves` runs until nobody waits, beside COPYs of as many outbox rows for as long,
   in ``--rounds`` interleaved rounds (``bench.rounds``).
3. Restock to phones (``bench.winback_delivery``): ``--waiting`` new shoppers wait; two worker processes run the
   restock-wave and sending jobs against a local NHN Cloud; the mall restocks through the partner API, and the
   clock runs until NHN has accepted the last AlimTalk. NHN's record must show every shopper once.

The run fails when an audit does (the reports against what was decided and drawn, the rules in the decisions,
one message per waiting shopper, each shown once), and exits with 1 when the model's uplift is outside the interval: with a 95%
interval, about one seed in twenty.
"""

from __future__ import annotations

import asyncio
import json
import random
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import sqlalchemy as sa

from bench.cpus import plan_cpus
from bench.embedded import embedded_services
from bench.http import _process_pinned_to
from bench.report import (
    BUSY_MACHINE_PERCENT,
    Laps,
    cpu_model,
    markdown_page,
    markdown_table,
    now_utc,
    save_texts,
    text_table,
)
from bench.rounds import listed
from bench.winback_delivery import Delivery, restock_to_phones
from bench.winback_population import ResponseModel, ShelfProduct, uplift_interval
from bench.winback_simulation import ADVERTISING_KINDS, ROUND_DAYS, ROUNDS, Counts, Simulation, simulate
from bench.winback_wave import COPY_ROWS, Restocked, Wave, restock_wave
from catalog import keys
from catalog.demo import seed_demo_malls
from catalog.demo_products import seed_demo_products
from catalog.models import ApiKeyScope, Product, ProductStatus, Variant
from notify.providers.nhn import MAX_RECIPIENTS
from notify.rendering import Templates
from shoa_api.database import create_engine, create_session_maker, run_unit_of_work
from shoa_api.wiring import outbox_from, winback_kit
from winback.jobs import WAVE_CHUNK
from winback.models import Reason

if TYPE_CHECKING:
    import argparse
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from bench.cpus import CpuPlan
    from bench.embedded import Services
    from bench.server import AppServer
    from bench.winback_population import Interval
    from winback.jobs import WinbackKit

PARALLEL_CALLS = 4
"""Partner calls and link taps in flight at once."""
KIND_NAMES = {"price_drop": "price drops", "cart_reminder": "cart reminders"}


class BenchmarkError(RuntimeError):
    pass


@dataclass(frozen=True, kw_only=True)
class Catalog:
    shelf: list[ShelfProduct]
    """On sale and in stock, most popular first: what shoppers like and put in carts."""
    restocked: Restocked
    keys: dict[uuid.UUID, str]
    """Each mall's partner key, with ``catalog:write`` and ``insights:read``."""


@dataclass(frozen=True, kw_only=True)
class Run:
    """What both parts work with: the database, the worker's win-back kit, and the API."""

    sessions: async_sessionmaker[AsyncSession]
    connection: asyncpg.Connection
    """For COPY."""
    kit: WinbackKit
    client: httpx.AsyncClient
    keys: dict[uuid.UUID, str]
    retention_days: int
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(PARALLEL_CALLS))

    async def partner(self, mall_id: uuid.UUID, method: str, path: str, **options: Any) -> httpx.Response:
        """A call of the partner API with the mall's key; anything but a 2xx stops the run."""
        async with self.gate:
            response = await self.client.request(
                method, path, headers={"Authorization": f"Bearer {self.keys[mall_id]}"}, **options
            )
        if not response.is_success:
            msg = f"{method} {path} answered {response.status_code}: {response.text[:300]}"
            raise BenchmarkError(msg)
        return response

    async def follow_link(self, token: str) -> None:
        """A shopper taps a message's link: counted, and sent on to the product."""
        async with self.gate:
            response = await self.client.get(f"/w/{token}", follow_redirects=False)
        if response.status_code != 302:
            msg = f"GET /w/<token> answered {response.status_code}, not the product's redirect"
            raise BenchmarkError(msg)


def run(args: argparse.Namespace) -> int:
    command, started_at = shlex.join(sys.orig_argv), now_utc()
    cpus = plan_cpus()
    print(f"command: {command}")
    print(
        f"{args.shoppers:,} shoppers over {ROUNDS} rounds, {args.base_rate:g}% buy, {args.uplift:g} points more after "
        f"a message; a restock wave to {args.waiting:,} waiting shoppers; {_placement(cpus)}\n"
    )
    laps = Laps()
    with (
        tempfile.TemporaryDirectory(prefix="shoa-bench-winback-") as tmp_name,
        embedded_services(Path(tmp_name), cpus=cpus.load) as services,
    ):
        settings = services.settings
        catalog = asyncio.run(run_unit_of_work(settings.database, lambda s: _catalog(s, products=args.products)))
        laps("catalog")
        # The jobs run on the API's CPU (the API answers only the run's own calls, none while a job runs), so
        # that PostgreSQL keeps a CPU of its own, as it would beside a worker.
        with services.api_server(cpus=cpus.server) as server, _process_pinned_to(cpus.server):
            simulation, wave, delivery = asyncio.run(
                _measure(args, services, server=server, catalog=catalog, laps=laps)
            )
    return _report(
        args, command=command, started_at=started_at, simulation=simulation, wave=wave, delivery=delivery, laps=laps
    )


async def _catalog(session: AsyncSession, *, products: int) -> Catalog:
    """The demo catalog, its products in stock in a popularity order of their own, and a key for every mall."""
    await seed_demo_malls(session)
    await seed_demo_products(session, products=products)
    rows = await session.execute(
        sa.select(Product.id, Product.mall_id, Product.external_id, Variant.id, Variant.sku)
        .join(Variant, Variant.product_id == Product.id)
        .where(Product.status == ProductStatus.ON_SALE.value, Product.in_stock, Variant.stock > 0)
        .order_by(Product.external_id, Variant.sku)  # not by id: the sync makes a product's variants in any order
    )
    found: dict[uuid.UUID, tuple[uuid.UUID, str, list[tuple[uuid.UUID, str]]]] = {}
    for product_id, mall_id, external_id, variant_id, sku in rows:
        found.setdefault(product_id, (mall_id, external_id, []))[2].append((variant_id, sku))
    shelf = [
        ShelfProduct(product_id, mall_id, external_id, tuple(variant for variant, _ in variants))
        for product_id, (mall_id, external_id, variants) in found.items()
    ]
    random.Random(products).shuffle(shelf)  # which products are popular: any, not the first made
    last = shelf.pop()  # liked by nobody: the wave's
    variant_id, sku = found[last.product_id][2][0]
    restocked = Restocked(
        variant_id=variant_id, sku=sku, product_id=last.product_id, external_id=last.external_id, mall_id=last.mall_id
    )
    scopes = [ApiKeyScope.CATALOG_WRITE.value, ApiKeyScope.INSIGHTS_READ.value]
    issued = {}
    for mall_id in sorted({product.mall_id for product in [*shelf, last]}):
        issued[mall_id] = (await keys.issue_key(session, mall_id=mall_id, name="bench", scopes=scopes)).key
    return Catalog(shelf=shelf, restocked=restocked, keys=issued)


async def _measure(
    args: argparse.Namespace, services: Services, *, server: AppServer, catalog: Catalog, laps: Laps
) -> tuple[Simulation, Wave, Delivery]:
    settings = services.settings
    engine = create_engine(settings.database)
    connection = await asyncpg.connect(host=str(services.socket_dir), user="postgres", database="shoa")
    limits = httpx.Limits(max_connections=PARALLEL_CALLS, max_keepalive_connections=PARALLEL_CALLS)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60.0, limits=limits) as client:
            run = Run(
                sessions=create_session_maker(engine),
                connection=connection,
                kit=winback_kit(settings, outbox=outbox_from(Templates.load())),
                client=client,
                keys=catalog.keys,
                retention_days=settings.insights.retention_days,
            )
            model = ResponseModel(base_rate=args.base_rate / 100, uplift=args.uplift / 100)
            simulation = await simulate(run, catalog.shelf, shoppers=args.shoppers, seed=args.seed, model=model)
            laps("uplift")
            wave = await restock_wave(
                run,
                catalog.restocked,
                waiting=args.waiting,
                seed=args.seed + 1,
                server_pid=server.pid,
                rounds=args.rounds,
            )
            laps("restock wave")
            delivery = await restock_to_phones(
                run,
                catalog.restocked,
                services.variables,
                services.tmp,
                waiting=args.waiting,
                workers=DELIVERY_WORKERS,
                seed=args.seed + 1 + args.rounds,  # the measured rounds used seed + 1 onwards
                round_number=args.rounds + 1,
            )
            print(f"restock to phones: {delivery.messages:,} AlimTalks in {delivery.seconds:.1f}s")
            laps("restock to phones")
    finally:
        await connection.close()
        await engine.dispose()
    return simulation, wave, delivery


# --- Report --------------------------------------------------------------------------------------------------------

ADVERTISING_COLUMNS = (
    "advertising", "sent", "night-held", "held out", *(reason.value.replace("_", " ") for reason in Reason),
    "bought: sent", "bought: held out", "uplift, points [95% CI]",
)  # fmt: skip
DELIVERY_COLUMNS = ("restock to phones", "waiting", "restock → last accepted, s", "messages/s", "NHN requests",
                    "NHN's record")  # fmt: skip
DELIVERY_WORKERS = 2
WAVE_COLUMNS = ("restock wave", "messages a round", "rounds: seconds", "messages/s (median round)",
                "rounds: messages/s", "vs raw (median)", "range")  # fmt: skip


def _report(
    args: argparse.Namespace,
    *,
    command: str,
    started_at: str,
    simulation: Simulation,
    wave: Wave,
    delivery: Delivery,
    laps: Laps,
) -> int:
    total = Counts()
    for counts in simulation.reported.values():
        total.add(counts)
    by_row = {KIND_NAMES[kind]: (simulation.reported[kind], simulation.night_held[kind]) for kind in ADVERTISING_KINDS}
    by_row["all advertising"] = (total, sum(simulation.night_held.values()))
    rows = [_advertising_row(name, counts, night_held) for name, (counts, night_held) in by_row.items()]
    pooled = uplift_interval(total.bought, total.sent, total.held_out_bought, total.held_out)
    inside = pooled is not None and pooled.contains(args.uplift)
    comparison = wave.comparison
    wave_rows = [
        (f"raw COPY into notify_messages ({COPY_ROWS:,} a COPY)", f"{wave.waiting:,}",
         " / ".join(f"{m.baseline.seconds:.1f} ({m.baseline.repeats})" for m in comparison.rounds),
         f"{comparison.baseline_rate:,.0f}", listed(comparison.baseline_rates), "1.00x", ""),
        (f"restock_waves ({WAVE_CHUNK:,} a chunk)", f"{wave.waiting:,}",
         listed([m.side.seconds for m in comparison.rounds], digits=1), f"{comparison.side_rate:,.0f}",
         listed(comparison.side_rates), f"{comparison.ratio:.3f}x", comparison.spread()),
    ]  # fmt: skip
    delivery_rows = [(
        f"restock (partner API) → every AlimTalk accepted by NHN: {DELIVERY_WORKERS} workers, restock-wave and "
        f"sending jobs, {MAX_RECIPIENTS:,} recipients a request",
        f"{delivery.messages:,}", f"{delivery.seconds:.1f}", f"{delivery.per_second:,.0f}", f"{delivery.requests:,}",
        f"{delivery.missed:,} missed, {delivery.doubled:,} twice",
    )]  # fmt: skip
    wave_others = max(wave.others_percent, default=0.0)
    own = [mall["uplift"] for mall in simulation.malls if mall["uplift"]]
    covering = sum(uplift["low"] <= args.uplift <= uplift["high"] for uplift in own)
    collapsed = sum(uplift["low"] == uplift["high"] for uplift in own)
    problems = simulation.problems + wave.problems + delivery.problems
    notes = [
        f"model: {args.base_rate:g}% buy without a message, {args.base_rate + args.uplift:g}% with one; measured "
        f"{_points(pooled)}: the model's {args.uplift:g} points are {'inside' if inside else 'OUTSIDE'} the interval",
        f"{args.shoppers:,} shoppers, {ROUNDS} rounds {ROUND_DAYS} days apart: {simulation.decisions:,} advertising "
        f"decisions in {simulation.decide_seconds:.1f}s of the jobs "
        f"({simulation.decisions / simulation.decide_seconds:,.0f} a second)",
        f"each mall's own interval (per kind) holds the model's uplift in {covering} of {len(own)} reports; "
        f"{collapsed} are of zero width",
        "the hold-out's share of the sent and held-out decisions, by round: "
        + ", ".join(f"{held / max(1, sent + held):.1%} of {sent + held:,}" for sent, held in simulation.rounds),
        "reports against the run: "
        + ("the same counts, every mall's uplift the formula's" if not simulation.problems else "MISMATCH")
        + "; restock: "
        + ("one message per waiting shopper, every alert notified" if not wave.problems else "FAILED"),
        f"restock wave, vs raw: the median of {len(comparison.rounds)} rounds' own ratios ({comparison.per_round()}),"
        " each round's wave for new shoppers on the same variant; odd rounds the wave first, even rounds COPY first; "
        "COPY passes (in brackets) until it has run as long as the wave, each pass's rows deleted again, untimed",
        "restock wave: others' CPU use by round "
        + listed(wave.others_percent)
        + "%"
        + (" - a busy machine, figures unreliable" if wave_others > BUSY_MACHINE_PERCENT else ""),
        "phases: " + ", ".join(f"{name} {seconds:.0f}s" for name, seconds in laps.with_total().items()),
        *problems[:20],
    ]
    numeric = set(range(1, len(ADVERTISING_COLUMNS)))
    print()
    print(text_table(ADVERTISING_COLUMNS, rows, numeric))
    print()
    print(text_table(WAVE_COLUMNS, wave_rows, {1, 3, 5}))
    print()
    print(text_table(DELIVERY_COLUMNS, delivery_rows, {1, 2, 3, 4}))
    print("\n".join(notes))
    document = {
        "benchmark": "winback", "command": command, "started_at": started_at, "cpu": cpu_model(),
        "shoppers": args.shoppers, "products": args.products, "rounds": ROUNDS, "seed": args.seed,
        "model": {"base_rate_percent": args.base_rate, "uplift_points": args.uplift},
        "reported": {kind: counts.as_json() for kind, counts in simulation.reported.items()},
        "simulated": {kind: counts.as_json() for kind, counts in simulation.truth.items()},
        "night_held": simulation.night_held, "decisions": simulation.decisions,
        "rounds_sent_held_out": simulation.rounds, "decide_seconds": round(simulation.decide_seconds, 2),
        "uplift": None if pooled is None else {"points": round(pooled.points, 2), "low": round(pooled.low, 2),
                                               "high": round(pooled.high, 2), "model_inside": inside},
        "restock": {"waiting": wave.waiting, "rounds": len(comparison.rounds),
                    "wave_per_s": round(comparison.side_rate), "copy_per_s": round(comparison.baseline_rate),
                    "ratio": round(comparison.ratio, 4), "ratio_low": round(comparison.low, 4),
                    "ratio_high": round(comparison.high, 4), "comparison": comparison.as_json(),
                    "others_cpu_percent": [round(percent) for percent in wave.others_percent]},
        "delivery": {"messages": delivery.messages, "accepted": delivery.accepted,
                     "seconds": round(delivery.seconds, 2), "requests": delivery.requests,
                     "missed": delivery.missed, "doubled": delivery.doubled},
        "phases_s": {name: round(seconds, 1) for name, seconds in laps.with_total().items()},
        "mall_intervals": {"reports": len(own), "holding_the_model": covering, "zero_width": collapsed},
        "malls": simulation.malls, "problems": problems,
    }  # fmt: skip
    table = [
        *markdown_table(ADVERTISING_COLUMNS, rows, numeric),
        "",
        *markdown_table(WAVE_COLUMNS, wave_rows, {1, 3, 5}),
        "",
        *markdown_table(DELIVERY_COLUMNS, delivery_rows, {1, 2, 3, 4}),
    ]
    markdown = markdown_page(benchmark="winback", started_at=started_at, command=command, table=table, notes=notes,
                             sections={"machine": {"cpu": cpu_model()}})  # fmt: skip
    texts = {".json": json.dumps(document, indent=2, ensure_ascii=False) + "\n", ".md": markdown}
    for path in save_texts(args.output_dir, "winback", started_at, texts):
        print(f"saved {path}")
    if problems:
        msg = f"{len(problems)} audit problem(s), the first: {problems[0]}"
        raise BenchmarkError(msg)
    return 0 if inside else 1


def _advertising_row(name: str, counts: Counts, night_held: int) -> tuple[str, ...]:
    interval = uplift_interval(counts.bought, counts.sent, counts.held_out_bought, counts.held_out)
    return (
        name, f"{counts.sent:,}", f"{night_held:,}", f"{counts.held_out:,}",
        *(f"{counts.suppressed.get(reason.value, 0):,}" for reason in Reason),
        _rate(counts.bought, counts.sent), _rate(counts.held_out_bought, counts.held_out),
        "-" if interval is None else f"{interval.points:+.2f} [{interval.low:+.2f}, {interval.high:+.2f}]",
    )  # fmt: skip


def _placement(cpus: CpuPlan) -> str:
    if cpus.server is None or cpus.load is None:
        return "not pinned (fewer than 2 CPUs)"
    server, load = (",".join(str(cpu) for cpu in sorted(group)) for group in (cpus.server, cpus.load))
    return f"the API and the jobs on CPU {server}, PostgreSQL and Redis on CPU {load}"


def _rate(part: int, whole: int) -> str:
    return f"{part:,} ({100 * part / whole:.1f}%)" if whole else "-"


def _points(interval: Interval | None) -> str:
    if interval is None:
        return "no uplift (a group is empty)"
    return f"{interval.points:+.2f} points [{interval.low:+.2f}, {interval.high:+.2f}]"
