"""OWASP API Security Top 10 (2023), API8 — security misconfiguration: no cross-origin reads granted to any site,
every answer marked against content sniffing, Shoa's own pages never framed, and no development route outside
development. (Stack traces never reaching a client: ``tests/shoa_api/test_observability.py``; answers with tokens
or personal data never cached: ``tests/shoa_api/test_http_semantics.py``.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.client import ShoaClient

EVIL = "https://evil.example"
READS = ["/v1/feed", "/v1/search?q=린넨", "/v1/malls", "/v1/me", "/partner/v1/orders", "/schema/openapi.json"]


@pytest.mark.parametrize("path", READS)
async def test_no_site_is_allowed_to_read_an_answer_cross_origin(client: ShoaClient, path: str) -> None:
    """Apps are native; no browser page of another site may read an answer, with or without credentials."""
    response = await client.get(path, headers={"Origin": EVIL, "Authorization": "Bearer not-a-token"})
    allowed = {name.lower() for name in response.headers if name.lower().startswith("access-control-")}
    assert allowed == set()


async def test_a_cross_origin_preflight_is_granted_nothing(client: ShoaClient) -> None:
    response = await client.request(
        "OPTIONS",
        "/v1/cart/items/01a22747-0000-7000-8000-000000000000",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize("path", ["/v1/malls", "/nowhere", "/w/never-sent", "/partner/insights"])
async def test_every_answer_forbids_content_sniffing(client: ShoaClient, path: str) -> None:
    response = await client.get(path, follow_redirects=False)
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/w/never-sent", "/w/never-sent/opt-out", "/partner/insights"])
async def test_shoa_s_pages_cannot_be_framed_nor_run_scripts(client: ShoaClient, path: str) -> None:
    """The opt-out button and the staff page would be clickjacking targets in another site's frame."""
    response = await client.get(path, follow_redirects=False)
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "default-src 'none'" in policy
    assert "script-src" not in policy


@pytest.mark.parametrize("path", ["/dev/messages", "/dev/payments/01a22747-0000-7000-8000-000000000000/deposit"])
async def test_development_routes_do_not_exist_outside_development(client: ShoaClient, path: str) -> None:
    method = "GET" if path == "/dev/messages" else "POST"
    response = await client.request(method, path)
    assert response.status_code == 404
