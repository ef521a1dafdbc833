"""The malls directory is answered from memory for a few seconds, and never grows without bound."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

from shoa_api.app import create_app
from shoa_api.caching import PUBLIC_CACHE_STORE, ProcessLocalStore, PublicAnswerStore
from shoa_api.settings import load_settings
from tests.catalog.test_public_catalog import _synced
from tests.catalog.test_sync import product
from tests.client import ShoaClient
from tests.factories import create_mall

if TYPE_CHECKING:
    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.conftest import Services


def _app(services: Services, seconds: int) -> Litestar:
    return create_app(load_settings(services.environ(SHOA_PUBLIC_CACHE_SECONDS=str(seconds)), env_file=None))


async def _names(client: ShoaClient, **params: str) -> list[str]:
    response = await client.get("/v1/malls", params=params)
    assert response.status_code == 200
    return [mall["name"] for mall in response.json()["items"]]


async def test_a_new_mall_shows_on_the_first_page_once_the_cache_expires(
    services: Services, session: AsyncSession
) -> None:
    await create_mall(session, name="나래")
    async with ShoaClient(app=_app(services, seconds=1)) as client:
        assert await _names(client) == ["나래"]
        await create_mall(session, name="가람")

        assert await _names(client) == ["나래"]  # reused for up to a second
        await asyncio.sleep(1.2)
        assert await _names(client) == ["가람", "나래"]


async def test_pages_after_a_cursor_are_always_fresh(services: Services, session: AsyncSession) -> None:
    for name in ["가람", "나래", "다온"]:
        await create_mall(session, name=name)
    async with ShoaClient(app=_app(services, seconds=60)) as client:
        first = (await client.get("/v1/malls", params={"limit": 1})).json()
        cursor = first["next_cursor"]
        assert await _names(client, limit="1", cursor=cursor) == ["나래"]
        await create_mall(session, name="나나")

        assert await _names(client, limit="1", cursor=cursor) == ["나나"]


async def test_junk_parameters_share_the_cached_answer(services: Services, session: AsyncSession) -> None:
    await create_mall(session, name="블랑쉬")
    app = _app(services, seconds=60)
    async with ShoaClient(app=app) as client:
        for junk in range(20):
            assert await _names(client, utm_source=f"campaign-{junk}") == ["블랑쉬"]

    store = app.response_cache_config.get_store_from_app(app)
    assert await store.exists("/v1/malls?cursor&limit")
    assert not await store.exists("/v1/malls?cursor&limit&utm_source=campaign-3")


async def test_zero_seconds_turns_the_cache_off(services: Services, session: AsyncSession) -> None:
    await create_mall(session, name="나래")
    async with ShoaClient(app=_app(services, seconds=0)) as client:
        assert await _names(client) == ["나래"]
        await create_mall(session, name="가람")

        assert await _names(client) == ["가람", "나래"]


async def test_a_not_found_answer_is_not_remembered(services: Services, session: AsyncSession) -> None:
    mall_id = uuid.uuid4()
    async with ShoaClient(app=_app(services, seconds=60)) as client:
        assert (await client.get(f"/v1/malls/{mall_id}")).status_code == 404
        await create_mall(session, name="하루일상", mall_id=mall_id)

        assert (await client.get(f"/v1/malls/{mall_id}")).status_code == 200


async def test_the_store_keeps_a_bounded_number_of_answers() -> None:
    store = ProcessLocalStore(max_entries=3)
    for n in range(5):
        await store.set(f"answer-{n}", b"{}", expires_in=60)

    kept = [n for n in range(5) if await store.exists(f"answer-{n}")]

    assert kept == [2, 3, 4]


CACHED_ROUTES = (
    "/v1/categories",
    "/v1/malls?limit=5",
    "/v1/malls/{mall}",
    "/v1/products/{product}",
    "/v1/search",
    "/v1/feed",
)
OTHER_METHODS = ("OPTIONS", "HEAD", "POST", "PUT", "PATCH", "DELETE", "TRACE")


async def test_no_other_method_can_replace_a_cached_page(services: Services, session: AsyncSession) -> None:
    async with ShoaClient(app=_app(services, seconds=60)) as client:
        _, ids = await _synced(client, session, product("A1"))
        mall_id = (await client.get(f"/v1/products/{ids['A1']}")).json()["mall"]["id"]
        await client.app.stores.get(PUBLIC_CACHE_STORE).delete_all()
        for template in CACHED_ROUTES:
            path = template.format(mall=mall_id, product=ids["A1"])
            for method in OTHER_METHODS:
                await client.request(method, path)

                answer = await client.get(path)

                assert answer.status_code == 200, (method, path, answer.status_code)
                assert answer.json(), (method, path)


async def test_a_cached_page_carries_each_callers_own_request_id(services: Services, session: AsyncSession) -> None:
    await create_mall(session, name="나래")
    async with ShoaClient(app=_app(services, seconds=60)) as client:
        first = await client.get("/v1/malls", headers={"x-request-id": "first-caller-0001"})
        second = await client.get("/v1/malls", headers={"x-request-id": "second-caller-0002"})
        third = await client.get("/v1/malls")

    assert first.headers.get_list("x-request-id") == ["first-caller-0001"]
    assert second.headers.get_list("x-request-id") == ["second-caller-0002"]
    assert third.headers.get_list("x-request-id") not in (["first-caller-0001"], ["second-caller-0002"])
    assert second.json() == first.json()


async def test_every_stored_answer_expires() -> None:
    store = PublicAnswerStore()
    await store.set("forever", b"\x90", expires_in=None)

    assert not await store.exists("forever")


async def test_a_product_a_mall_hides_is_never_served_again_by_any_process(
    services: Services, session: AsyncSession
) -> None:
    async with (
        ShoaClient(app=_app(services, seconds=60)) as shopper_side,
        ShoaClient(app=_app(services, seconds=60)) as partner_side,
    ):
        mall, ids = await _synced(partner_side, session, product("A1"), product("A2"))
        page = f"/v1/products/{ids['A1']}"
        mall_id = (await shopper_side.get(page)).json()["mall"]["id"]
        listing = f"/v1/malls/{mall_id}"
        assert len((await shopper_side.get(listing)).json()["products"]["items"]) == 2
        await shopper_side.app.state.mirror.live_since.wait()  # as in a running server: the mirror follows Redis

        await mall.client.delete("/partner/v1/products/A1", headers=mall.headers)

        for _ in range(100):  # the other process hears of it within milliseconds, not the cache's 60 s
            if (await shopper_side.get(page)).status_code == 404:
                break
            await asyncio.sleep(0.01)
        assert (await shopper_side.get(page)).status_code == 404
        assert [item["id"] for item in (await shopper_side.get(listing)).json()["products"]["items"]] == [ids["A2"]]


async def test_a_parameter_sent_empty_is_not_the_parameter_left_out(services: Services) -> None:
    """Found by the contract suite: `?sort=` (refused) was answered with the stored answer of `/v1/search`."""
    async with ShoaClient(app=_app(services, seconds=60)) as client:
        assert (await client.get("/v1/search")).status_code == 200
        refused = await client.get("/v1/search", params={"sort": ""})

    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/validation-failed")
