"""Shoppers sign up, log in, refresh and log out; stolen or forged tokens get nowhere."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import statistics
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import OctKey

from accounts.errors import InvalidTokenError
from accounts.models import RefreshToken, User
from accounts.tokens import key_id
from shoa_api.app import create_app
from shoa_api.settings import load_settings
from shoa_api.wiring import access_tokens_from
from tests.client import ShoaClient

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.conftest import Services

PASSWORD = "linen-shirt-2026"


async def signup(client: ShoaClient, **fields: Any) -> dict[str, Any]:
    body = {"email": "jiyoung@example.kr", "password": PASSWORD} | fields
    response = await client.post("/v1/auth/signup", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_signup_returns_tokens_and_the_profile_with_its_segment(client: ShoaClient) -> None:
    tokens = await signup(client, gender="female", birth_date="1998-03-03", display_name="지영", locale="ko")

    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 15 * 60
    assert tokens["refresh_token"].startswith("shoa_rt_")
    profile = tokens["profile"]
    assert profile["email"] == "jiyoung@example.kr"
    assert profile["age_band"] == "20s_late"
    assert profile["segment"] == "female:20s_late"
    assert profile["consents"] == {
        "alimtalk": False,
        "line": False,
        "instagram": False,
        "talktalk": False,
        "sms": False,
    }


async def test_passwords_and_refresh_tokens_are_stored_hashed(client: ShoaClient, session: AsyncSession) -> None:
    tokens = await signup(client)

    user = await session.scalar(sa.select(User))
    stored = await session.scalar(sa.select(RefreshToken))
    assert user is not None
    assert stored is not None
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert stored.token_hash != tokens["refresh_token"]
    assert len(stored.token_hash) == 64


@pytest.mark.parametrize("phone", ["+821012345678", "+82 10-1234-5678", "+819012345678", "+818012345678"])
async def test_signup_with_a_korean_or_japanese_mobile(client: ShoaClient, phone: str) -> None:
    tokens = await signup(client, email=None, phone=phone)

    assert tokens["profile"]["contacts"]["phone"] == phone.replace(" ", "").replace("-", "")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": None}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": None, "phone": "010-1234"}, "phone"),
        ({"email": None, "phone": "+14155550100"}, "phone"),
        ({"password": "short1!"}, "password"),
        ({"password": "qwertyuiop"}, "password"),
        ({"password": "1q2w3e4r5t"}, "password"),
        ({"password": "aaaaaaaaaaaa"}, "password"),
        ({"password": "jiyoung-password"}, "password"),
        ({"birth_date": "2015-01-01"}, "birth_date"),
        ({"birth_date": "2099-01-01"}, "birth_date"),
    ],
)
async def test_signup_refuses_bad_fields_by_name(client: ShoaClient, fields: dict[str, Any], field: str) -> None:
    body = {"email": "jiyoung@example.kr", "password": PASSWORD} | fields

    response = await client.post("/v1/auth/signup", json=body)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [error["field"] for error in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password1234", "this password is among the most common ones and appears in breached password lists"),
        ("iloveyou12", "this password is a common one from breached password lists with a small change"),
        ("P@ssw0rd2024", "this password is a common one from breached password lists with a small change"),
        ("Welcome123", "this password is among the most common ones and appears in breached password lists"),
    ],
)
async def test_a_common_or_breached_password_is_refused_saying_so(
    client: ShoaClient, password: str, reason: str
) -> None:
    response = await client.post("/v1/auth/signup", json={"email": "jiyoung@example.kr", "password": password})

    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(reason)
    assert [error["field"] for error in response.json()["errors"]] == ["password"]


async def test_a_password_holding_my_phone_number_as_i_write_it_is_refused(client: ShoaClient) -> None:
    body = {"phone": "010-1234-5678", "password": "closet01012345678"}

    response = await client.post("/v1/auth/signup", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "a password must not contain your email or phone number"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "jiyoung@example.kr", "password": PASSWORD, "gender": "robot"},
        {"email": "jiyoung@example.kr", "password": PASSWORD, "is_admin": True},
        {"email": "jiyoung@example.kr"},
        {"email": "jiyoung@example.kr", "password": PASSWORD, "birth_date": "03/03/1998"},
    ],
)
async def test_signup_refuses_a_wrong_shape(client: ShoaClient, body: dict[str, Any]) -> None:
    response = await client.post("/v1/auth/signup", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["errors"]


async def test_a_second_account_with_the_same_email_is_refused(client: ShoaClient) -> None:
    await signup(client)

    response = await client.post("/v1/auth/signup", json={"email": "JiYoung@Example.kr", "password": PASSWORD})

    assert response.status_code == 409
    assert response.json()["type"].endswith("/account-exists")


async def test_login_by_email_in_any_case_or_by_phone(client: ShoaClient) -> None:
    await signup(client, phone="+821012345678")

    by_email = await client.post("/v1/auth/login", json={"login": "JIYOUNG@example.kr", "password": PASSWORD})
    by_phone = await client.post("/v1/auth/login", json={"login": "+82 10-1234-5678", "password": PASSWORD})

    assert by_email.status_code == 200
    assert by_phone.status_code == 200
    assert by_email.json()["profile"]["id"] == by_phone.json()["profile"]["id"]


async def test_wrong_passwords_lock_a_phone_login_however_it_is_written(services: Services) -> None:
    environ = services.environ(
        SHOA_RATE_LIMIT_LOGIN_FAILURES_BEFORE_LOCKOUT="3", SHOA_RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE="100"
    )
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None))) as client:
        await signup(client, email=None, phone="010-1234-5678")
        failures = [
            (await client.post("/v1/auth/login", json={"login": spelling, "password": "not-my-password"})).status_code
            for spelling in ("010-1234-5678", "01012345678", "+82 10 1234 5678")
        ]

        locked = await client.post("/v1/auth/login", json={"login": "+821012345678", "password": PASSWORD})

    assert failures == [401, 401, 401]
    assert locked.status_code == 429
    assert locked.json()["type"].endswith("/login-locked")


@pytest.mark.parametrize(
    "login",
    [
        {"login": "jiyoung@example.kr", "password": "wrong-password-1"},
        {"login": "nobody@example.kr", "password": PASSWORD},
    ],
)
async def test_a_wrong_login_says_only_that_it_is_wrong(client: ShoaClient, login: dict[str, str]) -> None:
    await signup(client)

    response = await client.post("/v1/auth/login", json=login)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="shoa"'
    assert response.json()["detail"] == "the login or the password is wrong"


async def test_an_unknown_login_costs_a_password_check_as_a_wrong_password_does(services: Services) -> None:
    """Timing must not tell whether an account exists: with production-strength argon2, an unknown login takes
    about as long as a wrong password (a ratio, and medians, so that a busy machine does not make it flaky)."""
    environ = services.environ(
        SHOA_ARGON2_TIME_COST="3",
        SHOA_ARGON2_MEMORY_KIB="65536",
        SHOA_ARGON2_PARALLELISM="1",
        SHOA_RATE_LIMIT_LOGIN_FAILURES_BEFORE_LOCKOUT="1000",
    )
    wrong_password: list[float] = []
    unknown_account: list[float] = []
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None))) as client:
        await signup(client)
        for attempt in range(5):
            for login, timings in (
                ("jiyoung@example.kr", wrong_password),
                (f"nobody{attempt}@example.kr", unknown_account),
            ):
                started = time.perf_counter()
                response = await client.post("/v1/auth/login", json={"login": login, "password": "wrong-password-1"})
                timings.append(time.perf_counter() - started)
                assert response.status_code == 401

    assert statistics.median(unknown_account) >= 0.5 * statistics.median(wrong_password), (
        unknown_account,
        wrong_password,
    )


async def test_login_rehashes_when_the_hash_parameters_change(services: Services, session: AsyncSession) -> None:
    async with ShoaClient(app=create_app(load_settings(services.environ(), env_file=None))) as client:
        await signup(client)
    stronger = services.environ(SHOA_ARGON2_TIME_COST="2", SHOA_ARGON2_MEMORY_KIB="2048")
    async with ShoaClient(app=create_app(load_settings(stronger, env_file=None))) as client:
        response = await client.post("/v1/auth/login", json={"login": "jiyoung@example.kr", "password": PASSWORD})

    assert response.status_code == 200
    hashed = await session.scalar(sa.select(User.password_hash))
    assert hashed is not None
    assert "m=2048,t=2" in hashed


async def test_me_needs_a_token(client: ShoaClient) -> None:
    response = await client.get("/v1/me")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="shoa"'
    assert response.json()["type"].endswith("/missing-credentials")


async def test_me_shows_and_changes_my_profile(client: ShoaClient) -> None:
    tokens = await signup(client)
    assert (await client.get("/v1/me", headers=bearer(tokens))).json()["segment"] == "anonymous"

    response = await client.patch(
        "/v1/me",
        headers=bearer(tokens),
        json={
            "gender": "female",
            "birth_date": "1993-06-01",
            "phone": "+821098765432",
            "instagram_id": "jiyoung.daily",
            "preferred_messenger": "alimtalk",
            "consents": {"alimtalk": True, "sms": True},
        },
    )

    assert response.status_code == 200, response.text
    me = response.json()
    assert me["segment"] == "female:30s_early"
    assert me["contacts"]["phone"] == "+821098765432"
    assert me["contacts"]["instagram_id"] == "jiyoung.daily"
    assert me["consents"] == {"alimtalk": True, "line": False, "instagram": False, "talktalk": False, "sms": True}
    assert (await client.get("/v1/me", headers=bearer(tokens))).json() == me


@pytest.mark.parametrize(
    "changes",
    [{"birth_date": "2020-01-01"}, {"phone": "12345"}, {"line_user_id": "U123"}, {"gender": "x"}, {"email": None}],
)
async def test_me_refuses_bad_changes(client: ShoaClient, changes: dict[str, Any]) -> None:
    tokens = await signup(client)

    response = await client.patch("/v1/me", headers=bearer(tokens), json=changes)

    assert response.status_code == 422, response.text


async def test_refresh_rotates_and_a_reused_token_revokes_the_whole_login(client: ShoaClient) -> None:
    first = await signup(client)

    second = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]

    replay = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["type"].endswith("/refresh-token-reused")

    # The thief's replay also cut off the legitimate holder of the newer token.
    after = await client.post("/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]})
    assert after.status_code == 401


async def test_a_reused_refresh_token_ends_every_access_token_of_its_login(client: ShoaClient) -> None:
    login = await signup(client)
    rotated = (await client.post("/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})).json()
    # A thief copied the newest refresh token and uses it first; the shopper's app then presents the same one.
    thief = (await client.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})).json()
    laptop = (await client.post("/v1/auth/login", json={"login": "jiyoung@example.kr", "password": PASSWORD})).json()
    for tokens in (login, rotated, thief, laptop):
        assert (await client.get("/v1/me", headers=bearer(tokens))).status_code == 200

    replay = await client.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})

    assert replay.json()["type"].endswith("/refresh-token-reused")
    for tokens in (login, rotated, thief):  # every access token of that login, the thief's included
        ended = await client.get("/v1/me", headers=bearer(tokens))
        assert ended.status_code == 401
        assert ended.json()["type"].endswith("/invalid-token")
    assert (await client.get("/v1/me", headers=bearer(laptop))).status_code == 200  # another login


async def test_every_api_process_hears_at_once_that_a_login_was_stolen(services: Services) -> None:
    settings = load_settings(services.environ(), env_file=None)
    async with ShoaClient(app=create_app(settings)) as first, ShoaClient(app=create_app(settings)) as second:
        await asyncio.wait_for(second.app.state.mirror.live_since.wait(), 5)
        login = await signup(first)
        thief = (await first.post("/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})).json()
        # The second process has now seen both tokens as good, and keeps that in its mirror.
        assert (await second.get("/v1/me", headers=bearer(login))).status_code == 200
        assert (await second.get("/v1/me", headers=bearer(thief))).status_code == 200

        replay = await first.post("/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})
        assert replay.status_code == 401

        deadline = time.monotonic() + 2.0
        statuses: list[int] = []
        while time.monotonic() < deadline:
            statuses = [(await second.get("/v1/me", headers=bearer(t))).status_code for t in (login, thief)]
            if statuses == [401, 401]:
                break
            await asyncio.sleep(0.01)
        assert statuses == [401, 401]


async def test_logout_also_ends_the_access_tokens_of_earlier_rotations(client: ShoaClient) -> None:
    login = await signup(client)
    rotated = (await client.post("/v1/auth/refresh", json={"refresh_token": login["refresh_token"]})).json()

    response = await client.post(
        "/v1/auth/logout", headers=bearer(rotated), json={"refresh_token": rotated["refresh_token"]}
    )

    assert response.status_code == 204
    assert (await client.get("/v1/me", headers=bearer(login))).status_code == 401


async def test_refresh_does_not_touch_other_logins(client: ShoaClient) -> None:
    phone_app = await signup(client)
    laptop = (await client.post("/v1/auth/login", json={"login": "jiyoung@example.kr", "password": PASSWORD})).json()
    await client.post("/v1/auth/refresh", json={"refresh_token": phone_app["refresh_token"]})
    await client.post("/v1/auth/refresh", json={"refresh_token": phone_app["refresh_token"]})  # reuse

    response = await client.post("/v1/auth/refresh", json={"refresh_token": laptop["refresh_token"]})

    assert response.status_code == 200


async def test_an_unknown_refresh_token_is_refused(client: ShoaClient) -> None:
    response = await client.post("/v1/auth/refresh", json={"refresh_token": "shoa_rt_made-up"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="shoa", error="invalid_token"'


async def test_logout_ends_both_tokens(client: ShoaClient) -> None:
    tokens = await signup(client)

    response = await client.post(
        "/v1/auth/logout", headers=bearer(tokens), json={"refresh_token": tokens["refresh_token"]}
    )

    assert response.status_code == 204
    assert (await client.get("/v1/me", headers=bearer(tokens))).status_code == 401
    refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _b64decode(part: str) -> dict[str, Any]:
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


async def test_a_token_with_a_changed_payload_is_refused(client: ShoaClient) -> None:
    tokens = await signup(client)
    header, payload, signature = tokens["access_token"].split(".")
    forged = _b64decode(payload) | {"sub": str(uuid.uuid4())}

    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {header}.{_b64(forged)}.{signature}"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="shoa", error="invalid_token"'


async def test_an_unsigned_token_is_refused(client: ShoaClient) -> None:
    tokens = await signup(client)
    header, payload, _ = tokens["access_token"].split(".")
    unsigned = _b64(_b64decode(header) | {"alg": "none"})

    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {unsigned}.{payload}."})

    assert response.status_code == 401


async def test_a_token_signed_with_another_key_is_refused(services: Services, client: ShoaClient) -> None:
    tokens = await signup(client)
    user_id = uuid.UUID(tokens["profile"]["id"])
    stranger = load_settings(services.environ(SHOA_SECRET_KEY="another-service-key-" * 3), env_file=None)
    foreign, _ = access_tokens_from(stranger.security).issue(user_id, now=datetime.datetime.now(datetime.UTC))

    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {foreign}"})

    assert response.status_code == 401


async def test_an_expired_token_is_refused(client: ShoaClient, settings: Any) -> None:
    tokens = await signup(client)
    user_id = uuid.UUID(tokens["profile"]["id"])
    an_hour_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
    expired, _ = access_tokens_from(settings.security).issue(user_id, now=an_hour_ago)

    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {expired}"})

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


@pytest.mark.parametrize("expires", [1e20, -1e20, 2**63, 253402300800])
async def test_a_validly_signed_token_with_an_absurd_expiry_is_refused(
    client: ShoaClient, settings: Any, expires: float
) -> None:
    tokens = await signup(client)
    secret = settings.security.secret_key.reveal()
    claims = {"iss": "shoa", "typ": "access", "sub": tokens["profile"]["id"], "jti": "j1", "exp": expires}
    forged = jwt.encode({"alg": "HS256", "kid": key_id(secret), "typ": "JWT"}, claims, OctKey.import_key(secret))

    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})

    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_token_verified_before_is_still_refused_once_it_expires(settings: Any) -> None:
    """Verified tokens are remembered (their signature cannot change), their expiry is checked every time."""
    tokens = access_tokens_from(settings.security)
    now = datetime.datetime.now(datetime.UTC)
    token, claims = tokens.issue(uuid.uuid4(), now=now)
    assert tokens.verify(token, now=now).user_id == claims.user_id
    assert tokens.verify(token, now=claims.expires_at - datetime.timedelta(seconds=1)) == tokens.verify(token, now=now)
    with pytest.raises(InvalidTokenError, match="expired"):
        tokens.verify(token, now=claims.expires_at)
    with pytest.raises(InvalidTokenError, match="signature"):
        tokens.verify(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), now=now)


async def test_rotating_the_key_keeps_everyone_logged_in(services: Services) -> None:
    old_key, new_key = "the-key-before-rotation-" * 2, "the-key-after-rotation--" * 2
    async with ShoaClient(
        app=create_app(load_settings(services.environ(SHOA_SECRET_KEY=old_key), env_file=None))
    ) as client:
        tokens = await signup(client)

    rotated = services.environ(SHOA_SECRET_KEY=new_key, SHOA_PREVIOUS_SECRET_KEYS=old_key)
    async with ShoaClient(app=create_app(load_settings(rotated, env_file=None))) as client:
        still_in = await client.get("/v1/me", headers=bearer(tokens))
        refreshed = (await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).json()
    retired = services.environ(SHOA_SECRET_KEY=new_key)
    async with ShoaClient(app=create_app(load_settings(retired, env_file=None))) as client:
        old_token = await client.get("/v1/me", headers=bearer(tokens))
        new_token = await client.get("/v1/me", headers=bearer(refreshed))

    assert still_in.status_code == 200
    assert old_token.status_code == 401
    assert new_token.status_code == 200


async def test_erasing_my_account_forgets_me_and_ends_my_sessions(client: ShoaClient, session: AsyncSession) -> None:
    tokens = await signup(client, phone="+821012345678", gender="female", birth_date="1998-03-03", display_name="지영")

    response = await client.delete("/v1/me", headers=bearer(tokens))

    assert response.status_code == 204
    user = await session.scalar(sa.select(User))
    assert user is not None
    assert (user.email, user.phone, user.display_name, user.birth_date, user.password_hash) == (None,) * 5
    assert user.status == "erased"
    assert (await client.get("/v1/me", headers=bearer(tokens))).status_code == 401
    login = await client.post("/v1/auth/login", json={"login": "jiyoung@example.kr", "password": PASSWORD})
    assert login.status_code == 401
    assert (await client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 401
    again = await client.post("/v1/auth/signup", json={"email": "jiyoung@example.kr", "password": PASSWORD})
    assert again.status_code == 201
