"""A partner mall syncs its catalog: per-item answers, idempotent batches, nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import copy
import datetime
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
import sqlalchemy as sa

from catalog import keys
from catalog.models import Product, SearchOutbox, Variant
from catalog.schemas import ProductIn
from shoa_api.app import create_app
from shoa_api.settings import load_settings
from tests.client import ShoaClient
from tests.factories import create_mall

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.conftest import Services

UPDATED = "2026-11-20T10:00:00+09:00"


def product(external_id: str, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "external_id": external_id,
        "name": f"린넨 셔츠 원피스 {external_id}",
        "description": "여름에 시원한 린넨 100% 셔츠 원피스",
        "category_path": "원피스/셔츠원피스",
        "style_tags": ["오피스룩", "미니멀"],
        "target_gender": "female",
        "target_age_bands": ["20s_late", "30s_early"],
        "image_urls": [f"https://img.haru.kr/{external_id}/1.jpg", f"https://img.haru.kr/{external_id}/2.jpg"],
        "source_updated_at": UPDATED,
        "variants": [
            {
                "sku": f"{external_id}-BK-M",
                "color": "블랙",
                "size": "M",
                "price": 39000,
                "sale_price": 35100,
                "stock": 12,
            },
            {"sku": f"{external_id}-BK-L", "color": "블랙", "size": "L", "price": 39000, "stock": 0},
            {"sku": f"{external_id}-IV-M", "color": "아이보리", "size": "M", "price": 39000, "stock": 4},
        ],
    }
    item.update(changes)
    return item


class Mall:
    def __init__(self, client: ShoaClient, key: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    async def sync(self, *items: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.put("/partner/v1/products", headers=self.headers, json={"products": list(items)})
        assert response.status_code == 200, response.text
        return dict(response.json())


async def _mall(session: AsyncSession, client: ShoaClient, name: str = "하루일상") -> Mall:
    mall = await create_mall(session, name=name)
    issued = await keys.issue_key(session, mall_id=mall.id, name="sync", scopes=["catalog:write"])
    await session.commit()
    return Mall(client, issued.key)


def _results(answer: dict[str, Any]) -> list[str]:
    return [item["result"] for item in answer["items"]]


async def test_a_new_batch_creates_every_product_with_its_variants(client: ShoaClient, session: AsyncSession) -> None:
    mall = await _mall(session, client)

    answer = await mall.sync(product("A1"), product("A2"), product("A3"))

    assert (answer["created"], answer["updated"], answer["unchanged"], answer["rejected"]) == (3, 0, 0, 0)
    assert [item["external_id"] for item in answer["items"]] == ["A1", "A2", "A3"]
    assert await session.scalar(sa.select(sa.func.count()).select_from(Variant)) == 9
    assert await session.scalar(sa.select(sa.func.count()).select_from(SearchOutbox)) == 3
    stored = await session.scalar(sa.select(Product).where(Product.external_id == "A1"))
    assert stored is not None
    assert stored.image_urls == ["https://img.haru.kr/A1/1.jpg", "https://img.haru.kr/A1/2.jpg"]
    assert stored.style_tags == ["오피스룩", "미니멀"]


async def test_sending_the_same_batch_again_changes_nothing(client: ShoaClient, session: AsyncSession) -> None:
    mall = await _mall(session, client)
    await mall.sync(product("A1"), product("A2"))
    variants_before = (await session.execute(sa.select(Variant.id, Variant.sku).order_by(Variant.sku))).all()

    again = await mall.sync(product("A1"), product("A2"))

    assert _results(again) == ["unchanged", "unchanged"]
    assert {item["reason"] for item in again["items"]} == {"same content as stored"}
    assert (await session.execute(sa.select(Variant.id, Variant.sku).order_by(Variant.sku))).all() == variants_before
    assert await session.scalar(sa.select(sa.func.count()).select_from(SearchOutbox)) == 2


async def test_a_newer_update_applies_and_an_older_one_is_stale(client: ShoaClient, session: AsyncSession) -> None:
    mall = await _mall(session, client)
    created = await mall.sync(product("A1"))
    first_variant = await session.scalar(sa.select(Variant.id).where(Variant.sku == "A1-BK-M"))

    newer = product("A1", name="린넨 셔츠 원피스 (리오더)", source_updated_at="2026-11-21T09:00:00+09:00")
    newer["variants"] = [newer["variants"][0], {"sku": "A1-NV-M", "price": 41000, "stock": 3, "color": "네이비"}]
    updated = await mall.sync(newer)
    older = await mall.sync(product("A1", name="옛날 이름", source_updated_at="2026-11-19T09:00:00+09:00"))

    assert _results(updated) == ["updated"]
    assert updated["items"][0]["product_id"] == created["items"][0]["product_id"]
    assert _results(older) == ["unchanged"]
    assert older["items"][0]["reason"].startswith("stale")
    session.expire_all()
    name = await session.scalar(sa.select(Product.name).where(Product.external_id == "A1"))
    assert name == "린넨 셔츠 원피스 (리오더)"
    skus = set(await session.scalars(sa.select(Variant.sku)))
    assert skus == {"A1-BK-M", "A1-NV-M"}  # the variants no longer sent are gone
    assert await session.scalar(sa.select(Variant.id).where(Variant.sku == "A1-BK-M")) == first_variant


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (product("B", variants=[{"sku": "B-1", "price": 0, "stock": 1}]), "variants[0].price"),
        (
            product("B", variants=[{"sku": "B-1", "price": 1000, "sale_price": 2000, "stock": 1}]),
            "variants[0].sale_price",
        ),
        (product("B", variants=[{"sku": "B-1", "price": 1000, "stock": 1, "currency": "EUR"}]), "variants[0].currency"),
        (product("B", variants=[]), "variants"),
        (product("B", image_urls=["http://img.haru.kr/b.jpg"]), "image_urls[0]"),
        (product("B", category_path="상의/망토"), "category_path"),
        (product("B", name="가" * 201), "name"),
        (product("B", source_updated_at="2026-11-20T10:00:00"), "source_updated_at"),
        (product("B", target_gender="robot"), "target_gender"),
        (product("B", unexpected=True), "unexpected"),
    ],
)
async def test_one_bad_item_is_rejected_by_field_and_the_rest_land(
    client: ShoaClient, session: AsyncSession, bad: dict[str, Any], field: str
) -> None:
    mall = await _mall(session, client)

    answer = await mall.sync(product("A1"), bad, product("A2"))

    assert _results(answer) == ["created", "rejected", "created"]
    rejected = answer["items"][1]
    assert rejected["external_id"] == "B"
    assert field in [error["field"] for error in rejected["errors"]]
    assert await session.scalar(sa.select(sa.func.count()).select_from(Product)) == 2


async def test_skus_are_unique_within_the_mall(client: ShoaClient, session: AsyncSession) -> None:
    mall = await _mall(session, client)
    await mall.sync(product("A1"))
    clash = product("A2", variants=[{"sku": "A1-BK-M", "price": 1000, "stock": 1}])
    twin = product("A3", variants=[{"sku": "SAME", "price": 1000, "stock": 1}])
    twin_again = product("A4", variants=[{"sku": "SAME", "price": 1000, "stock": 1}])

    answer = await mall.sync(clash, twin, twin_again, product("A1", name="중복", source_updated_at=UPDATED))

    assert _results(answer) == ["rejected", "created", "rejected", "updated"]
    assert "belongs to your product A1" in answer["items"][0]["errors"][0]["message"]
    assert "also in item 1" in answer["items"][2]["errors"][0]["message"]


async def test_the_same_product_twice_in_a_batch_is_refused_the_second_time(
    client: ShoaClient, session: AsyncSession
) -> None:
    mall = await _mall(session, client)

    answer = await mall.sync(product("A1"), product("A1", name="다른 이름"))

    assert _results(answer) == ["created", "rejected"]


async def test_malls_never_touch_each_other_s_products(client: ShoaClient, session: AsyncSession) -> None:
    haru, blanche = await _mall(session, client, "하루일상"), await _mall(session, client, "블랑쉬")
    await haru.sync(product("A1"))

    theirs = await blanche.sync(product("A1", name="블랑쉬의 A1"))
    listed = await client.get("/partner/v1/products", headers=blanche.headers)

    assert _results(theirs) == ["created"]
    assert [p["name"] for p in listed.json()["items"]] == ["블랑쉬의 A1"]
    names = set(await session.scalars(sa.select(Product.name)))
    assert names == {"린넨 셔츠 원피스 A1", "블랑쉬의 A1"}


async def test_the_mall_pages_through_its_products(client: ShoaClient, session: AsyncSession) -> None:
    mall = await _mall(session, client)
    await mall.sync(*[product(f"P{n:02d}") for n in range(7)])

    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/partner/v1/products", headers=mall.headers, params=params)).json()
        seen += [item["external_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert sorted(seen) == [f"P{n:02d}" for n in range(7)]
    assert len(seen) == 7


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (b'{"products": [', 400, "malformed-json"),
        (b'[{"external_id": "A"}]', 422, "invalid-batch"),
        (b'{"products": []}', 422, "invalid-batch"),
        (b'{"items": []}', 422, "invalid-batch"),
    ],
)
async def test_a_broken_body_is_a_clear_problem(
    client: ShoaClient, session: AsyncSession, body: bytes, status: int, kind: str
) -> None:
    mall = await _mall(session, client)

    response = await client.put(
        "/partner/v1/products", headers=mall.headers | {"Content-Type": "application/json"}, content=body
    )

    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith(f"/{kind}")


async def test_batch_limits_come_from_the_settings(services: Services, session: AsyncSession) -> None:
    environ = services.environ(SHOA_CATALOG_MAX_BATCH_ITEMS="2", SHOA_CATALOG_MAX_BATCH_BYTES="20000")
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None))) as client:
        mall = await _mall(session, client)
        too_many = await client.put(
            "/partner/v1/products", headers=mall.headers, json={"products": [product(f"A{n}") for n in range(3)]}
        )
        too_big = await client.put(
            "/partner/v1/products",
            headers=mall.headers,
            json={"products": [product("A1", description="가" * 5000), product("A2", description="나" * 5000)]},
        )

    assert too_many.status_code == 422
    assert "at most 2" in too_many.json()["detail"]
    assert too_big.status_code == 413
    assert too_big.headers["content-type"].startswith("application/problem+json")


async def test_syncing_needs_the_catalog_write_scope(client: ShoaClient, session: AsyncSession) -> None:
    mall = await create_mall(session)
    reader = await keys.issue_key(session, mall_id=mall.id, name="reader", scopes=["orders:read"])
    await session.commit()

    forbidden = await client.put(
        "/partner/v1/products", headers={"Authorization": f"Bearer {reader.key}"}, json={"products": [product("A1")]}
    )
    anonymous = await client.put("/partner/v1/products", json={"products": [product("A1")]})

    assert forbidden.status_code == 403
    assert anonymous.status_code == 401


async def test_concurrent_identical_batches_create_each_product_once(client: ShoaClient, session: AsyncSession) -> None:
    mall = await _mall(session, client)
    batch = [product(f"C{n}") for n in range(20)]

    answers = await asyncio.gather(mall.sync(*copy.deepcopy(batch)), mall.sync(*copy.deepcopy(batch)))

    assert sorted(a["created"] for a in answers) == [0, 20]
    assert sorted(a["unchanged"] for a in answers) == [0, 20]
    assert await session.scalar(sa.select(sa.func.count()).select_from(Product)) == 20
    assert await session.scalar(sa.select(sa.func.count()).select_from(SearchOutbox)) == 20


async def test_search_fields_are_those_the_search_package_computes(client: ShoaClient, session: AsyncSession) -> None:
    mall = await _mall(session, client)
    names = [
        "\uff2f\uff36\uff25\uff32\uff26\uff29\uff34 린넨셔츠",  # OVERFIT in full-width letters
        "Café  crème\tblouse",  # accents, two spaces, a tab
        "[당일출고]\u3000오버핏 데님 자켓",  # an ideographic space
        "니트 니트 knit 니트",  # repeated words
        "e\u0301té 여름 원피스",  # a combining accent
        "린넨셔츠린넨 LINEN셔츠",  # scripts side by side
    ]
    colors = ["라이트 블루", "Bleu ciel", "오프\u00a0화이트"]
    items = [
        product(
            f"S{n}",
            name=name,
            style_tags=["Y2K", "오버핏"],
            variants=[
                {"sku": f"S{n}-{c}", "color": color, "size": "M", "price": 39000 - c, "stock": c}
                for c, color in enumerate(colors)
            ],
        )
        for n, name in enumerate(names)
    ]
    renamed = product("S0", name="\uff39\uff12\uff2b 크롭 니트", source_updated_at="2026-11-21T09:00:00+09:00")

    await mall.sync(*items)
    await mall.sync(renamed)

    session.expire_all()
    stored = {p.external_id: p for p in await session.scalars(sa.select(Product))}
    for item in [renamed, *items[1:]]:
        expected = derived_fields(msgspec.json.decode(msgspec.json.encode(item), type=ProductIn))
        assert {name: getattr(stored[item["external_id"]], name) for name in expected} == expected


def derived_fields(item: ProductIn) -> dict[str, Any]:
    """The derived fields of a product as plainly defined; the sync computes the same, faster."""
    colors = list(dict.fromkeys(v.color for v in item.variants if v.color))
    sizes = list(dict.fromkeys(v.size for v in item.variants if v.size))
    return {
        "colors": colors,
        "sizes": sizes,
        "price_min": min(v.price for v in item.variants),
        "price_from": min(v.price if v.sale_price is None else v.sale_price for v in item.variants),
        "currency": item.variants[0].currency,
        "in_stock": any(v.stock > 0 for v in item.variants),
    }


@pytest.mark.parametrize(
    ("source_updated_at", "says"),
    [
        ("9999-12-31T23:59:59-14:00", "years 1 to 9999"),
        ("0001-01-01T00:00:00+14:00", "years 1 to 9999"),
        ("2999-01-01T00:00:00+09:00", "more than a day in the future"),
    ],
)
async def test_a_time_out_of_range_is_refused_by_item_and_the_rest_land(
    client: ShoaClient, session: AsyncSession, source_updated_at: str, says: str
) -> None:
    mall = await _mall(session, client)
    tomorrow_morning = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=20)).isoformat()

    answer = await mall.sync(
        product("A1"),
        product("A2", source_updated_at=source_updated_at),
        product("A3", source_updated_at=tomorrow_morning),
    )

    assert _results(answer) == ["created", "rejected", "created"]
    assert answer["items"][1]["errors"][0]["field"] == "source_updated_at"
    assert says in answer["items"][1]["errors"][0]["message"]
    patched = await client.patch(
        "/partner/v1/products/A1", headers=mall.headers, json={"source_updated_at": source_updated_at}
    )
    assert patched.status_code == 422, patched.text
    assert says in patched.json()["detail"]


def test_times_with_offsets_compare_as_instants() -> None:
    seoul = datetime.datetime.fromisoformat("2026-11-20T10:00:00+09:00")
    utc = datetime.datetime.fromisoformat("2026-11-20T01:00:00+00:00")

    assert seoul == utc


async def test_a_nul_character_is_refused_by_field_not_a_server_error(
    client: ShoaClient, session: AsyncSession
) -> None:
    mall = await _mall(session, client)
    bad = product("P-NUL", name="린넨\u0000셔츠", description="시원한\u0000")
    bad["variants"][0]["options"] = {"핏": "오버\u0000핏"}
    answer = await mall.sync(bad, product("P-OK"))

    assert _results(answer) == ["rejected", "created"]
    fields = {error["field"] for error in answer["items"][0]["errors"]}
    assert fields == {"name", "description", "variants[0].options.핏"}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", "visible"),
        ("\u200b", "visible"),
        ("\u200b \u200c\u200d\u2060\ufeff\u3000\t", "visible"),
        ("린넨 셔츠\u202e피스원", "direction"),
        ("\u2067린넨 셔츠\u2069", "direction"),
        ("\u200f린넨 셔츠", "direction"),
        ("린넨\u061c셔츠", "direction"),
    ],
)
async def test_a_blank_or_direction_flipping_name_is_refused_by_field(
    client: ShoaClient, session: AsyncSession, name: str, message: str
) -> None:
    mall = await _mall(session, client)

    answer = await mall.sync(product("A1"), product("B", name=name), product("A2"))

    assert _results(answer) == ["created", "rejected", "created"]
    errors = answer["items"][1]["errors"]
    assert [error["field"] for error in errors] == ["name"]
    assert message in errors[0]["message"]
    assert await session.scalar(sa.select(sa.func.count()).select_from(Product)) == 2
