"""OWASP API Security Top 10 (2023), API5 — broken function level authorization: each route serves its own
audience alone, read off the route table so that a new route is covered by what it declares.

Here: every partner route refuses no credentials and a shopper's token (401), and a mall key without the route's
scope (403); every shopper route refuses no credentials and a mall's key (401) before it reads anything of the body
(an anonymous caller learns nothing of how a body would be refused, nor costs its decoding); routes personalized
for a logged-in shopper refuse a mall's key given as a token; webhooks take neither a shopper's token nor a mall's
key for their provider's signature; the metrics open to the scraper's token alone; and the development routes (the
sandbox's messages and payer) exist in development only — absent, not forbidden, in test and production.

Elsewhere: each caller kind on each route with exactly its status, and revoked and unscoped keys,
``tests/shoa_api/test_authorization_matrix.py``; each webhook's own signature or secret,
``tests/support/test_chat_webhooks.py``, ``tests/orders/test_payments.py`` and ``tests/notify/test_http.py``; the
insights page opened by a shopper's token or another mall's session,
``tests/insights/test_insights_page.py::test_an_access_token_or_another_key_s_session_opens_nothing``; the
development routes missing from the description outside development, ``test_api9_improper_inventory_management.py``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from catalog import keys
from catalog.models import ApiKeyScope
from shoa_api.app import create_app
from shoa_api.auth import require_partner_key
from shoa_api.settings import load_settings
from tests.client import ShoaClient
from tests.security.conftest import route_table

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.handlers import HTTPRouteHandler
    from litestar.routes import HTTPRoute
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.conftest import Services
    from tests.orders.conftest import Catalog, Shopper

PUBLIC = {
    "/health/live", "/health/ready", "/metrics", "/v1/malls", "/v1/malls/{mall_id}", "/v1/products/{product_id}",
    "/v1/categories", "/v1/catalog/vocabulary", "/v1/search", "/v1/feed", "/v1/auth/signup", "/v1/auth/login",
    "/v1/auth/refresh", "/v1/auth/oauth/{provider}/authorize", "/v1/auth/oauth/{provider}/callback",
    "/partner/insights", "/w/{token}", "/w/{token}/opt-out",
}  # fmt: skip
"""Routes anyone may call (the feed personalizes by ``optional_shopper`` without needing it; signing in to the staff
page and following a message's link are their own tokens, checked by their pages)."""


def audience(path: str, handler: HTTPRouteHandler) -> str:  # noqa: PLR0911 - one return per audience
    parameters = handler.parsed_fn_signature.parameters
    if require_partner_key in handler.resolve_guards():
        return "partner"
    if "shopper" in parameters:
        return "shopper"
    if "optional_shopper" in parameters:
        return "anyone, or a shopper"
    if path.startswith("/webhooks/"):
        return "provider"
    if path.startswith("/schema"):
        return "docs"
    if path in PUBLIC:
        return "anyone"
    return "unknown"


def address(route: HTTPRoute) -> str:
    ids = {name: uuid.uuid4() if part.type is uuid.UUID else "x" for name, part in route.path_parameters.items()}
    return route.path_format.format(**ids)


async def send(client: ShoaClient, method: str, url: str, headers: dict[str, str]) -> int:
    body: dict[str, Any] | None = {} if method in {"POST", "PUT", "PATCH"} else None
    return (await client.request(method, url, headers=headers, json=body)).status_code


async def test_every_route_belongs_to_one_audience(app: Litestar) -> None:
    unknown = sorted(
        f"{method} {path}" for (method, path), (_, handler) in route_table(app).items()
        if audience(path, handler) == "unknown"
    )  # fmt: skip

    assert unknown == [], "a new route must say who may call it: a partner key, a shopper, a provider, or anyone"


async def test_each_audience_s_routes_refuse_every_other_audience(
    app: Litestar, client: ShoaClient, catalog: Catalog, shopper: Shopper, session: AsyncSession
) -> None:
    haru = catalog.malls.haru
    scoped = {scope: await keys.issue_key(session, mall_id=haru.id, name=scope, scopes=[scope])
              for scope in ApiKeyScope}  # fmt: skip
    await session.commit()
    stock_before = await catalog.stock("H1-BK-M")
    refused: dict[str, dict[str, int]] = {}
    for (method, path), (route, handler) in sorted(route_table(app).items()):
        kind, url = audience(path, handler), address(route)
        if kind == "partner":
            tried = {"nobody": {}, "shopper": shopper.headers}
            if (needed := handler.opt.get("scope")) is not None:
                other_scope = next(key for scope, key in scoped.items() if scope != needed)
                tried["key without the scope"] = {"Authorization": f"Bearer {other_scope.key}"}
        elif kind == "shopper":
            tried = {"nobody": {}, "mall": haru.headers, "mall key as bearer": {"Authorization": haru.key}}
        elif kind == "anyone, or a shopper":
            tried = {"mall": haru.headers}
        elif kind == "provider":
            tried = {"shopper": shopper.headers, "mall": haru.headers}
        else:
            continue
        refused[f"{method} {path}"] = {who: await send(client, method, url, headers) for who, headers in tried.items()}

    expected = {"nobody": {401}, "shopper": {401}, "mall": {401}, "mall key as bearer": {401},
                "key without the scope": {403}}  # fmt: skip
    wrong = {
        route: statuses
        for route, statuses in refused.items()
        if any(status not in expected[who] and not (route.startswith("POST /webhooks/") and status in {400, 404})
               for who, status in statuses.items())
    }  # fmt: skip
    assert len(refused) >= 60
    assert wrong == {}
    assert await catalog.stock("H1-BK-M") == stock_before


async def test_metrics_open_only_to_the_scraper_s_token(services: Services, catalog: Catalog, shopper: Shopper) -> None:
    environ = services.environ(SHOA_METRICS_TOKEN="scraper-token-0123456789abcdef")
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None))) as client:
        tried = {
            "nobody": {}, "shopper": shopper.headers, "mall": catalog.malls.haru.headers,
            "another token": {"Authorization": "Bearer scraper-token-0123456789abcdeX"},
            "the token, another scheme": {"Authorization": "Basic scraper-token-0123456789abcdef"},
        }  # fmt: skip
        statuses = {who: (await client.get("/metrics", headers=headers)).status_code for who, headers in tried.items()}
        scraper = await client.get("/metrics", headers={"Authorization": "Bearer scraper-token-0123456789abcdef"})

    assert statuses == dict.fromkeys(tried, 401)
    assert scraper.status_code == 200
    assert "shoa_" in scraper.text


async def test_development_routes_exist_in_development_alone(services: Services) -> None:
    tables = {env: route_table(create_app(load_settings(services.environ(SHOA_ENV=env), env_file=None)))
              for env in ("development", "test", "production")}  # fmt: skip
    only_in_development = set(tables["development"]) - set(tables["test"])

    assert set(tables["test"]) == set(tables["production"])
    assert set(tables["test"]) <= set(tables["development"])
    assert {path for _, path in only_in_development} == {
        "/dev/messages", "/dev/payments/{order_id}/card", "/dev/payments/{order_id}/deposit",
    }  # fmt: skip
    for env in ("test", "production"):
        async with ShoaClient(app=create_app(load_settings(services.environ(SHOA_ENV=env), env_file=None))) as client:
            answers = {}
            for method, path in only_in_development:
                route, _ = tables["development"][method, path]
                answers[method, path] = (await client.request(method, address(route))).status_code
        assert answers == dict.fromkeys(only_in_development, 404), env
    async with ShoaClient(app=create_app(load_settings(services.environ(SHOA_ENV="development"),
                                                       env_file=None))) as client:  # fmt: skip
        assert (await client.get("/dev/messages")).status_code == 200
