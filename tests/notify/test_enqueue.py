"""Enqueueing: one row in the caller's transaction, once per idempotency key; a rolled-back caller sends nothing;
wrong events and parameters are refused before anything is stored; a shopper nobody can reach is recorded."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import msgspec
import pytest
import sqlalchemy as sa

from notify.errors import InvalidParametersError, InvalidRecipientError, UnknownEventError
from notify.models import Message
from notify.providers.base import Channel
from notify.schemas import Recipient
from tests.notify.builders import (
    PARAMETERS,
    create_shopper,
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
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession


async def count_messages(session: AsyncSession) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(Message)) or 0)


async def test_the_same_idempotency_key_twice_is_one_message(session: AsyncSession) -> None:
    box = outbox()
    message = outgoing(key="order-7:shipping_started", recipient=korean_phone())

    first = await box.enqueue(session, message)
    again = await box.enqueue(session, message)
    await session.commit()

    assert first.created
    assert not again.created
    assert again.message_id == first.message_id
    assert await count_messages(session) == 1


async def test_concurrent_callers_with_one_key_make_one_message(engine: AsyncEngine, session: AsyncSession) -> None:
    box = outbox()
    message = outgoing(key="order-8:payment", recipient=korean_phone())

    async def enqueue_and_commit() -> bool:
        async with sessions(engine)() as own, own.begin():
            return (await box.enqueue(own, message)).created

    created = await asyncio.gather(*(enqueue_and_commit() for _ in range(5)))

    assert sorted(created) == [False, False, False, False, True]
    assert await count_messages(session) == 1


async def test_a_caller_that_rolls_back_sends_nothing(engine: AsyncEngine, session: AsyncSession) -> None:
    box = outbox()
    async with sessions(engine)() as caller, caller.begin():
        await box.enqueue(caller, outgoing(recipient=korean_phone()))
        await caller.rollback()  # the order step failed after enqueueing

    sent = await dispatcher(every_channel(sandbox(engine))).run(sessions(engine))

    assert sent == 0
    assert await count_messages(session) == 0
    assert await sandbox_messages(session) == []


async def test_a_message_not_yet_committed_is_not_sent(engine: AsyncEngine, session: AsyncSession) -> None:
    box = outbox()
    async with sessions(engine)() as caller, caller.begin():
        await box.enqueue(caller, outgoing(recipient=korean_phone()))
        assert await dispatcher(every_channel(sandbox(engine))).run(sessions(engine)) == 0

    assert await dispatcher(every_channel(sandbox(engine))).run(sessions(engine)) == 1
    assert len(await sandbox_messages(session)) == 1


async def test_an_unknown_event_or_wrong_parameters_raise_and_store_nothing(session: AsyncSession) -> None:
    box = outbox()

    with pytest.raises(UnknownEventError):
        await box.enqueue(session, msgspec.structs.replace(outgoing(recipient=korean_phone()), event="order_shipped"))
    parameters = {k: v for k, v in PARAMETERS["shipping_started"].items() if k != "tracking_url"}
    with pytest.raises(InvalidParametersError, match="missing tracking_url"):
        await box.enqueue(session, outgoing(recipient=korean_phone(), parameters=parameters))
    with pytest.raises(InvalidParametersError, match="not declared"):
        await box.enqueue(
            session, outgoing(recipient=korean_phone(), parameters={**PARAMETERS["shipping_started"], "extra": "1"})
        )
    with pytest.raises(InvalidRecipientError):
        await box.enqueue(session, outgoing())  # nobody
    with pytest.raises(InvalidRecipientError):
        await box.enqueue(session, outgoing(user_id=uuid.uuid4(), recipient=korean_phone()))  # two recipients

    assert await count_messages(session) == 0


async def test_a_shopper_is_reached_through_her_account(session: AsyncSession) -> None:
    shopper = await create_shopper(session, consents=("alimtalk", "sms"), locale="ko")

    enqueued = await outbox().enqueue(session, outgoing(user_id=shopper.id))
    await session.commit()
    message = await stored(session, enqueued.message_id)

    assert (enqueued.status, enqueued.channel) == ("queued", "alimtalk")
    assert message.user_id == shopper.id
    assert message.locale == "ko"
    assert [stop["channel"] for stop in message.route] == ["alimtalk", "sms"]
    assert "상품 배송이 시작됐습니다" in message.text


async def test_a_shopper_reachable_nowhere_is_recorded_unreachable(session: AsyncSession) -> None:
    shopper = await create_shopper(session, consents=())  # a phone, but no consent to any channel

    enqueued = await outbox().enqueue(session, outgoing(user_id=shopper.id))
    await session.commit()
    message = await stored(session, enqueued.message_id)

    assert (enqueued.status, enqueued.channel) == ("unreachable", None)
    assert message.route == []
    assert message.last_error == "no channel the recipient consented to can reach them"


async def test_an_unknown_or_erased_account_is_unreachable(session: AsyncSession) -> None:
    erased = await create_shopper(session)
    erased.status = "erased"
    await session.commit()

    gone = await outbox().enqueue(session, outgoing(user_id=uuid.uuid4()))
    closed = await outbox().enqueue(session, outgoing(user_id=erased.id))

    assert gone.status == closed.status == "unreachable"


async def test_no_message_is_ever_queued_for_a_channel_without_consent(session: AsyncSession) -> None:
    line_only = await create_shopper(
        session, line_user_id="U4af4980629d4f3c0a1b2c3d4e5f60718", consents=("line",), locale="ja"
    )

    enqueued = await outbox().enqueue(session, outgoing(user_id=line_only.id))
    message = await stored(session, enqueued.message_id)

    assert [stop["channel"] for stop in message.route] == ["line"]  # the phone has no consent: no SMS, no AlimTalk
    assert message.locale == "ja"
    assert "商品を発送しました" in message.text


async def test_explicit_contact_points_and_locale(session: AsyncSession) -> None:
    guest = Recipient(talktalk_id="tt-guest", consents=frozenset({Channel.TALKTALK}), locale="ko")

    enqueued = await outbox().enqueue(session, outgoing(recipient=guest, locale="en"))
    message = await stored(session, enqueued.message_id)

    assert message.user_id is None
    assert message.channel == "talktalk"
    assert message.text.startswith("[Shoa] Your order is on its way.")
