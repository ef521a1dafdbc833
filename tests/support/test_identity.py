"""Knowing who is asking: a messenger user linked to an account is recognized at once; anyone else proves an order
with its number and the phone's last 4 digits, and five wrong answers lock them out for an hour. Nothing about an
order is shown before."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from accounts.models import User
from support.models import Inquiry, Turn
from tests.orders.conftest import pay_by_card, place_order
from tests.support.conftest import link_kakao, text_of

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.orders.conftest import Catalog, Malls, Shopper
    from tests.support.conftest import Instagram, Kakao, Line, TalkTalk

TRACKING = "640123456789"
LOCK_MINUTES = 60


async def shipped_order(shopper: Shopper, catalog: Catalog, malls: Malls) -> dict[str, Any]:
    """지영's card order of a dress from 하루일상, shipped with CJ대한통운."""
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1})
    await pay_by_card(shopper, order)
    part = order["mall_orders"][0]["id"]
    await malls.haru.accept(part)
    await malls.haru.ship(part, tracking_number=TRACKING)
    return order


async def test_five_wrong_proofs_lock_the_messenger_user_for_an_hour_even_against_the_right_digits(
    kakao: Kakao, shopper: Shopper, catalog: Catalog, malls: Malls, redis_client: Redis, session: AsyncSession
) -> None:
    order = await shipped_order(shopper, catalog, malls)
    me = "kakao-guessing-user"
    await kakao.say(me, "택배 언제와요")

    answers = []
    for digits in ("1111", "2222", "3333", "4444", "9999"):
        await kakao.say(me, order["number"])
        answers.append(text_of(await kakao.say(me, digits)))

    assert [re.search(r"남은 시도 (\d)회", text)[1] for text in answers[:4]] == ["4", "3", "2", "1"]  # type: ignore[index]
    assert "60분 동안 주문 조회가 잠겼어요" in answers[4]
    ttl = await redis_client.ttl(f"support:proof:kakao:{me}")
    assert LOCK_MINUTES * 60 - 10 <= ttl <= LOCK_MINUTES * 60
    # A sixth try, with the right digits: still refused, and nothing of the order is shown.
    again = [await kakao.say(me, text) for text in ("택배 언제와요", order["number"], "5678")]
    assert "잠겼어요" in text_of(again[0])
    assert all("잠겼어요" in text_of(answer) for answer in again)
    assert all(TRACKING not in str(answer) for answer in again)
    assert all(answer["data"]["mall_order_id"] is None for answer in again)
    # No try's digits are kept: neither the wrong ones nor the right ones sent while locked.
    stored = " ".join(await session.scalars(sa.select(Turn.utterance).where(Turn.chat_user == me)))
    assert [digits for digits in ("1111", "2222", "3333", "4444", "9999", "5678") if digits in stored] == []
    assert await session.scalar(sa.select(sa.func.count()).select_from(Inquiry)) == 0


async def test_a_wrong_order_number_and_wrong_digits_get_the_same_answer(
    kakao: Kakao, shopper: Shopper, catalog: Catalog, malls: Malls
) -> None:
    order = await shipped_order(shopper, catalog, malls)
    me = "kakao-forgetful-user"
    await kakao.say(me, "택배 언제와요")

    await kakao.say(me, "SH20200101-999999")  # no such order
    no_such_order = text_of(await kakao.say(me, "5678"))
    await kakao.say(me, order["number"])
    wrong_digits = text_of(await kakao.say(me, "8765"))

    assert re.sub(r"\d", "#", no_such_order) == re.sub(r"\d", "#", wrong_digits)
    assert TRACKING not in no_such_order + wrong_digits


async def test_a_line_user_whose_account_has_their_line_id_is_recognized_at_once(
    line: Line, shopper: Shopper, catalog: Catalog, malls: Malls, session: AsyncSession
) -> None:
    await shipped_order(shopper, catalog, malls)
    me = "U7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"
    await session.execute(sa.update(User).where(User.id == shopper.user_id).values(line_user_id=me))  # LINE login
    await session.commit()

    answer = await line.say(me, "荷物はいつ届きますか?")

    assert f"追跡番号:{TRACKING}" in answer
    assert "注文番号" not in answer


async def test_instagram_and_talktalk_ids_saved_on_the_account_are_recognized_at_once(
    instagram: Instagram, talktalk: TalkTalk, shopper: Shopper, catalog: Catalog, malls: Malls
) -> None:
    await shipped_order(shopper, catalog, malls)
    igsid, naver_user = "17841455566677788", "wJ3lqK8e-vbTLq2XdZ0mFw"
    saved = await shopper.call("PATCH", "/v1/me", {"instagram_id": igsid, "talktalk_id": naver_user})
    assert saved.status_code == 200, saved.text
    assert (saved.json()["contacts"]["instagram_id"], saved.json()["contacts"]["talktalk_id"]) == (igsid, naver_user)

    on_instagram = await instagram.say(igsid, "택배 언제와요")
    on_talktalk = await talktalk.say(naver_user, "택배 언제와요")

    for answer in (on_instagram, on_talktalk):
        assert f"운송장번호: {TRACKING}" in answer
        assert "주문번호를 알려 주세요" not in answer


async def test_a_kakao_user_who_logged_in_with_kakao_is_recognized_at_once(
    kakao: Kakao, shopper: Shopper, catalog: Catalog, malls: Malls, session: AsyncSession
) -> None:
    order = await shipped_order(shopper, catalog, malls)
    app_user_id = await link_kakao(session, shopper.user_id)

    answer = await kakao.say("kakao-linked-user", "택배 언제와요", app_user_id=app_user_id)
    stranger = await kakao.say("kakao-other-user", "택배 언제와요", app_user_id="9999999999")

    assert f"운송장번호: {TRACKING}" in text_of(answer)
    assert answer["data"]["mall_order_id"] == order["mall_orders"][0]["id"]
    assert "주문번호를 알려 주세요" in text_of(stranger)
    assert TRACKING not in str(stranger)


async def test_an_erased_account_is_no_longer_recognized(
    line: Line, shopper: Shopper, catalog: Catalog, malls: Malls, session: AsyncSession
) -> None:
    await shipped_order(shopper, catalog, malls)
    me = "U0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d"
    await session.execute(sa.update(User).where(User.id == shopper.user_id).values(line_user_id=me))
    await session.commit()
    assert f"追跡番号:{TRACKING}" in await line.say(me, "荷物はいつ届きますか?")

    erased = await shopper.call("DELETE", "/v1/me")
    assert erased.status_code == 204, erased.text

    # In the same conversation, minutes later: she is a stranger now, asked to prove an order.
    answer = await line.say(me, "荷物はいつ届きますか?")
    assert TRACKING not in answer
    assert "注文番号" in answer
