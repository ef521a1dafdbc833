"""Between full syncs a mall changes prices, stock and status, or deletes a product; only its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from catalog.models import Product, SearchOutbox, Variant
from tests.catalog.test_sync import UPDATED, _mall, product

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient
    from tests.conftest import SearchIndex


async def _variant(session: AsyncSession, sku: str) -> tuple[int, int | None, int]:
    session.expire_all()
    row = (
        await session.execute(sa.select(Variant.price, Variant.sale_price, Variant.stock).where(Variant.sku == sku))
    ).one()
    return row.price, row.sale_price, row.stock


async def _outbox(session: AsyncSession) -> list[str]:
    return list(await session.scalars(sa.select(SearchOutbox.action).order_by(SearchOutbox.id)))


async def test_a_variant_s_price_and_stock_change_and_the_next_full_sync_still_applies(
    client: ShoaClient, session: AsyncSession
) -> None:
    mall = await _mall(session, client)
    await mall.sync(product("A1"))

    response = await client.patch(
        "/partner/v1/products/A1",
        headers=mall.headers,
        json={"variants": [{"sku": "A1-BK-M", "price": 42000, "sale_price": None, "stock": 0}]},
    )

    assert response.status_code == 200, response.text
    assert response.json()["result"] == "updated"
    assert await _variant(session, "A1-BK-M") == (42000, None, 0)
    assert await _outbox(session) == ["upsert", "upsert"]
    resent = await mall.sync(product("A1"))  # the mall's full record, unchanged on its side
    assert resent["items"][0]["result"] == "updated"
    assert await _variant(session, "A1-BK-M") == (39000, 35100, 12)


async def test_a_status_change_and_a_stale_patch(client: ShoaClient, session: AsyncSession) -> None:
    mall = await _mall(session, client)
    await mall.sync(product("A1"))

    sold_out = await client.patch("/partner/v1/products/A1", headers=mall.headers, json={"status": "sold_out"})
    stale = await client.patch(
        "/partner/v1/products/A1",
        headers=mall.headers,
        json={"status": "on_sale", "source_updated_at": "2026-11-01T00:00:00+09:00"},
    )

    assert sold_out.json()["result"] == "updated"
    assert stale.json()["result"] == "unchanged"
    session.expire_all()
    assert await session.scalar(sa.select(Product.status)) == "sold_out"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/partner/v1/products/A1", {"variants": [{"sku": "A1-BK-M", "sale_price": 99000}]}, 422),
        ("/partner/v1/products/A1", {"variants": [{"sku": "NOT-MINE", "stock": 1}]}, 422),
        ("/partner/v1/products/A1", {"variants": [{"sku": "A1-BK-M", "stock": -1}]}, 422),
        ("/partner/v1/products/A1", {"colour": "red"}, 422),
        ("/partner/v1/products/NOPE", {"status": "hidden"}, 404),
        # Past year 9999 once it is in UTC: a 500 before.
        ("/partner/v1/products/A1", {"status": "hidden", "source_updated_at": "9999-12-31T23:59:59-14:00"}, 422),
        # A year ahead would make every honest update after it look stale.
        ("/partner/v1/products/A1", {"status": "hidden", "source_updated_at": "2999-01-01T00:00:00+09:00"}, 422),
    ],
)
async def test_bad_patches_are_refused_and_change_nothing(
    client: ShoaClient, session: AsyncSession, path: str, body: dict[str, Any], status: int
) -> None:
    mall = await _mall(session, client)
    await mall.sync(product("A1"))

    response = await client.patch(path, headers=mall.headers, json=body)

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await _variant(session, "A1-BK-M") == (39000, 35100, 12)
    assert await _outbox(session) == ["upsert"]


async def test_a_mall_s_sold_out_wins_on_the_page_in_search_and_in_the_mall_list(
    client: ShoaClient, session: AsyncSession, search_index: SearchIndex
) -> None:
    mall = await _mall(session, client)
    answer = await mall.sync(product("A1"), product("A2"))
    product_id = answer["items"][0]["product_id"]

    patched = await client.patch("/partner/v1/products/A1", headers=mall.headers, json={"status": "sold_out"})

    assert patched.json()["result"] == "updated"
    page = (await client.get(f"/v1/products/{product_id}")).json()
    assert (page["status"], page["in_stock"]) == ("sold_out", False)
    assert {variant["stock_state"] for variant in page["variants"]} == {"sold_out"}
    assert all(variant.get("stock_left") is None for variant in page["variants"])
    await search_index.settle()
    found = (await client.get("/v1/search", params={"q": "린넨", "in_stock": "true"})).json()
    assert [item["id"] for item in found["items"]] == [answer["items"][1]["product_id"]]
    mall_id = page["mall"]["id"]
    cards = (await client.get(f"/v1/malls/{mall_id}", params={"limit": 10})).json()["products"]["items"]
    other_id = answer["items"][1]["product_id"]
    assert {card["id"]: card["in_stock"] for card in cards} == {product_id: False, other_id: True}

    back = await client.patch("/partner/v1/products/A1", headers=mall.headers, json={"status": "on_sale"})

    assert back.json()["result"] == "updated"
    assert (await client.get(f"/v1/products/{product_id}", params={"v": "2"})).json()["in_stock"] is True


async def test_a_sold_out_status_sent_by_sync_also_wins(
    client: ShoaClient, session: AsyncSession, search_index: SearchIndex
) -> None:
    mall = await _mall(session, client)
    answer = await mall.sync(product("A1", status="sold_out"))
    assert await search_index.settle() == 1

    page = (await client.get(f"/v1/products/{answer['items'][0]['product_id']}")).json()

    assert (page["status"], page["in_stock"]) == ("sold_out", False)
    found = (await client.get("/v1/search", params={"q": "린넨", "in_stock": "true"})).json()
    assert found["items"] == []


async def test_deleting_hides_the_product_and_takes_it_out_of_search(client: ShoaClient, session: AsyncSession) -> None:
    mall = await _mall(session, client)
    await mall.sync(product("A1"))

    response = await client.delete("/partner/v1/products/A1", headers=mall.headers)

    assert response.status_code == 204
    session.expire_all()
    assert await session.scalar(sa.select(Product.status)) == "hidden"
    assert await _outbox(session) == ["upsert", "delete"]
    assert (await client.delete("/partner/v1/products/A1-none", headers=mall.headers)).status_code == 404


async def test_a_mall_cannot_edit_or_delete_another_mall_s_product(client: ShoaClient, session: AsyncSession) -> None:
    haru, blanche = await _mall(session, client, "하루일상"), await _mall(session, client, "블랑쉬")
    await haru.sync(product("A1"))

    patched = await client.patch("/partner/v1/products/A1", headers=blanche.headers, json={"status": "hidden"})
    deleted = await client.delete("/partner/v1/products/A1", headers=blanche.headers)
    stock = await client.put(
        "/partner/v1/stock", headers=blanche.headers, json={"items": [{"sku": "A1-BK-M", "stock": 0}]}
    )

    assert patched.status_code == 404
    assert deleted.status_code == 404
    assert stock.json()["items"][0]["result"] == "rejected"
    session.expire_all()
    assert await session.scalar(sa.select(Product.status)) == "on_sale"
    assert await _variant(session, "A1-BK-M") == (39000, 35100, 12)


async def test_stock_and_prices_by_sku_in_one_batch(client: ShoaClient, session: AsyncSession) -> None:
    mall = await _mall(session, client)
    await mall.sync(product("A1"), product("A2"))

    response = await client.put(
        "/partner/v1/stock",
        headers=mall.headers,
        json={
            "items": [
                {"sku": "A1-BK-M", "stock": 3},
                {"sku": "A1-BK-L", "stock": 0},  # already 0
                {"sku": "A2-IV-M", "price": 45000, "sale_price": 40500},
                {"sku": "A2-BK-M", "sale_price": 50000},  # above the price
                {"sku": "ZZ-404", "stock": 1},
                {"sku": "A1-BK-M", "stock": 9},  # twice
            ]
        },
    )

    assert response.status_code == 200, response.text
    answer = response.json()
    assert [item["result"] for item in answer["items"]] == [
        "updated", "unchanged", "updated", "rejected", "rejected", "rejected",
    ]  # fmt: skip
    assert (answer["updated"], answer["unchanged"], answer["rejected"]) == (2, 1, 3)
    assert await _variant(session, "A1-BK-M") == (39000, 35100, 3)
    assert await _variant(session, "A2-IV-M") == (45000, 40500, 4)
    assert await _variant(session, "A2-BK-M") == (39000, 35100, 12)
    assert await _outbox(session) == ["upsert", "upsert", "upsert", "upsert"]


async def test_the_full_sync_timestamp_still_guards_after_an_edit(client: ShoaClient, session: AsyncSession) -> None:
    mall = await _mall(session, client)
    await mall.sync(product("A1"))
    await client.patch(
        "/partner/v1/products/A1",
        headers=mall.headers,
        json={"status": "sold_out", "source_updated_at": "2026-11-25T00:00:00+09:00"},
    )

    older = await mall.sync(product("A1", source_updated_at=UPDATED))

    assert older["items"][0]["result"] == "unchanged"
    assert older["items"][0]["reason"].startswith("stale")
