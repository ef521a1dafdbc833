"""`shoa messages dead`, `retry` and `show`, as an operator runs them against the database (SHOA_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import TYPE_CHECKING

from notify.delivery import RetryPolicy
from notify.providers.base import Channel, OutcomeKind
from shoa_api.settings import child_environment
from tests.notify.builders import (
    Clock,
    ScriptedProvider,
    dispatcher,
    every_channel,
    korean_phone,
    outbox,
    outgoing,
    sessions,
    stored,
)

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.conftest import Services


async def shoa_messages(services: Services, tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "shoa_api", "messages", *arguments],
        env=child_environment(services.environ(SHOA_LOG_FORMAT="console")),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_an_operator_lists_dead_letters_reads_their_attempts_and_retries_one(
    services: Services, engine: AsyncEngine, session: AsyncSession, tmp_path: Path
) -> None:
    enqueued = await outbox().enqueue(session, outgoing(key="order-42:shipping_started", recipient=korean_phone()))
    await session.commit()
    clock = Clock()
    down = ScriptedProvider("nhn", {Channel.ALIMTALK, Channel.SMS}, [OutcomeKind.TRANSIENT] * 2)
    worker = dispatcher(every_channel(down), clock=clock, policy=RetryPolicy(max_attempts=2, base_seconds=1.0))
    for _ in range(2):
        await worker.run(sessions(engine))
        clock.advance(5)

    dead = await shoa_messages(services, tmp_path, "dead")
    shown = await shoa_messages(services, tmp_path, "show", str(enqueued.message_id))
    retried = await shoa_messages(services, tmp_path, "retry", str(enqueued.message_id))
    again = await shoa_messages(services, tmp_path, "retry", str(enqueued.message_id))
    missing = await shoa_messages(services, tmp_path, "show", "0193a1c2-0000-7000-8000-000000000000")

    assert dead.returncode == 0, dead.stderr
    assert str(enqueued.message_id) in dead.stdout
    assert "shipping_started" in dead.stdout
    assert "gave up after 2 attempts" in dead.stdout
    assert shown.returncode == 0, shown.stderr
    assert "key order-42:shipping_started" in shown.stdout
    assert shown.stdout.count("nhn/alimtalk  transient  HTTP 503") == 2
    assert retried.returncode == 0, retried.stderr
    assert "queued again on alimtalk" in retried.stdout
    assert (await stored(session, enqueued.message_id)).status == "queued"
    assert again.returncode == 2
    assert "is queued; only dead or failed messages are retried" in again.stderr
    assert missing.returncode == 2
    assert "no message 0193a1c2-0000-7000-8000-000000000000" in missing.stderr

    await worker.run(sessions(engine))  # the worker sends it again
    assert (await stored(session, enqueued.message_id)).status == "accepted"


async def test_no_dead_letters_says_so(services: Services, tmp_path: Path) -> None:
    listed = await shoa_messages(services, tmp_path, "dead")

    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "no dead letters"
