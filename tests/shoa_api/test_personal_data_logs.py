"""Personal data (email, phone, birth date, passwords, tokens, keys) never reaches the logs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from litestar import Request

from catalog import keys
from shoa_api.database import create_engine
from shoa_api.errors import exception_handlers
from shoa_api.settings import load_settings
from tests.factories import create_mall

if TYPE_CHECKING:
    import io

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from tests.client import ShoaClient
    from tests.conftest import Services

EMAIL, PHONE, BIRTH_DATE, PASSWORD = "minji.kim@example.kr", "+821055551234", "1997-08-15", "secret-linen-2026"


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


async def test_a_failing_statement_keeps_its_parameters_out_of_the_error_and_the_logs(
    services: Services, every_log_line: io.StringIO
) -> None:
    # With every statement logged (SHOA_DATABASE_ECHO), as an operator chasing a problem would switch on.
    settings = load_settings(services.environ(SHOA_DATABASE_ECHO="true"), env_file=None)
    engine = create_engine(settings.database)
    lookup = sa.text("SELECT id FROM users WHERE phone = :phone AND 1 / 0 = 1")  # fails whatever the phone
    try:
        async with engine.connect() as connection:
            found = await connection.execute(sa.text("SELECT id FROM users WHERE phone = :phone"), {"phone": PHONE})
            assert found.all() == []
            with pytest.raises(sa.exc.DBAPIError) as failed:
                await connection.execute(lookup, {"phone": PHONE})
    finally:
        await engine.dispose()
    # As the API's error handler logs an unexpected error: with its traceback.
    logging.getLogger("shoa_api.errors").error("unhandled error", exc_info=failed.value)

    assert "division by zero" in str(failed.value)
    assert PHONE not in str(failed.value)
    logged = every_log_line.getvalue()
    assert "SELECT id FROM users WHERE phone = $1" in logged  # the statements themselves were logged
    assert "division by zero" in logged
    assert PHONE not in logged


async def test_an_unexpected_database_error_is_logged_without_the_values_it_quotes(
    engine: AsyncEngine, every_log_line: io.StringIO
) -> None:
    insert = sa.text("INSERT INTO users (id, phone) VALUES (gen_random_uuid(), :phone)")
    async with engine.begin() as connection:
        await connection.execute(insert, {"phone": PHONE})
    with pytest.raises(sa.exc.IntegrityError) as duplicate:
        async with engine.begin() as connection:
            await connection.execute(insert, {"phone": PHONE})
    assert PHONE in str(duplicate.value)  # PostgreSQL's DETAIL quotes the row: Key (phone)=(+8210…) already exists
    scope = {"type": "http", "method": "POST", "path": "/v1/auth/signup", "headers": [], "query_string": b""}

    answer = exception_handlers()[Exception](Request(scope), duplicate.value)  # type: ignore[arg-type]

    assert answer.status_code == 500
    logged = every_log_line.getvalue()
    assert "SQLSTATE 23505" in logged
    assert "users_phone_key" in logged or "constraint_name" in logged
    assert "Traceback" in logged
    assert PHONE not in logged
