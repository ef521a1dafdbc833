"""What the chatbot keeps and logs: no phone number in a stored utterance or an inquiry, whatever the shopper
types, and neither the digits of an identity proof nor a phone number in the application's logs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import sqlalchemy as sa

from support.models import Inquiry, Turn
from tests.orders.conftest import ADDRESS, pay_by_card, sign_up_shopper
from tests.support.conftest import TALKTALK_SECRET, text_of

if TYPE_CHECKING:
    import io

    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient
    from tests.orders.conftest import Catalog, Malls
    from tests.support.conftest import Kakao, Line, TalkTalk

TYPED_PHONE = "010-9876-5432"


async def test_a_phone_number_typed_in_the_chat_is_stored_masked_in_turns_and_inquiries(
    kakao: Kakao, session: AsyncSession
) -> None:
    me = "kakao-chatty-user"
    await kakao.say(me, "안녕하세요")
    await kakao.say(me, f"제 번호 {TYPED_PHONE}")
    handed = await kakao.say(me, "+82 10 9876 5432 로 전화 주세요")
    assert "Shoa 고객센터에 전달했어요" in text_of(handed)

    utterances = list(await session.scalars(sa.select(Turn.utterance).order_by(Turn.id)))
    (inquiry,) = await session.scalars(sa.select(Inquiry))
    shown_to_people = " ".join(line["text"] for line in inquiry.transcript)

    assert utterances == ["안녕하세요", "제 번호 [전화번호]", "[전화번호] 로 전화 주세요"]
    for stored in (" ".join(utterances), shown_to_people):
        assert "9876" not in stored
        assert "5432" not in stored


async def test_a_conversation_logs_neither_the_proofs_digits_nor_a_phone_number(
    client: ShoaClient,
    line: Line,
    talktalk: TalkTalk,
    catalog: Catalog,
    malls: Malls,
    session: AsyncSession,
    every_log_line: io.StringIO,
) -> None:
    shopper = await sign_up_shopper(client, email="sora@example.kr", phone="010-3141-5926")
    lines = [{"variant_id": str(catalog.variant("H1-BK-M")), "quantity": 1}]
    placed = await shopper.checkout(payment_method="card", lines=lines, address=ADDRESS | {"phone": "010-3141-5926"})
    assert placed.status_code == 201, placed.text
    order = placed.json()
    await pay_by_card(shopper, order)
    every_log_line.seek(0)
    every_log_line.truncate()
    me = "U5926a1b2c3d4e5f6a7b8c9d0e1f2a3b4"

    await line.say(me, "택배 언제와요")
    await line.say(me, order["number"])
    await line.say(me, "0000")  # a wrong try first
    await line.say(me, order["number"])
    assert "린넨 셔츠 원피스" in await line.say(me, "끝자리 5926이요")
    await line.say(me, f"연락은 {TYPED_PHONE} 로 주세요")
    await talktalk.say("wJ3lqK8e-vbTLq2XdZ0mFw", f"제 번호 {TYPED_PHONE}")  # the URL carries TalkTalk's secret

    logged = every_log_line.getvalue()
    assert "POST /webhooks/chat/line 200" in logged  # the requests themselves were logged
    numbers = set(re.findall(r"(?<![\w.:-])\d[\d-]*\d(?![\w])", logged))
    assert numbers & {"5926", "0000", "01031415926", "010-3141-5926", TYPED_PHONE, "01098765432"} == set()
    assert "3141" not in logged
    assert "9876-5432" not in logged
    assert TALKTALK_SECRET not in logged
    stored = " ".join(await session.scalars(sa.select(Turn.utterance)))
    assert "5926" not in stored
    assert "9876" not in stored
