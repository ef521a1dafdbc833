"""The API keeps its description under fuzzing: Schemathesis calls every operation the description lists, as each
audience would, with valid and invalid requests, and checks every answer with all of its checks — no server error,
status codes, content types, headers and bodies as described, valid requests accepted and invalid ones refused with
a 4xx problem — then chains operations through the links it finds (the stateful phase).

The audiences: anyone (no credentials); a shopper (her access token); a partner mall (its key, with every scope); and
the providers that call the webhooks, each request signed as that provider signs it. A failure names the operation,
the check and a curl line that replays it against ``shoa dev``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import hypothesis
import pytest
import requests
import schemathesis
from requests.structures import CaseInsensitiveDict

from tests.contract.conftest import (
    BUDGET,
    INSTAGRAM_APP_SECRET,
    INSTAGRAM_VERIFY_TOKEN,
    LINE_SECRET,
    SANDBOX_RECEIPT_KEY,
    SKILL_SECRET,
    TALKTALK_SECRET,
    World,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from schemathesis import Case
    from schemathesis.schemas import BaseSchema


def _as(world: World, credential: Callable[[], str]) -> BaseSchema:
    """The schema with a bearer credential sent Schemathesis' own way, so that its checks know it: ``ignored_auth``
    sends the request again without it, and with a wrong one, and expects a 401."""

    class Bearer:
        def get(self, case: Case[Any], context: schemathesis.AuthContext) -> str:
            return credential()

        def set(self, case: Case[Any], data: str, context: schemathesis.AuthContext) -> None:
            headers = CaseInsensitiveDict(case.headers or {})  # a copy: cases derived from this one keep theirs
            headers["Authorization"] = f"Bearer {data}"
            case.headers = headers

    world.schema.auth(refresh_interval=None)(Bearer)
    return world.schema


@pytest.fixture
def anyone(world: World) -> BaseSchema:
    return world.schema


@pytest.fixture
def shopper(world: World) -> BaseSchema:
    return _as(world, lambda: world.shopper_token)


@pytest.fixture
def partner_mall(world: World) -> BaseSchema:
    return _as(world, lambda: world.partner.key)


@pytest.fixture
def providers(world: World, genuine_deposits: None) -> BaseSchema:
    return world.schema


@schemathesis.pytest.from_fixture("anyone").parametrize()
def test_anyone(case: Case[Any]) -> None:
    case.call_and_validate()


@schemathesis.pytest.from_fixture("shopper").parametrize()
def test_a_shopper(case: Case[Any], world: World) -> None:
    response = case.call_and_validate()
    if case.operation.label in SIGNING_OUT and response.status_code < 300:
        world.sign_in_again()


SIGNING_OUT = {"DELETE /v1/me", "POST /v1/auth/logout"}
"""Operations after which the shopper's token no longer works: she signs up again, so the rest still reach their
handlers."""


@schemathesis.pytest.from_fixture("partner_mall").parametrize()
def test_a_partner_mall(case: Case[Any]) -> None:
    case.call_and_validate()


@schemathesis.pytest.from_fixture("providers").include(path_regex="^/webhooks/").parametrize()
def test_the_providers_webhooks(case: Case[Any]) -> None:
    case.call_and_validate(auth=ProviderSignature())


class ProviderSignature(requests.auth.AuthBase):
    """Each webhook request signed as its provider signs it, over the body exactly as sent."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = str(request.url)
        path = urlsplit(url).path
        sent = request.body or b""
        body = sent.encode() if isinstance(sent, str) else sent if isinstance(sent, bytes) else b""
        headers = request.headers
        if path == "/webhooks/chat/kakao":
            headers["X-Shoa-Skill-Secret"] = SKILL_SECRET
        elif path == "/webhooks/chat/line":
            headers["X-Line-Signature"] = base64.b64encode(_hmac(LINE_SECRET, body).digest()).decode()
        elif path == "/webhooks/chat/instagram" and request.method == "POST":
            headers["X-Hub-Signature-256"] = f"sha256={_hmac(INSTAGRAM_APP_SECRET, body).hexdigest()}"
        elif path == "/webhooks/chat/instagram":
            request.prepare_url(url, {"hub.mode": "subscribe", "hub.verify_token": INSTAGRAM_VERIFY_TOKEN})
        elif path == "/webhooks/chat/talktalk":
            request.prepare_url(url, {"secret": TALKTALK_SECRET})
        elif path == "/webhooks/messaging/sandbox":
            headers["X-Sandbox-Signature"] = f"sha256={_hmac(SANDBOX_RECEIPT_KEY, body).hexdigest()}"
        return request


def _hmac(secret: str, body: bytes) -> hmac.HMAC:
    return hmac.new(secret.encode(), body, hashlib.sha256)


def test_chains_of_calls(shopper: BaseSchema) -> None:
    """The stateful phase: operations chained through the links Schemathesis finds between them, as a shopper."""
    settings = shopper.config.get_hypothesis_settings()
    shopper.as_state_machine().run(settings=hypothesis.settings(settings, max_examples=BUDGET.stateful_runs))
