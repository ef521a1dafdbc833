"""Every endpoint, every kind of caller: exactly the expected status, and nobody sees another's data."""

from __future__ import annotations

import datetime
import itertools
from typing import TYPE_CHECKING, Any

import pytest

from catalog import keys
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
    # Delivery reports are verified by the provider's own signature, whoever sends them; unsigned is a 401.
    ("POST", "/webhooks/messaging/sandbox", {"receipts": []}, (401,) * 7),
    ("POST", "/webhooks/messaging/nhn", {}, (404,) * 7),  # not configured here
    ("GET", "/dev/messages", None, (404,) * 7),  # a developer's own Shoa only
    # Events: anonymous apps need X-Device-Id (400 without); an empty batch from a shopper is a 422; a partner
    # key is not a shopper's token.
    ("POST", "/v1/events", {"events": []}, (400, 422, 422, 401, 401, 401, 401)),
    ("GET", "/v1/feed", None, (200, 200, 200, 401, 401, 401, 401)),
    ("GET", "/v1/likes", None, (401, 200, 200, 401, 401, 401, 401)),
    ("PUT", "/v1/likes/01a22747-0000-7000-8000-000000000000", None, (401, 404, 404, 401, 401, 401, 401)),
    ("DELETE", "/v1/likes/01a22747-0000-7000-8000-000000000000", None, (401, 204, 204, 401, 401, 401, 401)),
    ("GET", "/partner/v1/me", None, (401, 401, 401, 200, 200, 401, 200)),
    ("GET", "/partner/v1/products", None, (401, 401, 401, 200, 200, 401, 200)),
    ("PUT", "/partner/v1/products", "one-product", (401, 401, 401, 200, 200, 401, 403)),
    ("PUT", "/partner/v1/stock", {"items": [{"sku": "P-1-M", "stock": 1}]}, (401, 401, 401, 200, 200, 401, 403)),
    # No mall has a product P-404: a mall's key finds nothing, as for another mall's product.
    ("PATCH", "/partner/v1/products/P-404", {"status": "hidden"}, (401, 401, 401, 404, 404, 401, 403)),
    ("DELETE", "/partner/v1/products/P-404", None, (401, 401, 401, 404, 404, 401, 403)),
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


async def test_shoppers_and_malls_see_only_themselves(client: ShoaClient, session: AsyncSession) -> None:
    callers = await _callers(client, session)

    for shopper in ("shopper_a", "shopper_b"):
        me = (await client.get("/v1/me", headers=callers.headers[shopper])).json()
        assert me["id"] == callers.user_ids[shopper]
    for mall in ("mall_x", "mall_y"):
        me = (await client.get("/partner/v1/me", headers=callers.headers[mall])).json()
        assert me["mall_id"] == callers.mall_ids[mall]
