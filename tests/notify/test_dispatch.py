"""The dispatcher, in-process: it sends what is due, records every call, retries transient failures with back-off,
falls back from AlimTalk to SMS, dead-letters after the last attempt, and never resends blindly after a lost
answer. (The same with a real worker process killed at each step: test_worker_crash.py.)"""

from __future__ import annotations

import asyncio
import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from notify import repository, service
from notify.delivery import RetryPolicy
from notify.models import Attempt, Message
from notify.providers.base import Channel, Delivery, Outcome, OutcomeKind
from notify.schemas import Recipient
from shoa_kernel.clock import utc_now
from tests.notify.builders import (
    PHONE,
    Clock,
    ScriptedProvider,
    attempts,
    dispatcher,
    every_channel,
    korean_phone,
    outbox,
    outgoing,
    sandbox,
    sandbox_messages,
    sessions,
    stored,
)

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

LINE_USER = "U4af4980629d4f3c0a1b2c3d4e5f60718"


async def enqueue(
    session: AsyncSession, recipient: Recipient | None = None, *, event: str = "shipping_started"
) -> uuid.UUID:
    enqueued = await outbox().enqueue(session, outgoing(event, recipient=recipient or korean_phone()))
    await session.commit()
    return enqueued.message_id


async def test_a_due_message_goes_out_once_and_every_call_is_recorded(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    message_id = await enqueue(session)
    worker = dispatcher(every_channel(sandbox(engine)))

    assert await worker.run(sessions(engine)) == 1
    assert await worker.run(sessions(engine)) == 0

    message = await stored(session, message_id)
    [sent] = await sandbox_messages(session)
    [attempt] = await attempts(session, message_id)
    assert (message.status, message.channel, message.provider, message.attempts) == (
        "accepted",
        "alimtalk",
        "sandbox",
        1,
    )
    assert message.provider_message_id == str(sent.id)
    assert (sent.channel, sent.address, sent.template_code) == ("alimtalk", PHONE, "SHOA_SHIPPING_KO")
    assert sent.buttons[0]["name"] == "배송 조회"
    assert (attempt.outcome, attempt.provider, attempt.channel, attempt.http_status) == (
        "accepted", "sandbox", "alimtalk", 200,
    )  # fmt: skip
    assert attempt.latency_ms is not None
    assert attempt.delivery_key == message.idempotency_key


async def test_a_permanent_alimtalk_failure_falls_back_to_sms_with_the_same_content(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    message_id = await enqueue(session)
    # The sandbox refuses AlimTalk to this phone, as Kakao refuses a number without KakaoTalk.
    worker = dispatcher(every_channel(sandbox(engine, refuse=[f"alimtalk:{PHONE}"])))

    await worker.run(sessions(engine))

    message = await stored(session, message_id)
    [sms] = await sandbox_messages(session)
    history = await attempts(session, message_id)
    assert (message.status, message.channel) == ("accepted", "sms")
    assert [(a.channel, a.outcome) for a in history] == [("alimtalk", "permanent"), ("sms", "accepted")]
    assert history[1].delivery_key == f"{message.idempotency_key}:sms"  # a new channel attempt, its own key
    assert (sms.channel, sms.address, sms.sms_kind, sms.title) == ("sms", PHONE, "LMS", "[Shoa] 배송 시작")
    assert sms.text.startswith("[Shoa] 상품 배송이 시작됐습니다.")
    assert "배송 조회: https://trace.cjlogistics.com" in sms.text


async def test_a_failed_alimtalk_without_sms_consent_ends_failed(engine: AsyncEngine, session: AsyncSession) -> None:
    message_id = await enqueue(session, korean_phone(Channel.ALIMTALK))
    worker = dispatcher(every_channel(sandbox(engine, refuse=[PHONE])))

    await worker.run(sessions(engine))

    message = await stored(session, message_id)
    assert message.status == "failed"
    assert "sandbox-refused" in (message.last_error or "")
    assert await sandbox_messages(session) == []


async def test_transient_failures_are_retried_with_growing_delays_then_go_out(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    message_id = await enqueue(session)
    clock = Clock()
    flaky = ScriptedProvider("nhn", {Channel.ALIMTALK, Channel.SMS}, [OutcomeKind.TRANSIENT] * 3)
    worker = dispatcher(every_channel(flaky), clock=clock, policy=RetryPolicy(max_attempts=5, base_seconds=2.0))
    delays = []

    for _ in range(3):
        await worker.run(sessions(engine))
        message = await stored(session, message_id)
        assert message.status == "queued"
        delays.append((message.next_attempt_at - clock.now).total_seconds())
        assert await worker.run(sessions(engine)) == 0  # not due yet
        clock.advance(delays[-1])
    await worker.run(sessions(engine))

    message = await stored(session, message_id)
    assert message.status == "accepted"
    assert [a.outcome for a in await attempts(session, message_id)] == ["transient"] * 3 + ["accepted"]
    assert 1.0 <= delays[0] <= 2.0 and 2.0 <= delays[1] <= 4.0 and 4.0 <= delays[2] <= 8.0  # noqa: PT018
    assert {d.idempotency_key for d in flaky.deliveries} == {message.idempotency_key}  # one key for every try


async def test_retry_after_is_honoured_and_the_provider_is_left_alone_meanwhile(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    first, second = await enqueue(session), await enqueue(session)
    clock = Clock()
    limited = Outcome(kind=OutcomeKind.TRANSIENT, provider="nhn", http_status=429, retry_after=30.0)
    provider = ScriptedProvider("nhn", {Channel.ALIMTALK, Channel.SMS}, [limited])
    worker = dispatcher(every_channel(provider), clock=clock, batch_size=1)

    await worker.run(sessions(engine))  # the first message meets the 429
    await worker.run(sessions(engine))  # the second is not even claimed while the provider asked to wait

    assert len(provider.deliveries) == 1
    assert (await stored(session, first)).next_attempt_at >= clock.now + datetime.timedelta(seconds=30)
    assert (await stored(session, second)).status == "queued"
    clock.advance(31)
    await worker.run(sessions(engine))
    await worker.run(sessions(engine))
    assert {(await stored(session, m)).status for m in (first, second)} == {"accepted"}


async def test_after_the_last_attempt_the_message_is_dead_and_an_operator_can_retry_it(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    message_id = await enqueue(session)
    clock = Clock()
    down = ScriptedProvider("nhn", {Channel.ALIMTALK, Channel.SMS}, [OutcomeKind.TRANSIENT] * 3)
    worker = dispatcher(every_channel(down), clock=clock, policy=RetryPolicy(max_attempts=3, base_seconds=1.0))

    for _ in range(3):
        await worker.run(sessions(engine))
        clock.advance(10)

    message = await stored(session, message_id)
    assert message.status == "dead"
    assert (message.last_error or "").startswith("gave up after 3 attempts: nhn transient HTTP 503")
    assert [m.id for m in await service.dead_letters(session)] == [message_id]

    async with sessions(engine)() as operator, operator.begin():
        await service.retry(operator, message_id, now=clock.now)
    await worker.run(sessions(engine))

    message = await stored(session, message_id)
    assert message.status == "accepted"
    assert await service.dead_letters(session) == []
    assert [a.outcome for a in (await service.message_record(session, message_id)).history] == [
        "transient", "transient", "transient", "accepted",
    ]  # fmt: skip


async def _lose_the_answer(engine: AsyncEngine, message_id: uuid.UUID, *, provider: str, clock: Clock) -> None:
    """What a worker killed during a call leaves: the message claimed, the call recorded as pending."""
    async with sessions(engine)() as session, session.begin():
        await session.execute(
            sa.update(Message)
            .where(Message.id == message_id)
            .values(
                status="sending",
                next_attempt_at=clock.now,
                attempts=1,
                channel_attempts=1,
                channel_started_at=clock.now,
                provider=provider,
            )
        )
        message = await session.get(Message, message_id)
        assert message is not None
        session.add(
            Attempt(
                message_id=message_id,
                attempted_at=clock.now,
                provider=provider,
                channel=message.channel or "",
                delivery_key=message.delivery_key,
                outcome="pending",
            )
        )


async def test_a_lost_answer_is_not_resent_to_a_provider_that_cannot_deduplicate(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    message_id = await enqueue(session, Recipient(talktalk_id="tt-1", consents=frozenset({Channel.TALKTALK})))
    clock = Clock()
    await _lose_the_answer(engine, message_id, provider="talktalk", clock=clock)
    talktalk = ScriptedProvider("talktalk", {Channel.TALKTALK})

    await dispatcher({**every_channel(talktalk)}, clock=clock).run(sessions(engine))

    message = await stored(session, message_id)
    assert talktalk.deliveries == []
    assert message.status == "dead"
    assert (message.last_error or "").startswith("in doubt: a call to talktalk may have reached it")
    assert [a.outcome for a in await attempts(session, message_id)] == ["unknown"]


async def test_a_lost_answer_is_resent_under_the_same_key_to_a_provider_that_deduplicates(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    message_id = await enqueue(session, Recipient(line_user_id=LINE_USER, consents=frozenset({Channel.LINE})))
    clock = Clock()
    await _lose_the_answer(engine, message_id, provider="line", clock=clock)
    line = ScriptedProvider("line", {Channel.LINE})

    await dispatcher(every_channel(line), clock=clock).run(sessions(engine))

    message = await stored(session, message_id)
    assert [d.idempotency_key for d in line.deliveries] == [message.idempotency_key]
    assert message.status == "accepted"
    assert message.doubted_provider is None
    assert [a.outcome for a in await attempts(session, message_id)] == ["unknown", "accepted"]


async def test_past_the_providers_deduplication_window_a_lost_answer_is_not_resent(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    message_id = await enqueue(session, Recipient(line_user_id=LINE_USER, consents=frozenset({Channel.LINE})))
    clock = Clock()
    await _lose_the_answer(engine, message_id, provider="line", clock=clock)
    clock.advance(24 * 3600)  # LINE keeps a retry key 24 hours
    line = ScriptedProvider("line", {Channel.LINE})

    await dispatcher(every_channel(line), clock=clock).run(sessions(engine))

    assert line.deliveries == []
    assert (await stored(session, message_id)).status == "dead"


async def test_an_adapter_that_raises_leaves_the_message_in_doubt(engine: AsyncEngine, session: AsyncSession) -> None:
    message_id = await enqueue(session, Recipient(talktalk_id="tt-2", consents=frozenset({Channel.TALKTALK})))

    class Broken(ScriptedProvider):
        async def send(self, delivery: object) -> Outcome:
            raise RuntimeError("a bug after the request went out")

    await dispatcher(every_channel(Broken("talktalk", {Channel.TALKTALK}))).run(sessions(engine))

    message = await stored(session, message_id)
    assert (message.status, message.doubted_provider) == ("dead", "talktalk")
    assert [a.outcome for a in await attempts(session, message_id)] == ["unknown"]


async def test_a_read_timeout_is_retried_only_where_the_provider_deduplicates(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    on_talktalk = await enqueue(session, Recipient(talktalk_id="tt-3", consents=frozenset({Channel.TALKTALK})))
    on_line = await enqueue(session, Recipient(line_user_id=LINE_USER, consents=frozenset({Channel.LINE})))
    timeouts = [Outcome(kind=OutcomeKind.TRANSIENT, provider=name, delivery_unknown=True, detail="ReadTimeout")
                for name in ("talktalk", "line")]  # fmt: skip
    providers = {
        **every_channel(ScriptedProvider("talktalk", {Channel.TALKTALK}, timeouts[:1])),
        Channel.LINE: ScriptedProvider("line", {Channel.LINE}, timeouts[1:]),
    }

    await dispatcher(providers).run(sessions(engine))

    assert (await stored(session, on_talktalk)).status == "dead"
    line_message = await stored(session, on_line)
    assert (line_message.status, line_message.doubted_provider) == ("queued", "line")


async def test_two_dispatchers_side_by_side_send_each_message_once(engine: AsyncEngine, session: AsyncSession) -> None:
    ids = [await enqueue(session) for _ in range(40)]
    provider = ScriptedProvider("sandbox-like", set(Channel))
    workers = [dispatcher(every_channel(provider), batch_size=3) for _ in range(2)]

    await asyncio.gather(*(worker.run(sessions(engine)) for worker in workers))

    sent = [delivery.message_id for delivery in provider.deliveries]
    assert sorted(sent) == sorted(ids)
    assert len(set(sent)) == len(sent)


async def test_a_slow_call_does_not_hold_back_the_messages_behind_it(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    """Calls are kept in flight as others answer: one provider call that hangs does not stop the outbox behind it
    (nothing waits for a whole batch to answer)."""
    slow_id, *others = [await enqueue(session) for _ in range(12)]
    release = asyncio.Event()

    class OneSlowCall(ScriptedProvider):
        async def send(self, delivery: Delivery) -> Outcome:
            if delivery.message_id == slow_id:
                await release.wait()
            return await super().send(delivery)

    provider = OneSlowCall("sandbox-like", set(Channel))
    worker = asyncio.create_task(dispatcher(every_channel(provider), batch_size=4).run(sessions(engine)))

    async def the_others_accepted() -> bool:
        query = sa.select(sa.func.count()).where(Message.id.in_(others), Message.status == "accepted")
        return await session.scalar(query) == len(others)

    deadline = asyncio.get_running_loop().time() + 20
    while not await the_others_accepted():
        assert asyncio.get_running_loop().time() < deadline, "the messages behind the slow call waited for it"
        await asyncio.sleep(0.05)
    assert (await stored(session, slow_id)).status == "sending"
    release.set()
    assert await worker == 12
    assert (await stored(session, slow_id)).status == "accepted"


async def test_a_failed_message_retried_by_an_operator_goes_out_as_a_new_message(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    message_id = await enqueue(session, korean_phone(Channel.ALIMTALK))
    kakao = ScriptedProvider("nhn", {Channel.ALIMTALK, Channel.SMS}, [OutcomeKind.PERMANENT])
    worker = dispatcher(every_channel(kakao))
    await worker.run(sessions(engine))
    assert (await stored(session, message_id)).status == "failed"

    async with sessions(engine)() as operator, operator.begin():
        await service.retry(operator, message_id, now=utc_now())
    await worker.run(sessions(engine))

    first, second = (delivery.idempotency_key for delivery in kakao.deliveries)
    assert (await stored(session, message_id)).status == "accepted"
    assert second != first  # the provider refused the first: under its key it would answer "already seen"


async def test_a_message_whose_template_no_longer_renders_fails_instead_of_coming_back(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    message_id = await enqueue(session)
    async with sessions(engine)() as deploy, deploy.begin():  # a variable added to the template since
        await deploy.execute(sa.update(Message).where(Message.id == message_id).values(parameters={}))
    provider = ScriptedProvider("nhn", {Channel.ALIMTALK, Channel.SMS})

    await dispatcher(every_channel(provider)).run(sessions(engine))

    message = await stored(session, message_id)
    assert provider.deliveries == []
    assert message.status == "failed"
    assert (message.last_error or "").startswith("its template no longer renders")


async def test_an_answer_that_comes_after_the_claim_ran_out_is_kept_but_changes_nothing(
    engine: AsyncEngine, session: AsyncSession
) -> None:
    """A slow call outlives its lease and another worker takes the message over: the first worker's answer is
    recorded on its attempt, and the message stays the new holder's."""
    message_id = await enqueue(session)
    now = utc_now()
    async with sessions(engine)() as first, first.begin():
        (claim,) = await repository.claim_due(first, now=now, lease_until=now, limit=1)
        intent = repository.Intent(claim=claim, provider="sandbox", channel="alimtalk", text="…")
        (attempt_id,) = (await repository.write_intents(first, [intent], now=now)).values()
    later = now + datetime.timedelta(seconds=1)
    async with sessions(engine)() as second, second.begin():
        (taken_over,) = await repository.claim_due(second, now=later, lease_until=later, limit=1)
    assert taken_over.claim_token != claim.claim_token

    async with sessions(engine)() as first, first.begin():
        answer = {"outcome": "accepted", "latency_ms": 61000, "detail": ""}
        change = repository.Change(claim=claim, message={"status": "accepted"}, attempt_id=attempt_id, attempt=answer)
        still_ours = await repository.apply_changes(first, [change])

    assert still_ours == set()
    message = await stored(session, message_id)
    assert (message.status, message.claim_token) == ("sending", taken_over.claim_token)
    answered = [a for a in await attempts(session, message_id) if a.id == attempt_id]
    assert [(a.outcome, a.latency_ms) for a in answered] == [("accepted", 61000)]
