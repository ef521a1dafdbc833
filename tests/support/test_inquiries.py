"""The partner API's inquiries as a mall uses them: only its own, filtered and paged; a reply sent once however
often it is retried, and delivered on the messenger the shopper asked on; a closed inquiry takes no reply; keys
without the order scopes are refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from catalog import keys
from notify.models import Message
from tests.orders.conftest import PartnerMall, pay_by_card, place_order
from tests.support.conftest import link_kakao, sent_to, text_of

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.orders.conftest import Catalog, Malls, Messages, Shopper
    from tests.support.conftest import Instagram, Kakao, Line

TRACKING = "640123456789"


async def shipped_dress(shopper: Shopper, catalog: Catalog, malls: Malls) -> dict[str, Any]:
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 1})
    await pay_by_card(shopper, order)
    part = order["mall_orders"][0]["id"]
    await malls.haru.accept(part)
    await malls.haru.ship(part, tracking_number=TRACKING)
    return order


@pytest.fixture
async def app_user_id(shopper: Shopper, catalog: Catalog, malls: Malls, session: AsyncSession) -> str:
    """지영 has a shipped dress from 하루일상 and is linked on KakaoTalk."""
    await shipped_dress(shopper, catalog, malls)
    return await link_kakao(session, shopper.user_id)


async def ask_for_a_person(kakao: Kakao, key: str, app_user_id: str) -> None:
    """지영, on KakaoTalk as ``key``, asks about her parcel, then for a person: an inquiry for 하루일상."""
    await kakao.say(key, "택배 언제와요", app_user_id=app_user_id)
    handed = await kakao.say(key, "상담원 연결해주세요", app_user_id=app_user_id)
    assert "하루일상에 전달했어요" in text_of(handed)


async def only_inquiry(mall: PartnerMall) -> dict[str, Any]:
    (inquiry,) = (await mall.call("GET", "/partner/v1/inquiries")).json()["items"]
    return dict(inquiry)


def reply(mall: PartnerMall, inquiry_id: str, text: str, *, key: str | None = None) -> Any:
    headers = mall.headers | ({"Idempotency-Key": key} if key is not None else {})
    return mall.client.post(f"/partner/v1/inquiries/{inquiry_id}/replies", json={"text": text}, headers=headers)


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith(code)


async def answered_messages(session: AsyncSession) -> list[Message]:
    return list(await session.scalars(sa.select(Message).where(Message.event == "inquiry_answered")))


async def test_a_mall_sees_and_touches_only_its_own_inquiries(kakao: Kakao, malls: Malls, app_user_id: str) -> None:
    await ask_for_a_person(kakao, "kakao-jiyoung", app_user_id)
    inquiry = await only_inquiry(malls.haru)
    path = f"/partner/v1/inquiries/{inquiry['id']}"

    assert (await malls.haru.call("GET", path)).json()["id"] == inquiry["id"]
    assert (await malls.mono.call("GET", "/partner/v1/inquiries")).json() == {"items": [], "next_cursor": None}
    assert_problem(await malls.mono.call("GET", path), 404, "inquiry-not-found")
    assert_problem(await reply(malls.mono, inquiry["id"], "저희 주문이 아니에요"), 404, "inquiry-not-found")
    assert_problem(await malls.mono.call("POST", f"{path}/close"), 404, "inquiry-not-found")
    assert (await only_inquiry(malls.haru))["status"] == "open"


async def test_inquiries_are_filtered_by_status_and_paged_newest_first(
    kakao: Kakao, malls: Malls, app_user_id: str
) -> None:
    for n in range(3):
        await ask_for_a_person(kakao, f"kakao-device-{n}", app_user_id)
    everything = (await malls.haru.call("GET", "/partner/v1/inquiries")).json()["items"]
    assert len(everything) == 3
    oldest, middle, newest = reversed([inquiry["id"] for inquiry in everything])
    assert (await reply(malls.haru, middle, "오늘 출고됐어요")).status_code == 200
    assert (await malls.haru.call("POST", f"/partner/v1/inquiries/{oldest}/close")).status_code == 200

    by_status = {
        status: [
            i["id"] for i in (await malls.haru.call("GET", f"/partner/v1/inquiries?status={status}")).json()["items"]
        ]
        for status in ("open", "answered", "closed")
    }
    first = (await malls.haru.call("GET", "/partner/v1/inquiries", params={"limit": 2})).json()
    rest = (
        await malls.haru.call("GET", "/partner/v1/inquiries", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    bad_cursor = await malls.haru.call("GET", "/partner/v1/inquiries", params={"cursor": "not-a-cursor"})

    assert by_status == {"open": [newest], "answered": [middle], "closed": [oldest]}
    assert [i["id"] for i in first["items"]] == [newest, middle]
    assert first["next_cursor"] is not None
    assert ([i["id"] for i in rest["items"]], rest["next_cursor"]) == ([oldest], None)
    assert bad_cursor.status_code == 404, bad_cursor.text


async def test_a_reply_retried_with_its_idempotency_key_is_sent_once_and_another_text_is_refused(
    kakao: Kakao, malls: Malls, app_user_id: str, session: AsyncSession
) -> None:
    await ask_for_a_person(kakao, "kakao-jiyoung", app_user_id)
    inquiry = await only_inquiry(malls.haru)

    first = await reply(malls.haru, inquiry["id"], "내일 도착 예정입니다.", key="reply-1")
    again = await reply(malls.haru, inquiry["id"], "내일 도착 예정입니다.", key="reply-1")
    other_text = await reply(malls.haru, inquiry["id"], "모레 도착 예정입니다.", key="reply-1")

    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["replies"] == again.json()["replies"]
    assert [r["text"] for r in again.json()["replies"]] == ["내일 도착 예정입니다."]
    assert_problem(other_text, 422, "idempotency-key-reused")
    assert len(await answered_messages(session)) == 1


async def test_a_closed_inquiry_takes_no_reply_and_closing_it_again_changes_nothing(
    kakao: Kakao, malls: Malls, app_user_id: str, session: AsyncSession
) -> None:
    await ask_for_a_person(kakao, "kakao-jiyoung", app_user_id)
    inquiry = await only_inquiry(malls.haru)
    close = f"/partner/v1/inquiries/{inquiry['id']}/close"

    closed = await malls.haru.call("POST", close)
    closed_again = await malls.haru.call("POST", close)
    late_reply = await reply(malls.haru, inquiry["id"], "늦었지만 답변 드립니다.")

    assert (closed.status_code, closed.json()["status"]) == (200, "closed")
    assert closed_again.status_code == 200
    assert closed_again.json() == closed.json()
    assert_problem(late_reply, 409, "inquiry-closed")
    assert await answered_messages(session) == []


async def test_keys_without_the_order_scopes_are_refused(
    kakao: Kakao, malls: Malls, app_user_id: str, session: AsyncSession
) -> None:
    await ask_for_a_person(kakao, "kakao-jiyoung", app_user_id)
    inquiry = await only_inquiry(malls.haru)
    catalog_only = await keys.issue_key(session, mall_id=malls.haru.id, name="catalog-sync", scopes=["catalog:write"])
    read_only = await keys.issue_key(session, mall_id=malls.haru.id, name="dashboard", scopes=["orders:read"])
    await session.commit()
    syncer = PartnerMall(client=malls.haru.client, id=malls.haru.id, name="하루일상", key=catalog_only.key)
    dashboard = PartnerMall(client=malls.haru.client, id=malls.haru.id, name="하루일상", key=read_only.key)
    path = f"/partner/v1/inquiries/{inquiry['id']}"

    for refused in (
        await syncer.call("GET", "/partner/v1/inquiries"),
        await syncer.call("GET", path),
        await reply(syncer, inquiry["id"], "답변"),
        await syncer.call("POST", f"{path}/close"),
        await reply(dashboard, inquiry["id"], "답변"),
        await dashboard.call("POST", f"{path}/close"),
    ):
        assert refused.status_code == 403, refused.text
    assert (await dashboard.call("GET", path)).status_code == 200
    assert (await only_inquiry(malls.haru))["status"] == "open"
    assert await answered_messages(session) == []


# --- The reply on the shopper's messenger -----------------------------------------------------------------------


async def test_a_reply_to_a_kakaotalk_shopper_arrives_by_alimtalk_on_her_accounts_phone(
    kakao: Kakao, malls: Malls, app_user_id: str, messages: Messages, shopper: Shopper
) -> None:
    await ask_for_a_person(kakao, "kakao-jiyoung", app_user_id)
    inquiry = await only_inquiry(malls.haru)

    assert (await reply(malls.haru, inquiry["id"], "내일 도착 예정입니다.")).status_code == 200
    await messages.send()

    received = [m for m in await messages.received(shopper.user_id) if "내일 도착 예정입니다." in m.text]
    assert [(m.channel, m.address) for m in received] == [("alimtalk", "+821012345678")]


async def test_a_reply_to_a_line_shopper_arrives_on_line(
    line: Line, shopper: Shopper, catalog: Catalog, malls: Malls, messages: Messages, engine: AsyncEngine
) -> None:
    order = await shipped_dress(shopper, catalog, malls)
    me = "U3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b"
    await line.say(me, "荷物はいつ届きますか?")
    await line.say(me, order["number"])
    await line.say(me, "5678")
    assert "お問い合わせを" in await line.say(me, "オペレーターと話したい")
    inquiry = await only_inquiry(malls.haru)

    assert (await reply(malls.haru, inquiry["id"], "明日お届け予定です。")).status_code == 200
    await messages.send()

    (arrived,) = [m for m in await sent_to(engine, me) if "明日お届け予定です。" in m.text]
    assert arrived.channel == "line"


async def test_a_reply_to_an_instagram_shopper_arrives_on_instagram_inside_her_window(
    instagram: Instagram, shopper: Shopper, catalog: Catalog, malls: Malls, messages: Messages, engine: AsyncEngine
) -> None:
    await shipped_dress(shopper, catalog, malls)
    igsid = "17841466677788899"
    saved = await shopper.call("PATCH", "/v1/me", {"instagram_id": igsid})
    assert saved.status_code == 200, saved.text
    await instagram.say(igsid, "택배 언제와요")
    assert "하루일상에 전달했어요" in await instagram.say(igsid, "상담원 연결해주세요")
    inquiry = await only_inquiry(malls.haru)

    assert (await reply(malls.haru, inquiry["id"], "오늘 중 도착 예정입니다.")).status_code == 200
    await messages.send()

    (arrived,) = [m for m in await sent_to(engine, igsid) if "오늘 중 도착 예정입니다." in m.text]
    assert arrived.channel == "instagram"
