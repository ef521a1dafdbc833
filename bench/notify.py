"""``python -m bench notify``: messages through enqueue, the outbox and real workers, beside raw POSTs.

In each of ``--rounds`` rounds, 10,000 new ``order_received`` messages (``--messages``) for shoppers reachable on
LINE are enqueued in transactions of 500, as a service would enqueue them, while ``--workers`` real ``shoa
worker`` processes (started for the round) send them to a local LINE Messaging API server (the tests' fake, which
answers as LINE documents and deduplicates on ``X-Line-Retry-Key``), in a process of its own
(``bench.provider_server``). Measured: messages/s from the first enqueue to the last acceptance, and each
message's latency from its enqueue to its acceptance. Beside it, in the same round and against a second server of
the same kind: raw httpx POSTs of the same push bodies at the same concurrency (workers x batch size), for as
long as the round's messages took (``bench.rounds``: the order alternates between rounds; the ratio is the median
of the rounds' own ratios). Afterwards each server's record must show every message once: none lost, none
doubled. Goal: >= 0.5x the raw rate.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.embedded import embedded_services
from bench.provider_server import ProviderServer
from bench.report import cpu_model, markdown_page, markdown_table, now_utc, save_texts
from bench.rounds import Lap, interleave, listed
from notify.models import Message
from notify.providers.base import Channel
from notify.rendering import Templates
from notify.schemas import OutgoingMessage, Recipient
from notify.service import Outbox

if TYPE_CHECKING:
    import argparse
    import datetime

    from sqlalchemy.ext.asyncio import AsyncEngine


ENQUEUE_BATCH = 500
BATCH_SIZE = 10
"""Messages a worker claims and sends at a time (``SHOA_NOTIFY_BATCH_SIZE``, the default)."""
GOAL = 0.5
SECRET_KEY = "bench-notify-secret-key-0123456789abcdef"  # noqa: S105 - signs nothing that leaves the run


class BenchmarkError(RuntimeError):
    pass


def run(args: argparse.Namespace) -> int:
    command, started_at = shlex.join(sys.orig_argv), now_utc()
    messages, workers = args.messages, args.workers
    concurrency = workers * BATCH_SIZE
    print(f"command: {command}")
    print(f"{args.rounds} rounds of {messages:,} messages, {workers} workers x {BATCH_SIZE} at a time; raw POSTs at "
          f"{concurrency} for as long\n")  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="shoa-bench-notify-") as tmp_name,
        embedded_services(Path(tmp_name), cpus=None) as services,
    ):
        tmp = Path(tmp_name)
        raw = _RawPosts(concurrency=concurrency)
        shoa = _Shoa(services.postgres.url, services.redis.url, messages=messages, workers=workers, tmp=tmp)
        with ProviderServer("line", tmp / "raw.json") as raw_server, ProviderServer("line", tmp / "shoa.json") as line:
            shoa.server = line
            comparison = interleave(
                args.rounds,
                side=shoa.round,
                baseline=lambda _number, seconds: asyncio.run(raw.post_for(raw_server, seconds)),
                show=lambda measured: print(measured.describe(side="Shoa", baseline="raw", unit="messages/s")),
            )
            latencies = asyncio.run(_latencies(services.postgres.url))
        if len(raw_server.record) != raw.posted:
            raise BenchmarkError(f"the server took {len(raw_server.record)} of {raw.posted} raw POSTs")
        lost, doubled = _count(line, messages=messages * args.rounds)
    met = comparison.ratio >= GOAL and not lost and not doubled
    p50_ms, p99_ms = _percentile(latencies, 0.50) * 1000, _percentile(latencies, 0.99) * 1000
    rows = [
        ("raw httpx POSTs", f"{comparison.baseline_rate:,.0f}", f"{raw.p99_ms():,.0f}", "1.00x", "",
         listed(comparison.baseline_rates), "", "baseline"),
        (f"enqueue → outbox → {workers} workers", f"{comparison.side_rate:,.0f}", f"{p99_ms:,.0f}",
         f"{comparison.ratio:.2f}x", comparison.spread(2), listed(comparison.side_rates),
         f"{lost} lost, {doubled} doubled", f">= {GOAL}x: {'met' if met else 'NOT met'}"),
    ]  # fmt: skip
    headers = ("path", "messages/s (median round)", "p99 ms", "vs raw (median)", "range", "rounds: messages/s",
               "server's count", "goal")  # fmt: skip
    table = markdown_table(headers, rows, numeric={1, 2, 3})
    print()
    print("\n".join(table))
    enqueue_rate = listed(shoa.enqueue_rates)
    notes = [
        f"{messages:,} order_received messages to LINE users a round, {args.rounds} rounds; {workers} `shoa worker` "
        "processes, started for each round",
        f"raw: httpx POSTs of the same push bodies at {concurrency} at a time, to a second fake LINE server, for as "
        "long as the round's messages took: "
        + ", ".join(f"{m.side.seconds:.1f} s / {m.baseline.seconds:.1f} s" for m in comparison.rounds),
        f"vs raw: the median of the rounds' own ratios ({comparison.per_round(2)}); odd rounds Shoa first, even "
        "rounds the raw POSTs first",
        f"enqueue alone: {enqueue_rate} messages/s by round; p50 enqueue → accepted {p50_ms:,.0f} ms",
    ]
    print("\n".join(notes))
    document = {"benchmark": "notify", "command": command, "started_at": started_at, "cpu": cpu_model(),
                "messages": messages, "rounds": args.rounds, "workers": workers,
                "raw": {"messages_per_s": comparison.baseline_rate, "p99_ms": raw.p99_ms(), "posted": raw.posted},
                "shoa": {"messages_per_s": comparison.side_rate, "enqueue_per_s": shoa.enqueue_rates,
                         "p50_ms": p50_ms, "p99_ms": p99_ms, "lost": lost, "doubled": doubled},
                "ratio": comparison.ratio, "ratio_low": comparison.low, "ratio_high": comparison.high,
                "comparison": comparison.as_json(), "met": met}  # fmt: skip
    markdown = markdown_page(
        benchmark="notify",
        started_at=started_at,
        command=command,
        table=table,
        notes=notes,
        sections={"machine": {"cpu": cpu_model()}},
    )
    texts = {".json": json.dumps(document, indent=2) + "\n", ".md": markdown}
    for path in save_texts(args.output_dir, "notify", started_at, texts):
        print(f"saved {path}")
    return 0 if met else 1


def _push_body(number: int) -> dict[str, Any]:
    text = f"[Shoa] 주문이 접수됐습니다.\n\n주문번호: SH{number:08d}\n주문상품: 린넨 셔츠 원피스 외 1건\n결제금액: 59,000원"
    return {"to": _line_user(number), "messages": [{"type": "text", "text": text}]}


def _line_user(number: int) -> str:
    return "U" + uuid.UUID(int=number).hex


class _RawPosts:
    """The baseline: ``concurrency`` senders posting push bodies one after another until the time is up."""

    def __init__(self, *, concurrency: int) -> None:
        self.concurrency = concurrency
        self.posted = 0
        self.latencies: list[float] = []

    async def post_for(self, server: ProviderServer, seconds: float) -> Lap:
        headers = {"Authorization": f"Bearer {server.info['channel_access_token']}"}
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        sent = 0
        async with httpx.AsyncClient(base_url=server.url, headers=headers, limits=limits, timeout=30) as http:
            started = time.perf_counter()
            deadline = started + seconds

            async def sender() -> None:
                nonlocal sent
                while time.perf_counter() < deadline:
                    number = self.posted
                    self.posted += 1
                    began = time.perf_counter()
                    answer = await http.post(
                        "/v2/bot/message/push",
                        json=_push_body(number),
                        headers={"X-Line-Retry-Key": str(uuid.uuid4())},
                    )
                    self.latencies.append(time.perf_counter() - began)
                    if answer.status_code != 200:
                        raise BenchmarkError(f"the raw POST got {answer.status_code}: {answer.text[:200]}")
                    sent += 1

            await asyncio.gather(*(sender() for _ in range(self.concurrency)))
            elapsed = time.perf_counter() - started
        return Lap(sent, elapsed)

    def p99_ms(self) -> float:
        return _percentile(self.latencies, 0.99) * 1000 if self.latencies else 0.0


class _Shoa:
    """The measured side: each round, ``workers`` ``shoa worker`` processes started, ``messages`` new messages
    enqueued, and the time until the provider accepted the last of them."""

    def __init__(self, database_url: str, redis_url: str, *, messages: int, workers: int, tmp: Path) -> None:
        self.database_url, self.redis_url, self.tmp = database_url, redis_url, tmp
        self.messages, self.workers = messages, workers
        self.server: ProviderServer | None = None
        self.enqueue_rates: list[float] = []

    def round(self, number: int) -> Lap:
        assert self.server is not None
        first = (number - 1) * self.messages
        environ = {
            **os.environ,
            "SHOA_ENV": "production",
            "SHOA_LOG_FORMAT": "json",
            "SHOA_LOG_LEVEL": "WARNING",
            "SHOA_DATABASE_URL": self.database_url,
            "SHOA_REDIS_URL": self.redis_url,
            "SHOA_SECRET_KEY": SECRET_KEY,
            "SHOA_NOTIFY_PROVIDER_LINE": "line",
            "SHOA_LINE_MESSAGING_CHANNEL_ACCESS_TOKEN": self.server.info["channel_access_token"],
            "SHOA_LINE_MESSAGING_BASE_URL": self.server.url,
            "SHOA_NOTIFY_BATCH_SIZE": str(BATCH_SIZE),
        }
        logs = [self.tmp / f"worker-{number}-{n}.log" for n in range(self.workers)]
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "shoa_api", "worker"], env=environ, stdout=log.open("w"),
                stderr=subprocess.STDOUT,
            )
            for log in logs
        ]  # fmt: skip
        try:
            time.sleep(3.0)  # the workers connect and load their templates
            for process, log in zip(processes, logs, strict=True):
                if process.poll() is not None:
                    raise BenchmarkError(f"a worker exited at start: {log.read_text()[-2000:]}")
            seconds, enqueue_seconds = asyncio.run(
                _enqueue_and_wait(
                    self.database_url, first=first, messages=self.messages, accepted=first + self.messages
                )
            )
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)
        self.enqueue_rates.append(self.messages / enqueue_seconds)
        return Lap(self.messages, seconds)


def _count(server: ProviderServer, *, messages: int) -> tuple[int, int]:
    """Messages the server never got, and those it got more than once."""
    expected = {_line_user(number) for number in range(messages)}
    accepted: list[str] = server.record
    return len(expected - set(accepted)), len(accepted) - len(set(accepted))


async def _enqueue_and_wait(database_url: str, *, first: int, messages: int, accepted: int) -> tuple[float, float]:
    """Messages ``first`` to ``first + messages - 1`` enqueued; the seconds until ``accepted`` messages in all were
    accepted, and those the enqueueing took."""
    engine = create_async_engine(database_url, pool_size=4)
    outbox = Outbox(templates=Templates.load(), recipients=_no_accounts)
    try:
        started = time.perf_counter()
        for start in range(first, first + messages, ENQUEUE_BATCH):
            async with AsyncSession(engine) as session, session.begin():
                for number in range(start, min(start + ENQUEUE_BATCH, first + messages)):
                    await outbox.enqueue(session, _message(number))
        enqueued = time.perf_counter() - started
        await _wait_until_accepted(engine, accepted, deadline=time.monotonic() + 900)
        return time.perf_counter() - started, enqueued
    finally:
        await engine.dispose()


async def _no_accounts(session: AsyncSession, user_id: uuid.UUID) -> Recipient | None:
    return None  # every benchmark message names its recipient


def _message(number: int) -> OutgoingMessage:
    return OutgoingMessage(
        event="order_received",
        idempotency_key=f"bench:order:{number}:received",
        parameters={
            "order_number": f"SH{number:08d}",
            "order_summary": "린넨 셔츠 원피스 외 1건",
            "amount": 59000,
            "order_url": f"https://shoa.kr/orders/SH{number:08d}",
        },
        recipient=Recipient(
            line_user_id=_line_user(number), consents=frozenset({Channel.LINE}), preferred=Channel.LINE, locale="ko"
        ),
    )


async def _wait_until_accepted(engine: AsyncEngine, messages: int, *, deadline: float) -> None:
    count = sa.select(sa.func.count()).select_from(Message).where(Message.accepted_at.is_not(None))
    while time.monotonic() < deadline:
        async with engine.connect() as connection:
            accepted = await connection.scalar(count)
        if accepted == messages:
            return
        await asyncio.sleep(0.05)
    raise BenchmarkError(f"only {accepted} of {messages} messages were accepted in time")


async def _latencies(database_url: str) -> list[float]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(sa.select(Message.created_at, Message.accepted_at))
    finally:
        await engine.dispose()
    return sorted(_seconds(created, accepted) for created, accepted in rows if accepted is not None)


def _seconds(created: datetime.datetime, accepted: datetime.datetime) -> float:
    return (accepted - created).total_seconds()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
