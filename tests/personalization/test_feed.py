"""``GET /v1/feed``: who gets which feed, in what order, page after page, and why."""

from __future__ import annotations

import datetime
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from catalog import keys
from catalog.demo import seed_demo_malls
from catalog.demo_products import seed_demo_products
from catalog.models import Mall, Product
from personalization import candidates
from personalization.feed import MAX_PER_CATEGORY, MAX_PER_MALL, Ranked, diversify
from personalization.scores import Decay
from tests.factories import dress_every_mall_as_a_sponsor
from tests.insights.test_devices import device_seen_long_ago
from tests.shoa_api.test_auth import PASSWORD, bearer, signup

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient

DEVICE = {"X-Device-Id": "device-feed-0001"}
DECAY = Decay(half_life_seconds=72 * 3600)


@pytest.fixture
async def catalog(session: AsyncSession) -> None:
    await seed_demo_malls(session)
    await seed_demo_products(session, products=800)
    await session.commit()


async def pages(client: ShoaClient, headers: dict[str, str] | None = None, **params: Any) -> list[dict[str, Any]]:
    """Every item of the feed, page after page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 50, **params} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/v1/feed", params=query, headers=headers or {})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def refresh(session: AsyncSession, redis: Redis) -> None:
    """What the worker does every minute."""
    await candidates.refresh_all(session, redis, DECAY, now=datetime.datetime.now(datetime.UTC))
    await session.commit()


def max_mall_run(items: list[dict[str, Any]], window: int = 10) -> int:
    return max(
        (max(Counter(item["mall"]["id"] for item in items[start : start + window]).values()))
        for start in range(max(1, len(items) - window + 1))
    )


async def test_an_anonymous_visitor_gets_the_default_segment(client: ShoaClient, catalog: None) -> None:
    page = (await client.get("/v1/feed")).json()
    assert page["segment"] == "anonymous"
    assert page["personalized"] is False
    assert len(page["items"]) == 20
    assert all(item["in_stock"] for item in page["items"])


async def test_the_feed_pages_without_repeats_spread_over_malls(
    client: ShoaClient, catalog: None, session: AsyncSession
) -> None:
    items = await pages(client)
    ids = [item["id"] for item in items]

    assert len(ids) == len(set(ids)) == 300
    assert max_mall_run(items) <= MAX_PER_MALL
    assert max_category_run(items) <= MAX_PER_CATEGORY
    # Only products that can be bought now, of listed malls.
    rows = (await session.execute(sa.select(Product.id, Product.status, Product.in_stock).where(
        Product.id.in_([uuid.UUID(i) for i in ids])))).all()  # fmt: skip
    assert all(status == "on_sale" and in_stock for _, status, in_stock in rows)


async def test_the_default_feed_leans_to_the_career_woman_look(
    client: ShoaClient, catalog: None, session: AsyncSession
) -> None:
    first = (await client.get("/v1/feed", params={"limit": 50, "explain": "true"})).json()["items"]
    ids = [uuid.UUID(item["id"]) for item in first]
    genders = dict(
        (await session.execute(sa.select(Product.id, Product.target_gender).where(Product.id.in_(ids)))).all()
    )
    assert all(genders[i] in {"female", "unisex"} for i in ids)
    assert all(item["explain"]["target"] >= 0.8 for item in first)


@pytest.fixture
async def uncached(services: Any) -> AsyncIterator[ShoaClient]:
    """The API with the public cache off: every anonymous first page is computed afresh."""
    from shoa_api.app import create_app  # noqa: PLC0415
    from shoa_api.settings import load_settings  # noqa: PLC0415
    from tests.client import ShoaClient  # noqa: PLC0415

    app = create_app(load_settings(services.environ(SHOA_PUBLIC_CACHE_SECONDS="0"), env_file=None))
    async with ShoaClient(app=app) as client:
        yield client


async def test_pages_stay_consistent_while_scores_move(
    uncached: ShoaClient, catalog: None, session: AsyncSession, redis_client: Redis
) -> None:
    client = uncached
    first = (await client.get("/v1/feed", params={"limit": 30})).json()
    # Shoppers engage with products further down, and the worker recomputes the candidates meanwhile.
    later = [item["id"] for item in (await pages(client))[200:230]]
    now = datetime.datetime.now(datetime.UTC).isoformat()
    for device in range(3):  # several people: one alone moves nothing (decision 0039)
        events = [{"id": str(uuid.uuid4()), "kind": "add_to_cart", "product_id": p, "occurred_at": now} for p in later]
        headers = await device_seen_long_ago(session, redis_client, f"device-feed-{device:04d}")
        assert (await client.post("/v1/events", headers=headers, json={"events": events})).json()["accepted"] == 30
    await refresh(session, redis_client)

    rest = await pages(client, cursor=first["next_cursor"])
    ids = [item["id"] for item in first["items"] + rest]
    assert len(ids) == len(set(ids)) == 300
    # A new first page reflects the engagement.
    fresh = [item["id"] for item in (await client.get("/v1/feed", params={"limit": 50})).json()["items"]]
    assert len(set(fresh) & set(later)) >= 10


async def test_a_shopper_gets_their_segment_re_ranked_by_their_taste(
    client: ShoaClient, catalog: None, session: AsyncSession
) -> None:
    tokens = await signup(client, gender="female", birth_date="2004-05-05")
    auth = bearer(tokens)
    before = (await client.get("/v1/feed", headers=auth, params={"limit": 50})).json()
    assert before["segment"] == tokens["profile"]["segment"] != "anonymous"
    assert before["personalized"] is False

    # She likes a few products of one mall that the feed does not show near the top.
    shown_malls = Counter(item["mall"]["id"] for item in before["items"])
    mall_id = await session.scalar(
        sa.select(Mall.id).where(Mall.id.not_in([uuid.UUID(m) for m in shown_malls])).limit(1)
    ) or uuid.UUID(shown_malls.most_common()[-1][0])
    liked = list(await session.scalars(
        sa.select(Product.id).where(Product.mall_id == mall_id, Product.in_stock, Product.status == "on_sale").limit(3)
    ))  # fmt: skip
    for product_id in liked:
        assert (await client.put(f"/v1/likes/{product_id}", headers=auth)).status_code == 201

    after = (await client.get("/v1/feed", headers=auth, params={"limit": 50, "explain": "true"})).json()
    assert after["personalized"] is True
    from_mall = [item for item in after["items"] if item["mall"]["id"] == str(mall_id)]
    assert len(from_mall) >= 2
    assert all(item["explain"]["mall_affinity"] == 1.0 for item in from_mall)
    assert max_mall_run(after["items"]) <= MAX_PER_MALL
    # Another shopper of the same segment still sees the unpersonalized order.
    other = bearer(await signup(client, email="other@example.kr", gender="female", birth_date="2004-06-06"))
    assert (await client.get("/v1/feed", headers=other, params={"limit": 50})).json()["items"] == before["items"]


async def test_a_shopper_without_gender_or_birth_date_gets_the_default_and_is_told(
    client: ShoaClient, catalog: None
) -> None:
    page = (await client.get("/v1/feed", headers=bearer(await signup(client)))).json()
    assert page["segment"] == "anonymous"


async def test_explain_gives_every_score_part(client: ShoaClient, catalog: None) -> None:
    items = (await client.get("/v1/feed", params={"explain": "true"})).json()["items"]
    for item in items:
        parts = item["explain"]
        assert set(parts) == {
            "target", "popularity", "everyone", "freshness", "base", "mall_affinity", "category_affinity", "bought",
            "score", "rank_by_score",
        }  # fmt: skip
        assert parts["base"] == pytest.approx(
            sum(candidates.WEIGHTS[name] * parts[name] for name in candidates.WEIGHTS), abs=1e-3
        )  # fmt: skip
    assert "explain" not in (await client.get("/v1/feed")).json()["items"][0]


async def test_no_mall_attribute_outside_content_and_behaviour_moves_the_feed(
    client: ShoaClient, catalog: None, session: AsyncSession, redis_client: Redis
) -> None:
    """There is no paid placement: renaming malls, changing their descriptions, logos, slugs, sign-up dates,
    shipping fees or API keys leaves every feed, and every period's ranking (``GET /v1/rankings``), exactly as it
    was."""
    tokens = await signup(client, gender="female", birth_date="1996-01-01")
    # Behaviour of enough people for the rankings to have something to rank (insights.rankings.MIN_PEOPLE).
    seen = [item["id"] for item in (await client.get("/v1/feed")).json()["items"][:8]]
    at = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=20)).isoformat()
    for device in range(6):
        views = [{"id": str(uuid.uuid4()), "kind": "view", "product_id": p, "occurred_at": at} for p in seen[device:]]
        headers = await device_seen_long_ago(session, redis_client, f"device-paid-{device:04d}")
        assert (await client.post("/v1/events", headers=headers, json={"events": views})).status_code == 200
    await refresh(session, redis_client)
    before_anonymous = [item["id"] for item in await pages(client)]
    before_shopper = [item["id"] for item in await pages(client, bearer(tokens))]
    periods = ("realtime", "daily", "weekly")
    before_rankings = [await ranked_ids(client, period=period) for period in periods]
    assert before_rankings[0]

    await dress_every_mall_as_a_sponsor(session)
    await refresh(session, redis_client)

    assert [item["id"] for item in await pages(client)] == before_anonymous
    assert [item["id"] for item in await pages(client, bearer(tokens))] == before_shopper
    # Another limit than before: an answer made now, not one the API kept for a few seconds.
    assert [await ranked_ids(client, period=period, limit=49) for period in periods] == before_rankings


async def ranked_ids(client: ShoaClient, **params: Any) -> list[str]:
    response = await client.get("/v1/rankings", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_no_table_has_a_field_a_mall_could_pay_with() -> None:
    from shoa_api.tables import target_metadata  # noqa: PLC0415

    paid = ("paid", "sponsor", "promot", "boost", "bid", "advert", "ad_", "_ad", "placement", "priority", "rank")
    columns = [f"{table.name}.{column.name}" for table in target_metadata.sorted_tables for column in table.columns]
    assert [name for name in columns if any(word in name.split(".")[1] for word in paid)] == []


async def test_a_segment_with_no_behaviour_still_gets_targeted_fresh_products(
    client: ShoaClient, catalog: None, redis_client: Redis, session: AsyncSession
) -> None:
    assert await redis_client.keys("shoa:feed:scores:*") == []
    tokens = await signup(client, gender="male", birth_date="1995-02-02")
    items = (await client.get("/v1/feed", headers=bearer(tokens), params={"explain": "true"})).json()["items"]
    assert items
    assert all(item["explain"]["popularity"] == 0 for item in items)
    genders = await session.scalars(
        sa.select(Product.target_gender).where(Product.id.in_([uuid.UUID(item["id"]) for item in items[:5]]))
    )
    assert set(genders) <= {"male", "unisex"}  # the demo's men's line comes first for men


async def test_cursors_are_checked(client: ShoaClient, catalog: None) -> None:
    assert (await client.get("/v1/feed", params={"cursor": "garbage"})).status_code == 404
    from catalog.pagination import encode_cursor  # noqa: PLC0415

    gone = encode_cursor("s", "no-such-session", 20)
    response = await client.get("/v1/feed", params={"cursor": gone})
    assert response.status_code == 422
    assert response.json()["type"].endswith("/feed-expired")
    assert (await client.get("/v1/feed", params={"limit": 51})).status_code == 422


def _ranked(mall: str, score: float, category: str = "상의") -> Ranked:
    candidate = candidates.Candidate(uuid.uuid4(), uuid.UUID(int=int(mall, 16)), category, 1.0, 0.0, 0.0, 0.0)
    return Ranked(candidate, 0.0, 0.0, bought=False, score=score, rank_by_score=0)


def test_diversity_defers_a_third_item_of_a_mall_within_ten() -> None:
    ranked = [_ranked("a", 10 - i / 10) for i in range(5)] + [_ranked(m, 5 - i) for i, m in enumerate("bcdef9")]
    malls = [r.candidate.mall_id.int for r in diversify(ranked)]
    # Mall a's third item waits until nine others have passed, or (as at the end) until nothing else is left.
    assert malls == [0xA, 0xA, 0xB, 0xC, 0xD, 0xE, 0xF, 0x9, 0xA, 0xA, 0xA]


def test_no_category_fills_more_than_four_of_ten() -> None:
    """Six liked blouses at the top, of six malls: the fifth and sixth wait for other kinds of product."""
    ranked = [_ranked(m, 10 - i, "상의") for i, m in enumerate("abcdef")]
    ranked += [_ranked(m, 3 - i, category) for i, (m, category) in enumerate([("1", "하의"), ("2", "원피스")])]
    categories = [r.candidate.category for r in diversify(ranked)]
    assert categories == ["상의"] * 4 + ["하의", "원피스", "상의", "상의"]


def _diversify_by_definition(ranked: list[Ranked]) -> list[Ranked]:
    """The rules as written, rescanning everything at every place: slow, but plainly right."""
    remaining, chosen = list(ranked), list[Ranked]()
    while remaining and len(chosen) < 300:
        malls = Counter(item.candidate.mall_id for item in chosen[-9:])
        kinds = Counter(item.candidate.category for item in chosen[-9:])
        pick = next(
            (i for i in remaining if malls[i.candidate.mall_id] < MAX_PER_MALL and kinds[i.candidate.category] < 4),
            next((i for i in remaining if malls[i.candidate.mall_id] < MAX_PER_MALL), remaining[0]),
        )
        remaining.remove(pick)
        chosen.append(pick)
    return chosen


@pytest.mark.parametrize("seed", range(20))
def test_diversity_matches_its_definition_on_random_rankings(seed: int) -> None:
    import random  # noqa: PLC0415

    rng = random.Random(seed)
    malls = [f"{m:x}" for m in range(1, rng.randint(2, 12))]
    kinds = ["상의", "하의", "원피스", "아우터", "신발", "가방"][: rng.randint(1, 6)]
    # One mall often holds half the candidates, and one category half of them, as on the demo catalog.
    ranked = [
        _ranked(malls[0] if rng.random() < 0.5 else rng.choice(malls), 0.0,
                kinds[0] if rng.random() < 0.5 else rng.choice(kinds))
        for _ in range(rng.randint(0, 400))
    ]  # fmt: skip
    assert diversify(ranked) == _diversify_by_definition(ranked)


def max_category_run(items: list[dict[str, Any]], window: int = 10) -> int:
    return max(
        (max(Counter(item["category_path"].split("/")[0] for item in items[start : start + window]).values()))
        for start in range(max(1, len(items) - window + 1))
    )


async def test_the_cached_anonymous_page_is_never_served_to_a_shopper(
    services: Any, session: AsyncSession, catalog: None
) -> None:
    from shoa_api.app import create_app  # noqa: PLC0415 - an app with a long public cache, for this test
    from shoa_api.settings import load_settings  # noqa: PLC0415
    from tests.client import ShoaClient  # noqa: PLC0415

    app = create_app(load_settings(services.environ(SHOA_PUBLIC_CACHE_SECONDS="60"), env_file=None))
    async with ShoaClient(app=app) as client:
        anonymous = (await client.get("/v1/feed")).json()
        shopper = bearer(await signup(client, gender="male", birth_date="1995-02-02"))
        mine = (await client.get("/v1/feed", headers=shopper)).json()
        assert (anonymous["segment"], mine["segment"]) == ("anonymous", "male:30s_early")
        assert (await client.get("/v1/feed")).json() == anonymous  # the same for every visitor, from the cache
        other = bearer(await signup(client, email="b@example.kr", gender="female", birth_date="2004-05-05"))
        assert (await client.get("/v1/feed", headers=other)).json()["segment"] == "female:20s_early"


async def _liked(session: AsyncSession, *, not_from: set[str], count: int = 3) -> list[uuid.UUID]:
    """On-sale products of one mall outside ``not_from``."""
    mall_id = await session.scalar(
        sa.select(Mall.id).where(Mall.id.not_in([uuid.UUID(m) for m in not_from])).order_by(Mall.id).limit(1)
    )
    on_sale = sa.select(Product.id).where(Product.mall_id == mall_id, Product.in_stock, Product.status == "on_sale")
    return list(await session.scalars(on_sale.limit(count)))


async def test_a_shoppers_first_page_is_remembered_until_what_ranks_it_changes(
    client: ShoaClient, catalog: None, session: AsyncSession, redis_client: Redis
) -> None:
    """The same shopper asking again gets the same list (no re-ranking), and anything that would rank it
    differently (a like, an event, a profile change, new candidates) shows on the very next first page."""
    auth = bearer(await signup(client, gender="female", birth_date="2004-05-05"))

    async def first_page() -> dict[str, Any]:
        response = await client.get("/v1/feed", headers=auth, params={"limit": 50, "explain": "true"})
        assert response.status_code == 200, response.text
        return dict(response.json())

    unliked = await first_page()
    for product_id in await _liked(session, not_from=set()):
        assert (await client.put(f"/v1/likes/{product_id}", headers=auth)).status_code == 201
    liked = await first_page()
    assert liked["personalized"] is True
    assert liked["items"] != unliked["items"]
    again = await first_page()
    assert again["next_cursor"] == liked["next_cursor"]  # the same remembered list
    assert again["items"] == liked["items"]

    # Engagement with another mall re-ranks at once.
    shown = {item["mall"]["id"] for item in again["items"]}
    engaged = await _liked(session, not_from=shown, count=5)
    now = datetime.datetime.now(datetime.UTC).isoformat()
    events = [
        {"id": str(uuid.uuid4()), "kind": "add_to_cart", "product_id": str(p), "occurred_at": now} for p in engaged
    ]
    assert (await client.post("/v1/events", headers=auth, json={"events": events})).json()["accepted"] == len(events)
    after_events = await first_page()
    assert after_events["next_cursor"] != again["next_cursor"]
    assert after_events["items"] != again["items"]

    # A new candidate list from the worker: a new list.
    await refresh(session, redis_client)
    assert (await first_page())["next_cursor"] != after_events["next_cursor"]

    # Taking the likes back is seen too: their mall's items lose the affinity the likes gave them.
    liked_products = await _liked(session, not_from=set())
    liked_mall = str(await session.scalar(sa.select(Product.mall_id).where(Product.id == liked_products[0])))
    assert any(item["explain"]["mall_affinity"] > 0 for item in await first_page_items(first_page, liked_mall))
    for product_id in liked_products:
        assert (await client.delete(f"/v1/likes/{product_id}", headers=auth)).status_code == 204
    assert all(item["explain"]["mall_affinity"] == 0 for item in await first_page_items(first_page, liked_mall))

    # A changed profile changes the segment on the next page.
    assert (await client.patch("/v1/me", headers=auth, json={"gender": "male"})).status_code == 200
    assert (await first_page())["segment"] == "male:20s_early"


async def first_page_items(first_page: Callable[[], Awaitable[dict[str, Any]]], mall: str) -> list[dict[str, Any]]:
    return [item for item in (await first_page())["items"] if item["mall"]["id"] == mall]


async def test_a_token_ended_by_logout_or_erasure_gets_no_feed(client: ShoaClient, catalog: None) -> None:
    tokens = await signup(client, email="mina@example.kr", password=PASSWORD, gender="female", birth_date="1999-09-09")
    auth = bearer(tokens)
    assert (await client.get("/v1/feed", headers=auth)).status_code == 200
    response = await client.post("/v1/auth/logout", headers=auth, json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204
    assert (await client.get("/v1/feed", headers=auth)).status_code == 401

    # Two devices; the account is closed from one: the other's still unexpired token gets no feed either.
    phone, tablet = [
        bearer((await client.post("/v1/auth/login", json={"login": "mina@example.kr", "password": PASSWORD})).json())
        for _ in range(2)
    ]
    assert (await client.get("/v1/feed", headers=tablet)).status_code == 200
    assert (await client.delete("/v1/me", headers=phone)).status_code == 204
    assert (await client.get("/v1/feed", headers=phone)).status_code == 401
    assert (await client.get("/v1/feed", headers=tablet)).status_code == 401


async def test_a_product_its_mall_hides_leaves_every_feed_at_once(
    client: ShoaClient, catalog: None, session: AsyncSession, redis_client: Redis
) -> None:
    await refresh(session, redis_client)
    shopper = bearer(await signup(client, gender="female", birth_date="1996-04-04"))
    anonymous_first = (await client.get("/v1/feed", params={"limit": 50})).json()["items"]
    shopper_first = (await client.get("/v1/feed", headers=shopper, params={"limit": 50})).json()["items"]
    both = [item["id"] for item in anonymous_first if item["id"] in {item["id"] for item in shopper_first}]
    assert both
    hidden_id = uuid.UUID(both[0])
    product = await session.get(Product, hidden_id)
    assert product is not None
    issued = await keys.issue_key(session, mall_id=product.mall_id, name="sync", scopes=["catalog:write"])
    await session.commit()

    deleted = await client.delete(
        f"/partner/v1/products/{product.external_id}", headers={"Authorization": f"Bearer {issued.key}"}
    )

    assert deleted.status_code == 204
    for headers in ({}, shopper):
        items = (await client.get("/v1/feed", headers=headers, params={"limit": 50})).json()["items"]
        assert hidden_id not in {uuid.UUID(item["id"]) for item in items}
