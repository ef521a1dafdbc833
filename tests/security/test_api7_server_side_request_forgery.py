"""OWASP API Security Top 10 (2023), API7 — server side request forgery: Shoa fetches no URL a caller gives it.

Every address Shoa calls is one of its settings (the messaging providers, the payment gateway, the social logins'
endpoints and LINE's keys, Meilisearch); none comes from a request. This module proves what callers can hand it:
a mall's product image URLs are kept as text for the apps to load, https only, and never fetched — not by the
sync, the search indexer, the product page, the feed, the search or the cart; a social login sends the shopper back
only to the configured callback, whatever the request asks; a provider that redirects elsewhere is not followed;
the URLs inside the messengers' webhooks (a LINE image's, an Instagram attachment's) are not fetched. Each test
watches a port on 127.0.0.1 that those URLs name, and no connection may reach it.

Elsewhere: LINE's ID-token keys fetched from the configured JWKS URL alone, never from a token's header,
``tests/shoa_api/test_oauth.py``; a shopper's token naming a key URL (``jku``, ``x5u``) refused without a fetch,
``test_api2_broken_authentication.py``; the payment gateway's webhooks read back from the configured gateway, never
from the webhook, ``tests/orders/test_payments.py``.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from shoa_api.app import create_app
from shoa_api.settings import load_settings
from tests.client import ShoaClient
from tests.notify.fakes.http import Answer, FakeProviderServer, Request
from tests.oauth_providers import SHOA_BASE_URL, KakaoFake, serve
from tests.orders.conftest import product, variant
from tests.security.conftest import Listener
from tests.shoa_api.test_oauth import KAKAO_PERSON, callback_with, consent
from tests.support.conftest import (
    INSTAGRAM_ACCOUNT,
    INSTAGRAM_APP_SECRET,
    LINE_SECRET,
    instagram_signature,
    line_signature,
)

if TYPE_CHECKING:
    from tests.conftest import SearchIndex, Services
    from tests.oauth_providers import Answer as OAuthAnswer
    from tests.orders.conftest import Catalog, Shopper


async def test_image_urls_are_kept_as_text_and_never_fetched(
    client: ShoaClient, catalog: Catalog, shopper: Shopper, search_index: SearchIndex
) -> None:
    haru = catalog.malls.haru
    with Listener() as listener:
        inside = [
            f"https://127.0.0.1:{listener.port}/tweed.jpg", f"https://localhost:{listener.port}/tweed.jpg",
            "https://169.254.169.254/latest/meta-data/iam/security-credentials/", "https://[::1]/tweed.jpg",
            "https://metadata.google.internal/computeMetadata/v1/",
        ]  # fmt: skip
        not_https = [
            f"http://127.0.0.1:{listener.port}/tweed.jpg", "file:///etc/passwd", "gopher://127.0.0.1:6379/_FLUSHALL",
            "javascript:alert(1)", "data:image/png;base64,iVBORw0KGgo=", f"//127.0.0.1:{listener.port}/tweed.jpg",
            "ftp://127.0.0.1/tweed.jpg", "https:///etc/passwd",
        ]  # fmt: skip
        item = product("SSRF", "트위드 자켓", "아우터/자켓",
                       variant("SSRF-M", price=89000, stock=5, color="블랙", size="M"), image_urls=inside)  # fmt: skip
        synced = await haru.call("PUT", "/partner/v1/products", {"products": [item] + [
            item | {"external_id": f"BAD{n}", "image_urls": [url],
                    "variants": [variant(f"BAD{n}-M", price=1000, stock=1, color="블랙", size="M")]}
            for n, url in enumerate(not_https)
        ]})  # fmt: skip
        product_id = synced.json()["items"][0]["product_id"]
        await search_index.settle()
        page = await client.get(f"/v1/products/{product_id}")
        found = await client.get("/v1/search", params={"q": "트위드"})
        feed = await client.get("/v1/feed", params={"limit": 50})
        await shopper.put_item(uuid.UUID(page.json()["variants"][0]["id"]), 1)
        cart = await shopper.cart()
        fetched = listener.connections

    results = synced.json()["items"]
    assert results[0]["result"] == "created"
    assert [(r["result"], [e["field"] for e in r["errors"]]) for r in results[1:]] == [
        ("rejected", ["image_urls[0]"])] * len(not_https)  # fmt: skip
    assert page.json()["image_urls"] == inside
    assert [hit["image_url"] for hit in found.json()["items"]] == [inside[0]]
    assert inside[0] in {entry["image_url"] for entry in feed.json()["items"]}
    assert cart["malls"][0]["lines"][0]["image_url"] == inside[0]
    assert fetched == 0


async def test_a_social_login_returns_only_to_the_configured_callback(services: Services) -> None:
    with Listener() as listener:
        for kakao in serve(KakaoFake(person=copy.deepcopy(KAKAO_PERSON))):
            environ = services.environ(SHOA_OAUTH_REDIRECT_BASE_URL=SHOA_BASE_URL, **kakao.environ())
            app = create_app(load_settings(environ, env_file=None))
            async with ShoaClient(app=app, base_url=SHOA_BASE_URL) as shoa:
                steal = f"{listener.url}/steal"
                elsewhere = dict.fromkeys(("redirect_uri", "return_to", "next", "url"), steal)
                started = (await shoa.get("/v1/auth/oauth/kakao/authorize", params=elsewhere)).json()
                location = await consent(started["authorization_url"])
                logged_in = await shoa.get(callback_with(location, **elsewhere))
            asked = parse_qs(urlsplit(started["authorization_url"]).query)
            exchanged = kakao.token_requests[-1]
        fetched = listener.connections

    callback = f"{SHOA_BASE_URL}/v1/auth/oauth/kakao/callback"
    assert asked["redirect_uri"] == [callback]
    assert [value for values in asked.values() for value in values if "/steal" in value] == []
    assert exchanged["redirect_uri"] == callback
    assert logged_in.status_code == 200, logged_in.text
    assert fetched == 0


class KakaoRedirecting(KakaoFake):
    """Kakao's token endpoint, taken over: it sends the server elsewhere instead of answering."""

    elsewhere: str = ""

    def token(self, form: dict[str, str], headers: dict[str, str]) -> OAuthAnswer:
        self.token_requests.append(form)
        return 307, {"Location": self.elsewhere}, b""


class Redirecting(FakeProviderServer):
    """A search engine, taken over: every request is sent elsewhere."""

    def __init__(self, elsewhere: str) -> None:
        super().__init__()
        self.elsewhere = elsewhere

    def answer(self, request: Request) -> Answer:
        return Answer(307, b"", {"Location": self.elsewhere})

    def rate_limited_answer(self, request: Request, retry_after: float | None) -> Answer:
        return self.answer(request)

    def fault_answer(self, kind: str, request: Request) -> Answer:
        return self.answer(request)


async def test_a_provider_sending_shoa_elsewhere_is_not_followed(services: Services) -> None:
    with Listener() as listener:
        fake = KakaoRedirecting(person=copy.deepcopy(KAKAO_PERSON))
        fake.elsewhere = f"{listener.url}/latest/meta-data/"
        for kakao in serve(fake):
            environ = services.environ(SHOA_OAUTH_REDIRECT_BASE_URL=SHOA_BASE_URL, **kakao.environ())
            app = create_app(load_settings(environ, env_file=None))
            async with ShoaClient(app=app, base_url=SHOA_BASE_URL) as shoa:
                started = (await shoa.get("/v1/auth/oauth/kakao/authorize")).json()
                login = await shoa.get(callback_with(await consent(started["authorization_url"])))
        with Redirecting(f"{listener.url}/indexes/products/search") as meilisearch:
            environ = services.environ(SHOA_SEARCH_ENGINE="meilisearch", SHOA_MEILISEARCH_URL=meilisearch.url,
                                       SHOA_MEILISEARCH_KEY="search-key")  # fmt: skip
            async with ShoaClient(app=create_app(load_settings(environ, env_file=None))) as shoa:
                search = await shoa.get("/v1/search", params={"q": "린넨"})
        fetched = listener.connections

    assert (login.status_code, login.json()["type"].rsplit("/", 1)[-1]) == (502, "oauth-provider-unavailable")
    assert (search.status_code, search.json()["type"].rsplit("/", 1)[-1]) == (503, "search-unavailable")
    assert fetched == 0


def line_image(user_id: str, url: str) -> bytes:
    event = {
        "type": "message", "mode": "active", "timestamp": 1765087200000,
        "source": {"type": "user", "userId": user_id}, "webhookEventId": f"01J{uuid.uuid4().hex[:23].upper()}",
        "deliveryContext": {"isRedelivery": False}, "replyToken": uuid.uuid4().hex,
        "message": {"id": "468789577898262530", "type": "image", "quoteToken": "q",
                    "contentProvider": {"type": "external", "originalContentUrl": url, "previewImageUrl": url}},
    }  # fmt: skip
    return json.dumps({"destination": "U-shoa-bot", "events": [event]}).encode()


def instagram_attachment(sender: str, url: str) -> bytes:
    message: dict[str, Any] = {
        "mid": f"aWdf{uuid.uuid4().hex}",
        "attachments": [{"type": "image", "payload": {"url": url}}],
    }
    event = {"sender": {"id": sender}, "recipient": {"id": INSTAGRAM_ACCOUNT}, "timestamp": 1765087200000,
             "message": message}  # fmt: skip
    return json.dumps({"object": "instagram", "entry": [{"id": INSTAGRAM_ACCOUNT, "time": 1765087200,
                                                          "messaging": [event]}]}).encode()  # fmt: skip


async def test_urls_inside_messenger_webhooks_are_not_fetched(services: Services) -> None:
    environ = services.environ(SHOA_SUPPORT_LINE_CHANNEL_SECRET=LINE_SECRET,
                               SHOA_INSTAGRAM_APP_SECRET=INSTAGRAM_APP_SECRET)  # fmt: skip
    with Listener() as listener:
        async with ShoaClient(app=create_app(load_settings(environ, env_file=None))) as shoa:
            line_body = line_image("U" + "c" * 32, f"https://127.0.0.1:{listener.port}/photo.jpg")
            line = await shoa.post("/webhooks/chat/line", content=line_body,
                                   headers={"Content-Type": "application/json",
                                            "X-Line-Signature": line_signature(line_body)})  # fmt: skip
            meta_body = instagram_attachment("1784140000000777", f"{listener.url}/photo.jpg")
            instagram = await shoa.post("/webhooks/chat/instagram", content=meta_body,
                                        headers={"Content-Type": "application/json",
                                                 "X-Hub-Signature-256": instagram_signature(meta_body)})  # fmt: skip
        fetched = listener.connections

    assert (line.status_code, instagram.status_code) == (200, 200), (line.text, instagram.text)
    assert fetched == 0
