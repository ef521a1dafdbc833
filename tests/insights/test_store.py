"""Every event the events API accepts, and every purchase the order flow takes payment for, lands in the event store
once, with who did it in insights' terms (segment, gender, age band) and what (product, mall, category); an
erased account's events stay, without anything leading back to it."""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSessionOf

from accounts.segments import ANONYMOUS_AUDIENCE
from personalization import events
from tests.insights.conftest import stored_events
from tests.orders.conftest import pay_by_card, place_order, receive_deposit, sandbox_gateway

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.client import ShoaClient
    from tests.orders.conftest import Catalog, Shopper

DEVICE = "device-0001-android"


def event(product_id: uuid.UUID, kind: str = "view", *, minutes_ago: int = 1) -> dict[str, Any]:
    at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes_ago)
    return {"id": str(uuid.uuid4()), "kind": kind, "product_id": str(product_id), "occurred_at": at.isoformat()}


async def post_events(client: ShoaClient, batch: list[dict[str, Any]], **headers: str) -> dict[str, Any]:
    response = await client.post("/v1/events", json={"events": batch}, headers=headers or {"X-Device-Id": DEVICE})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_an_anonymous_device_s_events_are_stored_with_their_product_mall_and_category(
    catalog: Catalog, client: ShoaClient, session: AsyncSession
) -> None:
    dress, knit = catalog.products["H1"], catalog.products["M1"]
    batch = [event(dress), event(dress, "click"), event(knit, "add_to_cart"), event(knit, "like")]

    answer = await post_events(client, batch)

    assert answer["accepted"] == 4
    stored = await stored_events(session)
    assert sorted((e.kind, e.product_id, e.mall_id, e.category_path) for e in stored) == sorted([
        ("view", dress, catalog.malls.haru.id, "원피스/셔츠원피스"),
        ("click", dress, catalog.malls.haru.id, "원피스/셔츠원피스"),
        ("add_to_cart", knit, catalog.malls.mono.id, "상의/니트"),
        ("like", knit, catalog.malls.mono.id, "상의/니트"),
    ])  # fmt: skip
    assert {(e.segment, e.gender, e.age_band, e.shopper_id, e.device_id) for e in stored} == {
        ("anonymous", None, None, None, DEVICE)
    }
    assert {e.at.isoformat() for e in stored} == {
        datetime.datetime.fromisoformat(item["occurred_at"]).isoformat() for item in batch
    }


async def test_a_signed_in_shopper_s_events_carry_her_segment_gender_and_age_band(
    catalog: Catalog, shopper: Shopper, session: AsyncSession
) -> None:
    await shopper._ok("PATCH", "/v1/me", {"gender": "female", "birth_date": "1998-03-03"})

    await post_events(shopper.client, [event(catalog.products["H2"])], **shopper.headers)

    [stored] = await stored_events(session)
    assert (stored.segment, stored.gender, stored.age_band) == ("female:20s_late", "female", "20s_late")
    assert (stored.shopper_id, stored.device_id) == (shopper.user_id, None)


async def test_a_resent_batch_is_stored_once_and_a_rejected_event_never(
    catalog: Catalog, client: ShoaClient, session: AsyncSession
) -> None:
    dress = catalog.products["H1"]
    batch = [event(dress), event(dress, "purchase"), event(dress, minutes_ago=60 * 24 * 8)]

    first = await post_events(client, batch)
    again = await post_events(client, batch)
    # Another device's events with the same ids are its own.
    other = await post_events(client, batch, **{"X-Device-Id": "device-0002-ios"})

    assert [item["result"] for item in first["items"]] == ["accepted", "rejected", "rejected"]
    assert [item["result"] for item in again["items"]] == ["duplicate", "rejected", "rejected"]
    assert other["accepted"] == 1
    assert sorted(e.device_id or "" for e in await stored_events(session)) == ["device-0001-android",
                                                                              "device-0002-ios"]  # fmt: skip


async def test_a_like_counts_once_per_product_however_often_it_is_sent(
    catalog: Catalog, client: ShoaClient, session: AsyncSession
) -> None:
    knit = catalog.products["M1"]

    await post_events(client, [event(knit, "like"), event(knit, "like", minutes_ago=2)])
    later = await post_events(client, [event(knit, "like")])

    assert later["duplicate"] == 1
    assert [e.kind for e in await stored_events(session)] == ["like"]


async def test_events_redis_saw_in_a_failed_transaction_are_stored_by_the_retry(
    catalog: Catalog, client: ShoaClient, engine: AsyncEngine, redis_client: Redis, session: AsyncSession
) -> None:
    """The request's transaction fails after Redis marked its events seen (the database went away at commit):
    the app retries, Redis answers ``duplicate``, and the store still gets each event, once."""
    batch = [event(catalog.products["H1"]), event(catalog.products["M2"], "click")]
    recorder = client.app.state.recorder
    async with AsyncSessionOf(engine) as failed:
        result = await events.record_events(
            failed, redis_client, recorder, actor=f"device:{DEVICE}", audience=ANONYMOUS_AUDIENCE,
            items=[msgspec.Raw(msgspec.json.encode(item)) for item in batch],
            now=datetime.datetime.now(datetime.UTC), device_id=DEVICE,
        )  # fmt: skip
        assert result.accepted == 2
        await failed.rollback()
    assert await stored_events(session) == []

    retried = await post_events(client, batch)
    await post_events(client, batch)

    assert retried["duplicate"] == 2  # Redis counted them the first time
    assert sorted(e.kind for e in await stored_events(session)) == ["click", "view"]


async def test_a_paid_deposit_stores_each_line_as_a_purchase_once(
    catalog: Catalog, shopper: Shopper, client: ShoaClient, session: AsyncSession
) -> None:
    await shopper._ok("PATCH", "/v1/me", {"gender": "female", "birth_date": "1991-06-20"})
    order = await place_order(shopper, {catalog.variant("H1-BK-M"): 2, catalog.variant("M1-GR-F"): 1},
                              payment_method="virtual_account")  # fmt: skip
    assert await stored_events(session) == []  # ordered, not paid

    await receive_deposit(shopper, order)
    callback = await sandbox_gateway(client).deposit(order["number"])
    await client.post("/webhooks/payments/sandbox", content=callback)  # delivered again

    stored = await stored_events(session, kind="purchase")
    assert sorted((e.product_id, e.mall_id, e.category_path, e.quantity, e.amount) for e in stored) == sorted([
        (catalog.products["H1"], catalog.malls.haru.id, "원피스/셔츠원피스", 2, 78_000),
        (catalog.products["M1"], catalog.malls.mono.id, "상의/니트", 1, 45_000),
    ])  # fmt: skip
    assert {(e.segment, e.gender, e.age_band, e.shopper_id) for e in stored} == {
        ("female:30s_mid", "female", "30s_mid", shopper.user_id)
    }


async def test_a_confirmed_card_payment_stores_its_purchases(
    catalog: Catalog, shopper: Shopper, session: AsyncSession
) -> None:
    order = await place_order(shopper, {catalog.variant("H2-BE-M"): 3})

    await pay_by_card(shopper, order)

    [stored] = await stored_events(session)
    assert (stored.kind, stored.product_id, stored.quantity, stored.amount) == (
        "purchase", catalog.products["H2"], 3, 87_000,
    )  # fmt: skip
    assert (stored.segment, stored.gender, stored.age_band) == ("anonymous", None, None)  # no gender or age given


async def test_an_erased_account_s_events_stay_without_its_id(
    catalog: Catalog, shopper: Shopper, session: AsyncSession
) -> None:
    await post_events(shopper.client, [event(catalog.products["H1"], "like")], **shopper.headers)
    await pay_by_card(shopper, await place_order(shopper, {catalog.variant("M1-GR-F"): 1}))
    assert len(await stored_events(session, shopper_id=shopper.user_id)) == 2

    response = await shopper.call("DELETE", "/v1/me")

    assert response.status_code == 204, response.text
    stored = await stored_events(session)
    assert sorted(e.kind for e in stored) == ["like", "purchase"]
    assert {(e.shopper_id, e.dedupe_key) for e in stored} == {(None, None)}
