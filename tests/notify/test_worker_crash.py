"""The real ``shoa worker``, killed with SIGKILL at each step of a send and started again, against local provider
endpoints that count what reaches them: every message reaches its shopper, none twice.

Each kill point is reached deterministically, without any hook in the worker:

- **after the claim**: the test holds ``LOCK TABLE notify_attempts IN SHARE MODE``; the worker claims the messages
  (they show ``sending``), then waits on the lock to write its intents. Nothing reached the provider.
- **in flight**: the provider takes every request (counts it, spends LINE's retry key) and holds its answers; the
  worker dies waiting for them.
- **before recording**: the provider answers, and the test holds ``LOCK TABLE notify_messages IN SHARE MODE``, so
  the worker waits on the lock to record the answers it has.

Against LINE (which executes a retry key once and answers 409 after), the restarted worker sends again under the
same key and LINE says it already has them. Against TalkTalk (no deduplication) it does not send again: the
messages the provider may have are dead-lettered *in doubt* for an operator, and the provider counted each once.
A provider that refuses connections for a while, a 429 storm, and two workers side by side lose nothing either.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Literal

import pytest
import sqlalchemy as sa

from notify.models import Attempt, Message
from notify.providers.base import Channel
from notify.schemas import Recipient
from shoa_api.settings import child_environment
from tests.locks import TableLock
from tests.notify.builders import outbox, outgoing
from tests.notify.counting_server import CountingProvider, free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.conftest import Services

MESSAGES = 4
"""Per provider: a LINE and a TalkTalk message each for eight shoppers, all in one batch of the worker's."""
LEASE_SECONDS = 5
Kind = Literal["line", "talktalk"]


def start_worker(
    services: Services, log: Path, line_url: str, talktalk_url: str | None = None, **extra: str
) -> subprocess.Popen[bytes]:
    """``shoa worker`` as deployed, sending LINE and TalkTalk messages to local endpoints."""
    environment = services.environ(
        SHOA_NOTIFY_PROVIDER_LINE="line",
        SHOA_LINE_MESSAGING_CHANNEL_ACCESS_TOKEN="line-channel-token",
        SHOA_LINE_MESSAGING_BASE_URL=line_url,
        SHOA_NOTIFY_PROVIDER_TALKTALK="talktalk",
        SHOA_TALKTALK_AUTHORIZATION_KEY="talktalk-partner-key",
        SHOA_TALKTALK_BASE_URL=talktalk_url or line_url,
        SHOA_NOTIFY_LEASE_SECONDS=str(LEASE_SECONDS),
        SHOA_NOTIFY_RETRY_BASE_SECONDS="0.2",
        SHOA_NOTIFY_RETRY_MAX_SECONDS="1",
        SHOA_NOTIFY_MAX_ATTEMPTS="30",
        **extra,
    )
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "shoa_api", "worker"],
            env=child_environment(environment),
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def kill(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGKILL)
    await asyncio.to_thread(worker.wait, 10)


async def stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 30)


async def until(condition: Callable[[], Awaitable[bool]], what: str, *, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def recipient(kind: Kind, number: int) -> Recipient:
    if kind == "line":
        return Recipient(line_user_id=f"U{number:032x}", consents=frozenset({Channel.LINE}))
    return Recipient(talktalk_id=f"talk-{number}", consents=frozenset({Channel.TALKTALK}))


async def enqueue(session: AsyncSession, kind: Kind, count: int = MESSAGES) -> list[str]:
    """``count`` shipping messages on one channel, committed; the recipients' addresses."""
    box = outbox()
    for number in range(count):
        await box.enqueue(session, outgoing(recipient=recipient(kind, number)))
    await session.commit()
    return [f"U{n:032x}" if kind == "line" else f"talk-{n}" for n in range(count)]


async def channel_statuses(session: AsyncSession, channel: str) -> Counter[str]:
    query = sa.select(Message.status, sa.func.count()).where(Message.channel == channel).group_by(Message.status)
    return Counter(dict((await session.execute(query)).all()))


async def statuses(session: AsyncSession) -> Counter[str]:
    rows = await session.execute(sa.select(Message.status, sa.func.count()).group_by(Message.status))
    return Counter(dict(rows.all()))


async def outcomes(session: AsyncSession) -> Counter[str]:
    rows = await session.execute(sa.select(Attempt.outcome, sa.func.count()).group_by(Attempt.outcome))
    return Counter(dict(rows.all()))


async def waiting_on(session: AsyncSession, table: str) -> int:
    """How many database sessions wait for a lock on ``table``."""
    query = sa.text(
        "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = :table AND NOT l.granted"
    )
    return int(await session.scalar(query, {"table": table}) or 0)


@pytest.fixture
def provider_of() -> Iterator[Callable[[Kind], CountingProvider]]:
    started: list[CountingProvider] = []

    def start(kind: Kind) -> CountingProvider:
        started.append(CountingProvider(kind).start())
        return started[-1]

    yield start
    for provider in started:
        provider.stop()


@pytest.fixture
async def workers() -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    """Every worker a test starts is stopped at its end, whatever happened."""
    running: list[subprocess.Popen[bytes]] = []
    yield running
    for worker in running:
        if worker.poll() is None:
            worker.kill()
            await asyncio.to_thread(worker.wait, 10)


@pytest.mark.parametrize("kill_point", ["after the claim", "in flight", "before recording"])
async def test_a_worker_killed_at_any_step_sends_each_message_once(
    services: Services,
    engine: AsyncEngine,
    session: AsyncSession,
    tmp_path: Path,
    provider_of: Callable[[Kind], CountingProvider],
    workers: list[subprocess.Popen[bytes]],
    kill_point: str,
) -> None:
    line, talktalk = provider_of("line"), provider_of("talktalk")
    line_shoppers, talktalk_shoppers = await enqueue(session, "line"), await enqueue(session, "talktalk")
    log = tmp_path / "worker.log"
    lock = TableLock(engine, "notify_attempts" if kill_point == "after the claim" else "notify_messages")

    if kill_point == "after the claim":
        await lock.take()
    else:
        line.hold()
        talktalk.hold()
    try:
        workers.append(start_worker(services, log, line.url, talktalk.url))
        if kill_point == "after the claim":
            await until(lambda: _sending_and_waiting(session, "notify_attempts"), "claims waiting to write intents")
        else:
            await until(lambda: _held(line, talktalk), "every request at the providers")
            if kill_point == "before recording":
                await lock.take()
                line.release()
                talktalk.release()
                await until(lambda: _waiting(session, "notify_messages"), "answers waiting to be recorded")
        assert workers[0].poll() is None, log.read_text()
        await kill(workers[0])
    finally:
        line.release()
        talktalk.release()
        await lock.release()
    reached = line.requests + talktalk.requests
    assert reached == (0 if kill_point == "after the claim" else 2 * MESSAGES)

    workers.append(start_worker(services, log, line.url, talktalk.url))
    await until(lambda: _settled(session), "every message settled", within=LEASE_SECONDS + 60)
    await stop(workers[1])

    # Each shopper got the message exactly once, counted where it arrives.
    assert line.delivered == dict.fromkeys(line_shoppers, 1)
    assert talktalk.delivered == dict.fromkeys(talktalk_shoppers, 1)
    assert await channel_statuses(session, "line") == {"accepted": MESSAGES}
    if kill_point == "after the claim":  # nothing had left: sent after the restart
        assert await channel_statuses(session, "talktalk") == {"accepted": MESSAGES}
        assert (line.requests, talktalk.requests) == (MESSAGES, MESSAGES)
        return
    # LINE was asked again under the same retry key and said it already had them.
    assert line.statuses == {200: MESSAGES, 409: MESSAGES}
    # TalkTalk cannot tell a repeat: the messages it may have are left to an operator, not sent again.
    assert talktalk.requests == MESSAGES
    assert await channel_statuses(session, "talktalk") == {"dead": MESSAGES}
    in_doubt = (await session.scalars(sa.select(Message.last_error).where(Message.channel == "talktalk"))).all()
    assert all(error and error.startswith("in doubt: a call to talktalk") for error in in_doubt)
    assert (await outcomes(session))["unknown"] == 2 * MESSAGES  # every lost answer is on record


async def _sending_and_waiting(session: AsyncSession, table: str) -> bool:
    all_claimed = await statuses(session) == {"sending": 2 * MESSAGES}
    return all_claimed and await _waiting(session, table)


async def _held(*providers: CountingProvider) -> bool:
    return all(provider.held == MESSAGES for provider in providers)


async def _waiting(session: AsyncSession, table: str) -> bool:
    """The worker waits on ``table``: it writes a batch's intents, or its outcomes, in one transaction (the
    outcomes once every call of the batch has answered)."""
    return await waiting_on(session, table) == 1


async def _settled(session: AsyncSession) -> bool:
    session.expire_all()
    return not {"queued", "sending"} & set(await statuses(session))


async def test_messages_wait_for_a_provider_that_is_down_and_go_out_when_it_is_back(
    services: Services,
    session: AsyncSession,
    tmp_path: Path,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    addresses = await enqueue(session, "talktalk")
    port = free_port()  # nothing listens there yet: connections are refused
    workers.append(start_worker(services, tmp_path / "worker.log", f"http://127.0.0.1:{port}"))

    async def tried_twice() -> bool:
        return (await outcomes(session))["transient"] >= 2 * MESSAGES

    await until(tried_twice, "the worker trying the provider while it is down")
    provider = CountingProvider("talktalk").start(port)
    try:
        await until(lambda: _settled(session), "every message sent once the provider is back")
        await stop(workers[0])
    finally:
        provider.stop()

    assert provider.delivered == dict.fromkeys(addresses, 1)
    assert await statuses(session) == {"accepted": MESSAGES}


async def test_a_429_storm_slows_the_worker_down_and_loses_nothing(
    services: Services,
    session: AsyncSession,
    tmp_path: Path,
    provider_of: Callable[[Kind], CountingProvider],
    workers: list[subprocess.Popen[bytes]],
) -> None:
    provider = provider_of("line")
    addresses = await enqueue(session, "line", count=30)
    storm_seconds = 3.0
    provider.storm(storm_seconds, retry_after=1)
    started = time.monotonic()
    workers.append(start_worker(services, tmp_path / "worker.log", provider.url, SHOA_NOTIFY_BATCH_SIZE="10"))

    await until(lambda: _settled(session), "every message sent after the storm")
    await stop(workers[0])

    assert provider.delivered == dict.fromkeys(addresses, 1)
    assert await statuses(session) == {"accepted": 30}
    # Left alone for each Retry-After, the worker sent about one batch a second into the storm; retrying every
    # message on its own back-off (0.2 s here) would have sent several times as many.
    assert provider.statuses[429] <= 10 * (storm_seconds + 2)
    assert time.monotonic() - started >= storm_seconds


async def test_two_workers_side_by_side_send_each_message_once(
    services: Services,
    session: AsyncSession,
    tmp_path: Path,
    provider_of: Callable[[Kind], CountingProvider],
    workers: list[subprocess.Popen[bytes]],
) -> None:
    provider = provider_of("talktalk")
    addresses = await enqueue(session, "talktalk", count=60)

    workers.extend(
        start_worker(services, tmp_path / f"worker-{n}.log", provider.url, SHOA_NOTIFY_BATCH_SIZE="3") for n in (1, 2)
    )
    await until(lambda: _settled(session), "every message sent")
    for worker in workers:
        await stop(worker)

    assert provider.delivered == dict.fromkeys(addresses, 1)
    assert provider.requests == 60
    assert await statuses(session) == {"accepted": 60}
