"""``python -m bench notify``: messages through enqueue, the outbox and real workers, beside raw POSTs.

20,000 ``order_received`` messages (by default) for shoppers reachable on LINE are enqueued in transactions of
500, as a service would enqueue them, while ``--workers`` real ``shoa worker`` processes send them to a local
LINE Messaging API server (the tests' fake, which answers as LINE documents and deduplicates on
``X-Line-Retry-Key``), in a process of its own (``bench.provider_server``). Measured: messages/s from the first enqueue to the last acceptance, and each message's
latency from its enqueue to its acceptance. Beside it, in the same run and against a fresh server of the same
kind: raw httpx POSTs of the same push bodies at the same concurrency (workers x batch size). Afterwards the
server's record must show every message once: none lost, none doubled. Goal: >= 0.5x the raw rate.
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

from bench.report import cpu_model, markdown_page, markdown_table, now_utc, save_texts
from notify.models import Message
from notify.providers.base import Channel
from notify.rendering import Templates
from notify.schemas import OutgoingMessage, Recipient
from notify.service import Outbox
from shoa_api.migrate import upgrade_to_head
from shoa_api.runtime import EmbeddedPostgres, EmbeddedRedis

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
    print(f"{messages:,} messages, {workers} workers x {BATCH_SIZE} at a time; raw POSTs at {concurrency}\n")
    with (
        tempfile.TemporaryDirectory(prefix="shoa-bench-notify-") as tmp_name,
        EmbeddedPostgres(Path(tmp_name) / "postgres", durable=False) as postgres,
        EmbeddedRedis(Path(tmp_name) / "redis", durable=False) as redis,
    ):
        upgrade_to_head(postgres.url)
        with ProviderServer(Path(tmp_name) / "raw.json") as raw_server:
            raw = asyncio.run(_raw_posts(raw_server, messages=messages, concurrency=concurrency))
        if len(raw_server.accepted) != messages:
            raise BenchmarkError(f"the server took {len(raw_server.accepted)} of {messages} raw POSTs")
        with ProviderServer(Path(tmp_name) / "shoa.json") as line:
            shoa = _through_shoa(line, postgres.url, redis.url, messages=messages, workers=workers, tmp=tmp_name)
        shoa = _count(line, shoa, messages=messages)
    ratio = shoa["messages_per_s"] / raw["messages_per_s"]
    rows = [
        ("raw httpx POSTs", f"{raw['messages_per_s']:,.0f}", f"{raw['p99_ms']:,.0f}", "1.00x", "", "baseline"),
        (
            f"enqueue → outbox → {workers} workers",
            f"{shoa['messages_per_s']:,.0f}",
            f"{shoa['p99_ms']:,.0f}",
            f"{ratio:.2f}x",
            f"{shoa['lost']} lost, {shoa['doubled']} doubled",
            f">= {GOAL}x: {'met' if ratio >= GOAL and not shoa['lost'] and not shoa['doubled'] else 'NOT met'}",
        ),
    ]
    headers = ("path", "messages/s", "p99 ms", "vs raw", "server's count", "goal")
    table = markdown_table(headers, rows, numeric={1, 2, 3})
    print("\n".join(table))
    print(f"\nenqueue alone: {shoa['enqueue_per_s']:,.0f} messages/s; p50 enqueue → accepted {shoa['p50_ms']:,.0f} ms")
    document = {"benchmark": "notify", "command": command, "started_at": started_at, "cpu": cpu_model(),
                "messages": messages, "workers": workers, "raw": raw, "shoa": shoa, "ratio": ratio}  # fmt: skip
    markdown = markdown_page(
        benchmark="notify",
        started_at=started_at,
        command=command,
        table=table,
        notes=[
            f"{messages:,} order_received messages to LINE users; {workers} `shoa worker` processes",
            f"raw: httpx POSTs of the same push bodies at {concurrency} at a time, to a fresh fake LINE server",
            f"enqueue alone: {shoa['enqueue_per_s']:,.0f} messages/s; p50 enqueue → accepted {shoa['p50_ms']:,.0f} ms",
        ],
        sections={"machine": {"cpu": cpu_model()}},
    )
    texts = {".json": json.dumps(document, indent=2) + "\n", ".md": markdown}
    for path in save_texts(args.output_dir, "notify", started_at, texts):
        print(f"saved {path}")
    return 0 if ratio >= GOAL and not shoa["lost"] and not shoa["doubled"] else 1


def _push_body(number: int) -> dict[str, Any]:
    text = f"[Shoa] 주문이 접수됐습니다.\n\n주문번호: SH{number:08d}\n주문상품: 린넨 셔츠 원피스 외 1건\n결제금액: 59,000원"
    return {"to": _line_user(number), "messages": [{"type": "text", "text": text}]}


def _line_user(number: int) -> str:
    return "U" + uuid.UUID(int=number).hex


class ProviderServer:
    """``bench.provider_server`` in a child process; ``accepted`` holds the addresses it took, once it stopped."""

    def __init__(self, result: Path) -> None:
        self.result = result
        self.accepted: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self.url = self.channel_access_token = ""

    def __enter__(self) -> ProviderServer:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.provider_server", str(self.result)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.url, self.channel_access_token = self._process.stdout.readline().split()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._process is not None
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=60)
        self.accepted = json.loads(self.result.read_text())


async def _raw_posts(server: ProviderServer, *, messages: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {server.channel_access_token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=server.url, headers=headers, limits=limits, timeout=30) as http:

        async def post(number: int) -> None:
            async with gate:
                began = time.perf_counter()
                answer = await http.post(
                    "/v2/bot/message/push", json=_push_body(number), headers={"X-Line-Retry-Key": str(uuid.uuid4())}
                )
                latencies.append(time.perf_counter() - began)
                if answer.status_code != 200:
                    raise BenchmarkError(f"the raw POST got {answer.status_code}: {answer.text[:200]}")

        started = time.perf_counter()
        await asyncio.gather(*(post(number) for number in range(messages)))
        elapsed = time.perf_counter() - started
    return {"messages_per_s": messages / elapsed, "p99_ms": _percentile(latencies, 0.99) * 1000, "seconds": elapsed}


def _through_shoa(
    server: ProviderServer, database_url: str, redis_url: str, *, messages: int, workers: int, tmp: str
) -> dict[str, float]:
    environ = {
        **os.environ,
        "SHOA_ENV": "production",
        "SHOA_LOG_FORMAT": "json",
        "SHOA_LOG_LEVEL": "WARNING",
        "SHOA_DATABASE_URL": database_url,
        "SHOA_REDIS_URL": redis_url,
        "SHOA_SECRET_KEY": SECRET_KEY,
        "SHOA_NOTIFY_PROVIDER_LINE": "line",
        "SHOA_LINE_MESSAGING_CHANNEL_ACCESS_TOKEN": server.channel_access_token,
        "SHOA_LINE_MESSAGING_BASE_URL": server.url,
        "SHOA_NOTIFY_BATCH_SIZE": str(BATCH_SIZE),
    }
    logs = [Path(tmp) / f"worker-{n}.log" for n in range(workers)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "shoa_api", "worker"], env=environ, stdout=log.open("w"), stderr=subprocess.STDOUT
        )
        for log in logs
    ]
    try:
        time.sleep(3.0)  # the workers connect and load their templates
        for process, log in zip(processes, logs, strict=True):
            if process.poll() is not None:
                raise BenchmarkError(f"a worker exited at start: {log.read_text()[-2000:]}")
        result = asyncio.run(_enqueue_and_wait(database_url, messages=messages))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
    return result


def _count(server: ProviderServer, result: dict[str, float], *, messages: int) -> dict[str, float]:
    expected = {_line_user(number) for number in range(messages)}
    result["lost"] = len(expected - set(server.accepted))
    result["doubled"] = len(server.accepted) - len(set(server.accepted))
    return result


async def _enqueue_and_wait(database_url: str, *, messages: int) -> dict[str, float]:
    engine = create_async_engine(database_url, pool_size=4)
    outbox = Outbox(templates=Templates.load(), recipients=_no_accounts)
    try:
        started = time.perf_counter()
        for first in range(0, messages, ENQUEUE_BATCH):
            async with AsyncSession(engine) as session, session.begin():
                for number in range(first, min(first + ENQUEUE_BATCH, messages)):
                    await outbox.enqueue(session, _message(number))
        enqueued = time.perf_counter() - started
        await _wait_until_accepted(engine, messages, deadline=time.monotonic() + 900)
        elapsed = time.perf_counter() - started
        latencies = await _latencies(engine)
    finally:
        await engine.dispose()
    return {
        "messages_per_s": messages / elapsed,
        "enqueue_per_s": messages / enqueued,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "seconds": elapsed,
    }


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


async def _latencies(engine: AsyncEngine) -> list[float]:
    async with engine.connect() as connection:
        rows = await connection.execute(sa.select(Message.created_at, Message.accepted_at))
    return sorted(_seconds(created, accepted) for created, accepted in rows if accepted is not None)


def _seconds(created: datetime.datetime, accepted: datetime.datetime) -> float:
    return (accepted - created).total_seconds()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
