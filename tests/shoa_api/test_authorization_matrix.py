"""Every endpoint, every kind of caller: exactly the expected status, and nobody sees another's data."""

from __future__ import annotations

import datetime
import itertools
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from catalog import keys
from catalog.models import Variant
from orders.payments.sandbox import SandboxGateway
from tests.factories import create_mall

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.client import ShoaClient

CALLERS = ("anonymous", "shopper_a", "shopper_b", "mall_x", "mall_y", "revoked_key", "unscoped_key")
_emails = itertools.count()

# (method, path, body) → expected status for each caller, in CALLERS order.
MATRIX: list[tuple[str, str, Any, tuple[int, ...]]] = [
    ("GET", "/health/live", None, (200,) * 7),
    ("GET", "/health/ready", None, (200,) * 7),
    ("GET", "/metrics", None, (404,) * 7),  # served only with SHOA_METRICS_TOKEN, to the scraper holding it
    ("GET", "/schema/openapi.json", None, (200,) * 7),
    ("GET", "/v1/malls", None, (200,) * 7),
    ("GET", "/v1/malls/{mall_x}", None, (200,) * 7),
    ("GET", "/v1/categories", None, (200,) * 7),
    ("GET", "/v1/search?q=린넨", None, (200,) * 7),
    ("GET", "/v1/products/01a22747-0000-7000-8000-000000000000", None, (404,) * 7),
    ("POST", "/v1/auth/signup", "fresh-signup", (201,) * 7),
    ("POST", "/v1/auth/login", "login-a", (200,) * 7),
    # Social login is open to anyone; with no provider configured (as here) every provider is 404.
    ("GET", "/v1/auth/oauth/kakao/authorize", None, (404,) * 7),
    ("GET", "/v1/auth/oauth/line/callback?code=c&state=s", None, (404,) * 7),
    ("POST", "/v1/auth/refresh", "refresh-own", (401, 200, 200, 401, 401, 401, 401)),
    ("POST", "/v1/auth/logout", "refresh-own", (401, 204, 204, 401, 401, 401, 401)),
    ("GET", "/v1/me", None, (401, 200, 200, 401, 401, 401, 401)),
    ("PATCH", "/v1/me", {"display_name": "새이름"}, (401, 200, 200, 401, 401, 401, 401)),
    ("DELETE", "/v1/me", None, (401, 204, 204, 401, 401, 401, 401)),
    ("GET", "/v1/me/messages", None, (401, 200, 200, 401, 401, 401, 401)),
    ("GET", "/v1/me/marketing", None, (401, 200, 200, 401, 401, 401, 401)),
    ("PUT", "/v1/me/marketing/sms", None, (401, 200, 200, 401, 401, 401, 401)),
    ("PUT", "/v1/me/marketing/night", None, (401, 409, 409, 401, 401, 401, 401)),  # no channel agreed to yet
    ("PUT", "/v1/me/marketing/alimtalk", None, (401, 422, 422, 401, 401, 401, 401)),  # AlimTalk carries no ads
    ("DELETE", "/v1/me/marketing/sms", None, (401, 200, 200, 401, 401, 401, 401)),
    ("DELETE", "/v1/me/marketing", None, (401, 200, 200, 401, 401, 401, 401)),
    # Delivery reports are verified by the provider's own signature, whoever sends them; unsigned is a 401.
    ("POST", "/webhooks/messaging/sandbox", {"receipts": []}, (401,) * 7),
    ("POST", "/webhooks/messaging/nhn", {}, (404,) * 7),  # not configured here
    ("GET", "/dev/messages", None, (404,) * 7),  # a developer's own Shoa only
    # Events: anonymous apps need X-Device-Id (401 without: it is how they are known); an empty batch from a shopper
    # is a 422; a partner key is not a shopper's token.
    ("POST", "/v1/events", {"events": []}, (401, 422, 422, 401, 401, 401, 401)),
    ("GET", "/v1/feed", None, (200, 200, 200, 401, 401, 401, 401)),
    ("GET", "/v1/likes", None, (401, 200, 200, 401, 401, 401, 401)),
    ("PUT", "/v1/likes/01a22747-0000-7000-8000-000000000000", None, (401, 404, 404, 401, 401, 401, 401)),
    ("DELETE", "/v1/likes/01a22747-0000-7000-8000-000000000000", None, (401, 204, 204, 401, 401, 401, 401)),
    # Win-back: a shopper's own alerts; an option nobody sells is 404; a message link nobody was sent is a 404 page.
    ("GET", "/v1/alerts", None, (401, 200, 200, 401, 401, 401, 401)),
    ("PUT", "/v1/alerts/restock/01a22747-0000-7000-8000-000000000000", None, (401, 404, 404, 401, 401, 401, 401)),
    ("DELETE", "/v1/alerts/restock/01a22747-0000-7000-8000-000000000000", None, (401, 204, 204, 401, 401, 401, 401)),
    ("PATCH", "/v1/alerts/settings", {"cart_reminders": False}, (401, 200, 200, 401, 401, 401, 401)),
    ("GET", "/w/never-sent", None, (404,) * 7),
    ("POST", "/w/never-sent/opt-out", None, (404,) * 7),
    ("GET", "/partner/v1/me", None, (401, 401, 401, 200, 200, 401, 200)),
    ("GET", "/partner/v1/products", None, (401, 401, 401, 200, 200, 401, 200)),
    ("PUT", "/partner/v1/products", "one-product", (401, 401, 401, 200, 200, 401, 403)),
    ("PUT", "/partner/v1/stock", {"items": [{"sku": "P-1-M", "stock": 1}]}, (401, 401, 401, 200, 200, 401, 403)),
    # No mall has a product P-404: a mall's key finds nothing, as for another mall's product.
    ("PATCH", "/partner/v1/products/P-404", {"status": "hidden"}, (401, 401, 401, 404, 404, 401, 403)),
    ("DELETE", "/partner/v1/products/P-404", None, (401, 401, 401, 404, 404, 401, 403)),
]

# Orders: shopper_a's card order, paid, with one part from mall_x and one from mall_y (``_order_of_a``). Another
# shopper's order and another mall's part are not found (404), never forbidden: their existence is not told.
_RETURN = {"mall_order_id": "{mall_order_x}", "reason": "작아요", "lines": [{"line_id": "{line_x}", "quantity": 1}]}
_EXCHANGE = {"mall_order_id": "{mall_order_x}", "reason": "사이즈 교환",
             "lines": [{"line_id": "{line_x}", "quantity": 1, "variant_id": "{variant_x_large}"}]}  # fmt: skip
_SHIP = {"carrier": "cj", "tracking_number": "640123456789"}
_SHIPPING = {"shipping_fee": 2500, "free_shipping_threshold": 30000}
ORDER_MATRIX: list[tuple[str, str, Any, tuple[int, ...]]] = [
    ("GET", "/v1/cart", None, (401, 200, 200, 401, 401, 401, 401)),
    ("PUT", "/v1/cart/items/{variant_x}", {"quantity": 1}, (401, 200, 200, 401, 401, 401, 401)),
    ("DELETE", "/v1/cart/items/{variant_x}", None, (401, 200, 200, 401, 401, 401, 401)),
    # Each shopper checks out with her own Idempotency-Key.
    ("POST", "/v1/orders", "checkout", (401, 201, 201, 401, 401, 401, 401)),
    ("GET", "/v1/orders", None, (401, 200, 200, 401, 401, 401, 401)),
    ("GET", "/v1/orders/{order_a}", None, (401, 200, 404, 401, 401, 401, 401)),
    # shopper_a's app retrying its confirmation gets the paid order; shopper_b with the same key finds nothing.
    ("POST", "/v1/orders/{order_a}/payment/confirm", "confirm-a", (401, 200, 404, 401, 401, 401, 401)),
    ("POST", "/v1/orders/{order_a}/cancel", {"mall_order_id": "{mall_order_x}"}, (401, 200, 404, 401, 401, 401, 401)),
    ("POST", "/v1/orders/{order_a}/returns", _RETURN, (401, 409, 404, 401, 401, 401, 401)),
    ("POST", "/v1/orders/{order_a}/exchanges", _EXCHANGE, (401, 409, 404, 401, 401, 401, 401)),
    ("POST", "/v1/orders/{order_a}/confirm", {}, (401, 409, 404, 401, 401, 401, 401)),
    # The gateway's webhook is believed on its own terms (the payment's secret, a read-back), whoever sends it.
    ("POST", "/webhooks/payments/sandbox", {"orderId": "{order_number_a}"}, (400,) * 7),
    ("POST", "/webhooks/payments/toss", {}, (404,) * 7),  # not the gateway configured here
    ("POST", "/dev/payments/{order_a}/card", None, (404,) * 7),  # a developer's own Shoa only
    ("POST", "/dev/payments/{order_a}/deposit", None, (404,) * 7),
    ("GET", "/partner/v1/orders", None, (401, 401, 401, 200, 200, 401, 200)),
    ("GET", "/partner/v1/orders?status=paid", None, (401, 401, 401, 200, 200, 401, 200)),
    ("POST", "/partner/v1/orders/{mall_order_x}/accept", None, (401, 401, 401, 200, 404, 401, 403)),
    ("POST", "/partner/v1/orders/{mall_order_x}/ship", _SHIP, (401, 401, 401, 409, 404, 401, 403)),
    ("POST", "/partner/v1/orders/{mall_order_x}/deliver", None, (401, 401, 401, 409, 404, 401, 403)),
    ("POST", "/partner/v1/orders/{mall_order_x}/cancel", {"reason": "품절"}, (401, 401, 401, 200, 404, 401, 403)),
    ("POST", "/partner/v1/orders/{mall_order_x}/returns/{order_a}/receive", None, (401, 401, 401, 404, 404, 401, 403)),
    ("GET", "/partner/v1/mall/shipping", None, (401, 401, 401, 200, 200, 401, 200)),
    ("PUT", "/partner/v1/mall/shipping", _SHIPPING, (401, 401, 401, 200, 200, 401, 403)),
]


ONE_PRODUCT = {
    "external_id": "P-1",
    "name": "린넨 셔츠",
    "category_path": "상의/셔츠",
    "target_gender": "female",
    "image_urls": ["https://img.example.kr/p-1.jpg"],
    "source_updated_at": "2026-11-20T10:00:00+09:00",
    "variants": [{"sku": "P-1-M", "price": 39000, "stock": 3}],
}


class Callers:
    def __init__(self) -> None:
        self.headers: dict[str, dict[str, str]] = {"anonymous": {}}
        self.refresh: dict[str, str] = {}
        self.user_ids: dict[str, str] = {}
        self.mall_ids: dict[str, str] = {}


async def _callers(client: ShoaClient, session: AsyncSession) -> Callers:
    callers = Callers()
    for name, email in (("shopper_a", "a@example.kr"), ("shopper_b", "b@example.kr")):
        tokens = (await client.post("/v1/auth/signup", json={"email": email, "password": "linen-shirt-2026"})).json()
        callers.headers[name] = {"Authorization": f"Bearer {tokens['access_token']}"}
        callers.refresh[name] = tokens["refresh_token"]
        callers.user_ids[name] = tokens["profile"]["id"]
    mall_x, mall_y = await create_mall(session, name="하루일상"), await create_mall(session, name="블랑쉬")
    callers.mall_ids = {"mall_x": str(mall_x.id), "mall_y": str(mall_y.id)}
    for name, mall, scopes in (
        ("mall_x", mall_x, ["catalog:write", "orders:read", "orders:write"]),
        ("mall_y", mall_y, ["catalog:write", "orders:read", "orders:write"]),
        ("revoked_key", mall_x, ["catalog:write"]),
        ("unscoped_key", mall_y, ["orders:read"]),
    ):
        issued = await keys.issue_key(session, mall_id=mall.id, name=name, scopes=scopes)
        if name == "revoked_key":
            await keys.revoke_key(session, mall_id=mall.id, key_id=issued.id, now=datetime.datetime.now(datetime.UTC))
        callers.headers[name] = {"Authorization": f"Bearer {issued.key}"}
    await session.commit()
    return callers


ADDRESS = {"postcode": "04044", "road_address": "서울특별시 마포구 양화로 45", "recipient": "김지영",
           "phone": "010-1234-5678"}  # fmt: skip


def _orderable(external_id: str) -> dict[str, Any]:
    variants = [{"sku": f"{external_id}-M", "size": "M", "price": 39000, "stock": 10},
                {"sku": f"{external_id}-L", "size": "L", "price": 39000, "stock": 10}]  # fmt: skip
    return ONE_PRODUCT | {"external_id": external_id, "variants": variants}


async def _order_of_a(client: ShoaClient, session: AsyncSession, callers: Callers) -> dict[str, str]:
    """shopper_a's card order of one item from each mall, paid at the sandbox; the ids the paths name."""
    variants: dict[str, str] = {}
    for mall, external_id in (("mall_x", "X-1"), ("mall_y", "Y-1")):
        body = {"products": [_orderable(external_id)]}
        synced = await client.put("/partner/v1/products", headers=callers.headers[mall], json=body)
        assert synced.status_code == 200, synced.text
    for sku, variant_id in await session.execute(sa.select(Variant.sku, Variant.id)):
        variants[sku] = str(variant_id)
    shopper = callers.headers["shopper_a"]
    lines = [{"variant_id": variants["X-1-M"], "quantity": 1}, {"variant_id": variants["Y-1-M"], "quantity": 1}]
    checkout = {"address": ADDRESS, "payment_method": "card", "lines": lines}
    placed = await client.post("/v1/orders", headers=shopper | {"Idempotency-Key": "order-a"}, json=checkout)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    gateway = client.app.state.orders.gateway
    assert isinstance(gateway, SandboxGateway)
    payment_key = await gateway.authorize_card(
        order_id=order["number"], order_name=order["name"], amount=order["total_amount"]
    )
    paid = await client.post(f"/v1/orders/{order['id']}/payment/confirm", headers=shopper,
                             json={"payment_key": payment_key, "amount": order["total_amount"]})  # fmt: skip
    assert paid.status_code == 200, paid.text
    part_x = next(part for part in order["mall_orders"] if part["mall_id"] == callers.mall_ids["mall_x"])
    part_y = next(part for part in order["mall_orders"] if part["mall_id"] == callers.mall_ids["mall_y"])
    return {
        "order_a": order["id"], "order_number_a": order["number"], "payment_key_a": payment_key,
        "total_a": str(order["total_amount"]), "mall_order_x": part_x["id"], "mall_order_y": part_y["id"],
        "line_x": part_x["lines"][0]["id"], "variant_x": variants["X-1-M"], "variant_x_large": variants["X-1-L"],
        "variant_y": variants["Y-1-M"],
    }  # fmt: skip


def _filled(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with the ``{name}`` placeholders in its strings replaced by ``ids``."""
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [_filled(item, ids) for item in value]
    if isinstance(value, dict):
        return {name: _filled(item, ids) for name, item in value.items()}
    return value


def _body(kind: Any, caller: str, callers: Callers) -> Any:
    if kind == "fresh-signup":
        return {"email": f"new{next(_emails)}@example.kr", "password": "linen-shirt-2026"}
    if kind == "login-a":
        return {"login": "a@example.kr", "password": "linen-shirt-2026"}
    if kind == "one-product":
        return {"products": [ONE_PRODUCT]}
    if kind == "refresh-own":
        return {"refresh_token": callers.refresh.get(caller, "shoa_rt_not-a-real-token")}
    return kind


@pytest.mark.parametrize(("method", "path", "body", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
async def test_each_caller_gets_exactly_the_expected_status(
    client: ShoaClient,
    session: AsyncSession,
    method: str,
    path: str,
    body: Any,
    expected: tuple[int, ...],
) -> None:
    callers = await _callers(client, session)
    url = path.format(mall_x=callers.mall_ids["mall_x"])

    statuses = []
    for caller in CALLERS:
        response = await client.request(method, url, headers=callers.headers[caller], json=_body(body, caller, callers))
        statuses.append(response.status_code)

    assert dict(zip(CALLERS, statuses, strict=True)) == dict(zip(CALLERS, expected, strict=True))


def _order_body(kind: Any, caller: str, ids: dict[str, str]) -> Any:
    if kind == "checkout":
        lines = [{"variant_id": ids["variant_y"], "quantity": 1}]
        refund = {"bank": "신한은행", "account_number": "110-123-456789", "holder": caller}
        return {"address": ADDRESS | {"recipient": caller}, "payment_method": "virtual_account", "lines": lines,
                "refund_account": refund}  # fmt: skip
    if kind == "confirm-a":
        return {"payment_key": ids["payment_key_a"], "amount": int(ids["total_a"])}
    return _filled(kind, ids)


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), ORDER_MATRIX, ids=[f"{m} {p}" for m, p, _, _ in ORDER_MATRIX]
)
async def test_each_caller_gets_exactly_the_expected_status_on_orders(
    client: ShoaClient,
    session: AsyncSession,
    method: str,
    path: str,
    body: Any,
    expected: tuple[int, ...],
) -> None:
    callers = await _callers(client, session)
    ids = await _order_of_a(client, session, callers)
    url = path.format(**ids)

    statuses = []
    for caller in CALLERS:
        headers = callers.headers[caller] | ({"Idempotency-Key": f"{caller}-1"} if body == "checkout" else {})
        response = await client.request(method, url, headers=headers, json=_order_body(body, caller, ids))
        statuses.append(response.status_code)

    assert dict(zip(CALLERS, statuses, strict=True)) == dict(zip(CALLERS, expected, strict=True))


async def test_a_mall_sees_and_moves_only_its_own_part_and_a_shopper_only_her_own_order(
    client: ShoaClient, session: AsyncSession
) -> None:
    callers = await _callers(client, session)
    ids = await _order_of_a(client, session, callers)
    mall_x, mall_y = callers.headers["mall_x"], callers.headers["mall_y"]
    order_a = f"/v1/orders/{ids['order_a']}"

    listed = {}
    for mall in ("mall_x", "mall_y", "unscoped_key"):
        page = (await client.get("/partner/v1/orders", headers=callers.headers[mall])).json()
        listed[mall] = [item["id"] for item in page["items"]]
    moved_by_y = [
        (await client.post(f"/partner/v1/orders/{ids['mall_order_x']}/{action}", headers=mall_y, json=body)).status_code
        for action, body in (("accept", {}), ("ship", {"carrier": "cj", "tracking_number": "640123456789"}),
                             ("deliver", {}), ("cancel", {"reason": "품절"}))
    ]  # fmt: skip
    shopper_b = callers.headers["shopper_b"]
    seen_by_b = [
        (await client.get("/v1/orders", headers=shopper_b)).json()["items"],
        (await client.get(order_a, headers=shopper_b)).status_code,
        (await client.post(f"{order_a}/cancel", headers=shopper_b, json={})).status_code,
        (await client.post(f"{order_a}/confirm", headers=shopper_b, json={})).status_code,
    ]

    assert listed == {"mall_x": [ids["mall_order_x"]], "mall_y": [ids["mall_order_y"]],
                      "unscoped_key": [ids["mall_order_y"]]}  # fmt: skip
    assert moved_by_y == [404, 404, 404, 404]
    assert seen_by_b == [[], 404, 404, 404]
    order = (await client.get(order_a, headers=callers.headers["shopper_a"])).json()
    assert [(part["status"], len(part["timeline"])) for part in order["mall_orders"]] == [("paid", 2), ("paid", 2)]
    assert order["payment"]["refunded_amount"] == 0
    accepted = await client.post(f"/partner/v1/orders/{ids['mall_order_x']}/accept", headers=mall_x)
    assert (accepted.status_code, accepted.json()["status"]) == (200, "preparing")


async def test_shoppers_and_malls_see_only_themselves(client: ShoaClient, session: AsyncSession) -> None:
    callers = await _callers(client, session)

    for shopper in ("shopper_a", "shopper_b"):
        me = (await client.get("/v1/me", headers=callers.headers[shopper])).json()
        assert me["id"] == callers.user_ids[shopper]
    for mall in ("mall_x", "mall_y"):
        me = (await client.get("/partner/v1/me", headers=callers.headers[mall])).json()
        assert me["mall_id"] == callers.mall_ids[mall]
