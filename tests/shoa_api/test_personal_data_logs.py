"""Personal data (email, phone, birth date, passwords, tokens, keys) never reaches the logs."""

from __future__ import annotations

import io
import logging
from typing import TYPE_CHECKING

import pytest

from catalog import keys
from shoa_api.observability import JsonFormatter
from tests.factories import create_mall

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient

EMAIL, PHONE, BIRTH_DATE, PASSWORD = "minji.kim@example.kr", "+821055551234", "1997-08-15", "secret-linen-2026"


@pytest.fixture
def every_log_line() -> Iterator[io.StringIO]:
    """Everything any logger writes, at every level, as the production JSON formatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


async def test_signup_login_and_profile_changes_log_no_personal_data(
    client: ShoaClient, session: AsyncSession, every_log_line: io.StringIO
) -> None:
    signup = await client.post(
        "/v1/auth/signup",
        json={"email": EMAIL, "phone": PHONE, "password": PASSWORD, "birth_date": BIRTH_DATE, "gender": "female"},
    )
    tokens = signup.json()
    await client.post("/v1/auth/login", json={"login": EMAIL, "password": PASSWORD})
    await client.post("/v1/auth/login", json={"login": PHONE, "password": "a-wrong-password"})
    await client.post("/v1/auth/signup", json={"email": EMAIL, "password": PASSWORD})  # 409
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    await client.patch("/v1/me", headers=auth, json={"phone": "+821099998888", "birth_date": "1997-08-16"})
    refreshed = (await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).json()
    mall = await create_mall(session)
    issued = await keys.issue_key(session, mall_id=mall.id, name="sync", scopes=["orders:read"])
    await session.commit()
    await client.get("/partner/v1/me", headers={"Authorization": f"Bearer {issued.key}"})

    logged = every_log_line.getvalue()
    assert "POST /v1/auth/signup 201" in logged  # the requests themselves were logged
    secrets = [
        EMAIL, "minji.kim", PHONE, "01055551234", "+821099998888", BIRTH_DATE, "1997-08-16", PASSWORD,
        tokens["access_token"], tokens["refresh_token"], refreshed["access_token"], refreshed["refresh_token"],
        issued.key,
    ]  # fmt: skip
    assert [secret for secret in secrets if secret in logged] == []
