"""Shoppers see products with their variants and mall, a mall's products, and the category tree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from catalog.models import Mall
from shoa_api.app import create_app
from shoa_api.settings import load_settings
from tests.catalog.test_sync import _mall, product
from tests.client import ShoaClient

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.conftest import Services


async def _synced(client: ShoaClient, session: AsyncSession, *items: dict[str, Any]) -> Any:
    mall = await _mall(session, client)
    answer = await mall.sync(*items)
    return mall, {item["external_id"]: item["product_id"] for item in answer["items"]}


async def test_a_product_shows_variants_stock_states_and_its_mall(client: ShoaClient, session: AsyncSession) -> None:
    _, ids = await _synced(client, session, product("A1"))

    response = await client.get(f"/v1/products/{ids['A1']}")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "린넨 셔츠 원피스 A1"
    assert body["mall"]["name"] == "하루일상"
    assert body["price_from"] == 35100
    assert body["currency"] == "KRW"
    assert body["in_stock"] is True
    states = {v["color"] + "/" + v["size"]: (v["stock_state"], v.get("stock_left")) for v in body["variants"]}
    assert states == {"블랙/M": ("in_stock", None), "블랙/L": ("sold_out", None), "아이보리/M": ("low_stock", 4)}
    assert "sku" not in body["variants"][0]


async def test_hidden_and_deleted_products_are_not_shown(client: ShoaClient, session: AsyncSession) -> None:
    mall, ids = await _synced(client, session, product("A1"), product("A2", status="hidden"))
    await client.delete("/partner/v1/products/A1", headers=mall.headers)

    assert (await client.get(f"/v1/products/{ids['A1']}")).status_code == 404
    assert (await client.get(f"/v1/products/{ids['A2']}")).status_code == 404


async def test_products_of_a_paused_mall_are_not_shown(services: Services, session: AsyncSession) -> None:
    uncached = create_app(load_settings(services.environ(SHOA_PUBLIC_CACHE_SECONDS="0"), env_file=None))
    async with ShoaClient(app=uncached) as client:
        _, ids = await _synced(client, session, product("B1"))
        assert (await client.get(f"/v1/products/{ids['B1']}")).status_code == 200
        await session.execute(sa.update(Mall).values(status="paused"))
        await session.commit()

        response = await client.get(f"/v1/products/{ids['B1']}")

    assert response.status_code == 404
    assert response.json()["type"].endswith("/product-not-found")


async def test_a_mall_lists_its_visible_products_newest_first(client: ShoaClient, session: AsyncSession) -> None:
    mall, ids = await _synced(client, session, *[product(f"P{n}") for n in range(5)], product("H", status="hidden"))
    mall_id = (await client.get("/partner/v1/me", headers=mall.headers)).json()["mall_id"]

    first = (await client.get(f"/v1/malls/{mall_id}", params={"limit": 3})).json()
    second = (
        await client.get(f"/v1/malls/{mall_id}", params={"limit": 3, "cursor": first["products"]["next_cursor"]})
    ).json()

    listed = [card["id"] for card in first["products"]["items"] + second["products"]["items"]]
    assert listed == sorted((ids[f"P{n}"] for n in range(5)), reverse=True)
    card = first["products"]["items"][0]
    assert card["image_url"].startswith("https://img.haru.kr/")
    assert (card["price"], card["price_from"], card["in_stock"]) == (39000, 35100, True)
    assert second["products"]["next_cursor"] is None


async def test_the_category_tree_counts_visible_products(client: ShoaClient, session: AsyncSession) -> None:
    await _synced(
        client,
        session,
        product("A1"),
        product("A2", category_path="원피스/미니원피스"),
        product("A3", category_path="원피스"),
        product("A4", category_path="상의/블라우스"),
        product("A5", category_path="상의/블라우스", status="hidden"),
    )

    tree = {node["path"]: node for node in (await client.get("/v1/categories")).json()}

    assert tree["원피스"]["product_count"] == 3
    children = {child["path"]: child["product_count"] for child in tree["원피스"]["children"]}
    assert children["원피스/셔츠원피스"] == 1
    assert children["원피스/미니원피스"] == 1
    assert tree["상의"]["product_count"] == 1
    assert tree["아우터"]["product_count"] == 0
