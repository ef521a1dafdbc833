"""Mall insights as a mall's engineer reads them: events sent by the app (``POST /v1/events``) and orders paid by
shoppers, rolled up by the worker's job, then ``GET /partner/v1/insights/…`` with a key holding ``insights:read``.

What they prove: the figures by Korean day, by segment and by Korean hour of the week; a cell of fewer than 5
distinct people suppressed (also when its hours, each of one person, add up to 5); a mall sees only its own
products; the benchmark refused under 5 malls and given from 5, never naming one; the scope; bad input refused as
problem details.
"""

from __future__ import annotations

import datetime
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker

from accounts.segments import KOREA, korea_today
from catalog import keys
from insights.jobs import roll_up_events
from insights.models import ProductHour
from shoa_kernel.clock import utc_now
from tests.factories import create_mall
from tests.orders.conftest import PartnerMall, pay_by_card, place_order, product, variant
from tests.orders.conftest import many_shoppers as many_shoppers  # noqa: PLC0414 - a fixture used here

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.client import ShoaClient
    from tests.orders.conftest import Catalog, Shopper

INSIGHTS = "/partner/v1/insights"
TODAY = korea_today(utc_now())
YESTERDAY = TODAY - datetime.timedelta(days=1)
TWO_DAYS_AGO = TODAY - datetime.timedelta(days=2)


def kst(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), KOREA)


async def send(client: ShoaClient, kind: str, product_id: uuid.UUID, at: datetime.datetime, *,
               device: str | None = None, shopper: Shopper | None = None) -> None:  # fmt: skip
    """One event, as the app sends it: an anonymous device's, or a signed-in shopper's."""
    headers = shopper.headers if shopper is not None else {"X-Device-Id": str(device)}
    body = {"events": [{"id": str(uuid.uuid4()), "kind": kind, "product_id": str(product_id),
                        "occurred_at": at.isoformat()}]}  # fmt: skip
    response = await client.post("/v1/events", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1, response.text


async def roll_up(engine: AsyncEngine) -> None:
    """The worker's roll-up job, run an hour on: what was sent until now is counted."""
    maker = async_sessionmaker(engine, expire_on_commit=False)
    await roll_up_events(maker, now=utc_now() + datetime.timedelta(hours=1, minutes=10))


async def insights_key(session: AsyncSession, mall: PartnerMall) -> PartnerMall:
    """The same mall calling with a key for its insights dashboard."""
    issued = await keys.issue_key(session, mall_id=mall.id, name="dashboard", scopes=["insights:read"])
    await session.commit()
    return PartnerMall(client=mall.client, id=mall.id, name=mall.name, key=issued.key)


async def read(mall: PartnerMall, call: str, **params: Any) -> dict[str, Any]:
    response = await mall.call("GET", f"{INSIGHTS}/{call}", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def by_day(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {cell["day"]: cell for cell in summary["days"]}


def figures(cell: dict[str, Any], *names: str) -> tuple[Any, ...]:
    assert cell["suppressed"] is False, cell
    return tuple(cell["figures"][name] for name in names)


async def segment_members(
    many: Callable[[int], Awaitable[list[Shopper]]], count: int, *, gender: str, birth_date: str
) -> list[Shopper]:
    """``count`` signed-in shoppers who told the app their gender and birth date."""
    shoppers = await many(count)
    for shopper in shoppers:
        await shopper._ok("PATCH", "/v1/me", {"gender": gender, "birth_date": birth_date})
    return shoppers


@pytest.fixture
async def haru(catalog: Catalog, session: AsyncSession) -> PartnerMall:
    """하루일상 (린넨 셔츠 원피스 ``H1``, 와이드 슬랙스 ``H2``) with its insights key."""
    return await insights_key(session, catalog.malls.haru)


# --- Figures by day, segment and hour ---------------------------------------------------------------------------


async def test_the_summary_counts_each_korean_day_and_the_whole_period(
    catalog: Catalog,
    haru: PartnerMall,
    client: ShoaClient,
    engine: AsyncEngine,
    many_shoppers: Callable[[int], Awaitable[list[Shopper]]],
) -> None:
    dress = catalog.products["H1"]
    # Five phones look at the dress late two days ago; 00:30 the next day in Korea is still the day before in UTC.
    for n in range(5):
        await send(client, "view", dress, kst(TWO_DAYS_AGO, 23, 10 + n), device=f"device-late-{n}")
        await send(client, "view", dress, kst(YESTERDAY, 0, 30 + n), device=f"device-late-{n}")
        await send(client, "like", dress, kst(YESTERDAY, 0, 40 + n), device=f"device-late-{n}")
    await send(client, "add_to_cart", dress, kst(YESTERDAY, 0, 50), device="device-late-0")
    # Today five shoppers buy it, each one.
    for buyer in await many_shoppers(5):
        await pay_by_card(buyer, await place_order(buyer, {catalog.variant("H1-BK-M"): 1}))
    await roll_up(engine)

    summary = await read(haru, "summary", **{"from": str(TWO_DAYS_AGO), "to": str(TODAY)})

    days = by_day(summary)
    assert list(days) == [str(TWO_DAYS_AGO), str(YESTERDAY), str(TODAY)]
    names = ("views", "likes", "carts", "purchases", "units", "revenue", "conversion", "shoppers")
    assert figures(days[str(TWO_DAYS_AGO)], *names) == (5, 0, 0, 0, 0, 0, 0.0, 5)
    assert figures(days[str(YESTERDAY)], *names) == (5, 5, 1, 0, 0, 0, 0.0, 5)
    assert figures(days[str(TODAY)], *names) == (0, 0, 0, 5, 5, 195_000, None, 5)
    # The period counts each person once: five phones and five buyers.
    assert figures(summary["total"], *names) == (10, 5, 1, 5, 5, 195_000, 0.5, 10)


async def test_a_day_of_four_people_is_suppressed_though_its_hours_add_up_to_more(
    catalog: Catalog, haru: PartnerMall, client: ShoaClient, engine: AsyncEngine, session: AsyncSession
) -> None:
    dress = catalog.products["H1"]
    # One shopper comes back five hours in a row; three others look once.
    for at_hour in range(9, 14):
        await send(client, "view", dress, kst(YESTERDAY, at_hour, 5), device="device-regular")
    for n in range(3):
        await send(client, "view", dress, kst(YESTERDAY, 20, n), device=f"device-once-{n}")
    await roll_up(engine)
    hourly = await session.scalars(sa.select(ProductHour.shoppers).where(ProductHour.mall_id == haru.id))
    assert sum(hourly) == 8  # what adding up the hourly cells' people would claim

    summary = await read(haru, "summary", **{"from": str(YESTERDAY), "to": str(YESTERDAY)})
    audience = await read(haru, "audience", **{"from": str(YESTERDAY), "to": str(YESTERDAY)})
    ranking = await read(haru, "products", **{"from": str(YESTERDAY), "to": str(YESTERDAY)})

    assert summary["days"] == [{"day": str(YESTERDAY), "suppressed": True}]
    assert summary["total"] == {"suppressed": True}
    assert all(cell["suppressed"] and "figures" not in cell for cell in audience["segments"] + audience["hours"])
    assert ranking["items"] == [{"rank": None, "product_id": str(dress), "external_id": "H1",
                                 "name": "린넨 셔츠 원피스", "suppressed": True}]  # fmt: skip
    assert ranking["suppressed_products"] == 1


async def test_the_audience_shows_who_came_by_segment_and_when_by_korean_hour_of_the_week(
    catalog: Catalog,
    haru: PartnerMall,
    client: ShoaClient,
    engine: AsyncEngine,
    many_shoppers: Callable[[int], Awaitable[list[Shopper]]],
) -> None:
    dress, slacks = catalog.products["H1"], catalog.products["H2"]
    women = await segment_members(many_shoppers, 5, gender="female", birth_date="1998-03-03")  # late 20s
    for n, woman in enumerate(women):
        await send(client, "view", dress, kst(YESTERDAY, 21, n), shopper=woman)  # 21:00 KST is 12:00 UTC
        await send(client, "add_to_cart", dress, kst(YESTERDAY, 21, 30 + n), shopper=woman)
    for n in range(2):
        await send(client, "view", slacks, kst(YESTERDAY, 21, n), device=f"device-anon-{n}")
    await roll_up(engine)

    audience = await read(haru, "audience", **{"from": str(YESTERDAY), "to": str(YESTERDAY)})

    segments = {cell["segment"]: cell for cell in audience["segments"]}
    assert len(segments) == 17  # 2 genders x 8 age bands, and anonymous: always all of them
    late_20s = segments["female:20s_late"]
    assert (late_20s["gender"], late_20s["age_band"], late_20s["label"]) == ("female", "20s_late", "여성 20대 후반")
    assert figures(late_20s, "views", "carts", "shoppers") == (5, 5, 5)
    assert segments["anonymous"] == {"segment": "anonymous", "gender": None, "age_band": None,
                                     "label": "비로그인·미상", "suppressed": True}  # two phones only  # fmt: skip
    shown = [cell for cell in audience["hours"] if not cell["suppressed"]]
    assert len(audience["hours"]) == 7 * 24
    assert [(cell["weekday"], cell["hour"]) for cell in shown] == [(YESTERDAY.isoweekday(), 21)]
    assert figures(shown[0], "views", "carts", "shoppers") == (7, 5, 7)


# --- Products, and what another mall sees -----------------------------------------------------------------------


async def test_the_products_are_ranked_per_segment_and_another_mall_sees_none_of_them(
    catalog: Catalog,
    haru: PartnerMall,
    client: ShoaClient,
    engine: AsyncEngine,
    session: AsyncSession,
    many_shoppers: Callable[[int], Awaitable[list[Shopper]]],
) -> None:
    dress, slacks, knit = catalog.products["H1"], catalog.products["H2"], catalog.products["M1"]
    women = await segment_members(many_shoppers, 5, gender="female", birth_date="1998-03-03")
    for n, woman in enumerate(women):
        for product_id in (dress, slacks, knit):
            await send(client, "view", product_id, kst(YESTERDAY, 10, n), shopper=woman)
        await send(client, "like", slacks, kst(YESTERDAY, 11, n), shopper=woman)
    await send(client, "view", dress, kst(YESTERDAY, 12), device="device-alone")
    await roll_up(engine)
    period = {"from": str(YESTERDAY), "to": str(YESTERDAY)}

    by_likes = await read(haru, "products", **period, segment="female:20s_late", sort="likes")
    by_views = await read(haru, "products", **period, sort="views")
    anonymous = await read(haru, "products", **period, segment="anonymous")

    assert [(i["rank"], i["external_id"], i["name"]) for i in by_likes["items"]] == [
        (1, "H2", "와이드 슬랙스"), (2, "H1", "린넨 셔츠 원피스")
    ]  # fmt: skip
    assert figures(by_likes["items"][0], "views", "likes", "shoppers") == (5, 5, 5)
    assert (by_likes["segment"], by_likes["sort"]) == ("female:20s_late", "likes")
    assert [(i["rank"], i["external_id"]) for i in by_views["items"]] == [(1, "H1"), (2, "H2")]  # 6 views, then 5
    assert figures(by_views["items"][0], "views", "shoppers") == (6, 6)
    assert anonymous["items"] == [{"rank": None, "product_id": str(dress), "external_id": "H1",
                                   "name": "린넨 셔츠 원피스", "suppressed": True}]  # fmt: skip
    # 모노마켓 sees its knit, and nothing of 하루일상's; 하루일상 never sees the knit.
    mono = await insights_key(session, catalog.malls.mono)
    theirs = await read(mono, "products", **period)
    assert [i["external_id"] for i in theirs["items"]] == ["M1"]
    assert "M1" not in str(by_views)
    assert str(knit) not in str(by_views)
    for call in ("summary", "audience", "products"):
        answer = (await mono.call("GET", f"{INSIGHTS}/{call}", params=period)).text
        assert str(haru.id) not in answer
        assert haru.name not in answer
        assert str(dress) not in answer
    mono_days = await read(mono, "summary", **period)
    assert figures(mono_days["total"], "views", "shoppers") == (5, 5)


# --- The benchmark ----------------------------------------------------------------------------------------------


async def partner_mall(client: ShoaClient, session: AsyncSession, name: str, slug: str) -> PartnerMall:
    """A mall selling one shirt dress (``{slug}-D``), with a key that syncs and reads insights."""
    mall = await create_mall(session, name=name, slug=slug)
    issued = await keys.issue_key(session, mall_id=mall.id, name="shop", scopes=["catalog:write", "insights:read"])
    await session.commit()
    partner = PartnerMall(client=client, id=mall.id, name=name, key=issued.key)
    await partner.sync(product(f"{slug}-D", f"{name} 셔츠 원피스", "원피스/셔츠원피스",
                               variant(f"{slug}-D-M", price=49000, stock=10, color="블랙", size="M")))  # fmt: skip
    return partner


async def product_id_of(session: AsyncSession, external_id: str) -> uuid.UUID:
    found = await session.scalar(sa.text("SELECT id FROM products WHERE external_id = :e"), {"e": external_id})
    assert found is not None
    return uuid.UUID(str(found))


async def test_the_benchmark_is_refused_under_five_malls_and_given_from_five_naming_none(
    catalog: Catalog,
    haru: PartnerMall,
    client: ShoaClient,
    engine: AsyncEngine,
    session: AsyncSession,
    many_shoppers: Callable[[int], Awaitable[list[Shopper]]],
) -> None:
    slugs = {
        "봄날옷장": "bomnal",
        "데일리무드": "dailymood",
        "소소한옷": "soso",
        "하늘하늘": "haneul",
        "모노마켓": "mono",
    }
    others = [await partner_mall(client, session, name, slugs[name]) for name in ("봄날옷장", "데일리무드", "소소한옷")]
    dresses = [await product_id_of(session, f"{slugs[other.name]}-D") for other in others]
    buyers = await many_shoppers(5)  # no gender or age told: the anonymous segment
    for n, buyer in enumerate(buyers):
        await send(client, "view", catalog.products["H1"], kst(YESTERDAY, 14, n), shopper=buyer)
        for dress in dresses:
            await send(client, "view", dress, kst(YESTERDAY, 15, n), shopper=buyer)
        await pay_by_card(buyer, await place_order(buyer, {catalog.variant("H1-BK-M"): 1}))
    await roll_up(engine)
    params = {"category": "원피스", "from": str(YESTERDAY), "to": str(TODAY)}

    four = await read(haru, "benchmark", **params)

    assert four["enough_malls"] is False
    assert four["detail"].startswith("Too few malls")
    assert {row["category"]["status"] for row in four["segments"]} == {"too_few_malls"}
    assert all("average_conversion" not in row["category"] for row in four["segments"])
    anonymous = next(row for row in four["segments"] if row["segment"] == "anonymous")
    assert anonymous["mall"] == {"suppressed": False, "views": 5, "purchases": 5, "conversion": 1.0}

    fifth = await partner_mall(client, session, "하늘하늘", "haneul")
    fifth_dress = await product_id_of(session, "haneul-D")
    for n, buyer in enumerate(buyers):
        await send(client, "view", fifth_dress, kst(YESTERDAY, 16, n), shopper=buyer)
    await roll_up(engine)

    five = await read(haru, "benchmark", **params)

    assert five["enough_malls"] is True
    anonymous = next(row for row in five["segments"] if row["segment"] == "anonymous")
    assert anonymous["category"] == {"status": "available", "average_conversion": 0.2}  # (1.0 + 0 + 0 + 0 + 0) / 5
    assert anonymous["mall"]["conversion"] == 1.0
    women = next(row for row in five["segments"] if row["segment"] == "female:20s_late")
    assert women == {"segment": "female:20s_late", "gender": "female", "age_band": "20s_late",
                     "label": "여성 20대 후반", "mall": {"suppressed": True},
                     "category": {"status": "too_few_malls"}}  # fmt: skip
    answer = (await haru.call("GET", f"{INSIGHTS}/benchmark", params=params)).text
    for other in [*others, fifth, catalog.malls.mono]:
        assert str(other.id) not in answer
        assert other.name not in answer
        assert slugs[other.name] not in answer
    last_four_weeks = await read(haru, "benchmark", category="원피스")  # the default period
    assert (last_four_weeks["from"], last_four_weeks["to"]) == (str(TODAY - datetime.timedelta(days=27)), str(TODAY))
    assert last_four_weeks["segments"] == five["segments"]
    seen_by_fifth = await read(fifth, "benchmark", **params)
    assert next(r for r in seen_by_fifth["segments"] if r["segment"] == "anonymous")["mall"]["conversion"] == 0.0


# --- Refusals ---------------------------------------------------------------------------------------------------


async def test_a_key_without_insights_read_is_refused(catalog: Catalog) -> None:
    orders_only = catalog.malls.haru  # catalog:write, orders:read, orders:write

    response = await orders_only.call("GET", f"{INSIGHTS}/summary", params={"from": str(TODAY), "to": str(TODAY)})

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "insights:read" in response.json()["detail"]
    assert (await catalog.malls.haru.client.get(f"{INSIGHTS}/summary")).status_code == 401


@pytest.mark.parametrize(
    ("call", "params", "code", "field"),
    [
        ("summary", {"from": str(TODAY), "to": str(YESTERDAY)}, "invalid-period", "to"),
        ("summary", {"from": str(TODAY - datetime.timedelta(days=92)), "to": str(TODAY)}, "invalid-period", "to"),
        ("audience", {"from": str(TODAY), "to": str(TODAY + datetime.timedelta(days=1))}, "invalid-period", "to"),
        ("audience", {"from": str(TODAY - datetime.timedelta(days=90)), "to": str(TODAY - datetime.timedelta(days=1))},
         "invalid-period", "from"),
        ("summary", {"from": "2026-13-01", "to": str(TODAY)}, "invalid-period", "from"),
        ("summary", {"to": str(TODAY)}, "validation-failed", "from"),
        ("products", {"from": str(TODAY), "to": str(TODAY), "segment": "women"}, "unknown-segment", "segment"),
        ("products", {"from": str(TODAY), "to": str(TODAY), "sort": "price"}, "validation-failed", "sort"),
        ("products", {"from": str(TODAY), "to": str(TODAY), "limit": "0"}, "validation-failed", "limit"),
        ("benchmark", {"category": "원피스/드레스"}, "unknown-category", "category"),
        ("benchmark", {}, "validation-failed", "category"),
    ],
)  # fmt: skip
async def test_bad_input_is_refused_as_problem_details(
    haru: PartnerMall, call: str, params: dict[str, str], code: str, field: str
) -> None:
    response: httpx.Response = await haru.call("GET", f"{INSIGHTS}/{call}", params=params)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == f"https://api.shoa.kr/problems/{code}"
    assert [(error["field"], error["source"]) for error in problem["errors"]] == [(field, "query")]
