"""``GET /v1/rankings``: what a segment's people engage with and buy, each person counted once, spread over malls,
only what can be bought now, and how each product moved since the window before. Events go in through
``POST /v1/events`` as the app sends them (purchases, which only the order flow records, straight into the store)."""

from __future__ import annotations

import datetime
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker

from catalog import keys
from catalog.demo import seed_demo_malls
from catalog.demo_products import seed_demo_products
from catalog.models import Product
from insights.jobs import roll_up_events
from insights.rankings import DEVICE_WEIGHT, MAX_PER_MALL, MIN_PEOPLE
from tests.factories import dress_every_mall_as_a_sponsor
from tests.insights.conftest import raw_event
from tests.insights.test_devices import A_MONTH, device_seen_long_ago
from tests.shoa_api.test_auth import bearer, signup

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.client import ShoaClient


@pytest.fixture
async def shelf(session: AsyncSession) -> dict[uuid.UUID, list[Product]]:
    """The demo catalog (300 products of its malls), as lists of each mall's products on sale."""
    await seed_demo_malls(session)
    await seed_demo_products(session, products=300)
    await session.commit()
    products = await session.scalars(
        sa.select(Product).where(Product.status == "on_sale", Product.in_stock).order_by(Product.external_id)
    )
    by_mall: dict[uuid.UUID, list[Product]] = {}
    for product in products:
        by_mall.setdefault(product.mall_id, []).append(product)
    return dict(sorted(by_mall.items(), key=lambda mall: -len(mall[1])))


def one_per_mall(shelf: dict[uuid.UUID, list[Product]], count: int) -> list[Product]:
    """``count`` products, each of another mall."""
    assert len(shelf) >= count
    return [products[0] for products in list(shelf.values())[:count]]


def event(product: Product, kind: str = "view", *, minutes_ago: float = 5) -> dict[str, Any]:
    at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes_ago)
    return {"id": str(uuid.uuid4()), "kind": kind, "product_id": str(product.id), "occurred_at": at.isoformat()}


@dataclass(frozen=True)
class Devices:
    """Anonymous apps on phones that have been around: first seen by the server a month ago, unless told
    otherwise (``tests.insights.test_devices``)."""

    client: ShoaClient
    session: AsyncSession
    redis: Redis

    async def engage(
        self,
        product: Product,
        *,
        people: int,
        kinds: tuple[str, ...] = ("view",),
        minutes_ago: float = 5,
        age: datetime.timedelta | None = A_MONTH,
    ) -> None:
        """``people`` devices, each first seen ``age`` ago (``None``: never before), each sending ``kinds`` once
        about ``product``."""
        for _ in range(people):
            device_id = f"device-{uuid.uuid4().hex[:16]}"
            device = {"X-Device-Id": device_id}
            if age is not None:
                device = await device_seen_long_ago(self.session, self.redis, device_id, age=age)
            batch = [event(product, kind, minutes_ago=minutes_ago) for kind in kinds]
            response = await self.client.post("/v1/events", json={"events": batch}, headers=device)
            assert response.status_code == 200, response.text
            assert response.json()["accepted"] == len(batch)


@pytest.fixture
def devices(client: ShoaClient, session: AsyncSession, redis_client: Redis) -> Devices:
    return Devices(client, session, redis_client)


async def ranking(client: ShoaClient, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/rankings", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    return dict(response.json())


def ids(answer: dict[str, Any]) -> list[uuid.UUID]:
    return [uuid.UUID(item["id"]) for item in answer["items"]]


async def test_products_rank_by_distinct_people_and_a_hundred_events_of_one_device_count_once(
    client: ShoaClient, devices: Devices, shelf: dict[uuid.UUID, list[Product]], session: AsyncSession,
    redis_client: Redis,
) -> None:  # fmt: skip
    crowd, fewer, bot_target, too_few = one_per_mall(shelf, 4)
    await devices.engage(crowd, people=12)
    await devices.engage(fewer, people=9)
    # One device, a hundred views and carts: one person. With four more people it ranks, below both.
    bot = await device_seen_long_ago(session, redis_client, "click-farm-device-01")
    batch = [event(bot_target, kind) for kind in ("view", "add_to_cart") for _ in range(50)]
    assert (await client.post("/v1/events", json={"events": batch}, headers=bot)).status_code == 200
    await devices.engage(bot_target, people=MIN_PEOPLE - 1)
    await devices.engage(too_few, people=MIN_PEOPLE - 1, kinds=("view", "like", "add_to_cart"))

    answer = await ranking(client)

    assert answer["segment"] == "anonymous"
    assert answer["period"] == "realtime"
    assert ids(answer) == [crowd.id, fewer.id, bot_target.id]  # too_few: under MIN_PEOPLE people, not ranked
    first = answer["items"][0]
    assert (first["rank"], first["people"], first["buyers"], first["change"]) == (1, 12, 0, "new")
    assert first["score"] == 12 * 0.5  # twelve anonymous viewers, each half a signed-in shopper
    assert answer["items"][2]["people"] == MIN_PEOPLE
    assert answer["items"][2]["score"] == 0.5 * 4 + 0.5 * (1 + 3)  # the bot: one view and one cart, once each
    assert first["mall"]["id"] == str(crowd.mall_id)
    assert first["name"] == crowd.name


async def test_a_shopper_gets_her_own_segment_and_anyone_may_ask_for_another(
    client: ShoaClient, devices: Devices, shelf: dict[uuid.UUID, list[Product]]
) -> None:
    theirs, anonymous_pick = one_per_mall(shelf, 2)
    tokens = []
    for number in range(MIN_PEOPLE):
        tokens.append(await signup(client, email=f"minji{number}@example.kr", gender="female", birth_date="2004-05-05"))
        response = await client.post("/v1/events", json={"events": [event(theirs, "like")]}, headers=bearer(tokens[-1]))
        assert response.json()["accepted"] == 1
    await devices.engage(anonymous_pick, people=MIN_PEOPLE)

    hers = await ranking(client, bearer(tokens[0]))
    anonymous = await ranking(client)
    asked = await ranking(client, segment="female:20s_early")

    assert hers["segment"] == asked["segment"] == "female:20s_early"
    assert ids(hers) == ids(asked) == [theirs.id]
    assert hers["items"][0]["score"] == MIN_PEOPLE * 2.0  # signed-in shoppers' likes, each counted whole
    assert anonymous["segment"] == "anonymous"
    assert ids(anonymous) == [anonymous_pick.id]
    other = await ranking(client, bearer(tokens[0]), segment="male:30s_mid")
    assert (other["segment"], other["items"]) == ("male:30s_mid", [])


async def test_a_hundred_device_ids_made_today_rank_nothing(
    client: ShoaClient, devices: Devices, shelf: dict[uuid.UUID, list[Product]]
) -> None:
    """A device id costs nothing to make, but time does: a device the server first saw less than a day ago counts
    for no one, however many of them there are and whatever they say."""
    farmed, browsed = one_per_mall(shelf, 2)
    await devices.engage(farmed, people=100, kinds=("view", "click", "like", "add_to_cart"), age=None)
    await devices.engage(farmed, people=20, kinds=("view", "like"), age=datetime.timedelta(hours=23))
    await devices.engage(browsed, people=MIN_PEOPLE)

    answer = await ranking(client)

    assert ids(answer) == [browsed.id]
    assert answer["items"][0]["people"] == MIN_PEOPLE


async def test_devices_count_in_proportion_to_their_age_up_to_a_week(
    client: ShoaClient, devices: Devices, shelf: dict[uuid.UUID, list[Product]]
) -> None:
    two_days, week = one_per_mall(shelf, 2)
    await devices.engage(two_days, people=20, age=datetime.timedelta(days=2, minutes=1))
    await devices.engage(week, people=MIN_PEOPLE, age=datetime.timedelta(days=7))

    answer = await ranking(client)

    assert ids(answer) == [two_days.id, week.id]  # twenty people of two days still outweigh five of a week
    assert [item["people"] for item in answer["items"]] == [20, MIN_PEOPLE]
    assert answer["items"][0]["score"] == pytest.approx(20 * DEVICE_WEIGHT * 2 / 7, abs=0.01)
    assert answer["items"][1]["score"] == MIN_PEOPLE * DEVICE_WEIGHT


async def test_buyers_weigh_more_than_viewers(
    client: ShoaClient, devices: Devices, shelf: dict[uuid.UUID, list[Product]], session: AsyncSession
) -> None:
    viewed, bought = one_per_mall(shelf, 2)
    await devices.engage(viewed, people=12)
    now = datetime.datetime.now(datetime.UTC)
    for number in range(MIN_PEOPLE):  # purchases come from the order flow, straight into the store
        session.add(raw_event(now - datetime.timedelta(minutes=3), "purchase", product_id=bought.id,
                              mall_id=bought.mall_id, segment="anonymous", who=f"buyer-{number}", quantity=1,
                              amount=bought.price_from))  # fmt: skip
    await session.commit()

    answer = await ranking(client)

    assert ids(answer) == [bought.id, viewed.id]
    assert [(item["people"], item["buyers"]) for item in answer["items"]] == [(MIN_PEOPLE, MIN_PEOPLE), (12, 0)]


async def test_at_most_two_products_of_one_mall_in_any_ten_places(
    client: ShoaClient, devices: Devices, shelf: dict[uuid.UUID, list[Product]]
) -> None:
    big_mall = next(iter(shelf.values()))[:5]
    others = one_per_mall(shelf, 9)[1:]
    for place, product in enumerate(big_mall):
        await devices.engage(product, people=20 - place)  # the big mall's five lead on their own
    for place, product in enumerate(others):
        await devices.engage(product, people=14 - place)

    items = (await ranking(client))["items"]

    malls = [item["mall"]["id"] for item in items]
    assert max(max(Counter(malls[start : start + 10]).values()) for start in range(len(malls) - 9)) == MAX_PER_MALL
    assert [uuid.UUID(item["id"]) for item in items[:2]] == [big_mall[0].id, big_mall[1].id]
    assert [uuid.UUID(item["id"]) for item in items[2:10]] == [product.id for product in others]
    # Deferred until the first two are ten places back; the fifth would be a third in ten, with no other mall left
    # to come between: the ranking ends rather than break the rule.
    assert [uuid.UUID(item["id"]) for item in items[10:]] == [big_mall[2].id, big_mall[3].id]


async def test_sold_out_and_hidden_products_leave_the_ranking_at_once(
    client: ShoaClient, devices: Devices, shelf: dict[uuid.UUID, list[Product]], session: AsyncSession
) -> None:
    sold_out, hidden, kept = one_per_mall(shelf, 3)
    for people, product in ((9, sold_out), (8, hidden), (7, kept)):
        await devices.engage(product, people=people)
    assert ids(await ranking(client)) == [sold_out.id, hidden.id, kept.id]

    for product, change in ((sold_out, "PATCH"), (hidden, "DELETE")):
        issued = await keys.issue_key(session, mall_id=product.mall_id, name="sync", scopes=["catalog:write"])
        await session.commit()
        response = await client.request(
            change, f"/partner/v1/products/{product.external_id}", headers={"Authorization": f"Bearer {issued.key}"},
            json={"status": "sold_out"} if change == "PATCH" else None,
        )  # fmt: skip
        assert response.status_code in {200, 204}, response.text

    answer = await ranking(client)
    assert ids(answer) == [kept.id]
    assert answer["items"][0]["rank"] == 1


async def test_each_period_counts_its_own_window_and_says_how_products_moved(
    client: ShoaClient, devices: Devices, shelf: dict[uuid.UUID, list[Product]]
) -> None:
    rising, falling, steady, fresh = one_per_mall(shelf, 4)
    # The hour before: falling first, rising second, steady third.
    for people, product in ((10, falling), (8, rising), (6, steady)):
        await devices.engage(product, people=people, minutes_ago=90)
    # This hour: rising first, falling second, steady third, fresh fourth (not ranked the hour before).
    for people, product in ((12, rising), (9, falling), (7, steady), (5, fresh)):
        await devices.engage(product, people=people, minutes_ago=15)
    # Yesterday: only steady, which leads the day before.
    await devices.engage(steady, people=40, minutes_ago=30 * 60)

    realtime = await ranking(client, period="realtime")
    daily = await ranking(client, period="daily")
    weekly = await ranking(client, period="weekly")

    assert [(item["id"], item["rank"], item["previous_rank"], item["change"]) for item in realtime["items"]] == [
        (str(rising.id), 1, 2, "up"),
        (str(falling.id), 2, 1, "down"),
        (str(steady.id), 3, 3, "same"),
        (str(fresh.id), 4, None, "new"),
    ]
    assert [item["people"] for item in realtime["items"]] == [12, 9, 7, 5]
    # The day: both hours add up per product; the day before had steady alone.
    assert [(item["id"], item["people"], item["change"]) for item in daily["items"]] == [
        (str(rising.id), 20, "new"),
        (str(falling.id), 19, "new"),
        (str(steady.id), 13, "down"),
        (str(fresh.id), 5, "new"),
    ]
    assert ids(weekly)[0] == steady.id  # the week holds yesterday too
    assert weekly["items"][0]["people"] == 53
    until = datetime.datetime.fromisoformat(realtime["until"])
    assert datetime.datetime.fromisoformat(realtime["since"]) == until - datetime.timedelta(hours=1)
    assert datetime.datetime.fromisoformat(daily["compared_since"]) == datetime.datetime.fromisoformat(
        daily["until"]
    ) - datetime.timedelta(days=2)


async def test_a_category_ranks_its_own_products(
    client: ShoaClient, devices: Devices, shelf: dict[uuid.UUID, list[Product]]
) -> None:
    products = one_per_mall(shelf, 6)
    for place, product in enumerate(products):
        await devices.engage(product, people=12 - place)
    top = products[2].category_path.split("/")[0]

    answer = await ranking(client, category=top)

    assert answer["category"] == top
    assert ids(answer) == [p.id for p in products if p.category_path.split("/")[0] == top]
    assert ids(await ranking(client, category=products[2].category_path))[0] == products[2].id


async def test_the_roll_up_leaves_rankings_as_they_were(
    client: ShoaClient, devices: Devices, shelf: dict[uuid.UUID, list[Product]], engine: AsyncEngine
) -> None:
    """Rankings read the events themselves, so the hour's roll-up (the mall insights' aggregates) moves nothing."""
    first, second = one_per_mall(shelf, 2)
    await devices.engage(first, people=8, minutes_ago=70)
    await devices.engage(second, people=6, minutes_ago=70)
    before = await ranking(client, period="daily")

    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=2)  # the hours have closed
    rollup = await roll_up_events(async_sessionmaker(engine), now=later)

    assert rollup.hours
    after = await ranking(client, period="daily", limit=19)  # another answer than the one cached above
    assert ids(after) == ids(before) == [first.id, second.id]


@pytest.mark.parametrize(
    ("params", "problem", "field"),
    [
        ({"segment": "female:20s"}, "unknown-segment", "segment"),
        ({"segment": "vip"}, "unknown-segment", "segment"),
        ({"category": "상의/점프수트"}, "unknown-category", "category"),
        ({"period": "monthly"}, "invalid-period", "period"),
        ({"limit": "51"}, "validation-failed", "limit"),
    ],
)
async def test_a_bad_segment_category_or_period_is_a_problem(
    client: ShoaClient, params: dict[str, str], problem: str, field: str
) -> None:
    response = await client.get("/v1/rankings", params=params)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith(f"/{problem}")
    assert [error["field"] for error in body["errors"]] == [field]


async def test_no_mall_attribute_outside_content_and_behaviour_moves_rankings(
    client: ShoaClient, devices: Devices, shelf: dict[uuid.UUID, list[Product]], session: AsyncSession
) -> None:
    """No paid placement in rankings either: renaming malls, their descriptions, logos, slugs, sign-up dates,
    shipping fees or API keys leaves every period's ranking, for every segment asked, exactly as it was."""
    products = one_per_mall(shelf, 12)
    for place, product in enumerate(products):
        await devices.engage(product, people=6 + place % 4, minutes_ago=20 + 60 * (place % 3))
    shopper = bearer(await signup(client, gender="female", birth_date="1996-01-01"))
    asked: list[tuple[dict[str, str], dict[str, str]]] = [({}, {"period": p}) for p in ("realtime", "daily", "weekly")]
    asked += [(shopper, {"period": "daily"}), ({}, {"period": "daily", "segment": "female:20s_late"})]
    before = [ids(await ranking(client, headers, **params)) for headers, params in asked]
    assert before[1]

    await dress_every_mall_as_a_sponsor(session)

    assert [ids(await ranking(client, headers, limit=49, **params)) for headers, params in asked] == before
