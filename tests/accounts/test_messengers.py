"""A shopper's preferred messenger is always one that can reach them: it needs the channel's contact and the
shopper's consent, the refusal says what is missing, and withdrawing either clears the preference."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from shoa_api.app import create_app
from shoa_api.settings import load_settings
from tests.client import ShoaClient
from tests.oauth_providers import SHOA_BASE_URL, LineFake, serve
from tests.shoa_api.test_oauth import LINE_PERSON, logged_in

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from tests.conftest import Services

PASSWORD = "linen-shirt-2026"


async def _signed_up(client: ShoaClient) -> dict[str, str]:
    response = await client.post("/v1/auth/signup", json={"email": "jiyoung@example.kr", "password": PASSWORD})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _patch_me(client: ShoaClient, auth: dict[str, str], changes: dict[str, Any]) -> Any:
    return await client.patch("/v1/me", headers=auth, json=changes)


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        (
            {"preferred_messenger": "line", "consents": {"line": True}},
            "to get order messages on LINE, link LINE (log in with LINE once) first",
        ),
        (
            {"preferred_messenger": "alimtalk", "consents": {"alimtalk": True}},
            "to get order messages on AlimTalk, add your Korean mobile number first",
        ),
        (
            {"preferred_messenger": "alimtalk", "phone": "+81 90-1234-5678", "consents": {"alimtalk": True}},
            "to get order messages on AlimTalk, add a Korean mobile number (AlimTalk reaches +82 numbers only) first",
        ),
        (
            {"preferred_messenger": "sms", "phone": "010-1234-5678"},
            "to get order messages on SMS, agree to SMS messages first",
        ),
        (
            {"preferred_messenger": "instagram", "instagram_id": "jiyoung.daily"},
            "to get order messages on Instagram, agree to Instagram messages first",
        ),
        (
            {"preferred_messenger": "talktalk"},
            "to get order messages on Naver TalkTalk, add your Naver TalkTalk id and agree to Naver TalkTalk"
            " messages first",
        ),
    ],
)
async def test_a_messenger_that_cannot_reach_me_is_refused_saying_what_is_missing(
    client: ShoaClient, changes: dict[str, Any], detail: str
) -> None:
    auth = await _signed_up(client)

    response = await _patch_me(client, auth, changes)

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == detail
    assert [error["field"] for error in response.json()["errors"]] == ["preferred_messenger"]
    me = (await client.get("/v1/me", headers=auth)).json()
    assert me["preferred_messenger"] is None
    assert me["contacts"]["phone"] is None  # nothing of the refused change was kept


@pytest.mark.parametrize(
    ("messenger", "contact"),
    [
        ("alimtalk", {"phone": "010-1234-5678"}),
        ("sms", {"phone": "+81 90-1234-5678"}),  # SMS reaches a Japanese mobile too
        ("instagram", {"instagram_id": "jiyoung.daily"}),
        ("talktalk", {"talktalk_id": "jiyoung_talk"}),
    ],
)
async def test_a_messenger_is_accepted_once_its_contact_and_consent_are_there(
    client: ShoaClient, messenger: str, contact: dict[str, str]
) -> None:
    auth = await _signed_up(client)
    assert (await _patch_me(client, auth, contact)).status_code == 200

    before = await _patch_me(client, auth, {"preferred_messenger": messenger})
    after = await _patch_me(client, auth, {"preferred_messenger": messenger, "consents": {messenger: True}})

    assert before.status_code == 422, before.text  # the contact alone is not enough: no consent yet
    assert after.status_code == 200, after.text
    assert after.json()["preferred_messenger"] == messenger


@pytest.fixture
def line() -> Iterator[LineFake]:
    yield from serve(LineFake(person=copy.deepcopy(LINE_PERSON)))


@pytest.fixture
async def shoa(services: Services, line: LineFake) -> AsyncIterator[ShoaClient]:
    environ = services.environ(SHOA_OAUTH_REDIRECT_BASE_URL=SHOA_BASE_URL, **line.environ())
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None)), base_url=SHOA_BASE_URL) as client:
        yield client


async def test_line_is_accepted_once_linked_by_line_login_and_agreed_to(shoa: ShoaClient, line: LineFake) -> None:
    tokens = await logged_in(shoa, line)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}

    before = await _patch_me(shoa, auth, {"preferred_messenger": "line"})
    after = await _patch_me(shoa, auth, {"preferred_messenger": "line", "consents": {"line": True}})

    assert before.status_code == 422, before.text
    assert before.json()["detail"] == "to get order messages on LINE, agree to LINE messages first"
    assert after.status_code == 200, after.text
    assert after.json()["preferred_messenger"] == "line"


@pytest.mark.parametrize(
    "withdrawal",
    [{"consents": {"alimtalk": False}}, {"phone": None}, {"phone": "+81 90-1234-5678"}],
)
async def test_withdrawing_what_my_messenger_needs_is_done_and_clears_the_preference(
    client: ShoaClient, withdrawal: dict[str, Any]
) -> None:
    auth = await _signed_up(client)
    chosen = await _patch_me(
        client, auth, {"phone": "010-1234-5678", "consents": {"alimtalk": True}, "preferred_messenger": "alimtalk"}
    )
    assert chosen.status_code == 200, chosen.text

    response = await _patch_me(client, auth, withdrawal)

    assert response.status_code == 200, response.text
    assert response.json()["preferred_messenger"] is None
    assert (await client.get("/v1/me", headers=auth)).json() == response.json()


async def test_naming_a_messenger_while_withdrawing_its_consent_is_refused(client: ShoaClient) -> None:
    auth = await _signed_up(client)
    await _patch_me(client, auth, {"phone": "010-1234-5678", "consents": {"sms": True}})

    response = await _patch_me(client, auth, {"preferred_messenger": "sms", "consents": {"sms": False}})

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "to get order messages on SMS, agree to SMS messages first"
