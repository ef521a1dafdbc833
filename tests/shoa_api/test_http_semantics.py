"""HTTP as clients and proxies expect it: HEAD and OPTIONS tell the truth, answers say how they may be kept,
and nothing a client sends can forge or recolour an operator's console log."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from shoa_api.observability import ConsoleFormatter
from tests.catalog.test_sync import _mall
from tests.shoa_api.test_auth import PASSWORD, bearer, signup
from tests.shoa_api.test_observability import shoa_log

if TYPE_CHECKING:
    import io
    from collections.abc import Iterator

    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/v1/me", "DELETE, GET, HEAD, OPTIONS, PATCH"),
        ("/v1/likes/01a22747-0000-7000-8000-000000000000", "DELETE, OPTIONS, PUT"),
        ("/v1/categories", "GET, HEAD, OPTIONS"),
        ("/v1/auth/login", "OPTIONS, POST"),
        ("/partner/v1/products", "GET, HEAD, OPTIONS, PUT"),
        ("/partner/v1/products/A1", "DELETE, OPTIONS, PATCH"),
    ],
)
async def test_options_lists_the_methods_a_path_really_has(
    client: ShoaClient, session: AsyncSession, path: str, allow: str
) -> None:
    mall = await _mall(session, client)  # the partner API answers only its malls, OPTIONS included

    response = await client.options(path, headers=mall.headers if path.startswith("/partner/") else {})

    assert response.status_code == 204
    assert response.headers["allow"] == allow


async def test_head_answers_as_get_does_without_a_body(client: ShoaClient, session: AsyncSession) -> None:
    await _mall(session, client)
    for path in ("/v1/categories", "/v1/malls?limit=2", "/health/live", "/v1/nothing-here"):
        got = await client.get(path)

        head = await client.head(path)

        assert head.status_code == got.status_code, path
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == got.headers["content-length"]


async def test_every_answer_forbids_content_sniffing(client: ShoaClient) -> None:
    for response in (
        await client.get("/v1/malls"),
        await client.get("/v1/malls"),  # the cached copy too
        await client.get("/v1/nothing-here"),
        await client.post("/v1/auth/login", json={"login": "nobody@example.kr", "password": PASSWORD}),
        await client.get("/health/live"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_answers_with_tokens_or_personal_data_are_never_stored(client: ShoaClient, session: AsyncSession) -> None:
    mall = await _mall(session, client)
    tokens = await signup(client)
    refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    login = await client.post("/v1/auth/login", json={"login": "jiyoung@example.kr", "password": PASSWORD})
    personal = [
        refreshed,
        login,
        await client.get("/v1/me", headers=bearer(login.json())),
        await client.get("/v1/likes", headers=bearer(login.json())),
        await client.get("/v1/feed", headers=bearer(login.json())),
        await client.get("/partner/v1/products", headers=mall.headers),
        await client.get("/partner/v1/me", headers=mall.headers),
    ]

    for response in personal:
        assert response.status_code == 200, response.request.url
        assert response.headers["cache-control"] == "no-store", response.request.url
    assert "no-store" not in (await client.get("/v1/categories")).headers.get("cache-control", "")


@pytest.fixture
def console_log() -> Iterator[io.StringIO]:
    with shoa_log(ConsoleFormatter()) as stream:
        yield stream


async def test_a_url_cannot_forge_a_console_log_line_or_write_terminal_escapes(
    client: ShoaClient, console_log: io.StringIO
) -> None:
    await client.get("/v1/malls/x%0a12:00:00 INFO    shoa.access: GET /admin 200%1b[31m%e2%80%ae")

    lines = console_log.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert "\x1b" not in lines[0]
    assert "\u202e" not in lines[0]
    assert "x\\n12:00:00 INFO" in lines[0]
    assert "\\u001b[31m" in lines[0]
