"""What a newcomer met trying the bot over curl: the proof's digits reaching a mall's transcript, a second order
that could not be asked about, thanks taken for a failure, a person asked for first, an option named instead of
numbered, and replies and cursors refused with the wrong words."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from support.models import Inquiry
from tests.orders.conftest import pay_by_card, place_order
from tests.support.conftest import quick_replies, text_of

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.orders.conftest import Catalog, Malls, Shopper
    from tests.support.conftest import Kakao

ME = "kakao-newcomer"


async def _paid(shopper: Shopper, catalog: Catalog, sku: str = "H1-BK-M") -> dict[str, Any]:
    order = await place_order(shopper, {catalog.variant(sku): 1})
    return await pay_by_card(shopper, order)


async def _proved(kakao: Kakao, order: dict[str, Any], first: str = "배송 조회") -> dict[str, Any]:
    await kakao.say(ME, first)
    await kakao.say(ME, order["number"])
    return await kakao.say(ME, "5678")


async def test_the_proofs_digits_never_reach_a_malls_transcript(
    kakao: Kakao, shopper: Shopper, catalog: Catalog, session: AsyncSession
) -> None:
    order = await _paid(shopper, catalog)
    await kakao.say(ME, "배송지 변경하고 싶어요")
    await kakao.say(ME, order["number"])
    moved = await kakao.say(ME, "5678")  # proven, and the address change goes to the mall in the same answer
    assert "배송지 변경 요청을 전달했어요" in text_of(moved)

    inquiry = await session.scalar(sa.select(Inquiry).where(Inquiry.chat_user == ME))
    assert inquiry is not None
    assert "5678" not in str(inquiry.transcript)


async def test_a_second_order_named_mid_conversation_is_proven_then_answered(
    kakao: Kakao, shopper: Shopper, catalog: Catalog, malls: Malls
) -> None:
    first = await _paid(shopper, catalog, "H1-BK-M")
    second = await _paid(shopper, catalog, "M1-GR-F")
    await _proved(kakao, first)

    asked = await kakao.say(ME, f"{second['number']} 이건 언제 와요?")
    assert text_of(asked) == "주문하실 때 입력한 휴대폰 번호의 끝 4자리를 알려 주세요."
    answered = text_of(await kakao.say(ME, "010-1234-5678"))  # a whole number answers too
    assert f"주문 {second['number']}에 대해 도와드릴게요" in answered
    assert "(모노마켓)" in answered

    # Named again, an order already proven is answered at once.
    again = text_of(await kakao.say(ME, first["number"]))
    assert "(하루일상)" in again
    assert "끝 4자리" not in again


async def test_an_order_number_in_the_first_message_goes_straight_to_the_digits(
    kakao: Kakao, shopper: Shopper, catalog: Catalog
) -> None:
    order = await _paid(shopper, catalog)

    asked = await kakao.say(ME, f"{order['number']} 배송 언제 와요?")

    assert text_of(asked) == "주문하실 때 입력한 휴대폰 번호의 끝 4자리를 알려 주세요."


@pytest.mark.parametrize("thanks", ["감사합니다", "네 감사해요~", "고마워요!!", "thank you"])
async def test_thanks_and_greetings_are_answered_and_never_handed_off(
    kakao: Kakao, session: AsyncSession, thanks: str
) -> None:
    await kakao.say(ME, "안녕하세요")
    for _ in range(3):
        answer = text_of(await kakao.say(ME, thanks))
        assert "죄송해요" not in answer
        assert "전달했어요" not in answer
    assert text_of(await kakao.say(ME, "안녕하세요")).startswith("안녕하세요, Shoa 고객센터 챗봇이에요.")
    assert await session.scalar(sa.select(sa.func.count()).select_from(Inquiry)) == 0


async def test_asking_for_a_person_first_asks_which_order_and_goes_to_its_mall(
    kakao: Kakao, shopper: Shopper, catalog: Catalog, malls: Malls
) -> None:
    order = await _paid(shopper, catalog)

    asked = await kakao.say(ME, "상담원 연결해주세요")
    assert "주문번호를 알려 주세요" in text_of(asked)
    assert quick_replies(asked) == ["주문 외 문의"]
    await kakao.say(ME, order["number"])
    handed = await kakao.say(ME, "5678")
    assert "하루일상에 전달했어요" in text_of(handed)

    (inquiry,) = (await malls.haru.call("GET", "/partner/v1/inquiries")).json()["items"]
    said = [line["text"] for line in inquiry["transcript"] if line["from"] == "shopper"]
    assert order["number"] in said
    assert "5678" not in str(inquiry)


async def test_asking_for_a_person_about_no_order_goes_to_shoas_queue(kakao: Kakao, session: AsyncSession) -> None:
    await kakao.say(ME, "상담원 연결해주세요")
    handed = await kakao.say(ME, "주문 외 문의")

    assert "Shoa 고객센터에 전달했어요" in text_of(handed)
    inquiry = await session.scalar(sa.select(Inquiry).where(Inquiry.chat_user == ME))
    assert inquiry is not None
    assert (inquiry.mall_id, inquiry.reason) == (None, "asked")


async def test_an_exchange_option_can_be_named_instead_of_numbered(
    kakao: Kakao, shopper: Shopper, catalog: Catalog, malls: Malls
) -> None:
    order = await _paid(shopper, catalog)
    part = order["mall_orders"][0]["id"]
    await malls.haru.accept(part)
    await malls.haru.ship(part, tracking_number="640123456789")
    await malls.haru.deliver(part)
    await _proved(kakao, order)

    offered = text_of(await kakao.say(ME, "교환하고 싶어요"))
    assert "1. 아이보리 / M" in offered
    asked = text_of(await kakao.say(ME, "사이즈"))  # not an option: the list again
    assert asked == offered
    confirm = text_of(await kakao.say(ME, "아이보리"))
    assert "아이보리 / M 옵션으로 교환 신청할까요?" in confirm


async def test_replies_and_cursors_are_refused_in_their_own_words(kakao: Kakao, malls: Malls) -> None:
    await kakao.say(ME, "상담원 연결해주세요")
    blank = await malls.haru.call("POST", "/partner/v1/inquiries/01a24f00-0000-7000-8000-000000000000/replies",
                                  json={"text": "   "})  # fmt: skip
    assert blank.status_code == 422
    assert [error["field"] for error in blank.json()["errors"]] == ["text"]
    cursor = await malls.haru.call("GET", "/partner/v1/inquiries", params={"cursor": "not-a-cursor"})
    assert cursor.status_code == 404
    assert cursor.json()["type"].endswith("/invalid-cursor")
    nobody = await kakao.post(
        {"userRequest": {"utterance": "안녕", "user": {"id": "", "type": "botUserKey"}}, "bot": {"id": "x"}}
    )
    assert nobody.status_code == 400
