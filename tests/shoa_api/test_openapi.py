"""The API's description is complete and true: every route is in it and nothing else is, with its body, its answers
and their problem details; real answers match it; its examples match it; and its docs UI works with no internet.

Real answers are checked with ``openapi-core``, which finds the operation of a request in the description, then
checks the answer's status, media type, declared headers and body against it, with JSON Schema 2020-12 (OpenAPI
3.1's dialect) and formats; it also checks the description itself against the OpenAPI 3.1 specification when it
loads it. Examples are checked with ``jsonschema``, on which it rests.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
from litestar.routes import HTTPRoute
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from catalog import keys
from catalog.categories import CATEGORY_PATHS, STYLE_TAGS
from catalog.product_rules import CURRENCIES
from shoa_api.app import create_app
from shoa_api.auth import require_partner_key
from shoa_api.errors import PROBLEM_JSON
from shoa_api.settings import load_settings
from tests.catalog.test_sync import product
from tests.client import ShoaClient
from tests.factories import create_mall
from tests.shoa_api.test_auth import PASSWORD, bearer, signup

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable
    from pathlib import Path

    import httpx
    from litestar import Litestar
    from litestar.handlers import HTTPRouteHandler
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.conftest import Services

NOT_DESCRIBED = {
    ("/metrics", "GET"),  # for the scraper holding the metrics token, not for API clients
    ("/schema", "GET"),
    ("/schema/swagger", "GET"),
    ("/schema/openapi.json", "GET"),
    ("/schema/oauth2-redirect.html", "GET"),
    ("/schema/{path}", "GET"),  # a 404 page for any other path under /schema
    ("/schema/assets/{file_path}", "GET"),  # the docs UI's JavaScript, CSS and icons
    ("/partner/insights", "GET"),  # the mall staff's HTML page, signed in by a link (docs/decisions/0038)
    # A win-back message's links, opened from a messenger in a browser: pages, not API (docs/decisions/0041).
    ("/w/{token}", "GET"),
    ("/w/{token}/opt-out", "GET"),
    ("/w/{token}/opt-out", "POST"),
}
PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}
SHOPPER_OR_ANONYMOUS: list[dict[str, list[str]]] = [{}, {"shopperToken": []}]
PERSONALIZED_FOR_ANYONE = {"record_events", "get_feed", "get_rankings"}
"""Served to anyone, personalized for a shopper who sends her token (a bad token is a 401)."""


def _described_routes(app: Litestar) -> dict[tuple[str, str], HTTPRouteHandler]:
    return {
        (route.path_format, method): handler
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        for method in handler.http_methods - {"HEAD", "OPTIONS"}
        if handler.resolve_include_in_schema()
    }


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method.upper()): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "patch", "delete"}
    }


def _reads_a_body(handler: HTTPRouteHandler) -> bool:
    return _reads_json(handler) or "body" in handler.opt


def _reads_json(handler: HTTPRouteHandler) -> bool:
    """A body of the API's own, through its JSON gate (a webhook's body is its provider's)."""
    return "data" in handler.parsed_fn_signature.parameters or bool(handler.opt.get("json_body"))


async def _document(client: ShoaClient) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


async def test_every_route_is_described_and_nothing_else(client: ShoaClient, app: Litestar) -> None:
    document = await _document(client)
    routes = _described_routes(app)
    operations = _operations(document)

    assert document["info"]["title"] == "Shoa API"
    assert set(routes) == set(operations)
    assert {(route.path_format, method) for route in app.routes for method in route.methods - {"HEAD", "OPTIONS"}} == (
        set(routes) | NOT_DESCRIBED
    )
    for key, handler in routes.items():
        assert operations[key]["operationId"] == handler.operation_id, key


async def test_each_operation_declares_its_body_its_callers_and_its_problems(client: ShoaClient, app: Litestar) -> None:
    operations = _operations(await _document(client))

    for (path, method), handler in _described_routes(app).items():
        operation, where = operations[path, method], f"{method} {path}"
        responses = operation["responses"]
        assert ("requestBody" in operation) == _reads_a_body(handler), where
        assert str(handler.status_code) in responses, where
        for status, response in responses.items():
            if status[0] in "45":
                assert response["content"] == {PROBLEM_JSON: response["content"][PROBLEM_JSON]}, (where, status)
                assert response["content"][PROBLEM_JSON]["schema"] == PROBLEM_SCHEMA, (where, status)
        if "requestBody" in operation:
            assert ({"400", "413", "415", "422"} if _reads_json(handler) else {"400", "413"}) <= set(responses), where
        security = operation.get("security", [])
        if require_partner_key in handler.resolve_guards():
            assert security == [{"partnerKey": [handler.opt["scope"]] if "scope" in handler.opt else []}], where
        elif "shopper" in handler.parsed_fn_signature.parameters:
            assert security == [{"shopperToken": []}], where
        elif handler.operation_id in PERSONALIZED_FOR_ANYONE:
            assert security == SHOPPER_OR_ANONYMOUS, where
        else:
            assert security == [], where
        own_refusals = handler.responses or {}
        assert ("401" in responses) == (bool(security) or 401 in own_refusals), where
        assert ("403" in responses) == ("scope" in handler.opt or 403 in own_refusals), where
        assert {"500", "503"} <= set(responses) or path == "/health/live", where
        if path.startswith(("/v1/", "/partner/")):
            assert "429" in responses, where
            assert responses["429"]["headers"]["Retry-After"]["required"], where
            assert responses["503"]["headers"]["Retry-After"]["required"], where


async def test_the_bodies_read_by_hand_are_described(client: ShoaClient) -> None:
    document = await _document(client)
    sync = document["paths"]["/partner/v1/products"]["put"]["requestBody"]["content"]["application/json"]
    events = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    schemas = document["components"]["schemas"]

    assert sync["schema"] == {"$ref": "#/components/schemas/ProductBatch"}
    assert schemas["ProductBatch"]["properties"]["products"]["items"]["anyOf"] == [
        {"$ref": "#/components/schemas/ProductIn"},
        {},  # any other item is answered for on its own: rejected, with its reasons
    ]
    assert events["schema"] == {"$ref": "#/components/schemas/EventBatch"}
    assert schemas["EventBatch"]["properties"]["events"]["maxItems"] == 100


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource("urn:shoa:openapi", DRAFT202012.create_resource(document))
    resolved = {**schema, "$ref": f"urn:shoa:openapi{schema['$ref']}"} if "$ref" in schema else schema
    return jsonschema.Draft202012Validator(resolved, registry=registry, format_checker=jsonschema.FormatChecker())


async def test_every_example_matches_its_schema(client: ShoaClient) -> None:
    document = await _document(client)
    checked = 0

    for (path, method), operation in _operations(document).items():
        bodies = [("request", operation.get("requestBody", {}))]
        bodies += [(status, response) for status, response in operation["responses"].items()]
        for where, body in bodies:
            for media_type, media in body.get("content", {}).items():
                for name, example in media.get("examples", {}).items():
                    errors = list(_validator(document, media["schema"]).iter_errors(example["value"]))
                    assert not errors, (method, path, where, media_type, name, [e.message for e in errors])
                    checked += 1

    assert checked > 60


async def test_the_closed_lists_are_enums_and_can_be_fetched(client: ShoaClient) -> None:
    schemas = (await _document(client))["components"]["schemas"]
    vocabulary = (await client.get("/v1/catalog/vocabulary")).json()
    product_in = schemas["ProductIn"]["properties"]

    assert set(product_in["category_path"]["enum"]) == CATEGORY_PATHS == set(vocabulary["category_paths"])
    assert set(product_in["style_tags"]["items"]["enum"]) == STYLE_TAGS == set(vocabulary["style_tags"])
    assert set(schemas["VariantIn"]["properties"]["currency"]["enum"]) == CURRENCIES == set(vocabulary["currencies"])
    assert vocabulary["target_genders"] == product_in["target_gender"]["enum"]
    assert "아이보리" in vocabulary["colors"]
    assert {system["name"] for system in vocabulary["size_systems"]} >= {"free", "letter", "shoe_mm"}
    assert "enum" not in schemas["VariantIn"]["properties"]["color"]["anyOf"][0]  # free text: recommended only


async def test_colours_and_sizes_are_free_text_and_style_tags_are_not(
    client: ShoaClient, session: AsyncSession
) -> None:
    mall = await create_mall(session)
    issued = await keys.issue_key(session, mall_id=mall.id, name="sync", scopes=["catalog:write"])
    await session.commit()
    odd_variant = {"sku": "V-1", "color": "멜란지 오트밀", "size": "88", "price": 39000, "stock": 2}

    answer = await client.put(
        "/partner/v1/products",
        headers={"Authorization": f"Bearer {issued.key}"},
        json={"products": [product("V", variants=[odd_variant]), product("W", style_tags=["여름휴가룩"])]},
    )

    assert [item["result"] for item in answer.json()["items"]] == ["created", "rejected"]


class Exchanges:
    """Requests sent to the app and the answers it gave, to check against the description."""

    def __init__(self, client: ShoaClient) -> None:
        self.client = client
        self.seen: list[tuple[httpx.Request, httpx.Response]] = []

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, path, **kwargs)
        self.seen.append((response.request, response))
        return response

    def check(self, document: dict[str, Any]) -> set[int]:
        # openapi-core reads `application/json` bodies, not their `+json` kin, unless told.
        problem_json: dict[str, Callable[[bytes], Any]] = {PROBLEM_JSON: json.loads}
        api = OpenAPI.from_dict(document, config=Config(extra_media_type_deserializers=problem_json))
        for request, response in self.seen:
            api.validate_response(
                MockRequest("http://shoa.test", request.method, request.url.path),
                MockResponse(
                    response.content,
                    status_code=response.status_code,
                    headers=dict(response.headers),
                    content_type=response.headers.get("content-type", "").split(";")[0],
                ),
            )
        return {response.status_code for _, response in self.seen}


async def _key(session: AsyncSession, mall_id: uuid.UUID, scope: str) -> dict[str, str]:
    issued = await keys.issue_key(session, mall_id=mall_id, name=scope, scopes=[scope])
    return {"Authorization": f"Bearer {issued.key}"}


async def test_real_answers_match_the_description(client: ShoaClient, session: AsyncSession) -> None:
    sent = Exchanges(client)
    mall = await create_mall(session, name="하루일상")
    partner = await _key(session, mall.id, "catalog:write")
    reader = await _key(session, mall.id, "orders:read")
    await session.commit()

    # A partner mall syncs, lists, changes and hides its products.
    batch = {"products": [product("P-1"), product("P-2", category_path="상의/점프수트")]}
    synced = await sent.send("PUT", "/partner/v1/products", headers=partner, json=batch)
    product_id = synced.json()["items"][0]["product_id"]
    await sent.send("PUT", "/partner/v1/products", headers=partner, json={"products": []})
    await sent.send("PUT", "/partner/v1/products", headers=partner, content=b'{"products": [')
    await sent.send("PUT", "/partner/v1/products", headers={**partner, "Content-Type": "application/json"},
                    content=b'{"products": [')  # fmt: skip
    await sent.send("PUT", "/partner/v1/products", headers={**partner, "Content-Type": "text/plain"}, content=b"{}")
    await sent.send("PUT", "/partner/v1/products", headers=reader, json={"products": [product("P-3")]})
    await sent.send("GET", "/partner/v1/products", headers=partner)
    await sent.send("GET", "/partner/v1/products", headers=partner, params={"cursor": "not-ours"})
    await sent.send("GET", "/partner/v1/me", headers=reader)
    await sent.send("GET", "/partner/v1/me")
    await sent.send("PATCH", "/partner/v1/products/P-1", headers=partner, json={"status": "sold_out"})
    await sent.send("PATCH", "/partner/v1/products/P-1", headers=partner, json={"colour": "블랙"})
    await sent.send("PUT", "/partner/v1/stock", headers=partner, json={"items": [{"sku": "P-1-BK-M", "stock": 3}]})
    await sent.send("DELETE", "/partner/v1/products/P-404", headers=partner)

    # Anyone browses.
    await sent.send("GET", "/v1/malls")
    await sent.send("GET", "/v1/malls", params={"limit": 1000})
    await sent.send("GET", f"/v1/malls/{mall.id}")
    await sent.send("GET", f"/v1/products/{product_id}")
    await sent.send("GET", "/v1/products/0193a1c2-6f70-7b21-9c3d-4e5f6a7b8c02")
    await sent.send("GET", "/v1/categories")
    await sent.send("GET", "/v1/catalog/vocabulary")
    await sent.send("GET", "/v1/search", params={"q": "린넨", "in_stock": "true"})
    await sent.send("GET", "/v1/search", params={"category": "상의/점프수트"})
    await sent.send("GET", "/v1/feed", params={"explain": "true"})
    await sent.send("GET", "/v1/auth/oauth/kakao/authorize")
    await sent.send("POST", "/v1/events", json={"events": []})
    await sent.send("GET", "/health/live")
    await sent.send("GET", "/health/ready")

    # A shopper signs up, logs in, likes, tells what she viewed, refreshes and logs out.
    tokens = await signup(client, display_name="김지영", gender="female", birth_date="1997-04-12")
    shopper = bearer(tokens)
    await sent.send("POST", "/v1/auth/signup", json={"email": "jiyoung@example.kr", "password": PASSWORD})
    second_login = (
        await sent.send("POST", "/v1/auth/login", json={"login": "jiyoung@example.kr", "password": PASSWORD})
    ).json()
    await sent.send("POST", "/v1/auth/login", json={"login": "jiyoung@example.kr", "password": "wrong-password-1"})
    await sent.send("POST", "/v1/auth/login", json={"login": "jiyoung@example.kr"})
    await sent.send("GET", "/v1/me", headers=shopper)
    await sent.send("PATCH", "/v1/me", headers=shopper, json={"locale": "ja"})
    await sent.send("PATCH", "/v1/me", headers=shopper, json={"display_name": ""})
    await sent.send("PUT", f"/v1/likes/{product_id}", headers=shopper)
    await sent.send("PUT", f"/v1/likes/{product_id}", headers=shopper)
    await sent.send("GET", "/v1/likes", headers=shopper)
    await sent.send("DELETE", f"/v1/likes/{product_id}", headers=shopper)
    await sent.send("PUT", "/v1/me/marketing/night", headers=shopper)  # 409: no channel agreed to yet
    await sent.send("PUT", "/v1/me/marketing/sms", headers=shopper)
    await sent.send("PUT", "/v1/me/marketing/alimtalk", headers=shopper)  # 422: AlimTalk carries no advertising
    await sent.send("GET", "/v1/me/marketing", headers=shopper)
    await sent.send("DELETE", "/v1/me/marketing/sms", headers=shopper)
    await sent.send("DELETE", "/v1/me/marketing", headers=shopper)
    await sent.send("GET", "/v1/feed", headers=shopper)
    event = {"id": "0193a1c2-8b90-7d43-be5f-6a7b8c9d0e00", "kind": "view", "product_id": product_id,
             "occurred_at": "2020-01-01T00:00:00Z"}  # fmt: skip
    await sent.send("POST", "/v1/events", headers=shopper, json={"events": [event]})
    await sent.send("POST", "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    await sent.send("POST", "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})  # reused: 401
    await sent.send("POST", "/v1/auth/logout", headers=bearer(second_login),
                    json={"refresh_token": second_login["refresh_token"]})  # fmt: skip
    await sent.send("GET", "/v1/me")

    statuses = sent.check(await _document(client))

    assert statuses >= {200, 201, 204, 400, 401, 403, 404, 409, 415, 422}


async def test_limits_match_the_description(services: Services, session: AsyncSession) -> None:
    mall = await create_mall(session)
    issued = await keys.issue_key(session, mall_id=mall.id, name="sync", scopes=["catalog:write"])
    await session.commit()
    partner = {"Authorization": f"Bearer {issued.key}"}
    environ = services.environ(SHOA_CATALOG_MAX_BATCH_BYTES="4096", SHOA_RATE_LIMIT_PARTNER_PER_KEY_PER_MINUTE="1")
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None))) as client:
        sent = Exchanges(client)
        await sent.send("PUT", "/partner/v1/products", headers=partner, json={"products": [product("P-1")] * 10})
        await sent.send("GET", "/partner/v1/me", headers=partner)

        statuses = sent.check(await _document(client))

    assert statuses == {413, 429}


async def test_outages_match_the_description(services: Services, tmp_path: Path) -> None:
    nowhere = f"postgresql+asyncpg://postgres@/shoa?host={tmp_path}"
    async with ShoaClient(
        app=create_app(load_settings(services.environ(SHOA_DATABASE_URL=nowhere), env_file=None))
    ) as client:
        sent = Exchanges(client)
        await sent.send("GET", "/v1/malls")
        await sent.send("GET", "/partner/v1/me", headers={"Authorization": "Bearer shoa_pk_guessed"})
        await sent.send("GET", "/health/ready")

        statuses = sent.check(await _document(client))

    assert statuses == {503}


_ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
_SCHEME = re.compile(r"\b(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", re.IGNORECASE)


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
async def test_the_docs_ui_needs_no_internet(client: ShoaClient, page: str) -> None:
    response = await client.get(page)
    html = response.text.split("const ui = SwaggerUIBundle", 1)[0]  # what follows is the description itself
    assets = _ASSET.findall(html)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Shoa API" in response.text
    assert not _SCHEME.findall(html), "the page loads something from another site"
    assert {asset.rsplit("/", 1)[-1] for asset in assets} >= {
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
    }
    for asset in assets:
        assert asset.startswith("/"), asset
        assert not asset.startswith("//"), asset
        served = await client.get(asset)
        assert served.status_code == 200, asset
        kind = served.headers["content-type"]
        assert kind.startswith(("text/javascript", "application/javascript", "text/css", "image/png")), (asset, kind)
        assert len(served.content) > 0
