"""A restock wave's AlimTalks go to NHN Cloud a thousand to a request, not a request apiece: each shopper gets
hers once, each answer is read for its own recipient, and a request whose answer was lost is repeated whole under
its key, so NHN answers -1005 instead of sending again — in-process, and with a real worker killed mid-request.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING

import httpx
import pytest
import sqlalchemy as sa

from notify.models import Attempt, Message
from notify.providers.base import Channel
from notify.providers.nhn import NhnCloudProvider
from notify.schemas import Recipient
from tests.notify.builders import Clock, dispatcher, outbox, outgoing, sessions
from tests.notify.fakes.http import Fault
from tests.notify.fakes.nhn import FakeNhnCloud
from tests.notify.test_worker_crash import kill, start_worker, stop, until

if TYPE_CHECKING:
    import subprocess
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from notify.worker import Dispatcher
    from tests.conftest import Services

SEND_NO = "15446859"


@pytest.fixture
def nhn() -> Iterator[FakeNhnCloud]:
    with FakeNhnCloud(send_numbers=[SEND_NO]) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0)) as client:
        yield client


def through_nhn(nhn: FakeNhnCloud, http: httpx.AsyncClient, *, clock: Clock | None = None) -> Dispatcher:
    provider = NhnCloudProvider(
        http=http, alimtalk_base_url=nhn.url, sms_base_url=nhn.url, app_key=nhn.app_key,
        secret_key=nhn.secret_key, sender_key=nhn.sender_key, sms_app_key=nhn.sms_app_key,
        sms_secret_key=nhn.sms_secret_key, send_no=SEND_NO,
    )  # fmt: skip
    return dispatcher({Channel.ALIMTALK: provider, Channel.SMS: provider}, clock=clock)


def phone(number: int) -> str:
    return f"+82105{number:07d}"


async def enqueue_wave(session: AsyncSession, count: int) -> list[str]:
    """``count`` restock-style AlimTalks (one template) to as many phones, in one transaction; the phones."""
    phones = [phone(number) for number in range(count)]
    await outbox().enqueue_many(
        session,
        [outgoing(recipient=Recipient(phone=to, consents=frozenset({Channel.ALIMTALK, Channel.SMS}))) for to in phones],
    )
    await session.commit()
    return phones


def alimtalk_requests(nhn: FakeNhnCloud) -> list[list[str]]:
    """Each AlimTalk request NHN received, as its recipients' numbers."""
    return [
        [recipient["recipientNo"] for recipient in request.json()["recipientList"]]
        for request in nhn.received
        if "/alimtalk/" in request.path
    ]


def shown(nhn: FakeNhnCloud) -> Counter[str]:
    """AlimTalks on shoppers' phones, by national number."""
    return Counter(send.recipient_no for send in nhn.sent if send.product == "alimtalk")


def national(e164: str) -> str:
    return "0" + e164.removeprefix("+82")


async def statuses(session: AsyncSession) -> Counter[str]:
    rows = await session.execute(sa.select(Message.status, sa.func.count()).group_by(Message.status))
    return Counter(dict(rows.all()))


async def test_a_wave_goes_to_nhn_a_thousand_recipients_to_a_request(
    engine: AsyncEngine, session: AsyncSession, nhn: FakeNhnCloud, http: httpx.AsyncClient
) -> None:
    phones = await enqueue_wave(session, 2300)

    while await through_nhn(nhn, http).run(sessions(engine)):
        pass

    sizes = sorted(len(recipients) for recipients in alimtalk_requests(nhn))
    assert sizes == [300, 1000, 1000]
    assert shown(nhn) == Counter({national(to): 1 for to in phones})
    assert await statuses(session) == {"accepted": 2300}
    # Each message knows its own place in its request, as NHN's delivery reports will name it.
    sent_ids = {f"{send.request_id}:{send.recipient_seq}" for send in nhn.sent}
    stored_ids = set((await session.scalars(sa.select(Message.provider_message_id))).all())
    assert stored_ids == sent_ids
    keys = Counter((await session.scalars(sa.select(Attempt.delivery_key))).all())
    assert sorted(keys.values()) == [300, 1000, 1000]
    assert all(key.startswith("bulk:") for key in keys)
    assert {request.header("x-nc-api-idempotency-key") for request in nhn.received} == set(keys)


async def test_a_lone_message_still_goes_under_its_own_key(
    engine: AsyncEngine, session: AsyncSession, nhn: FakeNhnCloud, http: httpx.AsyncClient
) -> None:
    [to] = await enqueue_wave(session, 1)

    await through_nhn(nhn, http).run(sessions(engine))

    message = await session.scalar(sa.select(Message))
    assert message is not None
    [request] = nhn.received
    assert request.header("x-nc-api-idempotency-key") == message.delivery_key
    assert shown(nhn) == {national(to): 1}


@pytest.mark.parametrize("fault", [Fault.LOST_ANSWER, Fault.HANG])
async def test_a_request_whose_answer_was_lost_is_repeated_whole_and_reaches_each_shopper_once(
    engine: AsyncEngine, session: AsyncSession, nhn: FakeNhnCloud, http: httpx.AsyncClient, fault: Fault
) -> None:
    """LOST_ANSWER: NHN sent the wave, then the connection closed. HANG: NHN never saw it (the client gave up)."""
    phones = await enqueue_wave(session, 40)
    clock = Clock()
    worker = through_nhn(nhn, http, clock=clock)
    nhn.hang_seconds = 5.0
    nhn.fail_next(1, fault)

    await worker.run(sessions(engine))
    assert await statuses(session) == {"queued": 40}  # in doubt, all due again at one moment
    due = set((await session.scalars(sa.select(Message.next_attempt_at))).all())
    assert len(due) == 1
    clock.advance((due.pop() - clock.now).total_seconds())
    await worker.run(sessions(engine))

    assert await statuses(session) == {"accepted": 40}
    first, again = nhn.received
    assert again.header("x-nc-api-idempotency-key") == first.header("x-nc-api-idempotency-key")
    assert sorted(again.json()["recipientList"], key=str) == sorted(first.json()["recipientList"], key=str)
    assert shown(nhn) == Counter({national(to): 1 for to in phones})


async def test_a_doubted_request_that_can_never_be_whole_again_is_dead_lettered_not_sent_in_part(
    engine: AsyncEngine, session: AsyncSession, nhn: FakeNhnCloud, http: httpx.AsyncClient
) -> None:
    await enqueue_wave(session, 5)
    clock = Clock()
    worker = through_nhn(nhn, http, clock=clock)
    nhn.fail_next(1, Fault.LOST_ANSWER)
    await worker.run(sessions(engine))
    # One of the five leaves the queue another way (an operator, a withdrawal): the request cannot be repeated.
    gone = await session.scalar(sa.select(Message.id).limit(1))
    await session.execute(sa.update(Message).where(Message.id == gone).values(status="unreachable"))
    await session.commit()

    for _ in range(6):  # the rest wait for it until NHN would no longer know the request's key
        clock.advance(120)
        await worker.run(sessions(engine))

    assert await statuses(session) == {"dead": 4, "unreachable": 1}
    errors = set((await session.scalars(sa.select(Message.last_error).where(Message.status == "dead"))).all())
    assert all(error and error.startswith("in doubt: a call to nhn") for error in errors)
    assert len(nhn.received) == 1  # never sent again, in part or whole


async def test_a_worker_killed_while_nhn_holds_a_wave_repeats_it_whole_after_restart(
    services: Services, engine: AsyncEngine, session: AsyncSession, nhn: FakeNhnCloud, tmp_path: Path
) -> None:
    phones = await enqueue_wave(session, 1500)
    nhn.hang_seconds = 60.0
    nhn.fail_next(1, Fault.SLOW_ANSWER)  # the first request is sent by NHN, its answer held back
    log = tmp_path / "worker.log"
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers.append(start_worker(services, log, nhn.url, **nhn_settings(nhn)))
        await until(lambda: _sent_at_least(nhn, 1000), "NHN to take the first request", within=60)
        await kill(workers[0])
        workers.append(start_worker(services, log, nhn.url, **nhn_settings(nhn)))
        await until(lambda: _all_accepted(session, 1500), "every message accepted", within=90)
        await stop(workers[1])
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()

    assert shown(nhn) == Counter({national(to): 1 for to in phones}), log.read_text()[-3000:]
    repeated = [r for r in nhn.received if r.header("x-nc-api-idempotency-key") == _first_key(nhn)]
    assert len(repeated) == 2  # the held request, and the same again after the restart, answered -1005


def nhn_settings(nhn: FakeNhnCloud) -> dict[str, str]:
    return {
        "SHOA_NOTIFY_PROVIDER_ALIMTALK": "nhn",
        "SHOA_NOTIFY_PROVIDER_SMS": "nhn",
        "SHOA_NHN_ALIMTALK_APP_KEY": nhn.app_key,
        "SHOA_NHN_ALIMTALK_SECRET_KEY": nhn.secret_key,
        "SHOA_NHN_SENDER_KEY": nhn.sender_key,
        "SHOA_NHN_SMS_APP_KEY": nhn.sms_app_key,
        "SHOA_NHN_SMS_SECRET_KEY": nhn.sms_secret_key,
        "SHOA_NHN_SEND_NO": SEND_NO,
        "SHOA_NHN_ALIMTALK_BASE_URL": nhn.url,
        "SHOA_NHN_SMS_BASE_URL": nhn.url,
    }


def _first_key(nhn: FakeNhnCloud) -> str | None:
    return nhn.received[0].header("x-nc-api-idempotency-key")


async def _sent_at_least(nhn: FakeNhnCloud, count: int) -> bool:
    return len(nhn.sent) >= count


async def _all_accepted(session: AsyncSession, count: int) -> bool:
    session.expire_all()
    return await statuses(session) == {"accepted": count}


async def test_messages_of_several_templates_go_in_a_request_per_template(
    engine: AsyncEngine, session: AsyncSession, nhn: FakeNhnCloud, http: httpx.AsyncClient
) -> None:
    box = outbox()
    for number in range(6):
        event = "shipping_started" if number % 2 else "order_received"
        recipient = Recipient(phone=phone(number), consents=frozenset({Channel.ALIMTALK}))
        await box.enqueue(session, outgoing(event, recipient=recipient))
    await session.commit()

    await through_nhn(nhn, http).run(sessions(engine))
    await asyncio.sleep(0)

    codes = Counter(request.json()["templateCode"] for request in nhn.received)
    assert len(codes) == 2
    assert set(codes.values()) == {1}
    assert sorted(len(r) for r in alimtalk_requests(nhn)) == [3, 3]
    assert await statuses(session) == {"accepted": 6}
