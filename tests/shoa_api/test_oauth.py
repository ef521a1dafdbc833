"""Shoppers log in with Kakao, Naver or LINE; forged, replayed or refused logins get nowhere.

Every provider here is a local server speaking its documented protocol (tests/oauth_providers.py). A login goes
as on a phone: the app asks Shoa where to send the shopper, the in-app browser follows the provider's consent
and is redirected to Shoa's callback, and the callback answers the same session a password login does.
"""

from __future__ import annotations

import copy
import datetime
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from accounts.models import OAuthIdentity, User
from accounts.segments import korea_today, segment_for
from shoa_api.app import create_app
from shoa_api.settings import load_settings
from tests.client import ShoaClient
from tests.oauth_providers import SHOA_BASE_URL, FakeProvider, KakaoFake, LineFake, NaverFake, s256, serve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.conftest import Services

PASSWORD = "linen-shirt-2026"

# Each as the provider's user-info answer (Kakao, Naver) or ID token (LINE) documents it.
KAKAO_PERSON: dict[str, Any] = {
    "id": 3145926535,
    "connected_at": "2026-11-29T01:02:03Z",
    "properties": {"nickname": "지영"},
    "kakao_account": {
        "profile_nickname_needs_agreement": False,
        "profile": {"nickname": "지영", "is_default_image": True},
        "has_email": True,
        "email_needs_agreement": False,
        "is_email_valid": True,
        "is_email_verified": True,
        "email": "jiyoung@kakao.com",
        "has_age_range": True,
        "age_range": "20~29",
        "has_birthyear": True,
        "birthyear": "1998",
        "has_birthday": True,
        "birthday": "0303",
        "birthday_type": "SOLAR",
        "has_gender": True,
        "gender": "female",
        "has_phone_number": True,
        "phone_number": "+82 10-1234-5678",
    },
}
NAVER_PERSON: dict[str, Any] = {
    "id": "Bk2tbTlBoXjeKcJvLLZQ-Hx9ZN6kgUdiaSoC5gYgiL0",
    "nickname": "민준",
    "name": "김민준",
    "email": "minjun@naver.com",
    "gender": "M",
    "age": "30-39",
    "birthday": "07-21",
    "birthyear": "1992",
    "mobile": "010-9876-5432",
    "mobile_e164": "+821098765432",
    "profile_image": "https://phinf.pstatic.net/contact/demo.png",
}
LINE_PERSON: dict[str, Any] = {
    "sub": "U4af4980629a5c5b6a8f3a9d1f6a3b2c1",
    "name": "さくら",
    "email": "sakura@example.jp",
}


@pytest.fixture
def kakao() -> Iterator[KakaoFake]:
    yield from serve(KakaoFake(person=copy.deepcopy(KAKAO_PERSON)))


@pytest.fixture
def naver() -> Iterator[NaverFake]:
    yield from serve(NaverFake(person=copy.deepcopy(NAVER_PERSON)))


@pytest.fixture
def line() -> Iterator[LineFake]:
    yield from serve(LineFake(person=copy.deepcopy(LINE_PERSON)))


@pytest.fixture(params=["kakao", "naver", "line"])
def provider(request: pytest.FixtureRequest, kakao: KakaoFake, naver: NaverFake, line: LineFake) -> FakeProvider:
    fakes: dict[str, FakeProvider] = {"kakao": kakao, "naver": naver, "line": line}
    return fakes[request.param]


@pytest.fixture
async def shoa(services: Services, kakao: KakaoFake, naver: NaverFake, line: LineFake) -> AsyncIterator[ShoaClient]:
    environ = services.environ(
        SHOA_OAUTH_REDIRECT_BASE_URL=SHOA_BASE_URL, **kakao.environ(), **naver.environ(), **line.environ()
    )
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None)), base_url=SHOA_BASE_URL) as client:
        yield client


async def start_login(shoa: ShoaClient, provider: str) -> dict[str, str]:
    response = await shoa.get(f"/v1/auth/oauth/{provider}/authorize")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def consent(authorization_url: str) -> str:
    """What the in-app browser does at the provider: log in, agree, and be sent back; the redirect target."""
    async with httpx.AsyncClient(trust_env=False) as browser:
        answer = await browser.get(authorization_url)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{SHOA_BASE_URL}/v1/auth/oauth/")
    return str(location)


def callback_with(location: str, **changes: str) -> str:
    parts = urlsplit(location)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()} | changes
    return f"{parts.path}?{urlencode(query)}"


async def log_in(shoa: ShoaClient, provider: FakeProvider) -> httpx.Response:
    started = await start_login(shoa, provider.name)
    return await shoa.get(callback_with(await consent(started["authorization_url"])))


async def logged_in(shoa: ShoaClient, provider: FakeProvider) -> dict[str, Any]:
    response = await log_in(shoa, provider)
    assert response.status_code == 200, response.text
    return dict(response.json())


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith(f"/{code}")


async def count(session: AsyncSession, model: type[User | OAuthIdentity]) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


# --- Starting a login ----------------------------------------------------------------------------------------


async def test_authorize_gives_the_provider_url_with_pkce_and_a_single_use_state(
    shoa: ShoaClient, provider: FakeProvider, redis_client: Redis
) -> None:
    started = await start_login(shoa, provider.name)

    url = urlsplit(started["authorization_url"])
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    assert started["authorization_url"].startswith(f"{provider.base_url}/")
    assert query["response_type"] == "code"
    assert query["client_id"] == provider.client_id
    assert query["redirect_uri"] == f"{SHOA_BASE_URL}/v1/auth/oauth/{provider.name}/callback"
    assert query["state"] == started["state"]
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert ("nonce" in query) == (provider.name == "line")
    if provider.name == "line":
        assert query["scope"].split() == ["openid", "profile", "email"]
    assert 590 < await redis_client.ttl(f"shoa:oauth-state:{started['state']}") <= 600


async def test_two_logins_get_two_different_states_and_challenges(shoa: ShoaClient) -> None:
    first, second = await start_login(shoa, "kakao"), await start_login(shoa, "kakao")

    assert first["state"] != second["state"]
    assert first["authorization_url"] != second["authorization_url"]


@pytest.mark.parametrize("name", ["naver", "line", "facebook"])
async def test_a_disabled_or_unknown_provider_is_not_found(services: Services, kakao: KakaoFake, name: str) -> None:
    environ = services.environ(SHOA_OAUTH_REDIRECT_BASE_URL=SHOA_BASE_URL, **kakao.environ())
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None)), base_url=SHOA_BASE_URL) as client:
        authorize = await client.get(f"/v1/auth/oauth/{name}/authorize")
        callback = await client.get(f"/v1/auth/oauth/{name}/callback?code=abc&state=xyz")
        enabled = await client.get("/v1/auth/oauth/kakao/authorize")

    assert_problem(authorize, 404, "oauth-provider-not-found")
    assert_problem(callback, 404, "oauth-provider-not-found")
    assert enabled.status_code == 200


# --- A successful login, per provider ------------------------------------------------------------------------


async def test_kakao_login_opens_an_account_with_the_kakao_profile(shoa: ShoaClient, kakao: KakaoFake) -> None:
    tokens = await logged_in(shoa, kakao)

    assert tokens["token_type"] == "Bearer"
    assert tokens["refresh_token"].startswith("shoa_rt_")
    me = (await shoa.get("/v1/me", headers=bearer(tokens))).json()
    assert me == tokens["profile"]
    assert me["email"] == "jiyoung@kakao.com"
    assert me["display_name"] == "지영"
    assert me["gender"] == "female"
    assert me["birth_date"] == "1998-03-03"
    assert me["segment"] == segment_for("female", datetime.date(1998, 3, 3), today=korea_today())
    assert me["contacts"]["phone"] == "+821012345678"
    assert me["contacts"]["line_user_id"] is None
    # The token endpoint saw the client secret, the registered redirect URI and the PKCE verifier.
    [exchange] = kakao.token_requests
    assert exchange["client_secret"] == kakao.client_secret
    assert exchange["redirect_uri"] == kakao.redirect_uri
    assert len(exchange["code_verifier"]) >= 43


async def test_naver_login_opens_an_account_with_the_naver_profile(shoa: ShoaClient, naver: NaverFake) -> None:
    tokens = await logged_in(shoa, naver)

    me = (await shoa.get("/v1/me", headers=bearer(tokens))).json()
    assert me["email"] == "minjun@naver.com"
    assert me["display_name"] == "민준"
    assert me["gender"] == "male"
    assert me["birth_date"] == "1992-07-21"
    assert me["segment"] == segment_for("male", datetime.date(1992, 7, 21), today=korea_today())
    assert me["contacts"]["phone"] == "+821098765432"
    # Naver wants the login's state again at its token endpoint.
    [exchange] = naver.token_requests
    assert exchange["state"]
    assert exchange["client_secret"] == naver.client_secret


async def test_line_login_opens_an_account_reachable_on_line(shoa: ShoaClient, line: LineFake) -> None:
    tokens = await logged_in(shoa, line)

    me = (await shoa.get("/v1/me", headers=bearer(tokens))).json()
    assert me["contacts"]["line_user_id"] == LINE_PERSON["sub"]
    assert me["display_name"] == "さくら"
    assert me["email"] == "sakura@example.jp"
    # LINE gives neither gender nor birth date, so the feed stays the default one.
    assert (me["gender"], me["birth_date"], me["segment"]) == (None, None, "anonymous")
    [exchange] = line.token_requests
    assert exchange["id_token_key_type"] == "JWK"
    assert exchange["code_verifier"]


async def test_line_accepts_an_hs256_id_token_signed_with_the_channel_secret(shoa: ShoaClient, line: LineFake) -> None:
    line.sign_hs256 = True  # what LINE's plain web login issues

    tokens = await logged_in(shoa, line)

    assert tokens["profile"]["contacts"]["line_user_id"] == LINE_PERSON["sub"]


async def test_a_second_login_reaches_the_same_account(
    shoa: ShoaClient, provider: FakeProvider, session: AsyncSession
) -> None:
    first = await logged_in(shoa, provider)
    second = await logged_in(shoa, provider)

    assert second["profile"]["id"] == first["profile"]["id"]
    assert second["refresh_token"] != first["refresh_token"]
    assert await count(session, User) == 1
    assert await count(session, OAuthIdentity) == 1


async def test_one_person_on_three_providers_with_one_email_has_one_account(
    shoa: ShoaClient, kakao: KakaoFake, naver: NaverFake, line: LineFake
) -> None:
    for fake in (naver, line):
        fake.person["email"] = "jiyoung@kakao.com"

    ids = {(await logged_in(shoa, fake))["profile"]["id"] for fake in (kakao, naver, line)}

    assert len(ids) == 1


# --- Linking to an existing account ---------------------------------------------------------------------------


def email_of(provider: FakeProvider) -> str:
    person = provider.person
    return str(person["kakao_account"]["email"] if "kakao_account" in person else person["email"])


async def test_a_verified_email_links_the_login_to_the_existing_password_account(
    shoa: ShoaClient, provider: FakeProvider, session: AsyncSession
) -> None:
    signup = await shoa.post(
        "/v1/auth/signup", json={"email": email_of(provider), "password": PASSWORD, "display_name": "내 이름"}
    )
    assert signup.status_code == 201, signup.text

    tokens = await logged_in(shoa, provider)

    assert tokens["profile"]["id"] == signup.json()["profile"]["id"]
    # What the shopper set stays; what the account lacked comes from the provider.
    assert tokens["profile"]["display_name"] == "내 이름"
    if provider.name == "line":
        assert tokens["profile"]["contacts"]["line_user_id"] == LINE_PERSON["sub"]
    else:
        assert tokens["profile"]["gender"] is not None
    password_login = await shoa.post("/v1/auth/login", json={"login": email_of(provider), "password": PASSWORD})
    assert password_login.status_code == 200
    assert await count(session, User) == 1


async def test_an_unverified_kakao_email_neither_links_nor_is_stored(shoa: ShoaClient, kakao: KakaoFake) -> None:
    signup = await shoa.post("/v1/auth/signup", json={"email": "jiyoung@kakao.com", "password": PASSWORD})
    kakao.person["kakao_account"]["is_email_verified"] = False

    tokens = await logged_in(shoa, kakao)

    assert tokens["profile"]["id"] != signup.json()["profile"]["id"]
    assert tokens["profile"]["email"] is None


async def test_a_phone_another_account_uses_stays_with_that_account(shoa: ShoaClient, kakao: KakaoFake) -> None:
    await shoa.post("/v1/auth/signup", json={"phone": "+821012345678", "password": PASSWORD})

    tokens = await logged_in(shoa, kakao)

    assert tokens["profile"]["contacts"]["phone"] is None
    assert tokens["profile"]["email"] == "jiyoung@kakao.com"


# --- What each provider's profile says, and does not say ------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "birth_date", "band"),
    [
        # A birth year alone is no birth date, but it still places the shopper in an age band.
        ({"birthday": None, "has_birthday": False}, None, "20s_late"),
        # A birthday alone is nothing; the decade range 20~29 cannot tell early, mid or late twenties.
        ({"birthyear": None, "has_birthyear": False}, None, None),
        ({"birthday_type": "LUNAR"}, None, "20s_late"),  # a lunar birthday is not a calendar date
        ({"birthday": "0229", "birthyear": "1999"}, None, "20s_late"),  # no such day
        ({}, "1998-03-03", "20s_late"),
        ({"birthyear": None, "has_birthyear": False, "age_range": "40~49"}, None, "40s_plus"),
    ],
)
async def test_kakao_birth_dates_are_stored_only_when_given_whole(
    shoa: ShoaClient,
    kakao: KakaoFake,
    changes: dict[str, Any],
    birth_date: str | None,
    band: str | None,
) -> None:
    kakao.person["kakao_account"] |= changes

    profile = (await logged_in(shoa, kakao))["profile"]

    assert profile["birth_date"] == birth_date
    assert profile["gender"] == "female"
    assert profile["age_band"] == band
    assert profile["segment"] == (f"female:{band}" if band else "anonymous")


async def test_naver_unknown_gender_is_left_empty(shoa: ShoaClient, naver: NaverFake) -> None:
    naver.person["gender"] = "U"

    profile = (await logged_in(shoa, naver))["profile"]

    assert profile["gender"] is None
    assert profile["segment"] == "anonymous"


async def test_a_shopper_under_14_is_refused(shoa: ShoaClient, kakao: KakaoFake, session: AsyncSession) -> None:
    kakao.person["kakao_account"]["birthyear"] = str(korea_today().year - 10)

    response = await log_in(shoa, kakao)

    assert_problem(response, 403, "underage-shopper")
    assert await count(session, User) == 0


# --- Forged, replayed, refused ----------------------------------------------------------------------------------


async def test_a_forged_or_missing_state_is_refused(shoa: ShoaClient, provider: FakeProvider) -> None:
    started = await start_login(shoa, provider.name)
    location = await consent(started["authorization_url"])

    forged = await shoa.get(callback_with(location, state="made-up-by-an-attacker"))
    missing = await shoa.get(f"/v1/auth/oauth/{provider.name}/callback?{urlencode({'code': 'abc'})}")

    assert_problem(forged, 400, "invalid-oauth-state")
    assert_problem(missing, 400, "invalid-oauth-state")
    assert provider.token_requests == []


async def test_a_state_works_once(shoa: ShoaClient, provider: FakeProvider) -> None:
    started = await start_login(shoa, provider.name)
    callback = callback_with(await consent(started["authorization_url"]))

    first = await shoa.get(callback)
    again = await shoa.get(callback)

    assert first.status_code == 200, first.text
    assert_problem(again, 400, "invalid-oauth-state")


async def test_an_expired_state_is_refused(shoa: ShoaClient, kakao: KakaoFake, redis_client: Redis) -> None:
    started = await start_login(shoa, "kakao")
    location = await consent(started["authorization_url"])
    await redis_client.delete(f"shoa:oauth-state:{started['state']}")  # as Redis does after ten minutes

    assert_problem(await shoa.get(callback_with(location)), 400, "invalid-oauth-state")


async def test_a_state_started_for_another_provider_is_refused(shoa: ShoaClient, kakao: KakaoFake) -> None:
    started = await start_login(shoa, "kakao")
    location = await consent(started["authorization_url"])

    response = await shoa.get(callback_with(location).replace("/oauth/kakao/", "/oauth/naver/"))

    assert_problem(response, 400, "invalid-oauth-state")


async def test_a_replayed_code_is_refused_by_the_provider(shoa: ShoaClient, provider: FakeProvider) -> None:
    first = await start_login(shoa, provider.name)
    used_location = await consent(first["authorization_url"])
    assert (await shoa.get(callback_with(used_location))).status_code == 200
    second = await start_login(shoa, provider.name)

    replay = await shoa.get(callback_with(used_location, state=second["state"]))

    assert_problem(replay, 400, "oauth-code-rejected")


async def test_a_declined_consent_is_oauth_denied(
    shoa: ShoaClient, provider: FakeProvider, session: AsyncSession
) -> None:
    provider.deny_consent = True
    started = await start_login(shoa, provider.name)
    location = await consent(started["authorization_url"])
    assert "error=access_denied" in location

    response = await shoa.get(callback_with(location))

    assert_problem(response, 400, "oauth-denied")
    assert "cancelled or refused" in response.json()["detail"]
    assert provider.token_requests == []
    assert await count(session, User) == 0


async def test_a_provider_outage_is_a_502(shoa: ShoaClient, provider: FakeProvider, session: AsyncSession) -> None:
    provider.token_outage = True

    response = await log_in(shoa, provider)

    assert_problem(response, 502, "oauth-provider-unavailable")
    assert "<html>" not in response.text
    assert await count(session, User) == 0


async def test_an_unreachable_provider_is_a_502(services: Services, kakao: KakaoFake) -> None:
    nowhere = kakao.environ() | {"SHOA_KAKAO_TOKEN_URL": "http://127.0.0.1:9/token"}  # a closed port
    environ = services.environ(SHOA_OAUTH_REDIRECT_BASE_URL=SHOA_BASE_URL, **nowhere)
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None)), base_url=SHOA_BASE_URL) as client:
        response = await log_in(client, kakao)

    assert_problem(response, 502, "oauth-provider-unavailable")


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"aud": "1234567890"}, id="another channel's token"),
        pytest.param({"nonce": "another-login"}, id="another login's nonce"),
        pytest.param({"iss": "https://access.line.example"}, id="another issuer"),
        pytest.param({"exp": int(time.time()) - 3600}, id="expired"),
    ],
)
async def test_line_refuses_an_id_token_meant_for_another_login(
    shoa: ShoaClient, line: LineFake, session: AsyncSession, changes: dict[str, Any]
) -> None:
    line.id_token_changes = changes

    response = await log_in(shoa, line)

    assert_problem(response, 400, "oauth-id-token-rejected")
    assert await count(session, User) == 0


@pytest.mark.parametrize("hs256", [False, True], ids=["ES256", "HS256"])
async def test_line_refuses_a_tampered_id_token(
    shoa: ShoaClient, line: LineFake, session: AsyncSession, hs256: bool
) -> None:
    line.tamper_with_id_token, line.sign_hs256 = True, hs256

    response = await log_in(shoa, line)

    assert_problem(response, 400, "oauth-id-token-rejected")
    assert await count(session, User) == 0


async def test_the_fake_line_checks_pkce_as_line_does(line: LineFake) -> None:
    """The fakes are only as good as their checks: a wrong verifier loses the code."""
    async with httpx.AsyncClient(trust_env=False) as browser:
        query = {
            "response_type": "code",
            "client_id": line.client_id,
            "redirect_uri": line.redirect_uri,
            "state": "s",
            "scope": "openid profile",
            "nonce": "n",
            "code_challenge": s256("the-right-verifier-" * 3),
            "code_challenge_method": "S256",
        }
        consented = await browser.get(f"{line.base_url}/oauth2/v2.1/authorize?{urlencode(query)}")
        code = parse_qs(urlsplit(consented.headers["location"]).query)["code"][0]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": line.redirect_uri,
            "client_id": line.client_id,
            "client_secret": line.client_secret,
            "code_verifier": "a-wrong-verifier-" * 3,
        }
        exchange = await browser.post(f"{line.base_url}/oauth2/v2.1/token", data=form)

    assert exchange.status_code == 400
    assert exchange.json()["error"] == "invalid_grant"


# --- Erased accounts ----------------------------------------------------------------------------------------------


async def test_an_erased_account_does_not_come_back_through_its_social_login(
    shoa: ShoaClient, provider: FakeProvider
) -> None:
    before = await logged_in(shoa, provider)
    assert (await shoa.delete("/v1/me", headers=bearer(before))).status_code == 204

    after = await logged_in(shoa, provider)

    assert after["profile"]["id"] != before["profile"]["id"]
    assert (await shoa.get("/v1/me", headers=bearer(before))).status_code == 401
    assert (await shoa.get("/v1/me", headers=bearer(after))).status_code == 200
