"""The chatbot as a shopper meets it, on KakaoTalk and on LINE: she is not linked, so she proves her order with its
number and her phone's last 4 digits; asks where the parcel is; asks to return one item and confirms; later asks
about the refund; asks for a person. The mall sees the return and the inquiry the bot handed over, replies, and
the reply reaches her messenger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from support.models import Turn
from tests.orders.conftest import pay_by_card, place_order
from tests.support.conftest import quick_replies, sent_to, text_of

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.orders.conftest import Catalog, Malls, Messages, Shopper
    from tests.support.conftest import Kakao, Line

HARU_TRACKING = "640123456789"
MONO_TRACKING = "640123456790"


async def _bought_from_two_malls(shopper: Shopper, catalog: Catalog, malls: Malls) -> dict[str, Any]:
    """지영's card order: a dress from 하루일상 (shipped and delivered) and a knit from 모노마켓 (shipped)."""
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1, catalog.variant("M1-GR-F"): 1})
    await pay_by_card(shopper, order)
    for mall, tracking in ((malls.haru, HARU_TRACKING), (malls.mono, MONO_TRACKING)):
        (paid,) = await mall.orders(status="paid")
        await mall.accept(paid["id"])
        await mall.ship(paid["id"], carrier="cj", tracking_number=tracking)
    (haru_part,) = await malls.haru.orders(status="shipped")
    await malls.haru.deliver(haru_part["id"])
    return order


async def test_on_kakaotalk_a_shopper_proves_her_order_tracks_it_returns_an_item_and_the_mall_answers(
    kakao: Kakao, shopper: Shopper, catalog: Catalog, malls: Malls, messages: Messages, session: AsyncSession
) -> None:
    order = await _bought_from_two_malls(shopper, catalog, malls)
    me = "kakao-bot-user-key-1"

    # Nothing about an order before she proves it is hers.
    asked = await kakao.say(me, "택배 언제와요")
    assert asked["data"]["intent"] == "track_delivery"
    assert "주문번호" in text_of(asked)
    assert HARU_TRACKING not in str(asked)
    assert MONO_TRACKING not in str(asked)
    assert "휴대폰 번호의 끝 4자리" in text_of(await kakao.say(me, order["number"]))

    # The right digits: the parcel on its way is 모노마켓's, with its carrier, number and link.
    tracked = await kakao.say(me, "5678")
    text = text_of(tracked)
    assert f"주문 {order['number']}" in text
    assert "모노마켓 (배송 중)" in text or ("모노마켓" in text and "상태: 배송 중" in text)
    assert f"택배사: CJ대한통운\n운송장번호: {MONO_TRACKING}" in text
    assert f"https://trace.cjlogistics.com/next/tracking.html?wblNo={MONO_TRACKING}" in text
    assert tracked["data"]["intent"] == "track_delivery"
    mono_part = next(part for part in order["mall_orders"] if part["mall_name"] == "모노마켓")
    assert tracked["data"]["mall_order_id"] == mono_part["id"]

    # A return: only 하루일상's part is delivered, so the bot asks to confirm it, and nothing changes before yes.
    asked = await kakao.say(me, "반품할래여")
    assert asked["data"]["intent"] == "return_request"
    assert "반품을 신청할까요? 상품이 판매처에 도착하면 39,000원이 환불돼요." in text_of(asked)
    assert quick_replies(asked) == ["예", "아니요"]
    assert [part["status"] for part in await malls.haru.orders()] == ["delivered"]
    done = await kakao.say(me, "네")
    assert "반품 신청이 접수됐어요" in text_of(done)
    (returned,) = await malls.haru.orders()
    assert returned["status"] == "return_requested"
    assert [(a["kind"], a["status"], a["refund_amount"]) for a in returned["after_sales"]] == [
        ("return", "requested", 39000)
    ]

    # Later: the refund, per mall-order.
    refund = text_of(await kakao.say(me, "환불 아직이에요?"))
    assert "(하루일상): 반품 요청됨, 환불 0원, 반품 도착 후 39,000원 환불 예정" in refund

    # She asks for a person: the bot hands the conversation to 하루일상, whose part it was about.
    handed = await kakao.say(me, "상담원 연결해주세요")
    assert handed["data"]["intent"] == "human_agent"
    assert "하루일상에 전달했어요" in text_of(handed)
    listed = (await malls.haru.call("GET", "/partner/v1/inquiries")).json()
    (inquiry,) = listed["items"]
    assert (inquiry["status"], inquiry["reason"], inquiry["order_number"]) == ("open", "asked", order["number"])
    # Its transcript: what concerned 하루일상's part, never 모노마켓's parcel nor the proof.
    said = [line["text"] for line in inquiry["transcript"] if line["from"] == "shopper"]
    assert said == ["반품할래여", "네", "상담원 연결해주세요"]
    assert MONO_TRACKING not in str(inquiry)
    assert "5678" not in str(inquiry)
    assert (await malls.mono.call("GET", "/partner/v1/inquiries")).json()["items"] == []

    # The mall replies; notify carries it to her: she came from KakaoTalk, so by AlimTalk to her phone.
    reply = await malls.haru.call(
        "POST", f"/partner/v1/inquiries/{inquiry['id']}/replies", json={"text": "내일 회수 기사님이 방문합니다."}
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["status"] == "answered"
    await messages.send()
    received = await messages.received(shopper.user_id)
    answered = [m for m in received if "내일 회수 기사님이 방문합니다." in m.text]
    assert [(m.channel, m.address) for m in answered] == [("alimtalk", "+821012345678")]
    assert "하루일상에서 답변했습니다" in answered[0].text

    # Every turn is stored, the proof masked, and each turn about a mall-order carries that mall.
    turns = list(await session.scalars(sa.select(Turn).where(Turn.chat_user == me).order_by(Turn.id)))
    assert [turn.intent for turn in turns][:3] == ["track_delivery", "track_delivery", "track_delivery"]
    assert "5678" not in " ".join(turn.utterance for turn in turns)
    assert any(turn.actions and turn.actions[0]["action"] == "return" for turn in turns)
    haru_id = returned["id"]
    assert {str(turn.mall_order_id) for turn in turns if turn.intent == "return_request"} == {haru_id}


async def test_on_line_a_japanese_shopper_is_answered_in_japanese_with_the_reply_token(
    line: Line, shopper: Shopper, catalog: Catalog, malls: Malls, messages: Messages, engine: AsyncEngine
) -> None:
    order = await _bought_from_two_malls(shopper, catalog, malls)
    me = "U4af4980629f0d0a1b2c3d4e5f6a7b8c9"

    assert "注文番号" in await line.say(me, "荷物はいつ届きますか?")
    assert "下4桁" in await line.say(me, order["number"])
    tracked = await line.say(me, "5678")
    assert f"追跡番号:{MONO_TRACKING}" in tracked
    asked = await line.say(me, "返品したいです")
    assert "返品を申し込みますか" in asked
    assert "返品のお申し込みを受け付けました" in await line.say(me, "はい")
    (returned,) = await malls.haru.orders()
    assert returned["status"] == "return_requested"
    assert "返金予定" in await line.say(me, "返金はまだですか")
    assert "お問い合わせを" in await line.say(me, "オペレーターと話したい")

    (inquiry,) = (await malls.haru.call("GET", "/partner/v1/inquiries")).json()["items"]
    assert (inquiry["channel"], inquiry["locale"]) == ("line", "ja")
    replied = await malls.haru.call(
        "POST", f"/partner/v1/inquiries/{inquiry['id']}/replies", json={"text": "明日、回収に伺います。"}
    )
    assert replied.status_code == 200, replied.text
    await messages.send()
    # Every answer and the mall's reply went to her LINE: the sandbox holds them under her LINE user id.
    sent = await sent_to(engine, me)
    assert sent[-1].channel == "line"
    assert "明日、回収に伺います。" in sent[-1].text
