"""Examples for the API's description: bodies taken from the demo catalog (the products, malls and names a newcomer
sees after ``shoa dev``, as a mall would send them and as the app would receive them), and the problem details
every operation of a kind can answer with, worded as the API words them.

Built when the description is (:mod:`shoa_api.openapi`), at the first request for it; the demo generator is run
with a fixed clock and seed, so the description is the same on every start.
"""

from __future__ import annotations

import datetime
import uuid
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from catalog.categories import STYLE_TAGS
from catalog.demo import DEMO_MALLS, DemoMall
from catalog.demo_products import generate_catalog
from shoa_api.errors import PROBLEM_TYPE_BASE
from shoa_api.json_bodies import MAX_DEPTH

if TYPE_CHECKING:
    from collections.abc import Callable

REQUEST_ID = "5f0c2a9e41d7b3c8a6e2000000000417"
DEMO_NOW = datetime.datetime(2026, 11, 20, 1, 0, tzinfo=datetime.UTC)
_SAMPLE_PARAMETERS = {
    "mall_id": "0193a1c2-5e4f-7a10-8b2c-3d4e5f6a7b01",
    "product_id": "0193a1c2-6f70-7b21-9c3d-4e5f6a7b8c02",
    "external_id": "D0000002",
    "provider": "kakao",
}

Examples = dict[str, dict[str, Any]]


def http_problem_code(status: HTTPStatus) -> str:
    """The ``type`` code Shoa gives an HTTP error Litestar raises (as :mod:`shoa_api.errors` names it)."""
    return status.phrase.lower().replace(" ", "-").replace("'", "")


def sample_path(template: str) -> str:
    """``/v1/products/{product_id}`` with a sample value in place of each parameter."""
    path = template
    for name, value in _SAMPLE_PARAMETERS.items():
        path = path.replace(f"{{{name}}}", value)
    return path


def add_request_examples(operation_id: str, request_body: dict[str, Any]) -> None:
    if (build := _REQUESTS.get(operation_id)) is not None:
        request_body["content"]["application/json"]["examples"] = build()


def add_response_examples(operation_id: str, response: dict[str, Any]) -> None:
    media = response.get("content", {}).get("application/json")
    if media is not None and (build := _RESPONSES.get(operation_id)) is not None:
        media["examples"] = build()


def _demo_products() -> list[tuple[DemoMall, dict[str, Any]]]:
    malls = {mall.slug: mall for mall in DEMO_MALLS}
    return [(malls[demo.mall_slug], demo.item) for demo in generate_catalog(3, now=DEMO_NOW)]


def _product_id(number: int) -> str:
    return str(uuid.UUID(int=0x0193A1C2_6F70_7B21_9C3D_4E5F6A7B8C00 + number))


def _sync_request() -> Examples:
    products = [item for _, item in _demo_products()]
    return {"three-demo-products": {"summary": "Three products of the demo catalog", "value": {"products": products}}}


def _sync_answer() -> Examples:
    (_, first), (_, second), (_, third) = _demo_products()
    unknown = "여름휴가룩"
    items = [
        {"index": 0, "external_id": first["external_id"], "result": "created", "product_id": _product_id(0)},
        {"index": 1, "external_id": second["external_id"], "result": "unchanged", "product_id": _product_id(1)},
        {
            "index": 2,
            "external_id": third["external_id"],
            "result": "rejected",
            "reason": "invalid fields",
            "errors": [
                {
                    "field": "style_tags",
                    "message": f"unknown style tags {unknown}; known: {', '.join(sorted(STYLE_TAGS))}",
                }
            ],
        },
    ]
    value = {"created": 1, "updated": 0, "unchanged": 1, "rejected": 1, "items": items}
    return {"per-item-results": {"summary": "One created, one already up to date, one rejected", "value": value}}


def _product_detail() -> Examples:
    mall, item = _demo_products()[2]
    variants = [
        {
            "id": str(uuid.UUID(int=0x0193A1C2_7A80_7C32_AD4E_5F6A7B8C9D00 + position)),
            "color": variant["color"],
            "size": variant["size"],
            "options": variant["options"],
            "price": variant["price"],
            "sale_price": variant["sale_price"],
            "currency": "KRW",
            **_stock_state(variant["stock"]),
        }
        for position, variant in enumerate(item["variants"])
    ]
    in_stock = any(variant["stock_state"] != "sold_out" for variant in variants)
    value = {
        "id": _product_id(2),
        "name": item["name"],
        "description": item["description"],
        "category_path": item["category_path"],
        "style_tags": item["style_tags"],
        "target_gender": item["target_gender"],
        "target_age_bands": item["target_age_bands"],
        "image_urls": item["image_urls"],
        "exclusive": item["exclusive"],
        "status": "on_sale" if in_stock else "sold_out",
        "in_stock": in_stock,
        "price_from": min(v["sale_price"] or v["price"] for v in item["variants"]),
        "currency": "KRW",
        "variants": variants,
        "mall": {"id": _SAMPLE_PARAMETERS["mall_id"], "slug": mall.slug, "name": mall.name, "logo_url": None},
    }
    return {"demo-product": {"summary": f"{item['name']} ({mall.name})", "value": value}}


def _stock_state(stock: int) -> dict[str, Any]:
    if stock == 0:
        return {"stock_state": "sold_out"}
    if stock <= 5:  # catalog.schemas.LOW_STOCK
        return {"stock_state": "low_stock", "stock_left": stock}
    return {"stock_state": "in_stock"}


def _mall_page() -> Examples:
    items = [
        {
            "id": str(uuid.UUID(int=0x0193A1C2_5E4F_7A10_8B2C_3D4E5F6A7B00 + number)),
            "slug": mall.slug,
            "name": mall.name,
            "description": mall.description,
            "logo_url": None,
            "created_at": "2026-03-02T00:00:00Z",
        }
        for number, mall in enumerate(sorted(DEMO_MALLS, key=lambda mall: mall.name)[:3])
    ]
    value = {"items": items, "next_cursor": "WyLrjbDsnbzrpqzslYjrqqjslrQiXQ"}
    return {"first-page": {"summary": "The first malls in 가나다 order", "value": value}}


def _events() -> Examples:
    occurred = (DEMO_NOW - datetime.timedelta(minutes=3)).isoformat().replace("+00:00", "Z")
    events = [
        {"id": str(uuid.UUID(int=0x0193A1C2_8B90_7D43_BE5F_6A7B8C9D0E00 + n)), "kind": kind,
         "product_id": _product_id(2), "occurred_at": occurred}
        for n, kind in enumerate(("view", "like", "add_to_cart"))
    ]  # fmt: skip
    return {"browsing": {"summary": "A shopper viewed, liked and carted one dress", "value": {"events": events}}}


def _signup() -> Examples:
    value = {"email": "jiyoung@example.kr", "password": "linen-shirt-2026", "display_name": "김지영",
             "gender": "female", "birth_date": "1997-04-12", "locale": "ko"}  # fmt: skip
    return {"with-segment": {"summary": "With gender and birth date, for her own feed segment", "value": value}}


def _login() -> Examples:
    return {
        "email": {"summary": "By email", "value": {"login": "jiyoung@example.kr", "password": "linen-shirt-2026"}},
        "phone": {"summary": "By phone (E.164)", "value": {"login": "+821012345678", "password": "linen-shirt-2026"}},
    }


def _refresh_token() -> Examples:
    return {"refresh-token": {"value": {"refresh_token": "shoa_rt_Jx9y7sQm3kVb2Lr8TnWc5dHf1pZa4uEo6iGk0YtRw"}}}


def _profile_update() -> Examples:
    return {
        "messenger": {
            "summary": "Order updates on KakaoTalk",
            "value": {"phone": "+821012345678", "preferred_messenger": "alimtalk", "consents": {"alimtalk": True}},
        }
    }


def _product_patch() -> Examples:
    sku = _demo_products()[2][1]["variants"][0]["sku"]
    return {
        "sold-out": {"summary": "Sold out at the mall", "value": {"status": "sold_out"}},
        "sale": {
            "summary": "A sale on one variant",
            "value": {
                "variants": [{"sku": sku, "sale_price": 89000}],
                "source_updated_at": "2026-11-20T10:00:00+09:00",
            },
        },
    }


def _stock_batch() -> Examples:
    skus = [variant["sku"] for variant in _demo_products()[2][1]["variants"][:2]]
    items = [{"sku": skus[0], "stock": 7}, {"sku": skus[1], "stock": 0, "sale_price": None}]
    return {"restock": {"summary": "One variant restocked, one sold out and off sale", "value": {"items": items}}}


_REQUESTS: dict[str, Callable[[], Examples]] = {
    "sync_products": _sync_request,
    "record_events": _events,
    "signup": _signup,
    "login": _login,
    "refresh": _refresh_token,
    "logout": _refresh_token,
    "update_me": _profile_update,
    "patch_partner_product": _product_patch,
    "update_partner_stock": _stock_batch,
}
_RESPONSES: dict[str, Callable[[], Examples]] = {
    "sync_products": _sync_answer,
    "get_product": _product_detail,
    "list_malls": _mall_page,
}


# --- The problems every operation of a kind can answer with -------------------------------------------------


def problem_example(
    status: HTTPStatus, *, code: str | None = None, title: str | None = None, detail: str, **extra: Any
) -> Examples:
    code = code or http_problem_code(status)
    value = {"type": f"{PROBLEM_TYPE_BASE}{code}", "title": title or status.phrase, "status": status.value,
             "detail": detail, **extra}  # fmt: skip
    return {code: {"summary": value["title"], "value": value}}


def validation_failed(*, body: bool) -> Examples:
    field, source, message = (
        ("display_name", "body", "Expected `str` of length <= 50")
        if body
        else ("limit", "query", "Expected `int` <= 100")
    )
    return problem_example(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        code="validation-failed",
        title="The request has invalid fields",
        detail=f"Check {field}.",
        errors=[{"field": field, "source": source, "message": message}],
    )


BODY_PROBLEMS = {
    **problem_example(
        HTTPStatus.BAD_REQUEST,
        code="malformed-json",
        title="Malformed JSON body",
        detail="The body is not valid JSON: it ends early.",
    ),
    **problem_example(
        HTTPStatus.BAD_REQUEST,
        code="json-too-deep",
        title="The JSON body nests too deeply",
        detail=f"Objects and arrays may nest {MAX_DEPTH} levels deep; this body nests 1000.",
    ),
}
TOO_LARGE = problem_example(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, detail=HTTPStatus.REQUEST_ENTITY_TOO_LARGE.description)
UNSUPPORTED_MEDIA_TYPE = problem_example(
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    detail="Send the body as `Content-Type: application/json` (UTF-8); this request sent text/plain.",
)
SHOPPER_401 = {
    **problem_example(
        HTTPStatus.UNAUTHORIZED,
        code="missing-credentials",
        title="Authentication required",
        detail="log in and send the access token as `Authorization: Bearer <token>`",
    ),
    **problem_example(
        HTTPStatus.UNAUTHORIZED,
        code="invalid-token",
        title="The token is missing, malformed, expired or revoked",
        detail="the token was revoked by a logout; log in again",
    ),
}
PARTNER_401 = problem_example(
    HTTPStatus.UNAUTHORIZED,
    code="invalid-api-key",
    title="The API key is missing, unknown, expired or revoked",
    detail="send the mall's API key as `Authorization: Bearer shoa_pk_…`",
)
MISSING_SCOPE = problem_example(
    HTTPStatus.FORBIDDEN,
    code="missing-scope",
    title="The API key lacks the scope this needs",
    detail="this key lacks the catalog:write scope; create a key with it",
)
NO_SUCH_PATH = problem_example(HTTPStatus.NOT_FOUND, detail="Nothing matches the given URI")
"""A path parameter that is not of its type (a product id that is not a UUID) matches no route."""
RATE_LIMITED = problem_example(
    HTTPStatus.TOO_MANY_REQUESTS,
    code="rate-limited",
    detail="too many requests (600 per 60 s); retry after 12 s",
)
INTERNAL_ERROR = problem_example(
    HTTPStatus.INTERNAL_SERVER_ERROR,
    code="internal-error",
    detail="Something went wrong on our side; the request id helps us find it.",
)
UNAVAILABLE = problem_example(
    HTTPStatus.SERVICE_UNAVAILABLE,
    detail="A service this request needs is not answering; try again shortly.",
)
