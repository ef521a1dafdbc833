"""``python -m bench support``: the chatbot's KakaoTalk skill endpoint under shoppers' conversations, beside the
bare app.

Shoa runs as the other HTTP benches run it (one uvicorn process pinned to its own CPU, production settings) on
the demo catalog and the shoppers' orders of :mod:`bench.support_orders` (paid, shipped with tracking, delivered,
returned, refunded …; some shoppers linked to a Kakao login, whose skill requests carry an ``appUserId``). k6
plays Kakao i Open Builder at ``--connections`` (32 by default): each iteration is one conversation in Open
Builder's own request bodies, under a botUserKey no one used before:

1. a greeting, answered with the menu;
2. a delivery question from someone the bot does not know, answered by asking for the order number;
3. the order number of one of the unlinked shoppers' orders, answered by asking for the phone's last 4 digits;
4. the right digits: the order is proven and its delivery shown;
5. a refund question, answered with the proven order's refunds;

then a linked shopper (their own botUserKey and ``appUserId``) asks where their parcel is and is answered at once
with the carrier and tracking number. Every answer is checked (2xx and what it must say); a wrong one is a
failure. Reported, beside the bare hello-world app in interleaved rounds: the mix's requests/s and latency, and
each kind's; the goal is p99 <= 100 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.cpu_time import CpuSample, CpuUse, cpu_use
from bench.cpus import plan_cpus
from bench.http import (
    BARE,
    BenchmarkError,
    _base_environment,
    _process_pinned_to,
    _shoa_variables,
    _vacuum_analyze,
    seed_catalog,
)
from bench.load import LoadGeneratorError, LoadResult, _run_to_end, find_k6, k6_version, run_load
from bench.report import Measurement, Report, machine_facts, now_utc, render_text, save
from bench.rounds import Lap, compare, in_round_order
from bench.server import AppServer
from bench.support_orders import SHOPPERS, OrderData, seed_orders
from shoa_api.database import run_unit_of_work
from shoa_api.runtime import EmbeddedPostgres, EmbeddedRedis
from shoa_api.settings import load_settings
from support.texts import say

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence


SHOA_APP = "shoa_api.app:create_app_from_environment"
MAX_P99_MS = 100.0
CONNECTIONS = 32
"""The issue's load: the default of ``--connections`` for this bench."""
CONVERSATIONS = 2_000
"""Distinct conversations k6 cycles through (each iteration under a new botUserKey all the same)."""
BOT_ID = "5f0a1b2c3d4e5f6a7b8c9d0e"
USER_KEY = "{bot_user_key}"
"""Where k6 puts each conversation's own botUserKey in the bodies."""
KINDS: dict[str, str] = {
    "greeting": "greeting: the menu",
    "question": "unknown user asks: order number?",
    "order_number": "order number: last 4 digits?",
    "proof": "right digits: proven, delivery shown",
    "refund": "proven user: refund status",
    "linked": "linked user (appUserId): tracking",
}
"""The request kinds, in conversation order, with how the table names them."""
GREETINGS = ("안녕하세요", "저기요", "안녕하세여~")
QUESTIONS = ("택배 언제와요", "배송 언제 와요?", "제 주문 어디쯤 왔나요")
REFUNDS = ("환불 아직이에요?", "환불 언제 돼요", "환불 들어왔나요")
TRACKING = ("택배 언제와요", "배송조회", "택배 어디쯤이에요")
K6_SCRIPT = """\
import http from 'k6/http';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { Counter, Trend } from 'k6/metrics';

const conversations = new SharedArray('conversations', () => JSON.parse(open(__ENV.DATA)));
const latency = {};
const failed = {};
const non2xx = {};
for (const kind of __ENV.KINDS.split(',')) {
  latency[kind] = new Trend(`kind_${kind}`, true);
  failed[kind] = new Counter(`failed_${kind}`);
  non2xx[kind] = new Counter(`non_2xx_${kind}`);
}
const params = { headers: { 'Content-Type': 'application/json', 'X-Shoa-Skill-Secret': __ENV.SECRET } };
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }));

export default function () {
  const n = exec.scenario.iterationInTest;
  const user = `${__ENV.RUN}-${exec.vu.idInTest}-${n}`;
  for (const step of conversations[n % conversations.length]) {
    const response = http.post(__ENV.URL, step.body.split(__ENV.PLACEHOLDER).join(user), params);
    latency[step.kind].add(response.timings.duration);
    const ok = response.status >= 200 && response.status < 300;
    if (response.status !== 0 && !ok) {
      non2xx[step.kind].add(1);
    }
    if (!ok || !step.expect.every((part) => response.body.includes(part))) {
      failed[step.kind].add(1);
    }
  }
}
"""
TREND_STATS = "avg,p(50),p(99),count"
EXIT_GRACE_SECONDS = 60.0


# --- The conversations -------------------------------------------------------------------------------------------


def skill_request(
    user_key: str, utterance: str, *, app_user_id: str | None = None, bot_id: str = BOT_ID
) -> dict[str, Any]:
    """An Open Builder skill request, as Kakao sends one to a skill server from the fallback block."""
    properties: dict[str, Any] = {"plusfriendUserKey": f"pf-{user_key}", "isFriend": True}
    if app_user_id is not None:
        properties["appUserId"] = app_user_id
    return {
        "intent": {"id": "fallback-block", "name": "폴백 블록"},
        "userRequest": {
            "timezone": "Asia/Seoul",
            "params": {"ignoreMe": "true"},
            "block": {"id": "fallback-block", "name": "폴백 블록"},
            "utterance": utterance,
            "lang": "ko",
            "user": {"id": user_key, "type": "botUserKey", "properties": properties},
        },
        "bot": {"id": bot_id, "name": "Shoa 고객센터"},
        "action": {"name": "shoa-support", "clientExtra": None, "params": {}, "id": "skill-1", "detailParams": {}},
        "contexts": [],
    }


def conversations(data: OrderData, *, count: int = CONVERSATIONS) -> list[list[dict[str, Any]]]:
    """Each conversation's steps: its kind, its body (``USER_KEY`` where k6 puts the botUserKey) and the parts of
    the answer's JSON it must hold."""

    def step(
        kind: str, utterance: str, expect: list[str], *, app_user: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        user_key, app_user_id = (app_user[0], app_user[1]) if app_user is not None else (USER_KEY, None)
        body = skill_request(user_key, utterance, app_user_id=app_user_id)
        return {"kind": kind, "body": json.dumps(body, ensure_ascii=False), "expect": expect}

    def text(key: str, **fields: object) -> str:
        return json.dumps(say(key, "ko", **fields), ensure_ascii=False)[1:-1]

    found = []
    for n in range(min(count, len(data.proofs))):
        number, digits = data.proofs[n % len(data.proofs)]
        app_user_id, tracking = data.linked[n % len(data.linked)]
        found.append(
            [
                step("greeting", GREETINGS[n % len(GREETINGS)], ['"intent":"unknown"', text("menu")]),
                step(
                    "question", QUESTIONS[n % len(QUESTIONS)], ['"intent":"track_delivery"', text("ask_order_number")]
                ),
                step("order_number", number, [text("ask_phone_digits")]),
                step("proof", digits, ['"intent":"track_delivery"', text("proven", number=number)]),
                step("refund", REFUNDS[n % len(REFUNDS)], ['"intent":"refund_status"']),
                step(
                    "linked",
                    TRACKING[n % len(TRACKING)],
                    ['"intent":"track_delivery"', tracking],
                    app_user=(f"linked-{app_user_id}", app_user_id),
                ),
            ]
        )
    return found


def _check_conversation(url: str, conversation: list[dict[str, Any]], *, secret: str) -> None:
    """Play one conversation before measuring: every answer must say what it should (this also trains the
    classifier, which the app does at its first chat request)."""
    headers = {"Content-Type": "application/json", "X-Shoa-Skill-Secret": secret}
    with httpx.Client(timeout=30.0) as client:
        for step in conversation:
            response = client.post(url, content=step["body"].replace(USER_KEY, "bench-check").encode(), headers=headers)
            if response.status_code != 200 or not all(part in response.text for part in step["expect"]):
                msg = f"the {step['kind']} step answered {response.status_code}: {response.text[:400]}"
                raise BenchmarkError(msg)


# --- Load and results --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MixResult:
    overall: LoadResult
    kinds: dict[str, LoadResult]


def parse_mix(summary: dict[str, Any], kinds: Sequence[str]) -> MixResult:
    """The whole mix and each kind, from k6's ``--summary-export`` of a script that counts each kind's requests
    as ``kind_<name>``, ``failed_<name>`` and ``non_2xx_<name>`` (the chatbot's ``K6_SCRIPT``, ``bench mix``'s)."""
    metrics = summary["metrics"]
    requests, rate = int(metrics["http_reqs"]["count"]), float(metrics["http_reqs"]["rate"])
    seconds = requests / rate if rate else 0.0
    by_kind = {}
    for kind in kinds:
        trend = metrics.get(f"kind_{kind}", {})
        count = int(trend.get("count", 0))
        by_kind[kind] = LoadResult(
            requests=count,
            requests_per_second=count / seconds if seconds else 0.0,
            p50_ms=float(trend.get("p(50)", 0.0)),
            p99_ms=float(trend.get("p(99)", 0.0)),
            failed=int(metrics.get(f"failed_{kind}", {}).get("count", 0)),
            non_2xx=int(metrics.get(f"non_2xx_{kind}", {}).get("count", 0)),
            p95_ms=_p95(trend),
        )
    durations = metrics["http_req_duration"]
    overall = LoadResult(
        requests=requests,
        requests_per_second=rate,
        p50_ms=float(durations["p(50)"]),
        p99_ms=float(durations["p(99)"]),
        failed=sum(result.failed for result in by_kind.values()),
        non_2xx=sum(result.non_2xx for result in by_kind.values()),
        p95_ms=_p95(durations),
    )
    return MixResult(overall, by_kind)


def _p95(trend: dict[str, Any]) -> float | None:
    """A trend's 95th percentile, when the run was asked for it (``bench mix`` is; the chatbot's is not)."""
    return float(trend["p(95)"]) if "p(95)" in trend else None


@dataclass(frozen=True, kw_only=True)
class _Mix:
    k6: Path
    url: str
    data_path: Path
    secret: str
    connections: int
    cpus: frozenset[int] | None

    def run(self, *, seconds: float, run: str) -> MixResult:
        with tempfile.TemporaryDirectory(prefix="shoa-k6-support-") as tmp:
            script, summary, output = Path(tmp) / "support.js", Path(tmp) / "summary.json", Path(tmp) / "k6.out"
            script.write_text(K6_SCRIPT)
            command = [
                str(self.k6),
                "run",
                "--quiet",
                "--no-usage-report",
                "--address",
                "",
                "--vus",
                str(self.connections),
                "--duration",
                f"{seconds:g}s",
                "--summary-export",
                str(summary),
                "--summary-trend-stats",
                TREND_STATS,
                str(script),
            ]
            environment = os.environ | {
                "GOMAXPROCS": "1",
                "URL": self.url,
                "DATA": str(self.data_path),
                "SECRET": self.secret,
                "KINDS": ",".join(KINDS),
                "PLACEHOLDER": USER_KEY,
                "RUN": run,
            }
            _run_to_end(command, environment, output, self.cpus, timeout=seconds + EXIT_GRACE_SECONDS)
            if not summary.is_file():
                msg = f"k6 wrote no summary for {self.url}: {output.read_text(errors='replace')[-600:]}"
                raise LoadGeneratorError(msg)
            return parse_mix(json.loads(summary.read_text()), list(KINDS))


def run(args: argparse.Namespace) -> int:
    cpus, k6 = plan_cpus(), find_k6()
    report = Report(
        benchmark="support",
        command=shlex.join(sys.orig_argv),
        started_at=now_utc(),
        machine=machine_facts(k6_version=k6_version(k6), cpu_placement=cpus.describe()),
        options={
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "rounds": args.rounds,
            "products": args.products,
            "seed": args.seed,
        },
        measurements=[],
    )
    print(f"command: {report.command}")
    for name, value in report.machine.items():
        print(f"{name}: {value}")
    secret = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="shoa-bench-support-") as tmp_name:
        tmp = Path(tmp_name)
        with (
            _process_pinned_to(cpus.load),
            EmbeddedPostgres(tmp / "postgres", durable=False) as postgres,
            EmbeddedRedis(tmp / "redis", durable=False) as redis,
            contextlib.ExitStack() as servers,
        ):
            variables = _shoa_variables(database_url=postgres.url, redis_url=redis.url) | {
                "SHOA_SUPPORT_KAKAO_SKILL_SECRET": secret,
                "SHOA_SUPPORT_KAKAO_BOT_ID": BOT_ID,
            }
            seed_catalog(variables, args.products)
            settings, started = load_settings(variables, env_file=None), time.perf_counter()
            data = asyncio.run(
                run_unit_of_work(settings.database, lambda session: seed_orders(session, seed=args.seed))
            )
            asyncio.run(_vacuum_analyze(settings.database.url))
            tables = {table: len(rows) for table, rows in data.tables.items()}
            print(
                f"wrote {', '.join(f'{n:,} {table}' for table, n in tables.items())} in "
                f"{time.perf_counter() - started:.1f}s\n"
            )
            report.options.update(
                {
                    "shoppers": SHOPPERS,
                    "linked shoppers": len(data.linked),
                    "orders": tables["orders"],
                    "mall-orders": tables["mall_orders"],
                }
            )
            mix = conversations(data)
            data_path = tmp / "conversations.json"
            data_path.write_text(json.dumps(mix, ensure_ascii=False))
            bare = servers.enter_context(
                AppServer(
                    BARE.factory,
                    environment=_base_environment(),
                    ready_path="/",
                    log_path=tmp / "bare-server.log",
                    cpus=cpus.server,
                    cwd=tmp,
                )
            )
            shoa = servers.enter_context(
                AppServer(
                    SHOA_APP,
                    environment=_base_environment() | variables,
                    ready_path="/health/live",
                    log_path=tmp / "shoa-server.log",
                    cpus=cpus.server,
                    cwd=tmp,
                )
            )
            url = f"{shoa.base_url}/webhooks/chat/kakao"
            _check_conversation(url, mix[0], secret=secret)
            player = _Mix(
                k6=k6, url=url, data_path=data_path, secret=secret, connections=args.connections, cpus=cpus.load
            )
            report.measurements.extend(_measure(args, bare, shoa, player))
    print()
    print(render_text(report))
    for path in save(report, args.output_dir):
        print(f"saved {path}")
    return 0 if not report.missed() else 1


def _measure(args: argparse.Namespace, bare: AppServer, shoa: AppServer, player: _Mix) -> list[Measurement]:
    """A warm-up, then rounds of the bare app and the mix, each for ``--duration`` (``bench.rounds``: the bare app
    first in odd rounds, the mix first in even ones); each one's median round, and the median of the rounds' own
    ratios."""
    k6, connections, seconds = player.k6, args.connections, args.duration
    if args.warmup > 0:
        print(f"warm-up {args.warmup:g}s each")
        run_load(k6, f"{bare.base_url}/", seconds=args.warmup, connections=connections, cpus=player.cpus)
        player.run(seconds=args.warmup, run="warm")
    bare_runs: list[tuple[LoadResult, CpuUse]] = []
    mix_runs: list[tuple[MixResult, CpuUse]] = []

    def load_bare() -> None:
        before = CpuSample.take(bare.pid)
        result = run_load(k6, f"{bare.base_url}/", seconds=seconds, connections=connections, cpus=player.cpus)
        bare_runs.append((result, cpu_use(before, CpuSample.take(bare.pid), test_seconds=result.seconds)))

    def load_mix(number: int) -> None:
        before = CpuSample.take(shoa.pid)
        mixed = player.run(seconds=seconds, run=f"r{number}")
        mix_runs.append((mixed, cpu_use(before, CpuSample.take(shoa.pid), test_seconds=mixed.overall.seconds)))

    for number in range(1, args.rounds + 1):
        turns: list[Callable[[], None]] = [load_bare, functools.partial(load_mix, number)]
        for turn in in_round_order(turns, number):
            turn()
        (result, _), (mixed, cpu) = bare_runs[-1], mix_runs[-1]
        print(
            f"round {number}: bare {result.requests_per_second:,.0f} requests/s; Kakao skill "
            f"{mixed.overall.requests_per_second:,.0f} requests/s, p99 {mixed.overall.p99_ms:.0f} ms, "
            f"{mixed.overall.failed} failed, server CPU {cpu.server_percent:.0f}%"
        )
    bare_result, bare_cpu = sorted(bare_runs, key=lambda run: run[0].requests_per_second)[len(bare_runs) // 2]
    mixed, cpu = sorted(mix_runs, key=lambda run: run[0].overall.requests_per_second)[len(mix_runs) // 2]
    comparison = compare(
        [Lap(m.overall.requests, m.overall.seconds) for m, _ in mix_runs],
        [Lap(b.requests, b.seconds) for b, _ in bare_runs],
    )
    measurements = [
        Measurement(
            target="bare",
            endpoint="GET /",
            load=bare_result,
            cpu=bare_cpu,
            peak_rss_mib=bare.peak_rss_mib(),
            minimum_ratio=None,
            baseline=True,
            rounds=tuple(run.requests_per_second for run, _ in bare_runs),
        ),
        Measurement(
            target="shoa",
            endpoint="POST /webhooks/chat/kakao, all kinds",
            load=mixed.overall,
            cpu=cpu,
            peak_rss_mib=shoa.peak_rss_mib(),
            minimum_ratio=None,
            max_p99_ms=MAX_P99_MS,
            rounds=tuple(run.overall.requests_per_second for run, _ in mix_runs),
            paired_ratio=comparison.ratio,
            round_ratios=tuple(comparison.ratios),
        ),
    ]
    measurements += [
        Measurement(
            target="shoa",
            endpoint=f"· {label}",
            load=mixed.kinds[kind],
            cpu=cpu,
            peak_rss_mib=shoa.peak_rss_mib(),
            minimum_ratio=None,
            max_p99_ms=MAX_P99_MS,
        )
        for kind, label in KINDS.items()
    ]
    return measurements
