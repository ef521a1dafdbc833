"""What the bot does with each request, as the shopper and the mall see it: actions follow the orders' rules (cancel
before shipping, returns within 7 days, exchange of size or colour) and change nothing before a yes; what the rules
refuse, and what the bot does not understand twice, goes to people; an address goes to the mall and nowhere else.

지영 is linked on KakaoTalk (she logged in to Shoa with Kakao once), so the bot knows her orders at once."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from orders.models import MallOrder
from orders.payments.base import PaymentStatus
from shoa_kernel.clock import utc_now
from support.models import Inquiry, Turn
from support.service import PRIVATE
from tests.orders.conftest import gateway_payment, pay_by_card, place_order
from tests.support.conftest import link_kakao, quick_replies, text_of

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.orders.conftest import Catalog, Malls, Messages, Shopper
    from tests.support.conftest import Kakao

HARU_TRACKING = "640123456789"
MONO_TRACKING = "640123456790"
NEW_ADDRESS = "서울특별시 강남구 테헤란로 123, 4층"


class Jiyoung:
    """지영 on KakaoTalk, linked to her account."""

    def __init__(self, kakao: Kakao, app_user_id: str) -> None:
        self.kakao, self.app_user_id, self.key = kakao, app_user_id, "kakao-jiyoung"

    async def say(self, text: str) -> dict[str, Any]:
        return await self.kakao.say(self.key, text, app_user_id=self.app_user_id)


@pytest.fixture
async def jiyoung(kakao: Kakao, shopper: Shopper, session: AsyncSession) -> Jiyoung:
    return Jiyoung(kakao, await link_kakao(session, shopper.user_id))


async def paid_dress(shopper: Shopper, catalog: Catalog) -> dict[str, Any]:
    """A card order of one dress from 하루일상 (39,000 won and 3,000 shipping), paid."""
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1})
    return await pay_by_card(shopper, order)


async def delivered_dress(shopper: Shopper, catalog: Catalog, malls: Malls) -> dict[str, Any]:
    order = await paid_dress(shopper, catalog)
    part = order["mall_orders"][0]["id"]
    await malls.haru.accept(part)
    await malls.haru.ship(part, tracking_number=HARU_TRACKING)
    await malls.haru.deliver(part)
    return order


async def inquiries_of(session: AsyncSession) -> list[Inquiry]:
    return list(await session.scalars(sa.select(Inquiry).order_by(Inquiry.id)))


# --- Cancel -----------------------------------------------------------------------------------------------------


async def test_a_cancel_before_shipping_is_confirmed_first_and_no_changes_nothing(
    jiyoung: Jiyoung, shopper: Shopper, catalog: Catalog, malls: Malls
) -> None:
    order = await paid_dress(shopper, catalog)

    asked = await jiyoung.say("주문 취소할래요")
    assert asked["data"]["intent"] == "cancel_order"
    assert "린넨 셔츠 원피스 (하루일상) 주문을 취소할까요? 결제하신 42,000원은 환불돼요." in text_of(asked)
    assert quick_replies(asked) == ["예", "아니요"]
    declined = await jiyoung.say("아니요")
    assert "아무것도 바꾸지 않았어요" in text_of(declined)
    assert [part["status"] for part in await malls.haru.orders()] == ["paid"]

    await jiyoung.say("주문 취소할래요")
    done = await jiyoung.say("예")

    assert "주문이 취소됐어요. 환불 42,000원이 진행돼요." in text_of(done)
    assert [part["status"] for part in await malls.haru.orders()] == ["cancelled"]
    at_gateway = await gateway_payment(shopper.client, order)
    assert (at_gateway.status, at_gateway.balance_amount) == (PaymentStatus.CANCELED, 0)
    assert (await shopper.order(order["id"]))["payment"]["refunded_amount"] == 42000


async def test_a_cancel_after_shipping_is_refused_with_the_reason_and_handed_to_the_mall(
    jiyoung: Jiyoung, shopper: Shopper, catalog: Catalog, malls: Malls, session: AsyncSession
) -> None:
    order = await paid_dress(shopper, catalog)
    part = order["mall_orders"][0]["id"]
    await malls.haru.accept(part)
    await malls.haru.ship(part, tracking_number=HARU_TRACKING)

    refused = await jiyoung.say("주문 취소해주세요")

    assert "이 주문은 지금 취소할 수 없어요: 이미 배송 중 상태예요. 판매처에 문의를 남겨 드렸어요." in text_of(refused)
    assert quick_replies(refused) == []
    assert [p["status"] for p in await malls.haru.orders()] == ["shipped"]
    (inquiry,) = (await malls.haru.call("GET", "/partner/v1/inquiries")).json()["items"]
    assert (inquiry["reason"], inquiry["status"], inquiry["mall_order_id"]) == ("refused", "open", part)
    assert [line["text"] for line in inquiry["transcript"] if line["from"] == "shopper"] == ["주문 취소해주세요"]
    assert (await malls.mono.call("GET", "/partner/v1/inquiries")).json()["items"] == []


# --- Return and exchange ----------------------------------------------------------------------------------------


async def test_a_return_eight_days_after_delivery_is_refused(
    jiyoung: Jiyoung, shopper: Shopper, catalog: Catalog, malls: Malls, session: AsyncSession
) -> None:
    order = await delivered_dress(shopper, catalog, malls)
    part = order["mall_orders"][0]["id"]
    eight_days_ago = utc_now() - datetime.timedelta(days=8)
    await session.execute(sa.update(MallOrder).where(MallOrder.id == part).values(delivered_at=eight_days_ago))
    await session.commit()

    refused = await jiyoung.say("반품할래요")

    assert "이 주문은 지금 반품할 수 없어요: 배송 완료 후 7일이 지났어요." in text_of(refused)
    (after,) = await malls.haru.orders()
    assert (after["status"], after["after_sales"]) == ("delivered", [])
    assert [(i.reason, i.mall_id) for i in await inquiries_of(session)] == [("refused", malls.haru.id)]


async def test_an_exchange_offers_the_sizes_and_colours_in_stock_and_takes_the_new_one_on_yes(
    jiyoung: Jiyoung, shopper: Shopper, catalog: Catalog, malls: Malls, messages: Messages
) -> None:
    await delivered_dress(shopper, catalog, malls)

    offered = await jiyoung.say("사이즈 교환하고 싶어요")
    assert offered["data"]["intent"] == "exchange"
    assert "1. 아이보리 / M" in text_of(offered)
    assert "블랙 / L" not in text_of(offered)  # sold out
    assert quick_replies(offered) == ["1"]
    asked = await jiyoung.say("1")
    assert "린넨 셔츠 원피스 (하루일상) 상품을 아이보리 / M 옵션으로 교환 신청할까요?" in text_of(asked)
    assert await catalog.stock("H1-IV-M") == 3

    done = await jiyoung.say("네")

    assert "교환 신청이 접수됐어요" in text_of(done)
    (after,) = await malls.haru.orders()
    assert after["status"] == "exchange_requested"
    assert [(a["kind"], a["status"]) for a in after["after_sales"]] == [("exchange", "requested")]
    assert await catalog.stock("H1-IV-M") == 2
    # She is told on AlimTalk too, as for a return.
    assert (await messages.events(shopper.user_id))[-1] == "exchange_received"


# --- Answers from the order data --------------------------------------------------------------------------------


async def test_deposit_info_shows_the_virtual_account_amount_and_due_date(
    jiyoung: Jiyoung, shopper: Shopper, catalog: Catalog
) -> None:
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1}, payment_method="virtual_account")
    account = order["payment"]["virtual_account"]
    due = datetime.datetime.fromisoformat(account["due_at"]).astimezone(datetime.timezone(datetime.timedelta(hours=9)))

    answer = await jiyoung.say("입금 계좌 알려주세요")

    text = text_of(answer)
    assert answer["data"]["intent"] == "deposit_info"
    assert f"{account['bank']} {account['account_number']}" in text
    assert "금액: 42,000원" in text
    assert f"입금 기한: {due:%Y-%m-%d %H:%M}" in text


async def test_a_menu_quick_reply_is_read_as_its_intent(
    jiyoung: Jiyoung, shopper: Shopper, catalog: Catalog, malls: Malls
) -> None:
    await delivered_dress(shopper, catalog, malls)
    greeted = await jiyoung.say("안녕하세요")
    assert "배송 조회" in quick_replies(greeted)

    tapped = await jiyoung.say("배송 조회")

    assert tapped["data"]["intent"] == "track_delivery"
    assert f"운송장번호: {HARU_TRACKING}" in text_of(tapped)


async def test_one_orders_parcels_from_two_malls_are_tracked_together(
    jiyoung: Jiyoung, shopper: Shopper, catalog: Catalog, malls: Malls
) -> None:
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1, catalog.variant("M1-GR-F"): 1})
    await pay_by_card(shopper, order)
    for mall, tracking in ((malls.haru, HARU_TRACKING), (malls.mono, MONO_TRACKING)):
        (paid,) = await mall.orders(status="paid")
        await mall.accept(paid["id"])
        await mall.ship(paid["id"], tracking_number=tracking)

    tracked = text_of(await jiyoung.say("택배 언제와요"))

    assert f"운송장번호: {HARU_TRACKING}" in tracked
    assert f"운송장번호: {MONO_TRACKING}" in tracked
    assert "(하루일상)" in tracked
    assert "(모노마켓)" in tracked


async def test_with_several_orders_the_bot_asks_which_and_a_number_or_an_option_name_picks_it(
    jiyoung: Jiyoung, shopper: Shopper, catalog: Catalog, malls: Malls
) -> None:
    for sku, tracking in (("H1-BK-M", HARU_TRACKING), ("H2-BE-M", "640123456791")):
        order = await place_order(shopper, {catalog.variant(sku): 1})
        await pay_by_card(shopper, order)
        (paid,) = await malls.haru.orders(status="paid")
        await malls.haru.accept(paid["id"])
        await malls.haru.ship(paid["id"], tracking_number=tracking)

    asked = await jiyoung.say("택배 언제와요")

    assert text_of(asked).startswith("어떤 주문인가요? 번호로 골라 주세요.")
    assert quick_replies(asked) == ["1", "2"]
    assert HARU_TRACKING not in str(asked)
    items = asked["template"]["outputs"][1]["listCard"]["items"]
    assert [item["messageText"] for item in items] == ["1", "2"]
    # Not an answer: the question is asked again, with its list.
    again = await jiyoung.say("음")
    assert text_of(again) == text_of(asked)
    second = items[1]["title"].split(". ", 1)[1]
    tracked = await jiyoung.say("2")
    assert f"{second} (하루일상)" in text_of(tracked)


# --- Hand-offs --------------------------------------------------------------------------------------------------


async def test_a_change_of_address_before_shipping_goes_to_the_mall_and_the_address_is_not_stored(
    jiyoung: Jiyoung, shopper: Shopper, catalog: Catalog, malls: Malls, session: AsyncSession
) -> None:
    order = await paid_dress(shopper, catalog)

    asked = await jiyoung.say("배송지 변경하고 싶어요")
    assert "판매처(하루일상)에 배송지 변경 요청을 전달했어요" in text_of(asked)
    received = await jiyoung.say(NEW_ADDRESS)

    assert "새 주소를 판매처에 전달했어요" in text_of(received)
    (inquiry,) = (await malls.haru.call("GET", "/partner/v1/inquiries")).json()["items"]
    assert (inquiry["reason"], inquiry["order_number"]) == ("change_address", order["number"])
    said = [line["text"] for line in inquiry["transcript"] if line["from"] == "shopper"]
    assert said == ["배송지 변경하고 싶어요", NEW_ADDRESS]
    stored = list(await session.scalars(sa.select(Turn.utterance).order_by(Turn.id)))
    assert stored == ["배송지 변경하고 싶어요", PRIVATE]


async def test_an_address_written_as_a_request_still_goes_to_the_mall_only(
    jiyoung: Jiyoung, shopper: Shopper, catalog: Catalog, malls: Malls, session: AsyncSession
) -> None:
    await paid_dress(shopper, catalog)
    await jiyoung.say("배송지 변경하고 싶어요")

    received = await jiyoung.say("경기도 성남시 분당구 판교역로 235로 바꿔주세요")

    assert "새 주소를 판매처에 전달했어요" in text_of(received)
    (inquiry,) = (await malls.haru.call("GET", "/partner/v1/inquiries")).json()["items"]
    assert "경기도 성남시 분당구 판교역로 235로 바꿔주세요" in [line["text"] for line in inquiry["transcript"]]
    stored = " ".join(await session.scalars(sa.select(Turn.utterance)))
    assert "판교역로" not in stored


async def test_two_messages_not_understood_in_a_row_go_to_shoas_own_queue(kakao: Kakao, session: AsyncSession) -> None:
    me = "kakao-puzzled-user"
    greeted = await kakao.say(me, "안녕하세요")
    assert "무엇을 도와드릴까요" in text_of(greeted)

    first = await kakao.say(me, "ㅋㅋㅋ")
    second = await kakao.say(me, "음..")

    assert "잘 이해하지 못했어요" in text_of(first)
    assert "배송 조회" in quick_replies(first)
    assert "상담 문의를 Shoa 고객센터에 전달했어요" in text_of(second)
    assert second["data"] == {"intent": "unknown", "mall_order_id": None}
    (inquiry,) = await inquiries_of(session)
    assert (inquiry.mall_id, inquiry.reason, inquiry.status) == (None, "not_understood", "open")
    assert [line["text"] for line in inquiry.transcript if line["from"] == "shopper"] == [
        "안녕하세요",
        "ㅋㅋㅋ",
        "음..",
    ]
