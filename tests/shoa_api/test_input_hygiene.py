"""What a shopper types is taken as they meant it: one email and one mobile number however they are written, and
no invisible characters that turn a name or an address around on screen."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from shoa_api.app import create_app
from shoa_api.settings import load_settings
from tests.client import ShoaClient
from tests.oauth_providers import SHOA_BASE_URL, KakaoFake, serve
from tests.shoa_api.test_oauth import KAKAO_PERSON, logged_in

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Services

PASSWORD = "linen-shirt-2026"


def full_width(text: str) -> str:
    """``text`` as a Korean or Japanese keyboard in full-width mode types it (ASCII ``!``-``~`` moved to
    U+FF01-U+FF5E)."""
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


FULLWIDTH_EMAIL = full_width("jiyoung@example.kr")
ARABIC_INDIC_DIGITS = "".join(chr(0x0660 + digit) for digit in range(10))
BIDI_CONTROLS = [
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f",
    "\u061c",
]  # fmt: skip


async def _signup(client: ShoaClient, **fields: Any) -> dict[str, Any]:
    body = {"email": "jiyoung@example.kr", "password": PASSWORD} | fields
    response = await client.post("/v1/auth/signup", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


async def test_an_email_typed_in_full_width_logs_into_the_same_account(client: ShoaClient) -> None:
    tokens = await _signup(client)

    response = await client.post("/v1/auth/login", json={"login": FULLWIDTH_EMAIL, "password": PASSWORD})

    assert response.status_code == 200, response.text
    assert response.json()["profile"]["id"] == tokens["profile"]["id"]


async def test_an_email_typed_in_full_width_is_stored_as_it_reads(client: ShoaClient) -> None:
    tokens = await _signup(client, email=FULLWIDTH_EMAIL)

    assert tokens["profile"]["email"] == "jiyoung@example.kr"
    again = await client.post("/v1/auth/signup", json={"email": "JiYoung@example.kr", "password": PASSWORD})
    assert again.status_code == 409
    assert again.json()["type"].endswith("/account-exists")


async def test_a_phone_typed_in_full_width_logs_in(client: ShoaClient) -> None:
    await _signup(client, email=None, phone="+821012345678")

    response = await client.post("/v1/auth/login", json={"login": full_width("+821012345678"), "password": PASSWORD})

    assert response.status_code == 200, response.text


async def test_a_phone_in_full_width_digits_is_stored_as_the_same_number(client: ShoaClient) -> None:
    tokens = await _signup(client, email=None, phone="+8210" + full_width("12345678"))

    assert tokens["profile"]["contacts"]["phone"] == "+821012345678"
    again = await client.post("/v1/auth/signup", json={"phone": "+821012345678", "password": PASSWORD})
    assert again.status_code == 409


async def test_a_phone_in_other_scripts_digits_is_refused(client: ShoaClient) -> None:
    phone = "+8210" + ARABIC_INDIC_DIGITS[1:9]  # 12345678 as Arabic script writes it

    response = await client.post("/v1/auth/signup", json={"phone": phone, "password": PASSWORD})

    assert response.status_code == 422, response.text
    assert _fields(response) == ["phone"]


KOREAN_SPELLINGS = ["010-1234-5678", "01012345678", "+82 10 1234 5678"]


@pytest.mark.parametrize("signed_up_with", KOREAN_SPELLINGS)
async def test_three_spellings_of_a_korean_mobile_are_one_account(client: ShoaClient, signed_up_with: str) -> None:
    tokens = await _signup(client, email=None, phone=signed_up_with)

    assert tokens["profile"]["contacts"]["phone"] == "+821012345678"
    for spelling in KOREAN_SPELLINGS:
        login = await client.post("/v1/auth/login", json={"login": spelling, "password": PASSWORD})
        assert login.status_code == 200, (spelling, login.text)
        assert login.json()["profile"]["id"] == tokens["profile"]["id"]
        again = await client.post("/v1/auth/signup", json={"phone": spelling, "password": PASSWORD})
        assert again.status_code == 409, spelling


@pytest.mark.parametrize(
    ("locale", "typed"),
    [
        ("ja", "090-1234-5678"),  # a Japanese shopper's number as written in Japan
        ("ko", "090-1234-5678"),  # 090 is no Korean number: a Korean shopper's Japanese mobile
        ("ko", "+81 90-1234-5678"),
    ],
)
async def test_a_japanese_mobile_is_kept_in_e164_and_logs_in_as_typed(
    client: ShoaClient, locale: str, typed: str
) -> None:
    tokens = await _signup(client, email=None, phone=typed, locale=locale)

    assert tokens["profile"]["contacts"]["phone"] == "+819012345678"
    for spelling in ("090-1234-5678", "+81 90 1234 5678", "+819012345678"):
        login = await client.post("/v1/auth/login", json={"login": spelling, "password": PASSWORD})
        assert login.status_code == 200, (spelling, login.text)


async def test_070_is_read_in_the_shopper_s_country(client: ShoaClient) -> None:
    """070 is a Korean internet phone but a Japanese mobile: the locale says which the shopper means."""
    korean = await client.post("/v1/auth/signup", json={"phone": "070-1234-5678", "password": PASSWORD})
    japanese = await _signup(client, email=None, phone="070-1234-5678", locale="ja")

    assert korean.status_code == 422, korean.text
    assert _fields(korean) == ["phone"]
    assert "internet phone" in korean.json()["detail"]
    assert japanese["profile"]["contacts"]["phone"] == "+817012345678"


@pytest.mark.parametrize("landline", ["02-312-3456", "+82 2-312-3456"])
async def test_a_landline_cannot_be_the_message_contact(client: ShoaClient, landline: str) -> None:
    at_signup = await client.post("/v1/auth/signup", json={"phone": landline, "password": PASSWORD})
    tokens = await _signup(client)
    on_profile = await client.patch(
        "/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}, json={"phone": landline}
    )

    for response in (at_signup, on_profile):
        assert response.status_code == 422, response.text
        assert _fields(response) == ["phone"]
        detail = response.json()["detail"]
        assert "landline" in detail
        assert "need a mobile number" in detail


async def test_a_phone_changed_on_the_profile_is_kept_in_e164(client: ShoaClient) -> None:
    tokens = await _signup(client)

    response = await client.patch(
        "/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}, json={"phone": "010-9876-5432"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["contacts"]["phone"] == "+821098765432"
    login = await client.post("/v1/auth/login", json={"login": "010 9876 5432", "password": PASSWORD})
    assert login.status_code == 200, login.text


@pytest.mark.parametrize(
    "email",
    ["jiyoung\u200b@example.kr", "ji\u2060young@example.kr", "\ufeffjiyoung@example.kr", "ji\x00young@example.kr"],
)
async def test_an_email_with_an_invisible_character_is_refused(client: ShoaClient, email: str) -> None:
    response = await client.post("/v1/auth/signup", json={"email": email, "password": PASSWORD})

    assert response.status_code == 422, response.text
    assert _fields(response) == ["email"]


@pytest.mark.parametrize("control", BIDI_CONTROLS)
async def test_an_email_with_a_bidirectional_control_is_refused(client: ShoaClient, control: str) -> None:
    response = await client.post(
        "/v1/auth/signup", json={"email": f"jiyoung{control}@example.kr", "password": PASSWORD}
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert _fields(response) == ["email"]
    assert "direction" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("control", BIDI_CONTROLS)
async def test_a_display_name_with_a_bidirectional_control_is_refused(client: ShoaClient, control: str) -> None:
    at_signup = await client.post(
        "/v1/auth/signup",
        json={"email": "jiyoung@example.kr", "password": PASSWORD, "display_name": f"지영{control}gnp.exe"},
    )
    tokens = await _signup(client)
    changed = await client.patch(
        "/v1/me",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        json={"display_name": f"{control}지영"},
    )

    for response in (at_signup, changed):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert _fields(response) == ["display_name"]
        assert "direction" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("blank", ["   ", "\u200b", "\u3000\u200c\u200d\u2060\ufeff"])
async def test_a_display_name_of_only_blanks_is_refused(client: ShoaClient, blank: str) -> None:
    response = await client.post(
        "/v1/auth/signup", json={"email": "jiyoung@example.kr", "password": PASSWORD, "display_name": blank}
    )

    assert response.status_code == 422, response.text
    assert _fields(response) == ["display_name"]


@pytest.fixture
def kakao_with_a_reversing_nickname() -> Iterator[KakaoFake]:
    person = copy.deepcopy(KAKAO_PERSON)
    person["kakao_account"]["profile"]["nickname"] = "\u202e지영\u202c"
    yield from serve(KakaoFake(person=person))


async def test_a_social_login_drops_direction_controls_from_the_provider_s_nickname(
    services: Services, kakao_with_a_reversing_nickname: KakaoFake
) -> None:
    kakao = kakao_with_a_reversing_nickname
    environ = services.environ(SHOA_OAUTH_REDIRECT_BASE_URL=SHOA_BASE_URL, **kakao.environ())
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None)), base_url=SHOA_BASE_URL) as shoa:
        tokens = await logged_in(shoa, kakao)

    assert tokens["profile"]["display_name"] == "지영"
