"""Price drops on liked products and cart reminders: advertising, so only with marketing consent, never on
AlimTalk, marked (광고) with a free opt-out, held until 08:00 Korea time without the night consent, capped per
week and per product, paused after three ignored in a row, and never sent to the hold-out."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from notify.models import Message
from orders.models import CartItem
from shoa_kernel.clock import utc_now
from tests.orders.conftest import place_order
from tests.winback.conftest import KOREA, agree_to_advertising, held_out, korea

if TYPE_CHECKING:
    import uuid
    from collections.abc import Awaitable, Callable

    from tests.orders.conftest import Catalog, Messages, Shopper
    from tests.winback.conftest import Jobs

DAY = datetime.timedelta(days=1)


async def like(shopper: Shopper, catalog: Catalog, *external_ids: str) -> None:
    for external_id in external_ids:
        response = await shopper.call("PUT", f"/v1/likes/{catalog.products[external_id]}")
        assert response.status_code in {200, 201}, response.text


async def advertising_messages(jobs: Jobs, user_id: uuid.UUID) -> list[Message]:
    async with jobs.sessions() as session:
        query = (
            sa.select(Message)
            .where(Message.user_id == user_id, Message.event.in_(["price_dropped", "cart_reminder"]))
            .order_by(Message.id)
        )
        return list(await session.scalars(query))


async def test_a_liked_product_ten_percent_cheaper_reaches_a_consenting_shopper_by_sms_marked_as_advertising(
    catalog: Catalog, shopper: Shopper, jobs: Jobs, messages: Messages
) -> None:
    await agree_to_advertising(shopper, "sms")
    await like(shopper, catalog, "M1")  # 오버핏 울 니트, 45,000
    noon = korea(12)
    await jobs.price_drops(noon)  # watched from 45,000
    await catalog.malls.mono.change_variant("M1", "M1-GR-F", price=41_000)  # 8.9% off: not enough
    await jobs.price_drops(noon)
    assert await advertising_messages(jobs, shopper.user_id) == []

    await catalog.malls.mono.change_variant("M1", "M1-GR-F", price=40_500)  # 10% off the price she liked it at
    await jobs.price_drops(noon)
    [message] = await advertising_messages(jobs, shopper.user_id)
    assert message.channel == "sms"  # AlimTalk never carries advertising, though she takes order messages there
    await jobs.send_messages(noon)
    [received] = [sent for sent in await messages.received(shopper.user_id) if sent.channel == "sms"]
    assert received.text.startswith("(광고)")
    assert "45,000" in received.text
    assert "40,500" in received.text
    assert "무료 수신거부" in received.text
    assert "/opt-out" in received.text
    assert await jobs.decisions(shopper.user_id) == [("price_drop", "sent", None)]


async def test_without_marketing_consent_nothing_is_sent_and_the_reason_is_recorded(
    catalog: Catalog, shopper: Shopper, jobs: Jobs
) -> None:
    await like(shopper, catalog, "M1")
    await jobs.price_drops(korea(12))
    await catalog.malls.mono.change_variant("M1", "M1-GR-F", price=30_000)
    await jobs.price_drops(korea(12))
    assert await advertising_messages(jobs, shopper.user_id) == []
    assert await jobs.decisions(shopper.user_id) == [("price_drop", "suppressed", "no_consent")]


async def test_at_night_advertising_waits_for_eight_in_the_morning_unless_she_agreed_to_night_messages(
    catalog: Catalog, shopper: Shopper, sign_up: Callable[[], Awaitable[Shopper]], jobs: Jobs
) -> None:
    night_owl = await sign_up()
    await agree_to_advertising(shopper, "sms")
    await agree_to_advertising(night_owl, "sms", "night")
    for someone in (shopper, night_owl):
        await like(someone, catalog, "M1")
    late = korea(22, 30)
    await jobs.price_drops(late)
    await catalog.malls.mono.change_variant("M1", "M1-GR-F", price=35_000)
    await jobs.price_drops(late)

    [held] = await advertising_messages(jobs, shopper.user_id)
    assert held.next_attempt_at.astimezone(KOREA) == korea(8, days=1)  # held, not dropped
    [sent] = await advertising_messages(jobs, night_owl.user_id)
    assert sent.next_attempt_at == late
    [decision] = await jobs.sends(shopper.user_id)
    assert decision.sends_at is not None
    assert decision.sends_at.astimezone(KOREA) == korea(8, days=1)


async def test_two_advertising_messages_a_week_at_most_and_one_per_product(
    catalog: Catalog, shopper: Shopper, jobs: Jobs
) -> None:
    await agree_to_advertising(shopper, "sms")
    await like(shopper, catalog, "H1", "H2", "M1")
    monday = korea(12)
    await jobs.price_drops(monday)
    await catalog.malls.haru.change_variant("H1", "H1-BK-M", price=30_000)
    await catalog.malls.haru.change_variant("H1", "H1-IV-M", price=30_000)
    await catalog.malls.haru.change_variant("H2", "H2-BE-M", price=20_000)
    await catalog.malls.mono.change_variant("M1", "M1-GR-F", price=30_000)
    await jobs.price_drops(monday)
    assert sorted(await jobs.decisions(shopper.user_id)) == sorted([
        ("price_drop", "sent", None), ("price_drop", "sent", None), ("price_drop", "suppressed", "weekly_cap"),
    ])  # fmt: skip

    # Four days on, the product she already heard about falls again: the week's two are spent.
    sent = [send for send in await jobs.sends(shopper.user_id) if send.outcome == "sent"]
    again = next(external for external, product in catalog.products.items() if product == sent[0].product_id)
    mall = catalog.malls.mono if again.startswith("M") else catalog.malls.haru
    sku = {"H1": "H1-BK-M", "H2": "H2-BE-M", "M1": "M1-GR-F"}[again]
    if again == "H1":
        await mall.change_variant("H1", "H1-IV-M", price=12_000)
    await mall.change_variant(again, sku, price=12_000)
    await jobs.price_drops(monday + 4 * DAY)
    assert (await jobs.decisions(shopper.user_id))[-1] == ("price_drop", "suppressed", "weekly_cap")

    # A week after the first two, there is room again.
    await mall.change_variant(again, sku, price=8_000)
    if again == "H1":
        await mall.change_variant("H1", "H1-IV-M", price=8_000)
    await jobs.price_drops(monday + 8 * DAY)
    assert (await jobs.decisions(shopper.user_id))[-1] == ("price_drop", "sent", None)


async def test_never_two_advertising_messages_about_one_product_in_a_week(
    catalog: Catalog, shopper: Shopper, jobs: Jobs
) -> None:
    await agree_to_advertising(shopper, "sms")
    await like(shopper, catalog, "H2")
    await shopper.put_item(catalog.variant("H2-BE-M"), 1)
    now = utc_now()
    await jobs.price_drops(now)
    await catalog.malls.haru.change_variant("H2", "H2-BE-M", price=20_000)
    await jobs.price_drops(now)
    await _age_cart_line(jobs, shopper.user_id, 25)
    await jobs.cart_reminders(now + datetime.timedelta(minutes=1))
    assert await jobs.decisions(shopper.user_id) == [
        ("price_drop", "sent", None), ("cart_reminder", "suppressed", "product_cap"),
    ]  # fmt: skip


async def _three_messages_a_week_apart(catalog: Catalog, shopper: Shopper, jobs: Jobs) -> datetime.datetime:
    """Three price drops sent to the shopper, 8 days apart (H2, M1, M2), none tapped yet; H1 still liked at its
    price. When the first went."""
    await agree_to_advertising(shopper, "sms")
    await like(shopper, catalog, "H1", "H2", "M1", "M2")
    start = korea(12)
    await jobs.price_drops(start)
    falls = [("H2", catalog.malls.haru, "H2-BE-M", 20_000), ("M1", catalog.malls.mono, "M1-GR-F", 30_000),
             ("M2", catalog.malls.mono, "M2-IV-F", 10_000)]  # fmt: skip
    for week, (external_id, mall, sku, price) in enumerate(falls):
        await mall.change_variant(external_id, sku, price=price)
        await jobs.price_drops(start + week * 8 * DAY)
    assert [outcome for _, outcome, _ in await jobs.decisions(shopper.user_id)] == ["sent"] * 3
    return start


async def _h1_falls(catalog: Catalog) -> None:
    await catalog.malls.haru.change_variant("H1", "H1-BK-M", price=20_000)
    await catalog.malls.haru.change_variant("H1", "H1-IV-M", price=20_000)


async def test_three_ignored_in_a_row_mean_none_for_a_month(catalog: Catalog, shopper: Shopper, jobs: Jobs) -> None:
    start = await _three_messages_a_week_apart(catalog, shopper, jobs)
    await _h1_falls(catalog)
    await jobs.price_drops(start + 20 * DAY)  # none of the three was tapped
    assert (await jobs.decisions(shopper.user_id))[-1] == ("price_drop", "suppressed", "fatigue")


async def test_a_tapped_message_is_not_ignored(catalog: Catalog, shopper: Shopper, jobs: Jobs) -> None:
    start = await _three_messages_a_week_apart(catalog, shopper, jobs)
    last = (await jobs.sends(shopper.user_id))[-1]
    tapped = await shopper.client.get(f"/w/{last.token}", follow_redirects=False)
    assert tapped.status_code == 302
    assert tapped.headers["location"] == f"https://shoa.kr/products/{last.product_id}"
    await _h1_falls(catalog)
    await jobs.price_drops(start + 20 * DAY)
    assert (await jobs.decisions(shopper.user_id))[-1] == ("price_drop", "sent", None)


async def test_the_hold_out_gets_no_advertising_and_its_would_be_messages_are_recorded(
    catalog: Catalog, many_shoppers: Callable[[int], Awaitable[list[Shopper]]], jobs: Jobs
) -> None:
    jobs = jobs.with_rules(holdout_percent=10)
    shoppers = await many_shoppers(40)
    inside = [s for s in shoppers if held_out(jobs, s.user_id)]
    outside = [s for s in shoppers if not held_out(jobs, s.user_id)]
    assert inside
    assert outside  # 40 shoppers, 10%: both groups are there (the hash is fixed, so this is too)
    for someone in (inside[0], outside[0]):
        await agree_to_advertising(someone, "sms")
        await like(someone, catalog, "M1")
    await jobs.price_drops(korea(12))
    await catalog.malls.mono.change_variant("M1", "M1-GR-F", price=30_000)
    await jobs.price_drops(korea(12))
    assert await jobs.decisions(inside[0].user_id) == [("price_drop", "held_out", None)]
    assert await advertising_messages(jobs, inside[0].user_id) == []
    assert await jobs.decisions(outside[0].user_id) == [("price_drop", "sent", None)]


async def test_turned_off_price_drops_stay_off(catalog: Catalog, shopper: Shopper, jobs: Jobs) -> None:
    await agree_to_advertising(shopper, "sms")
    settings = await shopper.call("PATCH", "/v1/alerts/settings", {"price_drops": False})
    assert settings.status_code == 200, settings.text
    assert settings.json()["price_drops"]["enabled"] is False
    assert settings.json()["advertising_reaches_me"] is True
    refused = await shopper.call("PATCH", "/v1/alerts/settings", {"price_drop_percent": 3})
    assert refused.status_code == 422
    await like(shopper, catalog, "M1")
    await jobs.price_drops(korea(12))
    await catalog.malls.mono.change_variant("M1", "M1-GR-F", price=30_000)
    await jobs.price_drops(korea(12))
    assert await jobs.decisions(shopper.user_id) == [("price_drop", "suppressed", "turned_off")]


async def _age_cart_line(jobs: Jobs, user_id: uuid.UUID, hours: float) -> None:
    async with jobs.sessions() as session, session.begin():
        await session.execute(
            sa.update(CartItem)
            .where(CartItem.user_id == user_id)
            .values(added_at=CartItem.added_at - sa.func.make_interval(0, 0, 0, 0, hours))
        )


async def test_a_cart_line_left_for_a_day_gets_one_reminder(
    catalog: Catalog, shopper: Shopper, jobs: Jobs, messages: Messages
) -> None:
    await agree_to_advertising(shopper, "sms")
    await shopper.put_item(catalog.variant("H2-BE-M"), 1)
    now = utc_now()
    await jobs.cart_reminders(now)
    assert await advertising_messages(jobs, shopper.user_id) == []  # not a day yet
    await _age_cart_line(jobs, shopper.user_id, 25)
    await jobs.cart_reminders(now)
    await jobs.cart_reminders(now + datetime.timedelta(hours=2))
    [reminder] = await advertising_messages(jobs, shopper.user_id)
    assert reminder.event == "cart_reminder"
    await jobs.send_messages(korea(9, days=1))  # held until 08:00 if this runs at night in Korea
    [received] = [sent for sent in await messages.received(shopper.user_id) if sent.channel == "sms"]
    assert received.text.startswith("(광고)")
    assert "와이드 슬랙스" in received.text


async def test_no_reminder_for_a_line_bought_removed_or_out_of_stock(
    catalog: Catalog, sign_up: Callable[[], Awaitable[Shopper]], jobs: Jobs
) -> None:
    bought, removed, waiting = await sign_up(), await sign_up(), await sign_up()
    for someone in (bought, removed, waiting):
        await agree_to_advertising(someone, "sms")
    await bought.put_item(catalog.variant("H2-BE-M"), 1)
    await removed.put_item(catalog.variant("H2-BE-M"), 1)
    await waiting.put_item(catalog.variant("M2-IV-F"), 1)
    await place_order(bought, {catalog.variant("H2-BE-M"): 1})
    assert (await removed.call("DELETE", f"/v1/cart/items/{catalog.variant('H2-BE-M')}")).is_success
    await catalog.malls.mono.change_variant("M2", "M2-IV-F", stock=0)
    for someone in (bought, removed, waiting):
        await _age_cart_line(jobs, someone.user_id, 25)
    await jobs.cart_reminders(utc_now())
    for someone in (bought, removed, waiting):
        assert await advertising_messages(jobs, someone.user_id) == []
        assert await jobs.decisions(someone.user_id) == []


async def test_a_price_is_watched_from_the_moment_she_likes_it(catalog: Catalog, shopper: Shopper, jobs: Jobs) -> None:
    """The price falls a minute after the like, before the worker's sweep has run: still a fall from her price."""
    await agree_to_advertising(shopper, "sms")
    await like(shopper, catalog, "M1")
    await catalog.malls.mono.change_variant("M1", "M1-GR-F", price=38_000)
    await jobs.price_drops(korea(12))
    assert await jobs.decisions(shopper.user_id) == [("price_drop", "sent", None)]
