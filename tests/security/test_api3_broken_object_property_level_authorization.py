"""OWASP API Security Top 10 (2023), API3 — broken object property level authorization: a caller sets only the
properties the API gives them to set, and reads only the properties that are theirs to read.

Mass assignment: every object in every request body of the API's own refuses fields it does not define (checked on
the OpenAPI description, so a new body is covered), and in use a shopper cannot set an order's price, amount, status
or owner, nor her own account's segment or status; a mall cannot set another mall's id, a product's popularity or
any other field the ranking computes. Exposure: every GET route of the route table is read by every kind of caller
on a catalog with two shoppers' orders, and no answer carries another party's personal data (email, phone, birth
date, address, refund account, account id) or an internal field (hashes, a payment's secret).

Elsewhere: unknown fields at signup (``is_admin``) and on the profile (``email``) are
``tests/shoa_api/test_auth.py::test_signup_refuses_a_wrong_shape`` and ``::test_me_refuses_bad_changes``; a card
payment confirmed for another amount ``tests/orders/test_payments.py``; personal data kept out of logs
``tests/shoa_api/test_personal_data_logs.py`` and out of the chatbot's stored turns and the malls' inquiries
``tests/support/test_privacy.py``; answers with personal data never cached ``tests/shoa_api/test_http_semantics.py``;
the feed's ``explain`` parts are public by design (promise 1: every feed item can explain its score).
"""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from accounts.models import RefreshToken, User
from accounts.segments import korea_today
from catalog.models import MallApiKey, Product
from orders.models import Payment
from tests.orders.conftest import ADDRESS, pay_by_card, place_order
from tests.security.conftest import route_table

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient
    from tests.orders.conftest import Catalog, Shopper

NOT_CRAWLED = ("/schema", "/health/", "/metrics", "/webhooks/", "/w/", "/partner/insights", "/v1/auth/oauth/")
"""Docs, probes and the scraper's metrics (no one's data), providers' webhooks, message links' pages and the staff
page (HTML, tested in their own modules), and social logins' redirects."""
FORBIDDEN_KEYS = {
    "password_hash",
    "token_hash",
    "key_hash",
    "secret",
    "refund_account",
    "user_id",
    "device_id",
    "chat_user",
}
"""Internal fields no answer names, to anyone."""


def _object_schemas(schema: dict[str, Any], components: dict[str, Any], seen: set[str]) -> list[dict[str, Any]]:
    """Every object schema a request schema holds, its ``$ref``s followed once."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _object_schemas(components[name], components, seen)
    # A struct's schema says its type and lists its fields; an ``anyOf`` of ``required`` sets (email or phone) only
    # constrains it, and a map of free keys (a variant's ``options``, 소재: 면) has no fields to list.
    found = [schema] if schema.get("type") == "object" and "properties" in schema else []
    for option in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        found += _object_schemas(option, components, seen)
    for field in schema.get("properties", {}).values():
        found += _object_schemas(field, components, seen)
    if isinstance(schema.get("items"), dict):
        found += _object_schemas(schema["items"], components, seen)
    return found


async def test_every_request_body_refuses_fields_it_does_not_define(client: ShoaClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    components = document["components"]["schemas"]
    open_objects = {}
    bodies = 0
    for path, item in document["paths"].items():
        if path.startswith("/webhooks/"):  # a provider's body, verified as it documents, read for what Shoa needs
            continue
        for method, operation in item.items():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            bodies += 1
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            for found in _object_schemas(schema, components, set()):
                if found.get("additionalProperties") is not False:
                    open_objects[f"{method.upper()} {path}"] = sorted(found["properties"])

    assert bodies > 20
    assert open_objects == {}


def _with(body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return body | extra


async def test_a_shopper_cannot_set_an_order_s_price_status_or_owner(
    catalog: Catalog, shopper: Shopper, sign_up: Callable[[], Awaitable[Shopper]]
) -> None:
    other = await sign_up()
    dress = str(catalog.variant("H1-BK-M"))
    line = {"variant_id": dress, "quantity": 1}
    checkout = {"address": ADDRESS, "payment_method": "card", "lines": [line]}
    forged_checkouts = [
        _with(checkout, total_amount=1000), _with(checkout, items_amount=1000), _with(checkout, status="paid"),
        _with(checkout, user_id=str(other.user_id)), _with(checkout, payment={"status": "DONE", "amount": 1000}),
        _with(checkout, lines=[line | {"price": 1000}]), _with(checkout, lines=[line | {"sale_price": 1000}]),
        _with(checkout, address=ADDRESS | {"user_id": str(other.user_id)}),
    ]  # fmt: skip

    refused = [
        (await shopper.call("POST", "/v1/orders", body, headers={"Idempotency-Key": f"forged-{n}"})).status_code
        for n, body in enumerate(forged_checkouts)
    ]
    cheaper = await shopper.call("POST", "/v1/orders", _with(checkout, lines=[line | {"unit_price": 1000}]),
                                 headers={"Idempotency-Key": "cheaper"})  # fmt: skip
    cart = await shopper.call("PUT", f"/v1/cart/items/{dress}", {"quantity": 1, "unit_price": 1000})

    assert refused == [422] * len(forged_checkouts)
    assert cheaper.status_code == 409, cheaper.text  # the price the app showed must be today's price
    assert [line["problem"] for line in cheaper.json()["lines"]] == ["price_changed"]
    assert cart.status_code == 422
    assert (await shopper.orders(), (await shopper.cart())["malls"]) == ([], [])
    assert await catalog.stock("H1-BK-M") == 10

    order = await pay_by_card(shopper, await place_order(shopper, {catalog.variant("H1-BK-M"): 1}))
    part = order["mall_orders"][0]["id"]
    after_sales = [
        shopper.call("POST", f"/v1/orders/{order['id']}/cancel", {"mall_order_id": part, "refund_amount": 99999}),
        shopper.call("POST", f"/v1/orders/{order['id']}/cancel", {"status": "refunded"}),
        shopper.call("POST", f"/v1/orders/{order['id']}/confirm", {"status": "confirmed"}),
        shopper.call("POST", f"/v1/orders/{order['id']}/payment/confirm",
                     {"payment_key": "x", "amount": order["total_amount"], "status": "DONE"}),
    ]  # fmt: skip
    assert [(await call).status_code for call in after_sales] == [422] * len(after_sales)
    after = await shopper.order(order["id"])
    assert [(p["status"], p["refunded_amount"]) for p in after["mall_orders"]] == [("paid", 0)]
    assert after["total_amount"] == 39000 + 3000


async def test_a_shopper_cannot_set_her_account_s_computed_fields(shopper: Shopper) -> None:
    before = (await shopper.call("GET", "/v1/me")).json()
    forged = [
        {"segment": "female:20s_late"}, {"age_band": "20s_mid"}, {"status": "active"}, {"id": "x"},
        {"email_verified": True}, {"password_hash": "$argon2id$x"}, {"created_at": "2020-01-01T00:00:00Z"},
        {"contacts": {"phone": "+821099998888"}}, {"display_name": "지영", "role": "admin"},
    ]  # fmt: skip

    statuses = [(await shopper.call("PATCH", "/v1/me", changes)).status_code for changes in forged]

    assert statuses == [422] * len(forged)
    assert (await shopper.call("GET", "/v1/me")).json() == before


async def test_a_mall_cannot_set_another_mall_s_id_or_a_product_s_popularity(
    catalog: Catalog, session: AsyncSession
) -> None:
    haru, mono = catalog.malls.haru, catalog.malls.mono
    listed = {item["external_id"]: item for item in (await haru.call("GET", "/partner/v1/products")).json()["items"]}
    item = {
        "external_id": "H9", "name": "새 린넨 셔츠", "category_path": "상의/셔츠", "target_gender": "female",
        "image_urls": ["https://img.shoa.test/H9/1.jpg"], "source_updated_at": "2026-12-02T10:00:00+09:00",
        "variants": [{"sku": "H9-BK-M", "price": 39000, "stock": 3}],
    }  # fmt: skip
    computed = {"mall_id": str(mono.id), "popularity": 99.0, "score": 1.0, "rank": 1, "sponsored": True,
                "boost": 10, "in_stock": True, "id": str(catalog.products["M1"]), "search_terms": "린넨"}  # fmt: skip

    synced = await haru.call("PUT", "/partner/v1/products",
                             {"products": [item | {name: value} for name, value in computed.items()]})  # fmt: skip
    variant_forged = await haru.call(
        "PUT",
        "/partner/v1/products",
        {"products": [item | {"variants": [{"sku": "H9-BK-M", "price": 39000, "stock": 3, "mall_id": str(mono.id)}]}]},
    )
    edits = [
        haru.call("PATCH", "/partner/v1/products/H1", {"mall_id": str(mono.id)}),
        haru.call("PATCH", "/partner/v1/products/H1", {"popularity": 99.0}),
        haru.call("PATCH", "/partner/v1/products/H1", {"variants": [{"sku": "H1-BK-M", "mall_id": str(mono.id)}]}),
        haru.call("PUT", "/partner/v1/stock", {"items": [{"sku": "H1-BK-M", "stock": 1, "mall_id": str(mono.id)}]}),
        haru.call("PUT", "/partner/v1/mall/shipping",
                  {"shipping_fee": 0, "free_shipping_threshold": None, "mall_id": str(mono.id)}),
    ]  # fmt: skip

    results = synced.json()["items"]
    assert [result["result"] for result in results] == ["rejected"] * len(computed)
    # Each rejection names the field that was not the mall's to set.
    assert [name for name, result in zip(computed, results, strict=True) if name not in json.dumps(result)] == []
    assert variant_forged.json()["items"][0]["result"] == "rejected"
    assert [(await edit).status_code for edit in edits] == [422] * len(edits)
    owners = {row.external_id: row.mall_id for row in await session.execute(sa.select(Product.external_id,
                                                                                      Product.mall_id))}  # fmt: skip
    assert owners == {"H1": haru.id, "H2": haru.id, "M1": mono.id, "M2": mono.id}
    assert set((await session.scalars(sa.select(Product.popularity))).all()) == {0.0}
    assert (await mono.call("GET", "/partner/v1/mall/shipping")).json() == {
        "shipping_fee": 3000,
        "free_shipping_threshold": 50000,
    }
    again = {item["external_id"]: item for item in (await haru.call("GET", "/partner/v1/products")).json()["items"]}
    assert again == listed


async def test_no_answer_carries_another_party_s_personal_data_or_internal_fields(
    app: Litestar,
    client: ShoaClient,
    catalog: Catalog,
    shopper: Shopper,
    sign_up: Callable[[], Awaitable[Shopper]],
    session: AsyncSession,
) -> None:
    haru, mono = catalog.malls.haru, catalog.malls.mono
    other = await sign_up()
    for who, profile in (
        (shopper, {"display_name": "김지영", "birth_date": "1996-05-17", "gender": "female"}),
        (other, {"display_name": "박서연", "birth_date": "1993-11-02", "gender": "female"}),
    ):
        assert (await who.call("PATCH", "/v1/me", profile)).status_code == 200
    mine = await pay_by_card(shopper, await place_order(shopper, {catalog.variant("H1-BK-M"): 1,
                                                                  catalog.variant("M1-GR-F"): 1}))  # fmt: skip
    her_address = {"postcode": "48094", "road_address": "부산광역시 해운대구 해운대로 100", "recipient": "박서연",
                   "phone": other.phone or ""}  # fmt: skip
    refund = {"bank": "신한은행", "account_number": "110-987-654321", "holder": "박서연"}
    theirs = await other.call("POST", "/v1/orders", {
        "address": her_address, "payment_method": "virtual_account", "refund_account": refund,
        "lines": [{"variant_id": str(catalog.variant("H2-BE-M")), "quantity": 1}],
    }, headers={"Idempotency-Key": "hers"})  # fmt: skip
    assert theirs.status_code == 201, theirs.text
    await shopper.call("PUT", f"/v1/likes/{catalog.products['H1']}")
    await shopper.put_item(catalog.variant("H2-BE-M"), 1)
    await shopper.call("PUT", f"/v1/alerts/restock/{catalog.variant('H1-BK-L')}")
    await haru.accept(next(p["id"] for p in mine["mall_orders"] if p["mall_id"] == str(haru.id)))

    assert other.phone is not None
    personal = {
        "her": {"jiyoung@example.kr", "+821012345678", "010-1234-5678", "1996-05-17", str(shopper.user_id),
                "양화로 45"},
        "other": {(await other.call("GET", "/v1/me")).json()["email"], other.phone,
                  f"010-{other.phone[5:9]}-{other.phone[9:]}", "1993-11-02", str(other.user_id), "박서연",
                  "해운대로 100", "110-987-654321"},
    }  # fmt: skip
    internal = {secret for secret in await session.scalars(sa.select(Payment.secret)) if secret}
    internal |= set(await session.scalars(sa.select(MallApiKey.key_hash)))
    internal |= set(await session.scalars(sa.select(RefreshToken.token_hash)))
    internal |= {hashed for hashed in await session.scalars(sa.select(User.password_hash)) if hashed}
    assert len(internal) >= 7
    shipping_data = {"+821012345678", "010-1234-5678", "양화로 45", other.phone, f"010-{other.phone[5:9]}-"
                     f"{other.phone[9:]}", "박서연", "해운대로 100"}  # fmt: skip
    callers: dict[str, tuple[dict[str, str], set[str]]] = {
        "anonymous": ({}, personal["her"] | personal["other"]),
        "her": (shopper.headers, personal["other"]),
        "other": (other.headers, personal["her"]),
        "haru": (haru.headers, (personal["her"] | personal["other"]) - shipping_data),
        "mono": (mono.headers, (personal["her"] - shipping_data) | personal["other"]),
    }
    today = korea_today(datetime.datetime.now(datetime.UTC))
    own_orders = {"her": mine["id"], "other": theirs.json()["id"]}
    fill = {"mall_id": str(haru.id), "product_id": str(catalog.products["H1"]), "inquiry_id": mine["id"]}
    query = {"from": str(today - datetime.timedelta(days=6)), "to": str(today), "category": "원피스",
             "q": "린넨", "explain": "true"}  # fmt: skip
    reads = sorted(path for (method, path) in route_table(app) if method == "GET" and not path.startswith(NOT_CRAWLED))

    answers = []
    for caller, (headers, _) in callers.items():
        for path in reads:
            ids = fill | {"order_id": own_orders.get(caller, mine["id"])}
            url = path.format(**ids)  # a new GET route with another id needs it in ``fill``
            answer = await client.get(url, headers=headers, params=query)
            answers.append((caller, url, answer))

    served = {(caller, url) for caller, url, answer in answers if answer.status_code == 200}
    assert len(served) > 60
    assert [(caller, url) for caller, url, answer in answers if answer.status_code >= 500] == []
    leaks = [
        (caller, url, value)
        for caller, url, answer in answers
        for value in callers[caller][1] | internal
        if value in answer.text
    ]
    assert leaks == []
    named = [(caller, url, key) for caller, url, answer in answers for key in _keys(answer) if key in FORBIDDEN_KEYS]
    assert named == []
    # The data is there to be found: each shopper reads her own, and each mall the addresses of its own orders.
    seen = {(caller, url): answer.text for caller, url, answer in answers}
    assert "110-987-654321" not in seen["other", "/v1/orders/" + own_orders["other"]]  # kept for refunds, not shown
    assert other.phone in seen["haru", "/partner/v1/orders"]
    assert "양화로 45" in seen["mono", "/partner/v1/orders"]
    assert "jiyoung@example.kr" in seen["her", "/v1/me"]


def _keys(answer: Any) -> set[str]:
    if not answer.headers.get("content-type", "").startswith(("application/json", "application/problem+json")):
        return set()
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            found.update(value)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(answer.json())
    return found
