"""Every route that reads a JSON body refuses the same bad bodies the same way: a clear 4xx, never a 500.

Too deep, not JSON at all, empty where a body is needed, or sent as something other than JSON (which another
site's page could make a visitor's browser post without asking): each is one problem type on every route.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest

from tests.catalog.test_sync import _mall, product
from tests.shoa_api.test_auth import bearer, signup

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient

ROUTES = (
    ("POST", "/v1/auth/signup", None),
    ("POST", "/v1/auth/login", None),
    ("POST", "/v1/auth/refresh", None),
    ("POST", "/v1/auth/logout", "shopper"),  # without her token, a 401 before anything of the body
    ("PATCH", "/v1/me", "shopper"),
    ("POST", "/v1/events", "shopper"),
    ("PUT", "/partner/v1/products", "mall"),
    ("PATCH", "/partner/v1/products/A1", "mall"),
    ("PUT", "/partner/v1/stock", "mall"),
)


async def _credentials(client: ShoaClient, session: AsyncSession) -> dict[str | None, dict[str, str]]:
    mall = await _mall(session, client)
    await mall.sync(product("A1"))
    shopper = bearer(await signup(client))
    return {None: {}, "shopper": shopper, "mall": mall.headers}


async def _send(
    client: ShoaClient, method: str, path: str, headers: dict[str, str], body: bytes, content_type: str | None
) -> Any:
    sent = dict(headers)
    if content_type is not None:
        sent["Content-Type"] = content_type
    return await client.request(method, path, content=body, headers=sent)


async def test_deeply_nested_json_is_refused_on_every_route(
    client: ShoaClient, session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    credentials = await _credentials(client, session)
    deep = b"[" * 1000 + b"]" * 1000
    wrapped = b'{"products": ' + deep + b', "events": ' + deep + b"}"

    for method, path, who in ROUTES:
        for body in (deep, wrapped):
            response = await _send(client, method, path, credentials[who], body, "application/json")

            assert response.status_code == 400, (path, response.text)
            assert response.json()["type"].endswith("/json-too-deep")
            assert response.headers["content-type"].startswith("application/problem+json")
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"a":', "ends early"),
        (b'{"email": "\\ud800", "password": "x"}', "surrogate"),
        (b'{"a": [1, 2,}', "malformed"),
        (b"not json", "malformed"),
        (b"", "empty"),
    ],
)
async def test_a_body_that_is_not_json_is_one_problem_everywhere(
    client: ShoaClient, session: AsyncSession, body: bytes, says: str
) -> None:
    credentials = await _credentials(client, session)

    for method, path, who in ROUTES:
        response = await _send(client, method, path, credentials[who], body, "application/json")

        assert response.status_code == 400, (path, response.text)
        problem = response.json()
        assert problem["type"].endswith("/malformed-json"), (path, problem)
        assert says in problem["detail"], problem


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
async def test_a_body_not_sent_as_json_is_refused_before_it_is_read(
    client: ShoaClient, session: AsyncSession, content_type: str | None
) -> None:
    credentials = await _credentials(client, session)
    login = b'{"login": "jiyoung@example.kr", "password": "linen-shirt-2026"}'

    for method, path, who in ROUTES:
        response = await _send(client, method, path, credentials[who], login, content_type)

        assert response.status_code == 415, (path, content_type, response.text)
        assert response.json()["type"].endswith("/unsupported-media-type")
        assert response.headers[f"accept-{method.lower()}"] == "application/json"


async def test_a_json_body_with_its_charset_is_read(client: ShoaClient) -> None:
    await signup(client)
    body = b'{"login": "jiyoung@example.kr", "password": "linen-shirt-2026"}'

    response = await client.post(
        "/v1/auth/login", content=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )

    assert response.status_code == 200, response.text


async def test_a_body_of_the_allowed_depth_still_reaches_the_route(client: ShoaClient, session: AsyncSession) -> None:
    mall = await _mall(session, client)
    nested: Any = "deep"
    for _ in range(13):  # 26 levels, 30 with the batch around it
        nested = {"level": [nested]}
    item = product("A1", description='괄호 "[[[[" 와 {중괄호} 가 든 설명 \\ 끝', extra_detail=nested)

    response = await client.put("/partner/v1/products", headers=mall.headers, json={"products": [item]})

    # The item itself is refused for its unknown field, by name: the gate let the batch through to the route.
    assert response.status_code == 200, response.text
    assert response.json()["items"][0]["result"] == "rejected"
