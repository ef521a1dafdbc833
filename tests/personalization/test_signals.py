"""Behaviour events and likes through the API, and the segment scores they leave in Redis."""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from personalization.scores import BREADTH_FULL, DEVICE_WEIGHT, Decay, segment_scores
from tests.catalog.test_sync import _mall, product
from tests.insights.test_devices import device_seen_long_ago
from tests.shoa_api.test_auth import bearer, signup

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient

DEVICE = {"X-Device-Id": "device-0001-android"}
DECAY = Decay(half_life_seconds=72 * 3600)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def event(product_id: str, kind: str = "view", *, at: datetime.datetime | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "product_id": product_id,
        "occurred_at": (at or now()).isoformat(),
        **fields,
    }


@pytest.fixture
async def products(client: ShoaClient, session: AsyncSession, redis_client: Redis) -> list[str]:
    """Three products (the third hidden), then three more the devices of these tests browsed first; ``DEVICE`` has
    been around a month (a device the server met today counts nothing, ``insights.devices``)."""
    await device_seen_long_ago(session, redis_client, DEVICE["X-Device-Id"])
    mall = await _mall(session, client)
    answer = await mall.sync(product("P1"), product("P2"), product("P3", status="hidden"),
                             *(product(f"B{n}") for n in range(BREADTH_FULL - 1)))  # fmt: skip
    ids = [item["product_id"] for item in answer["items"]]
    browsed = [event(product_id) for product_id in ids[3:]]
    assert (await client.post("/v1/events", headers=DEVICE, json={"events": browsed})).json()["accepted"] == 3
    return ids[:3]


async def scores(redis: Redis, segment: str, products: list[str]) -> dict[str, float]:
    """The segment's scores of ``products`` (not of those browsed first)."""
    found = await segment_scores(redis, DECAY, segment, now=now().timestamp())
    return {str(product_id): round(score, 3) for product_id, score in found if str(product_id) in products}


async def test_anonymous_events_score_the_default_segment(
    client: ShoaClient, products: list[str], redis_client: Redis
) -> None:
    batch = [event(products[0]), event(products[0], "click"), event(products[1], "add_to_cart")]
    response = await client.post("/v1/events", headers=DEVICE, json={"events": batch})

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["duplicate"], answer["rejected"]) == (3, 0, 0)
    # A device that has browsed a few products weighs half a signed-in shopper.
    assert DEVICE_WEIGHT == 0.5
    assert await scores(redis_client, "anonymous", products) == {products[0]: 1.5, products[1]: 3.0}


async def test_a_resent_batch_counts_once(client: ShoaClient, products: list[str], redis_client: Redis) -> None:
    batch = [event(products[0]), event(products[1], "click")]
    await client.post("/v1/events", headers=DEVICE, json={"events": batch})
    again = (await client.post("/v1/events", headers=DEVICE, json={"events": batch})).json()

    assert [item["result"] for item in again["items"]] == ["duplicate", "duplicate"]
    assert await scores(redis_client, "anonymous", products) == {products[0]: 0.5, products[1]: 1.0}
    # The same event id from another device is that device's own event.
    other = {"X-Device-Id": "device-0002-ios"}
    assert (await client.post("/v1/events", headers=other, json={"events": batch})).json()["accepted"] == 2


async def test_bad_events_are_refused_one_by_one(client: ShoaClient, products: list[str], redis_client: Redis) -> None:
    batch = [
        event(products[0]),
        event(products[0], "purchase"),
        event(products[2]),  # hidden
        event(str(uuid.uuid4())),  # no such product
        event(products[0], at=now() + datetime.timedelta(hours=1)),
        event(products[0], at=now() - datetime.timedelta(days=8)),
        {"id": "not-a-uuid", "kind": "view", "product_id": products[0], "occurred_at": now().isoformat()},
        event(products[0], "share"),
        event(products[0], color="red"),
    ]
    answer = (await client.post("/v1/events", headers=DEVICE, json={"events": batch})).json()

    assert [item["result"] for item in answer["items"]] == ["accepted"] + ["rejected"] * 8
    reasons = [item.get("reason", "") for item in answer["items"]]
    assert "order flow" in reasons[1]
    assert reasons[2] == reasons[3] == "no such product on show"
    assert "future" in reasons[4]
    assert "7 days" in reasons[5]
    assert "$.id" in reasons[6]
    assert "$.kind" in reasons[7]
    assert "color" in reasons[8]
    assert await scores(redis_client, "anonymous", products) == {products[0]: 0.5}


async def test_older_events_weigh_less(client: ShoaClient, products: list[str], redis_client: Redis) -> None:
    three_days_ago = now() - datetime.timedelta(hours=72)
    batch = [event(products[0], "add_to_cart", at=three_days_ago), event(products[1], "add_to_cart")]
    await client.post("/v1/events", headers=DEVICE, json={"events": batch})

    found = await scores(redis_client, "anonymous", products)
    assert found[products[0]] == pytest.approx(1.5, rel=0.01)  # half of 3 after one half-life
    assert found[products[1]] == pytest.approx(3.0, rel=0.01)


async def test_a_logged_in_shopper_scores_their_segment(
    client: ShoaClient, products: list[str], redis_client: Redis
) -> None:
    tokens = await signup(client, gender="female", birth_date="1998-03-03")
    response = await client.post("/v1/events", headers=bearer(tokens), json={"events": [event(products[0])]})

    assert response.json()["accepted"] == 1
    segment = tokens["profile"]["segment"]
    assert segment.startswith("female:")
    assert await scores(redis_client, segment, products) == {products[0]: 1.0}
    assert await scores(redis_client, "anonymous", products) == {}


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b'{"events": [', DEVICE, 400),
        (b'{"events": []}', DEVICE, 422),
        (b'{"items": []}', DEVICE, 422),
        (b'{"events": []}', {}, 401),  # neither a device id nor a token: not known, as without credentials
        (b'{"events": []}', {"X-Device-Id": "short"}, 422),  # a device id is 8 to 64 of A-Za-z0-9._:-
    ],
)
async def test_malformed_batches_are_problems(
    client: ShoaClient, body: bytes, headers: dict[str, str], status: int
) -> None:
    response = await client.post("/v1/events", content=body, headers={"Content-Type": "application/json", **headers})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_more_than_100_events_is_refused(client: ShoaClient, products: list[str]) -> None:
    batch = [event(products[0]) for _ in range(101)]
    response = await client.post("/v1/events", headers=DEVICE, json={"events": batch})
    assert response.status_code == 422
    assert "at most 100" in response.json()["detail"]


async def test_a_device_sending_too_many_events_is_slowed_down(
    services: Any, products: list[str], session: AsyncSession
) -> None:
    from shoa_api.app import create_app  # noqa: PLC0415 - an app with a small limit, for this test only
    from shoa_api.settings import load_settings  # noqa: PLC0415
    from tests.client import ShoaClient  # noqa: PLC0415

    app = create_app(load_settings(services.environ(SHOA_FEED_EVENTS_PER_DEVICE_PER_MINUTE="5"), env_file=None))
    async with ShoaClient(app=app) as client:
        first = await client.post("/v1/events", headers=DEVICE, json={"events": [event(products[0])] * 1})
        assert first.status_code == 200
        over = await client.post("/v1/events", headers=DEVICE, json={"events": [event(products[0])] * 5})
        assert over.status_code == 429
        assert int(over.headers["retry-after"]) >= 1
        other = await client.post(
            "/v1/events", headers={"X-Device-Id": "another-device"}, json={"events": [event(products[0])]}
        )
        assert other.status_code == 200


async def test_likes_are_listed_newest_first_and_count_once(
    client: ShoaClient, products: list[str], redis_client: Redis
) -> None:
    tokens = await signup(client, gender="female", birth_date="1998-03-03")
    auth = bearer(tokens)
    assert (await client.put(f"/v1/likes/{products[0]}", headers=auth)).status_code == 201
    assert (await client.put(f"/v1/likes/{products[1]}", headers=auth)).status_code == 201
    assert (await client.put(f"/v1/likes/{products[0]}", headers=auth)).status_code == 200  # again: one like
    # A like event for the same product adds nothing more.
    await client.post("/v1/events", headers=auth, json={"events": [event(products[0], "like")]})

    page = (await client.get("/v1/likes", headers=auth)).json()
    assert [item["id"] for item in page["items"]] == [products[1], products[0]]
    assert await scores(redis_client, tokens["profile"]["segment"], products) == {products[0]: 4.0, products[1]: 4.0}

    assert (await client.delete(f"/v1/likes/{products[0]}", headers=auth)).status_code == 204
    assert (await client.delete(f"/v1/likes/{products[0]}", headers=auth)).status_code == 204
    assert [item["id"] for item in (await client.get("/v1/likes", headers=auth)).json()["items"]] == [products[1]]


async def test_likes_page_and_hide_what_is_no_longer_on_show(client: ShoaClient, products: list[str]) -> None:
    auth = bearer(await signup(client))
    for product_id in products[:2]:
        await client.put(f"/v1/likes/{product_id}", headers=auth)
    first = (await client.get("/v1/likes", params={"limit": 1}, headers=auth)).json()
    second = (await client.get("/v1/likes", params={"cursor": first["next_cursor"]}, headers=auth)).json()
    assert [item["id"] for item in first["items"] + second["items"]] == [products[1], products[0]]
    assert second["next_cursor"] is None

    assert (await client.put(f"/v1/likes/{products[2]}", headers=auth)).status_code == 404  # hidden
    assert (await client.put(f"/v1/likes/{uuid.uuid4()}", headers=auth)).status_code == 404
    assert (await client.get("/v1/likes")).status_code == 401
