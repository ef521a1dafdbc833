"""Text PostgreSQL cannot store (NUL, U+0000) is the client's mistake: a 422 problem, never a 500."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.client import ShoaClient


async def test_a_nul_in_signup_or_login_is_a_clear_422(client: ShoaClient) -> None:
    signup = await client.post(
        "/v1/auth/signup",
        json={"email": "nul@example.kr", "password": "linen-shirt-2026", "display_name": "지\u0000영"},
    )
    login = await client.post("/v1/auth/login", json={"login": "nul\u0000@example.kr", "password": "linen-shirt-2026"})

    for response in (signup, login):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "U+0000" in response.json()["detail"]
    # Nothing half-written: the address is still free.
    retry = await client.post("/v1/auth/signup", json={"email": "nul@example.kr", "password": "linen-shirt-2026"})
    assert retry.status_code == 201
