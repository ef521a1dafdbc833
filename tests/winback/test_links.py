"""A win-back message's links as the shopper meets them in a messenger: the product link counts her first tap and
opens the product; the opt-out link opens a page whose one button stops all advertising at once (the link alone
changes nothing: messengers open links to draw their previews) and sends her the result of the change."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from notify.models import Message
from tests.winback.conftest import agree_to_advertising, korea
from tests.winback.test_advertising import like

if TYPE_CHECKING:
    from tests.orders.conftest import Catalog, Shopper
    from tests.winback.conftest import Jobs


async def _price_drop(catalog: Catalog, shopper: Shopper, jobs: Jobs) -> str:
    """A price-drop message sent to the shopper; its link's token."""
    await agree_to_advertising(shopper, "sms")
    await like(shopper, catalog, "M1")
    await jobs.price_drops(korea(12))
    await catalog.malls.mono.change_variant("M1", "M1-GR-F", price=30_000)
    await jobs.price_drops(korea(12))
    [send] = await jobs.sends(shopper.user_id)
    assert send.token is not None
    return send.token


async def test_the_product_link_counts_the_first_tap_and_opens_the_product(
    catalog: Catalog, shopper: Shopper, jobs: Jobs
) -> None:
    token = await _price_drop(catalog, shopper, jobs)
    preview = {"user-agent": "facebookexternalhit/1.1; kakaotalk-scrap/1.0; +https://devtalk.kakao.com/"}
    drawn = await shopper.client.get(f"/w/{token}", headers=preview, follow_redirects=False)
    assert drawn.status_code == 302
    [send] = await jobs.sends(shopper.user_id)
    assert send.clicked_at is None  # KakaoTalk drawing the link's preview is not her tap
    for _ in range(2):
        tapped = await shopper.client.get(f"/w/{token}", follow_redirects=False)
        assert tapped.status_code == 302
        assert tapped.headers["location"] == f"https://shoa.kr/products/{catalog.products['M1']}"
    [send] = await jobs.sends(shopper.user_id)
    assert send.clicked_at is not None

    unknown = await shopper.client.get("/w/not-a-token-we-sent", follow_redirects=False)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("text/html")
    assert "열 수 없는 링크" in unknown.text


async def test_the_opt_out_button_stops_advertising_at_once_and_tells_her(
    catalog: Catalog, shopper: Shopper, jobs: Jobs
) -> None:
    token = await _price_drop(catalog, shopper, jobs)
    page = await shopper.client.get(f"/w/{token}/opt-out")
    assert page.status_code == 200
    assert "수신 거부하기" in page.text
    still = await shopper.call("GET", "/v1/me/marketing")
    assert [c["channel"] for c in still.json()["channels"]] == ["sms"]  # opening the link changed nothing

    done = await shopper.client.post(f"/w/{token}/opt-out")
    assert done.status_code == 200
    assert "수신 거부가 처리되었습니다" in done.text
    assert (await shopper.call("GET", "/v1/me/marketing")).json()["channels"] == []
    async with jobs.sessions() as session:
        notices = list(
            await session.scalars(
                sa.select(Message.text)
                .where(Message.user_id == shopper.user_id, Message.event == "marketing_consent_changed")
                .order_by(Message.id)
            )
        )
    assert len(notices) == 2  # her consent when she gave it, and its withdrawal now
    assert "수신 거부" in notices[-1]

    # The next fall of a liked product is not sent: she has no marketing consent any more.
    await like(shopper, catalog, "H2")
    await jobs.price_drops(korea(12, days=8))
    await catalog.malls.haru.change_variant("H2", "H2-BE-M", price=10_000)
    await jobs.price_drops(korea(12, days=8))
    assert (await jobs.decisions(shopper.user_id))[-1] == ("price_drop", "suppressed", "no_consent")


async def test_every_consent_change_in_the_app_is_confirmed_to_the_shopper(shopper: Shopper, jobs: Jobs) -> None:
    await agree_to_advertising(shopper, "sms")
    await agree_to_advertising(shopper, "sms")  # again: a confirmation, not a change
    assert (await shopper.call("DELETE", "/v1/me/marketing")).status_code == 200
    assert (await shopper.call("DELETE", "/v1/me/marketing")).status_code == 200  # nothing left: no change
    async with jobs.sessions() as session:
        notices = list(
            await session.scalars(
                sa.select(Message.text)
                .where(Message.user_id == shopper.user_id, Message.event == "marketing_consent_changed")
                .order_by(Message.id)
            )
        )
    assert len(notices) == 2
    assert "수신 동의" in notices[0]
    assert "수신 거부" in notices[1]


async def test_advertising_held_for_the_morning_is_not_sent_after_she_opts_out(
    catalog: Catalog, shopper: Shopper, jobs: Jobs
) -> None:
    await agree_to_advertising(shopper, "sms")
    await like(shopper, catalog, "M1")
    await catalog.malls.mono.change_variant("M1", "M1-GR-F", price=30_000)
    await jobs.price_drops(korea(23))  # at night: held until 08:00
    [send] = await jobs.sends(shopper.user_id)
    assert (await shopper.client.post(f"/w/{send.token}/opt-out")).status_code == 200
    await jobs.send_messages(korea(9, days=1))
    async with jobs.sessions() as session:
        held = await session.scalar(sa.select(Message).where(Message.id == send.message_id))
    assert held is not None
    assert (held.status, held.accepted_at) == ("unreachable", None)
    assert "withdrew" in (held.last_error or "")
