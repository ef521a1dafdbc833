"""Shoppers browse the malls: a page at a time, in 가나다 order, only the listed ones."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from catalog.models import MallStatus
from tests.factories import create_mall

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient

NAMES = ["하루일상", "모던로브", "데일리앤모어", "블랑쉬", "소녀감성", "오늘의옷장", "린넨하우스", "메이비베이비"]


async def _all_pages(client: ShoaClient, limit: int) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/v1/malls", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_pages_cover_every_listed_mall_once_in_name_order(client: ShoaClient, session: AsyncSession) -> None:
    for index in range(23):
        await create_mall(session, name=f"{NAMES[index % len(NAMES)]} {index:02d}")
    await create_mall(session, name="휴가중인상점", status=MallStatus.PAUSED)
    await create_mall(session, name="문닫은상점", status=MallStatus.CLOSED)

    pages = await _all_pages(client, limit=10)

    assert [len(page) for page in pages] == [10, 10, 3]
    names = [mall["name"] for page in pages for mall in page]
    assert names == sorted(names)
    assert len(set(names)) == 23
    assert "휴가중인상점" not in names
    assert "문닫은상점" not in names


async def test_malls_with_the_same_name_are_each_listed_once(client: ShoaClient, session: AsyncSession) -> None:
    created = {str((await create_mall(session, name="블랑쉬")).id) for _ in range(5)}

    pages = await _all_pages(client, limit=2)

    listed = [mall["id"] for page in pages for mall in page]
    assert sorted(listed) == sorted(created)


async def test_a_mall_added_while_paging_causes_no_duplicates(client: ShoaClient, session: AsyncSession) -> None:
    for name in ["가람", "나래", "다온", "라온"]:
        await create_mall(session, name=name)
    first = (await client.get("/v1/malls", params={"limit": 2})).json()
    await create_mall(session, name="가나")  # sorts before the cursor: belongs to a page already seen
    second = (await client.get("/v1/malls", params={"limit": 2, "cursor": first["next_cursor"]})).json()

    assert [m["name"] for m in first["items"]] == ["가람", "나래"]
    assert [m["name"] for m in second["items"]] == ["다온", "라온"]


async def test_a_mall_shows_what_a_shopper_needs(client: ShoaClient, session: AsyncSession) -> None:
    mall = await create_mall(session, name="린넨하우스", slug="linen-house", description="여름 린넨셔츠 전문몰")

    response = await client.get(f"/v1/malls/{mall.id}")

    assert response.status_code == 200
    body = response.json()["mall"]
    assert body["id"] == str(mall.id)
    assert body["slug"] == "linen-house"
    assert body["name"] == "린넨하우스"
    assert body["description"] == "여름 린넨셔츠 전문몰"
    assert body["logo_url"] == "https://img.shoa.kr/malls/demo.png"
    assert body["created_at"].endswith("Z")
    assert "status" not in body
    assert response.json()["products"] == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("status", [MallStatus.PAUSED, MallStatus.CLOSED])
async def test_an_unlisted_mall_is_not_found(client: ShoaClient, session: AsyncSession, status: MallStatus) -> None:
    mall = await create_mall(session, status=status)

    response = await client.get(f"/v1/malls/{mall.id}")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/mall-not-found")


async def test_an_unknown_mall_is_a_problem_details_404(client: ShoaClient) -> None:
    missing = uuid.uuid4()

    response = await client.get(f"/v1/malls/{missing}")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 404
    assert problem["title"] == "Mall not found"
    assert str(missing) in problem["detail"]
    assert problem["instance"] == f"/v1/malls/{missing}"
    assert problem["request_id"] == response.headers["x-request-id"]


async def test_a_malformed_mall_id_is_not_found(client: ShoaClient) -> None:
    response = await client.get("/v1/malls/not-a-uuid")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "2.5"])
async def test_a_bad_limit_is_refused_with_field_errors(client: ShoaClient, limit: str) -> None:
    response = await client.get("/v1/malls", params={"limit": limit})

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/validation-failed")
    assert [error["field"] for error in problem["errors"]] == ["limit"]
    assert problem["errors"][0]["source"] == "query"


@pytest.mark.parametrize("cursor", ["garbage!", "bm90LWpzb24", "WzEsMiwzXQ"])
async def test_a_cursor_we_did_not_issue_is_refused(client: ShoaClient, cursor: str) -> None:
    response = await client.get("/v1/malls", params={"cursor": cursor})

    assert response.status_code == 404
    assert response.json()["type"].endswith("/invalid-cursor")


async def test_the_page_size_defaults_to_twenty(client: ShoaClient, session: AsyncSession) -> None:
    for index in range(21):
        await create_mall(session, name=f"몰 {index:02d}")

    body = (await client.get("/v1/malls")).json()

    assert len(body["items"]) == 20
    assert body["next_cursor"] is not None


async def test_no_malls_is_an_empty_last_page(client: ShoaClient) -> None:
    body = (await client.get("/v1/malls")).json()

    assert body == {"items": [], "next_cursor": None}
