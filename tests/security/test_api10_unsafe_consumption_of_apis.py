"""OWASP API Security Top 10 (2023), API10 — unsafe consumption of APIs: what the messaging providers, the payment
gateway, the social logins and Meilisearch answer is checked like any caller's input. A malformed, oversized or slow
answer ends as a clear outcome — a retry, a 502 or 503 problem, nothing ordered — never a crash, a 500, a message
taken as sent that was not, or a message lost.

Here, each through its public interface: every messaging adapter (NHN Cloud, Solapi, LINE, Instagram, TalkTalk)
answers an ``Outcome`` for any answer, takes no answer that is not its provider's success as a success, and reads
any verified delivery report without a crash; the dispatcher keeps a message whose provider answered junk, and a
provider asking to wait for ever does not hold messages for ever; a gateway answering for another payment opens no
order; a social login's token and user-info endpoints answering junk are a 502 and open no account, and one that
answers with nothing but an id still logs the shopper in; a hanging one is a 502 within the client's timeout;
Meilisearch answering junk, redirecting or hanging is a 503.

Elsewhere, with the same fake servers: each messaging provider's documented errors, outages, rate limits, lost and
slow answers and its retries deduplicated or not, ``tests/notify/providers/``; the dispatcher's retries, back-off,
fallback, dead letters and doubts, ``tests/notify/test_dispatch.py`` and ``tests/notify/test_worker_crash.py``;
Toss's errors, timeouts, dropped connections and foreign pages, ``tests/orders/test_toss.py``, and Toss down during
a checkout, ``tests/orders/test_payments.py``; social logins' outages, refusals and ID tokens,
``tests/shoa_api/test_oauth.py``; Meilisearch failing, dropping connections and its tasks,
``tests/catalog/search/``.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING

import httpx
import pytest
import sqlalchemy as sa

from accounts.errors import OAuthProviderUnavailableError
from accounts.models import User
from accounts.oauth.flow import fetch_identity
from accounts.oauth.providers import PendingLogin
from catalog.search.engine import SearchQuery
from catalog.search.errors import SearchUnavailableError
from catalog.search.meilisearch import MeilisearchEngine
from notify.providers.base import Channel, Outcome, OutcomeKind, ReceiptRejectedError, Rendered
from notify.providers.instagram import InstagramProvider
from notify.providers.line import LineProvider
from notify.providers.nhn import NhnCloudProvider
from notify.providers.solapi import SolapiProvider
from notify.providers.talktalk import TalkTalkProvider
from notify.providers.transport import LONGEST_RETRY_AFTER
from orders.models import Order
from shoa_api.app import create_app
from shoa_api.settings import Settings, load_settings
from shoa_api.wiring import oauth_provider
from tests.client import ShoaClient
from tests.conftest import create_search_index
from tests.notify.builders import dispatcher, every_channel, korean_phone, outbox, outgoing, sessions, stored
from tests.notify.fakes.http import Answer, FakeProviderServer, Request
from tests.notify.providers.kakao_messages import alimtalk as alimtalk_of
from tests.notify.providers.kakao_messages import delivery, sms
from tests.oauth_providers import SHOA_BASE_URL, KakaoFake, serve
from tests.orders.fakes.toss import VIRTUAL_ACCOUNTS_PATH, FakeToss
from tests.shoa_api.test_oauth import KAKAO_PERSON, log_in

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from notify.providers.base import MessagingProvider
    from tests.conftest import Services
    from tests.oauth_providers import Answer as OAuthAnswer
    from tests.orders.conftest import Catalog, Shopper

JSON = {"Content-Type": "application/json;charset=UTF-8"}
NO_RESULT = {
    "header": {"isSuccessful": True, "resultCode": 0, "resultMessage": "SUCCESS"},
    "message": {"requestId": "20261207-r1", "sendResults": []},
}
"""NHN's success header without a result for the one recipient asked for."""
JUNK_SUCCESSES = {
    "a list": Answer(200, b"[]", JSON),
    "null": Answer(200, b"null", JSON),
    "an empty object": Answer(200, b"{}", JSON),
    "a string": Answer(200, b'"OK"', JSON),
    "nulls where objects go": Answer(200, b'{"header": null, "message": null, "body": null, "data": null}', JSON),
    "lists where objects go": Answer(200, b'{"header": [], "message": [], "body": [], "groupInfo": []}', JSON),
    "wrong types": Answer(200, b'{"header": {"isSuccessful": "yes", "resultCode": [1]}, "success": "maybe"}', JSON),
    "no result for the recipient": Answer.of_json(200, NO_RESULT),
    "a proxy's page": Answer(200, b"<html><body>Welcome to nginx!</body></html>", {"Content-Type": "text/html"}),
    "not UTF-8": Answer(200, b'{"header": "\xff\xfe\xfa"}', JSON),
    "8 MB of nothing": Answer(200, b"{" + b" " * 8_000_000 + b"}", JSON),
}
"""2xx answers that are none of the providers' documented success."""
JUNK_FAILURES = {
    "weird error fields": Answer(400, b'{"error": [], "errorCode": {}, "message": 5, "code": [], "details": 1}', JSON),
    "a 500 page": Answer(500, b"<html>Internal Server Error</html>", {"Content-Type": "text/html"}),
    "429, wait soon": Answer(429, b"", {"Retry-After": "soon"}),
    "429, wait -5 s": Answer(429, b"", {"Retry-After": "-5"}),
    "429, wait nan": Answer(429, b"", {"Retry-After": "nan"}),
    "429, wait a century": Answer(429, b"", {"Retry-After": "3155760000"}),
}
SUCCESS_IS_HTTP_200 = {"line", "instagram"}
"""LINE's and Meta's documented success is the status: their body's shape only adds ids."""


class Scripted(FakeProviderServer):
    """A provider, or a proxy in front of it, that gives one answer to everything (after ``delay`` seconds)."""

    def __init__(self, answer: Answer, *, delay: float = 0.0) -> None:
        super().__init__()
        self.scripted, self.delay = answer, delay

    def answer(self, request: Request) -> Answer:
        if self.delay:
            time.sleep(self.delay)
        return self.scripted

    def rate_limited_answer(self, request: Request, retry_after: float | None) -> Answer:
        return self.scripted

    def fault_answer(self, kind: str, request: Request) -> Answer:
        return self.scripted


def adapters(url: str, http: httpx.AsyncClient) -> dict[str, tuple[MessagingProvider, list[Rendered]]]:
    """Each provider on ``url``, with the messages it carries."""
    line_user = "U" + "4af4980629d4f3c0a1b2c3d4e5f60718"
    return {
        "nhn": (NhnCloudProvider(http=http, alimtalk_base_url=url, sms_base_url=url, app_key="app-key",
                                 secret_key="secret", sender_key="s" * 40, sms_app_key="sms-app-key",
                                 sms_secret_key="sms-secret", send_no="15446859", webhook_signature="nhn-signature"),
                [alimtalk_of("SHIP01"), sms()]),
        "solapi": (SolapiProvider(http=http, base_url=url, api_key="key", api_secret="secret", pf_id="KA01PF",
                                  from_number="029302266", webhook_secret="solapi-secret",
                                  template_ids={"SHIP01": "KA01TP230126"}),
                   [alimtalk_of("SHIP01"), sms()]),
        "line": (LineProvider(http=http, base_url=url, channel_access_token="token"),
                 [Rendered(channel=Channel.LINE, address=line_user, text="배송이 시작됐습니다"),
                  Rendered(channel=Channel.LINE, address=line_user, text="네, 확인했어요", reply_token="r-1")]),
        "instagram": (InstagramProvider(http=http, base_url=url, ig_user_id="17841400000000001", access_token="t",
                                        app_secret="meta-secret"),
                      [Rendered(channel=Channel.INSTAGRAM, address="1784140000000777", text="배송이 시작됐습니다")]),
        "talktalk": (TalkTalkProvider(http=http, base_url=url, authorization_key="talktalk-key"),
                     [Rendered(channel=Channel.TALKTALK, address="wp_user_1", text="배송이 시작됐습니다")]),
    }  # fmt: skip


@pytest.fixture
async def short_http() -> AsyncIterator[httpx.AsyncClient]:
    """A client that gives up reading an answer after 0.3 s, as the worker's does after its own timeout."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, read=0.3)) as client:
        yield client


@pytest.mark.parametrize("name", ["nhn", "solapi", "line", "instagram", "talktalk"])
async def test_a_messaging_adapter_answers_an_outcome_for_any_answer(name: str, short_http: httpx.AsyncClient) -> None:
    outcomes: dict[tuple[str, str], Outcome] = {}
    for label, answer in {**JUNK_SUCCESSES, **JUNK_FAILURES, "no answer in time": Answer(200, b"{}", JSON)}.items():
        with Scripted(answer, delay=0.6 if label == "no answer in time" else 0.0) as provider_server:
            provider, messages = adapters(provider_server.url, short_http)[name]
            for rendered in messages:
                outcomes[label, rendered.channel] = await provider.send(delivery(rendered))

    assert {type(outcome) for outcome in outcomes.values()} == {Outcome}
    accepted_junk = [key for key, outcome in outcomes.items()
                     if key[0] in JUNK_SUCCESSES and outcome.kind is OutcomeKind.ACCEPTED]  # fmt: skip
    # A 2xx that is not the provider's success may be a retry's answer or a proxy's page: never a message sent,
    # and never a message refused for good either (it would be lost on this channel).
    given_up = [key for key, outcome in outcomes.items()
                if key[0] in JUNK_SUCCESSES and outcome.kind is OutcomeKind.PERMANENT]  # fmt: skip
    if name not in SUCCESS_IS_HTTP_200:
        # NHN's 200 with ``isSuccessful: true`` and no ``sendResults`` entry for the recipient says nothing of this
        # message: in doubt (NHN deduplicates the retry by its key), not accepted. A 200 that is not TalkTalk's
        # answer (``{}``, nulls, 8 MB of spaces) is in doubt too, not a refusal that would lose the message.
        assert accepted_junk == []
        assert given_up == []
    waits = {key: outcome.retry_after for key, outcome in outcomes.items() if outcome.retry_after is not None}
    assert all(0 <= wait < 10**10 for wait in waits.values()), waits
    late = [outcome for (label, _), outcome in outcomes.items() if label == "no answer in time"]
    assert {(outcome.kind, outcome.delivery_unknown) for outcome in late} == {(OutcomeKind.TRANSIENT, True)}


def _signed(name: str, body: bytes) -> dict[str, str]:
    if name == "nhn":
        return {"X-Toast-Webhook-Signature": "nhn-signature", "Content-Type": "application/json"}
    if name == "solapi":
        return {"X-Solapi-Secret": "solapi-secret", "X-Solapi-Event-Name": "SINGLE-REPORT"}
    signature = hmac.new(b"meta-secret", body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={signature}"}


async def test_a_verified_delivery_report_of_any_shape_is_read_without_a_crash(short_http: httpx.AsyncClient) -> None:
    bodies = [b"", b"[]", b"null", b"{}", b'{"hooks": 5}', b'{"hooks": "[{]"}', b'{"entry": [{"messaging": 5}]}',
              b'{"messageId": [], "statusCode": {}}', b"<html>", b'{"a":' * 20 + b"1" + b"}" * 20,
              b'{"x": "' + b"y" * 2_000_000 + b'"}']  # fmt: skip
    read: dict[tuple[str, int], str] = {}
    for name, (provider, _) in adapters("http://127.0.0.1:9", short_http).items():
        for number, body in enumerate(bodies):
            try:
                receipts = provider.parse_receipts(_signed(name, body), body)
            except ReceiptRejectedError:
                read[name, number] = "rejected"
            else:
                read[name, number] = f"{len(receipts)} receipts"

    assert set(read.values()) <= {"rejected", "0 receipts"}


async def test_the_dispatcher_keeps_a_message_its_provider_answered_with_junk(
    engine: AsyncEngine, session: AsyncSession, short_http: httpx.AsyncClient
) -> None:
    enqueued = await outbox().enqueue(session, outgoing("shipping_started", recipient=korean_phone()))
    await session.commit()
    with Scripted(JUNK_SUCCESSES["a proxy's page"]) as nhn:
        provider, _ = adapters(nhn.url, short_http)["nhn"]
        await dispatcher(every_channel(provider)).run(sessions(engine))

    message = await stored(session, enqueued.message_id)
    assert message.status == "queued"  # to be sent again, not taken as sent nor given up
    assert message.next_attempt_at is not None


async def test_a_provider_asking_to_wait_for_ever_does_not_hold_messages_for_ever(
    engine: AsyncEngine, session: AsyncSession, short_http: httpx.AsyncClient
) -> None:
    """NHN answering ``429`` with ``Retry-After: 100000000000000000000`` once made the dispatcher raise
    ``OverflowError`` adding that wait to now (the message stayed claimed until its lease ended, then met the same
    answer), and a century's wait would have left it, and every other message to NHN, waiting for a century. A
    ``Retry-After`` is read as at most an hour (``notify.providers.transport.LONGEST_RETRY_AFTER``): no provider
    documents a longer rate-limit wait."""
    enqueued = await outbox().enqueue(session, outgoing("shipping_started", recipient=korean_phone()))
    await session.commit()
    longest = datetime.timedelta(seconds=LONGEST_RETRY_AFTER)
    with Scripted(Answer(429, b"", {"Retry-After": "100000000000000000000"})) as nhn:
        provider, _ = adapters(nhn.url, short_http)["nhn"]
        before = datetime.datetime.now(datetime.UTC)
        await dispatcher(every_channel(provider)).run(sessions(engine))

    message = await stored(session, enqueued.message_id)
    assert message.status == "queued"
    assert message.next_attempt_at is not None
    assert message.next_attempt_at <= before + longest + datetime.timedelta(seconds=5)


class TossAnsweringForAnotherOrder(FakeToss):
    """Toss, behind a cache that mixed answers up: a virtual account issued for another order and amount."""

    def answer(self, request: Request) -> Answer:
        answer = super().answer(request)
        if request.path != VIRTUAL_ACCOUNTS_PATH or answer.status != 200:
            return answer
        payment = json.loads(answer.body) | {"orderId": "SH20261201-000999", "totalAmount": 1000}
        return Answer.of_json(200, payment)


@pytest.fixture
def toss() -> Iterator[FakeToss]:
    with TossAnsweringForAnotherOrder() as fake:
        yield fake


@pytest.fixture
def settings(services: Services, toss: FakeToss, tmp_path: Path) -> Settings:
    """The suite's app settings, paying through Toss (the fake above)."""
    environ = services.environ(
        SHOA_SEARCH_DIR=str(tmp_path / "search"),
        SHOA_ORDERS_PAYMENT_GATEWAY="toss",
        SHOA_ORDERS_TOSS_SECRET_KEY=toss.secret_key,
        SHOA_ORDERS_TOSS_BASE_URL=toss.url,
    )
    loaded = load_settings(environ, env_file=None)  # fmt: skip
    create_search_index(loaded.search.dir)
    return loaded


async def test_a_gateway_answering_for_another_payment_opens_no_order(
    catalog: Catalog, shopper: Shopper, session: AsyncSession
) -> None:
    lines = [{"variant_id": str(catalog.variant("H1-BK-M")), "quantity": 2}]

    refused = await shopper.checkout(payment_method="virtual_account", lines=lines)

    assert refused.status_code == 503, refused.text
    assert refused.json()["type"].endswith("/payment-gateway-unavailable")
    assert await session.scalar(sa.select(sa.func.count()).select_from(Order)) == 0
    assert await catalog.stock("H1-BK-M") == 10


class KakaoAnswering(KakaoFake):
    """Kakao's token or user-info endpoint answering what a test sets, or nothing for ``hang`` seconds."""

    token_answer: OAuthAnswer | None = None
    user_answer: OAuthAnswer | None = None
    hang: float = 0.0

    def token(self, form: dict[str, str], headers: dict[str, str]) -> OAuthAnswer:
        if self.hang:
            time.sleep(self.hang)
        return self.token_answer or super().token(form, headers)

    def user_me(self, query: dict[str, str], headers: dict[str, str]) -> OAuthAnswer:
        return self.user_answer or super().user_me(query, headers)


def _json(body: object) -> OAuthAnswer:
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


TOKEN_JUNK: dict[str, OAuthAnswer] = {
    "a list": _json([]),
    "null": _json(None),
    "no access token": _json({"token_type": "bearer"}),
    "an access token that is a list": _json({"access_token": ["x"], "token_type": "bearer"}),
    "a token type that is a number": _json({"access_token": "x", "token_type": 5}),
    "an unknown token type": _json({"access_token": "x", "token_type": "mac"}),
    "an error that is a list": _json({"error": ["invalid_grant"]}),
    "an error that is an object, as a 400": (400, {"Content-Type": "application/json"}, b'{"error": {"a": 1}}'),
    "a proxy's page": (200, {"Content-Type": "text/html"}, b"<html>Welcome to nginx!</html>"),
    "8 MB of nothing": (200, {"Content-Type": "application/json"}, b"{" + b" " * 8_000_000 + b"}"),
}
USER_JUNK: dict[str, OAuthAnswer] = {
    "a list": _json([]),
    "an id that is a word": _json({"id": "x"}),
    "an account that is a list": _json({"id": 1, "kakao_account": []}),
    "a proxy's page": (200, {"Content-Type": "text/html"}, b"<html>Welcome to nginx!</html>"),
}


async def test_a_social_login_whose_provider_answers_junk_is_a_502_and_opens_no_account(
    services: Services, session: AsyncSession
) -> None:
    answers = {}
    for kakao in serve(KakaoAnswering(person=copy.deepcopy(KAKAO_PERSON))):
        environ = services.environ(SHOA_OAUTH_REDIRECT_BASE_URL=SHOA_BASE_URL, **kakao.environ())
        async with ShoaClient(app=create_app(load_settings(environ, env_file=None)), base_url=SHOA_BASE_URL) as shoa:
            for endpoint, junk in (*(("token", j) for j in TOKEN_JUNK.items()),
                                   *(("user", j) for j in USER_JUNK.items())):  # fmt: skip
                label, answer = junk
                kakao.token_answer, kakao.user_answer = (answer, None) if endpoint == "token" else (None, answer)
                login = await log_in(shoa, kakao)
                answers[endpoint, label] = (login.status_code, login.json()["type"].rsplit("/", 1)[-1])

    assert answers == dict.fromkeys(answers, (502, "oauth-provider-unavailable"))
    assert await session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


async def test_a_provider_sharing_nothing_but_an_id_still_logs_the_shopper_in(services: Services) -> None:
    """Kakao shares what the shopper agreed to: with nothing optional agreed to, its answer is an id alone."""
    fake = KakaoAnswering(person=copy.deepcopy(KAKAO_PERSON))
    fake.user_answer = _json({"id": 4105730291, "connected_at": "2026-12-01T01:02:03Z"})
    for kakao in serve(fake):
        environ = services.environ(SHOA_OAUTH_REDIRECT_BASE_URL=SHOA_BASE_URL, **kakao.environ())
        async with ShoaClient(app=create_app(load_settings(environ, env_file=None)), base_url=SHOA_BASE_URL) as shoa:
            login = await log_in(shoa, kakao)
            again = await log_in(shoa, kakao)

    assert login.status_code == 200, login.text
    assert again.json()["profile"]["id"] == login.json()["profile"]["id"]
    assert login.json()["profile"]["email"] is None


async def test_a_hanging_login_provider_is_unavailable_within_the_client_s_timeout(
    services: Services, redis_client: Redis, short_http: httpx.AsyncClient
) -> None:
    fake = KakaoAnswering(person=copy.deepcopy(KAKAO_PERSON))
    fake.hang = 2.0
    for kakao in serve(fake):
        settings = load_settings(services.environ(SHOA_OAUTH_REDIRECT_BASE_URL=SHOA_BASE_URL, **kakao.environ()),
                                 env_file=None)  # fmt: skip
        started = time.monotonic()
        with pytest.raises(OAuthProviderUnavailableError):
            await fetch_identity(oauth_provider(settings, "kakao"), code="code", state="state",
                                 pending=PendingLogin(provider="kakao", code_verifier="v" * 43, nonce=None),
                                 redis=redis_client, http=short_http)  # fmt: skip
        waited = time.monotonic() - started

    assert waited < 1.5


SEARCH_JUNK = {
    "a list": Answer(200, b"[]", JSON),
    "null": Answer(200, b"null", JSON),
    "hits that are not a list": Answer(200, b'{"hits": {}}', JSON),
    "a hit without an id": Answer(200, b'{"hits": [{"name": "x"}]}', JSON),
    "a hit whose id is no UUID": Answer(200, b'{"hits": [{"id": "x", "name": "x"}]}', JSON),
    "facets that are a list": Answer(200, b'{"hits": [], "facetDistribution": {"mall_id": []}}', JSON),
    "a total that is a word": Answer(200, b'{"hits": [], "totalHits": "many"}', JSON),
    "a proxy's page": Answer(200, b"<html>Welcome to nginx!</html>", {"Content-Type": "text/html"}),
    "8 MB of nothing": Answer(200, b"{" + b" " * 8_000_000 + b"}", JSON),
}


async def test_meilisearch_answering_junk_is_a_retryable_503(services: Services) -> None:
    answers = {}
    with Scripted(Answer(200, b"", JSON)) as meilisearch:
        environ = services.environ(SHOA_SEARCH_ENGINE="meilisearch", SHOA_MEILISEARCH_URL=meilisearch.url,
                                   SHOA_MEILISEARCH_KEY="search-key")  # fmt: skip
        async with ShoaClient(app=create_app(load_settings(environ, env_file=None))) as client:
            for number, (label, junk) in enumerate(SEARCH_JUNK.items()):
                meilisearch.scripted = junk
                found = await client.get("/v1/search", params={"q": f"린넨 {number}"})  # one query each: no cache
                problem = found.json()
                answers[label] = (found.status_code, problem.get("type", "").rsplit("/", 1)[-1],
                                  found.headers.get("retry-after"))  # fmt: skip

    assert answers == dict.fromkeys(SEARCH_JUNK, (503, "search-unavailable", "5"))


async def test_a_hanging_meilisearch_is_unavailable_within_the_client_s_timeout(
    session: AsyncSession, short_http: httpx.AsyncClient
) -> None:
    with Scripted(Answer(200, b'{"hits": []}', JSON), delay=2.0) as meilisearch:
        engine = MeilisearchEngine(short_http, url=meilisearch.url, key="search-key")
        started = time.monotonic()
        with pytest.raises(SearchUnavailableError):
            await asyncio.wait_for(engine.search(session, SearchQuery(text="린넨")), 5)
        waited = time.monotonic() - started

    assert waited < 1.5
