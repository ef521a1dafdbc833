"""The API's description at ``/schema``: Litestar's generated OpenAPI, completed with what it cannot see, and a docs
UI whose JavaScript and CSS come from an installed package, so that it works with no internet.

Litestar writes each operation from its handler's signature. What it cannot see is added here, once per app, at the
first request for the description (building it costs tens of milliseconds, which no app start should pay):

- the bodies of the routes that read theirs raw: the catalog sync and the event batch decode their items one by one,
  so that one bad item never spoils a batch, and the webhooks verify their provider's body before reading it. Their
  decorators name the body's shape with ``opt={"body": Type}``. Every body is described as msgspec, which decodes
  it, describes it (bounds, unknown fields refused), with the rules across fields JSON Schema can state;
- the problem details (RFC 9457, :class:`Problem`) every operation can answer with, from what the operation is: a
  JSON body (400, 413, 415, 422), parameters (422, and 404 for a path), a shopper's token or a mall's key (401, and
  403 for a key's scope), rate limits (429), and any request (500, 503). The refusals of one route's own service
  are declared on its decorator with :func:`problems`;
- who may call each operation (``security``), from the handler's dependencies and guards;
- examples taken from the demo catalog (:mod:`shoa_api.openapi_examples`).
"""

from __future__ import annotations

import copy
import importlib.util
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

import msgspec
from litestar.datastructures import CacheControlHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Example
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router

from catalog.product_rules import CURRENCIES
from catalog.schemas import ProductIn
from personalization.events import MAX_EVENTS, EventIn
from shoa_api import openapi_examples
from shoa_api.auth import require_partner_key
from shoa_api.errors import PROBLEM_JSON, PROBLEM_TYPE_BASE, RETRY_AFTER_SECONDS
from shoa_api.openapi_examples import (
    BODY_PROBLEMS,
    INTERNAL_ERROR,
    MISSING_SCOPE,
    NO_SUCH_PATH,
    PARTNER_401,
    RATE_LIMITED,
    SHOPPER_401,
    TOO_LARGE,
    UNAVAILABLE,
    UNSUPPORTED_MEDIA_TYPE,
    validation_failed,
)
from shoa_kernel.errors import DomainError

if TYPE_CHECKING:
    from litestar import Litestar, Request, Router
    from litestar.handlers import HTTPRouteHandler
    from litestar.openapi.plugins import OpenAPIRenderPlugin
    from litestar.openapi.spec import SecurityRequirement

DOCS_ASSETS_PATH = "/assets"
"""Where the docs UI's files are served, under the schema's path (``/schema/assets/…``)."""
SHOPPER_TOKEN = "shopperToken"  # noqa: S105 - the name of a security scheme, not a secret
PARTNER_KEY = "partnerKey"
SHOPPER_OR_ANONYMOUS: list[SecurityRequirement] = [{}, {SHOPPER_TOKEN: []}]
"""For a route that serves anyone and personalizes for a logged-in shopper (a bad token is still a 401)."""


class ProblemFieldError(msgspec.Struct, kw_only=True):
    """One input a request was refused for."""

    field: Annotated[str, msgspec.Meta(description="Where the input is: `limit`, `variants[1].sale_price`.")]
    source: Annotated[str, msgspec.Meta(description="The part of the request that holds it: `body`, `query`…")]
    message: str


_TYPE = "A stable URI per kind of problem: switch on it, not on `title` or `detail`."


class Problem(msgspec.Struct, kw_only=True):
    """An error, as RFC 9457 problem details (`application/problem+json`); some add members of their own, such as
    `checks` on a readiness failure."""

    type: Annotated[str, msgspec.Meta(description=_TYPE, extra_json_schema={"format": "uri"})]
    title: str
    status: int
    detail: Annotated[str, msgspec.Meta(description="What went wrong in this case, for a person to read.")]
    instance: Annotated[str, msgspec.Meta(description="The path the request was for.")]
    request_id: Annotated[str, msgspec.Meta(description="Also sent as `X-Request-Id`: quote it when reporting.")] | None
    errors: (
        Annotated[list[ProblemFieldError], msgspec.Meta(description="The refused inputs, when it is about some.")]
        | msgspec.UnsetType
    ) = msgspec.UNSET


class ProductBatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A mall's products to create or update, up to 500 (`SHOA_CATALOG_MAX_BATCH_ITEMS`). Each item is checked on
    its own: a bad one is rejected in the answer with its field problems, and the others are saved all the same."""

    products: Annotated[list[ProductIn], msgspec.Meta(min_length=1)]


class EventBatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What a shopper did, up to 100 events. Each is checked on its own: a bad one is rejected in the answer."""

    events: Annotated[list[EventIn], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]


class Readiness(msgspec.Struct, kw_only=True):
    status: Literal["ok"]
    checks: dict[str, str]
    """Each backing service and how it answered: ``database``, ``redis``, ``search``."""


class Refusal(NamedTuple):
    """A problem a route answers with itself, rather than by raising a domain error."""

    status: int
    code: str
    title: str
    detail: str
    members: dict[str, Any] | None = None
    """Members of its own, beside RFC 9457's."""


def problems(*refusals: DomainError | type[DomainError] | HTTPStatus | Refusal) -> dict[int, ResponseSpec]:
    """The problem responses of one route's own refusals, for its decorator: ``responses=problems(MallNotFoundError)``.

    An error instance gives its example a realistic ``detail``; a class, only its title; an ``HTTPStatus``, one that
    Litestar itself answers (a path parameter of the wrong type is a 404).
    """
    grouped: dict[int, list[Example]] = {}
    for refusal in refusals:
        status, example = _problem_example(refusal)
        grouped.setdefault(status, []).append(example)
    return {
        status: ResponseSpec(
            data_container=Problem,
            generate_examples=False,
            description="; ".join(str(example.summary) for example in examples),
            media_type=PROBLEM_JSON,
            examples=examples,
        )
        for status, examples in grouped.items()
    }


def _problem_example(refusal: DomainError | type[DomainError] | HTTPStatus | Refusal) -> tuple[int, Example]:
    if isinstance(refusal, HTTPStatus):
        refusal = Refusal(
            refusal.value, openapi_examples.http_problem_code(refusal), refusal.phrase, refusal.description
        )
    elif not isinstance(refusal, Refusal):
        detail, field = (refusal.detail, refusal.field) if isinstance(refusal, DomainError) else (refusal.title, None)
        errors = {"errors": [{"field": field, "source": "body", "message": detail}]} if field else None
        refusal = Refusal(refusal.status, refusal.code, refusal.title, detail, members=errors)
    value = {"type": f"{PROBLEM_TYPE_BASE}{refusal.code}", "title": refusal.title, "status": refusal.status,
             "detail": refusal.detail, **(refusal.members or {})}  # fmt: skip
    return refusal.status, Example(id=refusal.code, summary=refusal.title, value=value)


# --- The docs UI ---------------------------------------------------------------------------------------------


class ApiDescription:
    """The completed description of one app, built at the first request for it and kept for the app's life."""

    def __init__(self) -> None:
        self._document: dict[str, Any] | None = None

    def document(self, app: Litestar, generated: dict[str, Any]) -> dict[str, Any]:
        if self._document is None:
            self._document = complete_description(generated, handlers_by_operation(app))
        return self._document


class DescribedJsonPlugin(JsonRenderPlugin):
    """``/schema/openapi.json``: the completed description."""

    def __init__(self, description: ApiDescription) -> None:
        super().__init__()
        self.description = description

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, self.description.document(request.app, openapi_schema))


class OfflineSwaggerPlugin(SwaggerRenderPlugin):
    """Swagger UI at ``/schema``, its files served from the ``swagger-ui-py`` package at ``/schema/assets/``."""

    def __init__(self, description: ApiDescription, *, assets_url: str) -> None:
        super().__init__(
            js_url=f"{assets_url}/swagger-ui-bundle.js",
            css_url=f"{assets_url}/swagger-ui.css",
            standalone_preset_js_url=f"{assets_url}/swagger-ui-standalone-preset.js",
            favicon=f'<link rel="icon" type="image/png" href="{assets_url}/favicon-32x32.png">',
            path=["/", "/swagger"],
        )
        self.description = description

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self.description.document(request.app, openapi_schema))

    def receive_router(self, router: Router) -> None:
        super().receive_router(router)
        router.register(
            create_static_files_router(
                path=DOCS_ASSETS_PATH,
                directories=[swagger_ui_directory()],
                name="docs-assets",
                cache_control=CacheControlHeader(public=True, max_age=24 * 3600),
                include_in_schema=False,
            )
        )


def docs_plugins(schema_path: str) -> list[OpenAPIRenderPlugin]:
    """The render plugins for ``OpenAPIConfig``: Swagger UI (the default, at ``schema_path``) and the JSON."""
    description = ApiDescription()
    return [
        OfflineSwaggerPlugin(description, assets_url=f"{schema_path}{DOCS_ASSETS_PATH}"),
        DescribedJsonPlugin(description),
    ]


def swagger_ui_directory() -> Path:
    """Swagger UI's distribution files, as the ``swagger-ui-py`` wheel installs them (found without importing it:
    its package imports Jinja and a handler per web framework, none of which Shoa uses)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        msg = "the docs UI needs the swagger-ui-py package; reinstall Shoa with its dependencies"
        raise RuntimeError(msg)
    return Path(next(iter(spec.submodule_search_locations))) / "static"


# --- Completing the generated description --------------------------------------------------------------------


def handlers_by_operation(app: Litestar) -> dict[str, HTTPRouteHandler]:
    return {
        handler.operation_id: handler
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if isinstance(handler.operation_id, str)
    }


def complete_description(generated: dict[str, Any], handlers: dict[str, HTTPRouteHandler]) -> dict[str, Any]:
    """``generated`` (Litestar's description, left as it is) with bodies, problems, security and examples added."""
    document = copy.deepcopy(generated)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    # msgspec describes the problem (Litestar would leave out the URI format).
    schemas.update(_schema_components([Problem]))
    # Request bodies as msgspec, which decodes them, describes them: Litestar's description drops the bounds of an
    # optional number (`price: Won | None` lost its minimum) and never says that a body refuses unknown fields.
    schemas.update(_schema_components(_request_body_types(handlers)))
    schemas["VariantIn"]["properties"]["currency"]["enum"] = sorted(CURRENCIES)
    _add_rules_across_fields(schemas)
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            handler = handlers.get(operation.get("operationId", ""))
            if method in _METHODS and handler is not None:
                _complete_operation(operation, handler, path=path, method=method)
    return document


_METHODS = frozenset({"get", "put", "post", "patch", "delete"})

SECURITY_SCHEMES: dict[str, Any] = {
    SHOPPER_TOKEN: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A shopper's access token, from `POST /v1/auth/signup`, `/login` or `/refresh`.",
    },
    PARTNER_KEY: {
        "type": "http",
        "scheme": "bearer",
        "description": "A mall's API key (`shoa_pk_…`), issued with `shoa malls keys issue`. The roles an operation "
        "lists are the scopes the key needs.",
    },
}


def _add_rules_across_fields(schemas: dict[str, Any]) -> None:
    """What the bodies' types cannot state, which JSON Schema can: rules across fields, and the batches' items."""
    # A signup logs in with an email or a phone, so it needs one of them.
    schemas["Signup"]["anyOf"] = [
        {"required": [field], "properties": {field: {"type": "string", "minLength": 1}}} for field in ("email", "phone")
    ]
    # A virtual account's deposit goes back to the shopper's own account on a cancel or a return.
    schemas["CheckoutIn"]["if"] = {
        "required": ["payment_method"],
        "properties": {"payment_method": {"const": "virtual_account"}},
    }
    schemas["CheckoutIn"]["then"] = {
        "required": ["refund_account"],
        "properties": {"refund_account": {"$ref": "#/components/schemas/RefundAccountIn"}},
    }
    # The batches take any item and answer for each: one that is not a product (an event) is rejected in the answer,
    # the others saved. So an item is described as what it should be, or anything else.
    for batch, field, item in (("ProductBatch", "products", "ProductIn"), ("EventBatch", "events", "EventIn")):
        schemas[batch]["properties"][field]["items"] = {
            "anyOf": [{"$ref": f"#/components/schemas/{item}"}, {}],
            "description": f"A `{item}`; anything else is rejected in the answer, on its own.",
        }


def _request_body_types(handlers: dict[str, HTTPRouteHandler]) -> list[type[msgspec.Struct]]:
    """The body types of every route: its ``data`` parameter's, or what ``opt={"body": …}`` names for a raw body."""
    found: dict[str, type[msgspec.Struct]] = {}
    for handler in handlers.values():
        data = handler.parsed_fn_signature.parameters.get("data")
        for body in (data.annotation if data is not None else None, handler.opt.get("body")):
            if isinstance(body, type) and issubclass(body, msgspec.Struct):
                found.setdefault(f"{body.__module__}.{body.__qualname__}", body)
    return list(found.values())


def _schema_components(types: list[type[msgspec.Struct]]) -> dict[str, Any]:
    """``types`` and the types they refer to, as msgspec describes them."""
    _, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    return components


def _complete_operation(operation: dict[str, Any], handler: HTTPRouteHandler, *, path: str, method: str) -> None:
    operation_id: str = operation["operationId"]
    if (body := handler.opt.get("body")) is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}},
        }
    for parameter in operation.get("parameters", ()):
        if parameter["in"] == "header":
            parameter["schema"] = _never_null(parameter.get("schema", {}))
    if "security" not in operation and (security := _security_of(handler)):
        operation["security"] = copy.deepcopy(security)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for litestar_error in [code for code, response in responses.items() if _is_litestar_error(code, response)]:
        del responses[litestar_error]  # Litestar's own error shape, which Shoa never answers with
    gated = bool(handler.opt.get("json_body")) or "data" in handler.parsed_fn_signature.parameters
    shared = _shared_problems(operation, path=path, method=method, raw_body=body is not None, gated=gated)
    for status, (description, examples, headers) in shared.items():
        response = responses.setdefault(str(status), {"description": description})
        media = response.setdefault("content", {}).setdefault(PROBLEM_JSON, {})
        media.setdefault("schema", {"$ref": "#/components/schemas/Problem"})
        known = media.setdefault("examples", {})
        known.update({key: copy.deepcopy(value) for key, value in examples.items() if key not in known})
        if headers:
            response.setdefault("headers", {}).update(copy.deepcopy(headers))
    instance = openapi_examples.sample_path(path)
    for code, response in responses.items():
        for example in response.get("content", {}).get(PROBLEM_JSON, {}).get("examples", {}).values():
            example.pop("id", None)
            example["value"] = {**example["value"], "instance": instance, "request_id": openapi_examples.REQUEST_ID}
        if code.startswith("2"):
            openapi_examples.add_response_examples(operation_id, response)
    if "requestBody" in operation:
        openapi_examples.add_request_examples(operation_id, operation["requestBody"])
    operation["responses"] = dict(sorted(responses.items()))


def _never_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A header is text, sent or left out: Litestar describes an optional one as ``oneOf: [X, null]``, which tells a
    client it may send ``null`` (the text, refused by the header's pattern). A query parameter keeps its ``null``:
    Litestar reads ``?price_min=null`` as not sent."""
    alternatives = schema.get("oneOf")
    if not isinstance(alternatives, list) or {"type": "null"} not in alternatives:
        return schema
    kept = [alternative for alternative in alternatives if alternative != {"type": "null"}]
    rest = {key: value for key, value in schema.items() if key != "oneOf"}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "oneOf": kept}


def _security_of(handler: HTTPRouteHandler) -> list[SecurityRequirement]:
    """Who may call: a mall's key (with the route's scope as its role), a shopper's token, or anyone."""
    if require_partner_key in handler.resolve_guards():
        scope = handler.opt.get("scope")
        return [{PARTNER_KEY: [scope] if scope else []}]
    parameters = handler.parsed_fn_signature.parameters
    if "shopper" in parameters:
        return [{SHOPPER_TOKEN: []}]
    if "optional_shopper" in parameters:
        return SHOPPER_OR_ANONYMOUS
    return []


def _is_litestar_error(status: str, response: dict[str, Any]) -> bool:
    return status[0] in "45" and PROBLEM_JSON not in response.get("content", {})


Examples = openapi_examples.Examples
Headers = dict[str, dict[str, Any]]


def _shared_problems(
    operation: dict[str, Any], *, path: str, method: str, raw_body: bool, gated: bool
) -> dict[int, tuple[str, Examples, Headers]]:
    """The problems an operation can answer with because of what it is, not what its service does.

    Litestar refuses a parameter or a body it decodes with 422 (a path parameter of the wrong type matches no route:
    404); a route that decodes its body itself declares its own 422s. The JSON gate (:mod:`shoa_api.json_bodies`)
    answers 400 and 415 for the API's own bodies (``gated``); a webhook's body is the provider's, read and verified
    by its route, which declares its own refusals.
    """
    found: dict[int, tuple[str, Examples, Headers]] = {}
    takes_body = "requestBody" in operation
    if takes_body and gated:
        found[400] = ("The body is not JSON, or nests too deeply", BODY_PROBLEMS, {})
        found[415] = ("The body is not sent as `application/json`", UNSUPPORTED_MEDIA_TYPE,
                      {f"Accept-{method.title()}": _ACCEPT_JSON})  # fmt: skip
    if takes_body:
        found[413] = ("The body is larger than the API takes", TOO_LARGE, {})
    if any(parameter["in"] == "path" for parameter in operation.get("parameters", ())):
        found[404] = ("Nothing matches the path (a parameter not of its type, or naming nothing)", NO_SUCH_PATH, {})
    decoded_body = takes_body and not raw_body
    if decoded_body or any(parameter["in"] != "path" for parameter in operation.get("parameters", ())):
        found[422] = ("A parameter or field is invalid", validation_failed(body=decoded_body), {})
    security: list[dict[str, list[str]]] = operation.get("security", [])
    if any(security):
        by_partner = any(PARTNER_KEY in requirement for requirement in security)
        unauthorized = PARTNER_401 if by_partner else SHOPPER_401
        found[401] = ("No valid credentials", unauthorized, {"WWW-Authenticate": _CHALLENGE})
        if any(roles for requirement in security for roles in requirement.values()):
            found[403] = ("The API key lacks the scope this needs", MISSING_SCOPE, {})
    if path.startswith(("/v1/", "/partner/")):
        found[429] = (
            "Too many requests; retry after `Retry-After` seconds",
            RATE_LIMITED,
            {"Retry-After": _RETRY},
        )
    found[500] = ("A bug: the request id helps us find it", INTERNAL_ERROR, {})
    if path != "/health/live":
        found[503] = ("A service this needs is not answering; retry after `Retry-After` seconds", UNAVAILABLE,
                      {"Retry-After": _RETRY})  # fmt: skip
    return found


_ACCEPT_JSON = {"description": "The media type the body must be sent as.", "schema": {"type": "string"},
                "example": "application/json"}  # fmt: skip
_CHALLENGE = {"description": "How to authenticate (RFC 6750).", "schema": {"type": "string"},
              "example": 'Bearer realm="shoa", error="invalid_token"'}  # fmt: skip
_RETRY = {"description": "Seconds to wait before retrying.", "required": True, "schema": {"type": "integer"},
          "example": RETRY_AFTER_SECONDS}  # fmt: skip
