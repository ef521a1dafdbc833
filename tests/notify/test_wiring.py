"""Each channel's provider is the one its setting names, built with its credentials; a provider switched on without
them stops the start with the variable it needs."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import httpx
import pytest

from notify.providers.base import Channel, Delivery, OutcomeKind
from notify.providers.instagram import InstagramProvider
from notify.providers.line import LineProvider
from notify.providers.nhn import NhnCloudProvider
from notify.providers.sandbox import SandboxProvider
from notify.providers.solapi import SolapiProvider
from notify.providers.talktalk import TalkTalkProvider
from shoa_api.app import create_app
from shoa_api.settings import SettingsError, load_settings
from shoa_api.wiring import messaging_providers
from shoa_api.worker import run_worker
from tests.client import ShoaClient
from tests.notify.builders import PARAMETERS, PHONE, TEMPLATES, sessions
from tests.notify.fakes.solapi import FakeSolapi

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tests.conftest import Services

NHN = {
    "SHOA_NHN_ALIMTALK_APP_KEY": "nhn-app-key",
    "SHOA_NHN_ALIMTALK_SECRET_KEY": "nhn-secret",
    "SHOA_NHN_SENDER_KEY": "a" * 40,
    "SHOA_NHN_SMS_APP_KEY": "nhn-sms-app-key",
    "SHOA_NHN_SMS_SECRET_KEY": "nhn-sms-secret",
    "SHOA_NHN_SEND_NO": "0212345678",
}
SOLAPI = {
    "SHOA_SOLAPI_API_KEY": "NCSAYU7YDBXYORXC",
    "SHOA_SOLAPI_API_SECRET": "solapi-secret",
    "SHOA_SOLAPI_PF_ID": "KA01PF200323182344986oTFz9CIabcx",
    "SHOA_SOLAPI_FROM_NUMBER": "0212345678",
}


def solapi_ids(*, leaving_out: str | None = None) -> dict[str, str]:
    """An id, as Solapi's console would give one, for every AlimTalk template code of the repo's templates."""
    codes = sorted(TEMPLATES.alimtalk_template_codes() - {leaving_out})
    return {code: f"KA01TP{number:026d}" for number, code in enumerate(codes, start=1)}


def template_ids_variable(ids: dict[str, str]) -> str:
    return ", ".join(f"{code}={template_id}" for code, template_id in ids.items())


async def test_every_channel_goes_to_the_sandbox_by_default(services: Services, engine: AsyncEngine) -> None:
    settings = load_settings(services.environ(), env_file=None)
    async with httpx.AsyncClient() as http:
        providers = messaging_providers(settings, http=http, session_maker=sessions(engine))

    assert {type(providers.for_channel(channel)) for channel in Channel} == {SandboxProvider}


async def test_each_channel_gets_the_provider_its_setting_names(services: Services, engine: AsyncEngine) -> None:
    environ = services.environ(
        SHOA_NOTIFY_PROVIDER_ALIMTALK="nhn",
        SHOA_NOTIFY_PROVIDER_SMS="solapi",
        SHOA_NOTIFY_PROVIDER_LINE="line",
        SHOA_NOTIFY_PROVIDER_INSTAGRAM="instagram",
        SHOA_NOTIFY_PROVIDER_TALKTALK="talktalk",
        SHOA_LINE_MESSAGING_CHANNEL_ACCESS_TOKEN="line-token",
        SHOA_INSTAGRAM_ACCESS_TOKEN="ig-token",
        SHOA_INSTAGRAM_IG_USER_ID="17841400000000000",
        SHOA_TALKTALK_AUTHORIZATION_KEY="talktalk-key",
        **NHN,
        **SOLAPI,
    )
    settings = load_settings(environ, env_file=None)
    async with httpx.AsyncClient() as http:
        providers = messaging_providers(settings, http=http, session_maker=sessions(engine))

    assert isinstance(providers.for_channel(Channel.ALIMTALK), NhnCloudProvider)
    assert isinstance(providers.for_channel(Channel.SMS), SolapiProvider)
    assert isinstance(providers.for_channel(Channel.LINE), LineProvider)
    assert isinstance(providers.for_channel(Channel.INSTAGRAM), InstagramProvider)
    assert isinstance(providers.for_channel(Channel.TALKTALK), TalkTalkProvider)
    assert providers.named("solapi") is providers.for_channel(Channel.SMS)


async def test_one_provider_serving_two_channels_is_one_object(services: Services, engine: AsyncEngine) -> None:
    environ = services.environ(SHOA_NOTIFY_PROVIDER_ALIMTALK="nhn", SHOA_NOTIFY_PROVIDER_SMS="nhn", **NHN)
    async with httpx.AsyncClient() as http:
        providers = messaging_providers(
            load_settings(environ, env_file=None), http=http, session_maker=sessions(engine)
        )

    assert providers.for_channel(Channel.ALIMTALK) is providers.for_channel(Channel.SMS)
    assert providers.channels_of("nhn") == {Channel.ALIMTALK, Channel.SMS}


@pytest.mark.parametrize(
    ("switched_on", "given", "missing"),
    [
        ({"SHOA_NOTIFY_PROVIDER_ALIMTALK": "nhn"}, {}, "SHOA_NHN_ALIMTALK_APP_KEY"),
        ({"SHOA_NOTIFY_PROVIDER_SMS": "nhn"}, {"SHOA_NHN_SMS_APP_KEY": "k"}, "SHOA_NHN_SMS_SECRET_KEY"),
        ({"SHOA_NOTIFY_PROVIDER_ALIMTALK": "solapi"}, {k: v for k, v in SOLAPI.items() if "PF_ID" not in k},
         "SHOA_SOLAPI_PF_ID"),
        ({"SHOA_NOTIFY_PROVIDER_ALIMTALK": "solapi"}, SOLAPI, "SHOA_SOLAPI_TEMPLATE_IDS"),
        ({"SHOA_NOTIFY_PROVIDER_LINE": "line"}, {}, "SHOA_LINE_MESSAGING_CHANNEL_ACCESS_TOKEN"),
        ({"SHOA_NOTIFY_PROVIDER_INSTAGRAM": "instagram"}, {"SHOA_INSTAGRAM_ACCESS_TOKEN": "t"},
         "SHOA_INSTAGRAM_IG_USER_ID"),
        ({"SHOA_NOTIFY_PROVIDER_TALKTALK": "talktalk"}, {}, "SHOA_TALKTALK_AUTHORIZATION_KEY"),
    ],
)  # fmt: skip
def test_a_provider_switched_on_without_its_credentials_stops_the_start(
    services: Services, switched_on: dict[str, str], given: dict[str, str], missing: str
) -> None:
    with pytest.raises(SettingsError, match=f"^{missing} is missing: SHOA_NOTIFY_PROVIDER_"):
        load_settings(services.environ(**switched_on, **given), env_file=None)


async def test_solapi_for_alimtalk_does_not_start_while_a_template_code_has_no_solapi_id(
    services: Services, engine: AsyncEngine
) -> None:
    forgotten = TEMPLATES.template("cancelled").locales["ja"].alimtalk_template_code
    environ = services.environ(
        SHOA_NOTIFY_PROVIDER_ALIMTALK="solapi",
        SHOA_SOLAPI_TEMPLATE_IDS=template_ids_variable(solapi_ids(leaving_out=forgotten)),
        **SOLAPI,
    )
    settings = load_settings(environ, env_file=None)

    async with httpx.AsyncClient() as http:
        with pytest.raises(SettingsError, match=rf"^SHOA_SOLAPI_TEMPLATE_IDS is incomplete: .*missing {forgotten}$"):
            messaging_providers(settings, http=http, session_maker=sessions(engine), templates=TEMPLATES)


async def test_the_api_and_the_worker_refuse_to_start_while_solapi_lacks_a_template_id(services: Services) -> None:
    forgotten = TEMPLATES.template("shipping_started").locales["en"].alimtalk_template_code
    environ = services.environ(
        SHOA_NOTIFY_PROVIDER_ALIMTALK="solapi",
        SHOA_SOLAPI_TEMPLATE_IDS=template_ids_variable(solapi_ids(leaving_out=forgotten)),
        **SOLAPI,
    )
    settings = load_settings(environ, env_file=None)

    with pytest.raises(SettingsError, match=f"^SHOA_SOLAPI_TEMPLATE_IDS is incomplete: .*missing {forgotten}$"):
        await asyncio.wait_for(run_worker(settings, stop=asyncio.Event(), jobs=[]), timeout=10)
    with pytest.raises(RuntimeError, match=f"SHOA_SOLAPI_TEMPLATE_IDS is incomplete: .*missing {forgotten}"):
        async with ShoaClient(create_app(settings)):
            pass


async def test_solapi_for_alimtalk_sends_each_template_under_the_id_solapi_gave_it(
    services: Services, engine: AsyncEngine
) -> None:
    ids = solapi_ids()
    shipping = TEMPLATES.template("shipping_started").locales["ko"]
    assert shipping.alimtalk_template_code is not None  # information: approved as an AlimTalk
    registered = {ids[shipping.alimtalk_template_code]: shipping.text}
    with FakeSolapi(sender_numbers={"0212345678"}, templates=registered) as solapi:
        environ = services.environ(
            SHOA_NOTIFY_PROVIDER_ALIMTALK="solapi",
            SHOA_SOLAPI_API_KEY=solapi.api_key,
            SHOA_SOLAPI_API_SECRET=solapi.api_secret,
            SHOA_SOLAPI_PF_ID=solapi.pf_id,
            SHOA_SOLAPI_FROM_NUMBER="0212345678",
            SHOA_SOLAPI_BASE_URL=solapi.url,
            SHOA_SOLAPI_TEMPLATE_IDS=template_ids_variable(ids),
        )
        parameters = TEMPLATES.prepare("shipping_started", PARAMETERS["shipping_started"], locale="ko")
        rendered = TEMPLATES.render(
            "shipping_started", locale="ko", parameters=parameters, channel=Channel.ALIMTALK, address=PHONE
        )
        async with httpx.AsyncClient() as http:
            providers = messaging_providers(
                load_settings(environ, env_file=None), http=http, session_maker=sessions(engine), templates=TEMPLATES
            )
            outcome = await providers.for_channel(Channel.ALIMTALK).send(
                Delivery(message_id=uuid.uuid4(), idempotency_key="20261206-0001:shipping", rendered=rendered)
            )

    assert outcome.kind is OutcomeKind.ACCEPTED
    [sent] = solapi.sent
    assert sent.message["kakaoOptions"]["templateId"] == ids[shipping.alimtalk_template_code]
    assert sent.text == rendered.text


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SHOA_NOTIFY_PROVIDER_SMS", "twilio"),
        ("SHOA_NOTIFY_MAX_ATTEMPTS", "0"),
        ("SHOA_NOTIFY_LEASE_SECONDS", "0"),
        ("SHOA_LINE_MESSAGING_BASE_URL", "ftp://api.line.me"),
    ],
)
def test_malformed_messaging_settings_are_refused(services: Services, variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings(services.environ(**{variable: value}), env_file=None)
