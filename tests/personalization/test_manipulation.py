"""No one can buy the feed with bots: influence follows distinct people, not events (decision 0039).

The attacks of issue 18 replayed through the API, the worker's jobs and the search: one device's twenty events on
five loafers, a hundred fresh device ids on one product (and a hundred that browse first), and a contributor's
parallel batches against the cap. A device counts only once the server has known it a day (``insights.devices``):
devices meant to count are marked as first seen long ago, as a month of use would have left them.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from catalog.demo import seed_demo_malls
from catalog.demo_products import seed_demo_products
from catalog.models import Product
from personalization import candidates
from personalization.feed import ShopperTaste, rank
from personalization.scores import CAP_PER_PRODUCT, DEVICE_WEIGHT, Decay, segment_scores
from shoa_api.worker import score_rollup_job
from tests.insights.test_devices import device_seen_long_ago
from tests.personalization.test_jobs import run_once
from tests.shoa_api.test_auth import bearer, signup

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoa_api.settings import Settings
    from tests.client import ShoaClient
    from tests.conftest import SearchIndex

DECAY = Decay(half_life_seconds=72 * 3600)
FIRST = 20
"""No attack may bring a product into any segment's first 20."""


@pytest.fixture
async def catalog(session: AsyncSession) -> None:
    await seed_demo_malls(session)
    await seed_demo_products(session, products=800)
    await session.commit()


def event(product_id: uuid.UUID | str, kind: str) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC).isoformat()
    return {"id": str(uuid.uuid4()), "kind": kind, "product_id": str(product_id), "occurred_at": now}


def eager(product_id: uuid.UUID | str) -> list[dict[str, Any]]:
    """Everything an app can say about one product: viewed, clicked, liked, put in the cart."""
    return [event(product_id, kind) for kind in ("view", "click", "like", "add_to_cart")]


async def post(client: ShoaClient, headers: dict[str, str], events: list[dict[str, Any]]) -> None:
    response = await client.post("/v1/events", headers=headers, json={"events": events})
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == 0


async def on_sale(session: AsyncSession, *, category: str, gender: str = "female") -> list[uuid.UUID]:
    query = sa.select(Product.id).where(
        Product.category_path == category, Product.target_gender == gender, Product.in_stock,
        Product.status == "on_sale",
    ).order_by(Product.id)  # fmt: skip
    return list(await session.scalars(query))


async def organic(client: ShoaClient, session: AsyncSession) -> list[uuid.UUID]:
    """A small organic population: five signed-in shoppers without a profile (the anonymous segment) and five of
    women in their mid 30s, each browsing the same dozen blouses and slacks with a few carts; the products."""
    liked = (await on_sale(session, category="상의/블라우스"))[:6] + (await on_sale(session, category="하의/슬랙스"))[
        :6
    ]
    for number in range(10):
        profile = {"gender": "female", "birth_date": "1991-06-06"} if number % 2 else {}
        shopper = bearer(await signup(client, email=f"organic{number}@example.kr", **profile))
        await post(client, shopper, [event(p, "view") for p in liked] + [event(p, "add_to_cart") for p in liked[:4]])
    return liked


async def work(settings: Settings, session: AsyncSession, redis: Redis) -> None:
    """What the worker does every minute: roll the scores up (and the popularity with them), refresh candidates."""
    await run_once(settings, score_rollup_job(settings))
    await candidates.refresh_all(session, redis, DECAY, now=datetime.datetime.now(datetime.UTC))
    await session.commit()


async def first_ids(client: ShoaClient, headers: dict[str, str] | None = None, *, limit: int = FIRST) -> list[str]:
    response = await client.get("/v1/feed", headers=headers or {}, params={"limit": limit})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def rankings(session: AsyncSession, redis: Redis) -> dict[str, list[str]]:
    """Every segment's unpersonalized feed, as ``GET /v1/feed`` ranks the worker's candidates."""
    now = datetime.datetime.now(datetime.UTC)
    return {
        segment: [str(r.candidate.product_id) for r in rank(
            (await candidates.compute(session, redis, DECAY, segment, now=now)).items, ShopperTaste())]
        for segment in candidates.all_segments()
    }  # fmt: skip


def in_any_first(ranked: dict[str, list[str]], targets: set[str], first: int = FIRST) -> dict[str, set[str]]:
    """The segments whose first ``first`` hold any of ``targets``, with those targets."""
    return {segment: found for segment, ids in ranked.items() if (found := targets & set(ids[:first]))}


async def anonymous_scores(redis: Redis) -> dict[uuid.UUID, float]:
    now = datetime.datetime.now(datetime.UTC).timestamp()
    return dict(await segment_scores(redis, DECAY, "anonymous", now=now))


async def popularity_order(client: ShoaClient, search_index: SearchIndex) -> list[str]:
    await search_index.settle()
    response = await client.get("/v1/search", params={"sort": "popularity", "per_page": 50})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_one_device_with_twenty_events_on_five_loafers_tops_nothing(
    settings: Settings, client: ShoaClient, catalog: None, session: AsyncSession, redis_client: Redis,
    search_index: SearchIndex,
) -> None:  # fmt: skip
    """The issue's attack, as it was tried: it made the loafers the top 5 of the anonymous feed, of the
    popularity sort, and of a segment with no activity of its own."""
    liked = await organic(client, session)
    await work(settings, session, redis_client)
    women_40s = bearer(await signup(client, email="other@example.kr", gender="female", birth_date="1980-03-03"))
    before = await rankings(session, redis_client)
    near_the_top = {p for ids in before.values() for p in ids[:50]}
    loafers = [str(p) for p in await on_sale(session, category="신발/로퍼") if str(p) not in near_the_top][:5]
    assert len(loafers) == 5

    await post(client, {"X-Device-Id": "click-farm-0001"}, [e for p in loafers for e in eager(p)])
    await work(settings, session, redis_client)

    assert not set(loafers) & set(await first_ids(client))  # the anonymous feed, for everyone
    assert not set(loafers) & set(await first_ids(client, women_40s))  # a segment with no activity of its own
    # The popularity sort starts with what the organic shoppers engaged with, and the loafers are not among them.
    assert set((await popularity_order(client, search_index))[: len(liked)]) == set(map(str, liked))
    assert in_any_first(await rankings(session, redis_client), set(loafers)) == {}
    session.expire_all()
    popularity = await session.scalars(sa.select(Product.popularity).where(Product.id.in_(map(uuid.UUID, loafers))))
    assert set(popularity) == {0.0}  # one person, however many events, makes nothing popular


async def test_a_hundred_fresh_devices_on_one_product_reach_no_segments_first_twenty(
    settings: Settings, client: ShoaClient, catalog: None, session: AsyncSession, redis_client: Redis,
    search_index: SearchIndex,
) -> None:  # fmt: skip
    liked = await organic(client, session)
    await work(settings, session, redis_client)
    near_the_top = {p for ids in (await rankings(session, redis_client)).values() for p in ids[:50]}
    target = next(str(p) for p in await on_sale(session, category="신발/로퍼") if str(p) not in near_the_top)

    await asyncio.gather(*(post(client, {"X-Device-Id": f"fresh-device-{n:04d}"}, eager(target)) for n in range(100)))
    await work(settings, session, redis_client)

    assert in_any_first(await rankings(session, redis_client), {target}) == {}
    assert target not in await first_ids(client)
    assert set((await popularity_order(client, search_index))[: len(liked)]) == set(map(str, liked))
    # A fresh device's first product counts nothing: nor do a hundred of them.
    assert uuid.UUID(target) not in await anonymous_scores(redis_client)
    # The organic population's products did lift their segment.
    assert set(map(str, liked)) & set(await first_ids(client))


async def test_signed_in_shoppers_outweigh_devices(
    client: ShoaClient, catalog: None, session: AsyncSession, redis_client: Redis
) -> None:
    shoppers_pick, devices_pick, *browsed = await on_sale(session, category="상의/블라우스")
    for number in range(3):
        # Devices that browse as people do (several products first), and as many signed-in shoppers alike.
        device = await device_seen_long_ago(session, redis_client, f"browsing-device-{number:04d}")
        await post(client, device, [event(p, "view") for p in browsed[:3]] + eager(devices_pick))
        shopper = bearer(await signup(client, email=f"shopper{number}@example.kr"))
        await post(client, shopper, [event(p, "view") for p in browsed[:3]] + eager(shoppers_pick))

    scores = await anonymous_scores(redis_client)
    # Each gave all they could (view, click, like, cart: 13, capped at 6); a device weighs half a shopper.
    assert scores[shoppers_pick] == pytest.approx(3 * CAP_PER_PRODUCT, rel=1e-3)
    assert scores[devices_pick] == pytest.approx(3 * CAP_PER_PRODUCT * DEVICE_WEIGHT, rel=1e-3)


async def test_a_contributor_adds_nothing_past_the_cap_even_in_parallel_batches(
    client: ShoaClient, catalog: None, session: AsyncSession, redis_client: Redis
) -> None:
    product_id = (await on_sale(session, category="신발/로퍼"))[0]
    shopper = bearer(await signup(client, email="eager@example.kr"))
    batches = [[event(product_id, "add_to_cart") for _ in range(50)] for _ in range(4)]

    await asyncio.gather(*(post(client, shopper, batch) for batch in batches))

    # 200 carts in four parallel batches: what one cart says, once.
    assert (await anonymous_scores(redis_client))[product_id] == pytest.approx(CAP_PER_PRODUCT, rel=1e-3)


async def browse_then_eager(
    client: ShoaClient, device: dict[str, str], browsed: list[uuid.UUID], target: uuid.UUID | str
) -> None:
    """Three other products viewed first, as a person browses, then everything about ``target``."""
    await post(client, device, [event(p, "view") for p in browsed] + eager(target))


async def test_a_hundred_browsing_devices_made_today_count_for_nothing_shared(
    settings: Settings, client: ShoaClient, catalog: None, session: AsyncSession, redis_client: Redis,
    search_index: SearchIndex,
) -> None:  # fmt: skip
    """Bots that browse before they click look like people, but a device id made today has no past: until the
    server has known it a day it counts for nothing in any segment's feed, in the people counts or in popularity."""
    liked = await organic(client, session)
    await work(settings, session, redis_client)
    near_the_top = {p for ids in (await rankings(session, redis_client)).values() for p in ids[:50]}
    target = next(str(p) for p in await on_sale(session, category="신발/로퍼") if str(p) not in near_the_top)
    browsed = (await on_sale(session, category="상의/니트"))[:3]

    for n in range(100):
        await browse_then_eager(client, {"X-Device-Id": f"browsing-bot-{n:04d}"}, browsed, target)
    await work(settings, session, redis_client)

    scores = await anonymous_scores(redis_client)
    assert uuid.UUID(target) not in scores
    assert not set(browsed) & set(scores)
    assert in_any_first(await rankings(session, redis_client), {target}) == {}
    assert target not in await first_ids(client)
    assert set((await popularity_order(client, search_index))[: len(liked)]) == set(map(str, liked))
    session.expire_all()
    assert await session.scalar(sa.select(Product.popularity).where(Product.id == uuid.UUID(target))) == 0.0


async def test_devices_known_for_days_count_by_their_age(
    settings: Settings, client: ShoaClient, catalog: None, session: AsyncSession, redis_client: Redis
) -> None:
    """The same browsing from devices the server first saw two days ago counts two sevenths of what a week-old
    device's does: patience buys influence, slowly."""
    two_days_pick, week_pick, *others = await on_sale(session, category="상의/블라우스")
    browsed = others[:3]
    for number in range(3):
        young = await device_seen_long_ago(session, redis_client, f"two-days-{number}", age=datetime.timedelta(days=2))
        old = await device_seen_long_ago(session, redis_client, f"a-week-{number}", age=datetime.timedelta(days=7))
        await browse_then_eager(client, young, browsed, two_days_pick)
        await browse_then_eager(client, old, browsed, week_pick)

    scores = await anonymous_scores(redis_client)
    assert scores[week_pick] == pytest.approx(3 * CAP_PER_PRODUCT * DEVICE_WEIGHT, rel=1e-3)
    assert scores[two_days_pick] == pytest.approx(3 * CAP_PER_PRODUCT * DEVICE_WEIGHT * 2 / 7, rel=1e-3)
