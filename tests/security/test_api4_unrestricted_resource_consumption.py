"""OWASP API Security Top 10 (2023), API4 — unrestricted resource consumption: no single caller makes Shoa read,
decode, store, list or send without bound.

Here: every paged list declares a largest page and refuses one more (read off the OpenAPI description, so a new list
is covered); a JSON body larger than its route needs is refused with 413 before it is decoded, declared or streamed,
while the catalog sync keeps its own larger limit; stock and edit batches refuse one item more than they take; a
messenger user's chatbot turns are limited (every answer is a message Shoa pays for), and so are the marketing
consents a shopper gives, each of which (and each withdrawal after) sends her a notice, while withdrawing stays free.

Elsewhere: nesting depth and bodies that are not JSON on every route, ``tests/shoa_api/test_request_bodies.py``;
logins, signups, anonymous reads and partner keys (which also bound a mall's inquiry replies), per address or key,
``tests/shoa_api/test_ratelimit.py``; the catalog sync's items per batch and bytes per body,
``tests/catalog/test_sync.py::test_batch_limits_come_from_the_settings``; events per batch and per device a minute,
``tests/personalization/test_signals.py``; the deepest search page, ``tests/catalog/search/test_search_api.py``;
the cart's 50 lines, ``tests/orders/test_checkout.py``; what one device or shopper adds to a product's popularity,
``tests/personalization/test_manipulation.py``; the chatbot's identity proof locked after five wrong answers,
``tests/support/test_identity.py``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bench.support import BOT_ID, skill_request
from catalog import keys
from catalog.models import ApiKeyScope
from notify.models import Message
from shoa_api.app import create_app
from shoa_api.json_bodies import MAX_BODY_BYTES
from shoa_api.settings import load_settings
from tests.client import ShoaClient
from tests.orders.conftest import product, variant
from tests.security.conftest import route_table
from tests.support.conftest import LINE_SECRET, SKILL_SECRET, chat_answers, line_signature, line_webhook

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.conftest import Services
    from tests.orders.conftest import Catalog, Shopper

PAGE_PARAMETERS = {"limit", "per_page"}
BIG = MAX_BODY_BYTES + 512 * 1024


async def test_every_paged_list_has_a_largest_page_and_refuses_a_larger_one(
    client: ShoaClient, catalog: Catalog, shopper: Shopper, session: AsyncSession
) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    lists: dict[str, dict[str, Any]] = {}
    for path, item in document["paths"].items():
        answer = item.get("get", {}).get("responses", {}).get("200", {}).get("content", {}).get("application/json")
        schema = answer["schema"] if answer else {}
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        if schema.get("properties", {}).get("items", {}).get("type") == "array":
            parameters = item["get"].get("parameters", [])
            lists[path] = {p["name"]: p["schema"].get("maximum") for p in parameters if p["name"] in PAGE_PARAMETERS}
    every_scope = await keys.issue_key(session, mall_id=catalog.malls.haru.id, name="all", scopes=list(ApiKeyScope))
    await session.commit()
    headers = {"/partner/": {"Authorization": f"Bearer {every_scope.key}"}, "/v1/": shopper.headers}
    required = {"from": "2026-12-01", "to": "2026-12-07"}

    too_large = {}
    for path, pages in lists.items():
        for name, maximum in pages.items():
            url = path.format(mall_id=catalog.malls.haru.id)
            sent = next(value for prefix, value in headers.items() if url.startswith(prefix))
            answer = await client.get(url, headers=sent, params=required | {name: int(maximum) + 1})
            too_large[path, name] = (answer.status_code, [error["field"] for error in answer.json().get("errors", [])])

    assert len(lists) >= 10
    assert {path: pages for path, pages in lists.items() if not pages or None in pages.values()} == {}
    assert {path: pages for path, pages in lists.items() if max(pages.values()) > 100} == {}
    assert too_large == {key: (422, [key[1]]) for key in too_large}


def _credentials(path: str, catalog: Catalog, shopper: Shopper) -> dict[str, str]:
    if path.startswith("/partner/"):
        return catalog.malls.haru.headers
    return shopper.headers if path.startswith("/v1/") else {}


async def test_a_body_larger_than_its_route_needs_is_refused_before_it_is_decoded(
    app: Litestar, client: ShoaClient, catalog: Catalog, shopper: Shopper
) -> None:
    reading = {
        (method, path): route
        for (method, path), (route, handler) in route_table(app).items()
        if handler.opt.get("json_body", "data" in handler.parsed_fn_signature.parameters)
        and not handler.opt.get("large_body")
    }
    big = b'{"text": "' + b"a" * BIG + b'"}'

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    declared, chunked = {}, {}
    for (method, path), route in reading.items():
        # Any id of the right type: the size is refused before the id is looked up.
        ids = {name: uuid.uuid4() if part.type is uuid.UUID else "x" for name, part in route.path_parameters.items()}
        url = path.format(**ids)
        headers = _credentials(path, catalog, shopper) | {"Content-Type": "application/json"}
        declared[method, path] = (await client.request(method, url, content=big, headers=headers)).status_code
        chunked[method, path] = (await client.request(method, url, content=streamed(), headers=headers)).status_code
    # The catalog sync still takes a batch of that size.
    products = [product(f"P{n}", "린넨 셔츠", "상의/셔츠", variant(f"P{n}-M", price=39000, stock=1, color="블랙",
                                                                size="M"), description="가" * 4000)
                for n in range(140)]  # fmt: skip
    sync = await catalog.malls.haru.call("PUT", "/partner/v1/products", {"products": products})

    assert len(reading) >= 20
    assert declared == dict.fromkeys(reading, 413)
    assert chunked == dict.fromkeys(reading, 413)
    assert len(sync.request.content) > BIG
    assert (sync.status_code, sync.json()["created"]) == (200, 140), sync.text[:300]


async def test_stock_and_edit_batches_take_no_more_than_they_say(catalog: Catalog) -> None:
    haru = catalog.malls.haru
    stock = [{"sku": f"H1-{n}", "stock": 1} for n in range(1001)]
    edits = [{"sku": f"H1-{n}", "stock": 1} for n in range(101)]

    answers = [
        await haru.call("PUT", "/partner/v1/stock", {"items": stock}),
        await haru.call("PATCH", "/partner/v1/products/H1", {"variants": edits}),
    ]

    assert [(answer.status_code, answer.json()["errors"][0]["field"]) for answer in answers] == [
        (422, "items"), (422, "variants"),
    ]  # fmt: skip
    assert await catalog.stock("H1-BK-M") == 10


async def test_a_messenger_user_s_chatbot_turns_are_limited(services: Services, engine: AsyncEngine) -> None:
    environ = services.environ(
        SHOA_SUPPORT_KAKAO_SKILL_SECRET=SKILL_SECRET, SHOA_SUPPORT_KAKAO_BOT_ID=BOT_ID,
        SHOA_SUPPORT_LINE_CHANNEL_SECRET=LINE_SECRET, SHOA_RATE_LIMIT_CHAT_TURNS_PER_USER_PER_MINUTE="3",
    )  # fmt: skip
    flooder, neighbour = "U" + "f" * 32, "U" + "a" * 32
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None))) as client:

        async def on_line(user: str, text: str) -> int:
            body = line_webhook(user, text)
            headers = {"Content-Type": "application/json", "X-Line-Signature": line_signature(body)}
            return (await client.post("/webhooks/chat/line", content=body, headers=headers)).status_code

        line = [await on_line(flooder, f"배송 언제 와요 {n}") for n in range(6)] + [await on_line(neighbour, "안녕")]
        kakao = [
            await client.post("/webhooks/chat/kakao", json=skill_request("kakao-flooder", "안녕하세요"),
                              headers={"X-Shoa-Skill-Secret": SKILL_SECRET})
            for _ in range(4)
        ]  # fmt: skip
        other_kakao = await client.post("/webhooks/chat/kakao", json=skill_request("kakao-neighbour", "안녕하세요"),
                                        headers={"X-Shoa-Skill-Secret": SKILL_SECRET})  # fmt: skip

    assert line == [200] * 7  # LINE would only deliver a refused message again: it is left unanswered instead
    assert (len(await chat_answers(engine, flooder)), len(await chat_answers(engine, neighbour))) == (3, 1)
    assert [answer.status_code for answer in kakao] == [200, 200, 200, 429]
    limited = kakao[-1]
    assert limited.json()["type"].endswith("/too-many-chat-messages")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert other_kakao.status_code == 200


async def test_marketing_consents_given_are_limited_and_withdrawing_never_is(
    services: Services, session: AsyncSession
) -> None:
    environ = services.environ(SHOA_RATE_LIMIT_MARKETING_GRANTS_PER_USER_PER_DAY="2")
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None))) as client:
        signed_up = await client.post("/v1/auth/signup", json={"email": "toggle@example.kr", "phone": "010-2222-3333",
                                                               "password": "linen-shirt-2026"})  # fmt: skip
        headers = {"Authorization": f"Bearer {signed_up.json()['access_token']}"}

        async def change(method: str, path: str) -> Any:
            return await client.request(method, f"/v1/me/marketing{path}", headers=headers)

        toggles = [await change(method, "/sms") for method in ("PUT", "DELETE", "PUT", "PUT", "DELETE", "PUT")]
        withdraw_all = await change("DELETE", "")
        after = (await change("GET", "")).json()

    assert [answer.status_code for answer in toggles] == [200, 200, 200, 200, 200, 429]  # the 4th only confirms
    assert toggles[-1].json()["type"].endswith("/too-many-consent-changes")
    assert int(toggles[-1].headers["retry-after"]) > 0
    assert withdraw_all.status_code == 200
    assert (after["channels"], after["night"]) == ([], None)
    notices = await session.scalar(
        sa.select(sa.func.count()).select_from(Message).where(Message.event == "marketing_consent_changed")
    )
    assert notices == 4  # two consents given, two withdrawn: nothing more reached her phone
