"""The contract suite's world: the app as it runs, on the suite's PostgreSQL and Redis, its description loaded from
the app itself, and the data and credentials of each audience that calls it.

Schemathesis calls the app in-process (ASGI): it runs the app's lifespan and every request in one event loop of its
own, in a thread, as uvicorn would. The data the handlers need (a mall with products and its partner key, a shopper
with a cart and orders) is made through the same app, over HTTP, before the operations are called; only the key is
made directly, as ``shoa malls keys issue`` makes it.

How hard Schemathesis tries comes from :class:`Budget`: bounded and reproducible by default (``make test``), long
and random with ``SHOA_FUZZ=long`` (``make fuzz``).
"""

from __future__ import annotations

import os
import random
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import strategies as st
from schemathesis.python import asgi

from catalog import keys
from orders.models import Order, Payment
from shoa_api.app import create_app
from shoa_api.settings import Settings, load_settings
from tests.conftest import create_search_index
from tests.factories import create_mall

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import requests
    from schemathesis import Case
    from schemathesis.schemas import BaseSchema
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.conftest import Services

SKILL_SECRET = "contract-skill-secret"
LINE_SECRET = "contract-line-channel-secret"
INSTAGRAM_APP_SECRET = "contract-instagram-app-secret"
INSTAGRAM_VERIFY_TOKEN = "contract-instagram-verify-token"
TALKTALK_SECRET = "contract-talktalk-secret"
SANDBOX_RECEIPT_KEY = "contract-sandbox-receipt-key"
PASSWORD = "linen-shirt-2026"
EVERY_SCOPE = ["catalog:write", "orders:read", "orders:write", "insights:read"]
PLENTY = "1000000"
"""Rate limits the fuzzer never reaches: every request should reach its handler, not the limiter."""


REFUSED_BEYOND_THE_SCHEMA: dict[str, str] = {
    "GET /v1/search": "a page past the 1,000th result is refused: a limit on page x per_page, which OpenAPI "
    "cannot state",
    "POST /v1/auth/signup": "a phone number libphonenumber rejects, a common or breached password, an age under 14: "
    "rules of the values, not of their shape",
    "PATCH /v1/me": "a birth date in the future, another account's contacts: rules of the values",
    "PATCH /partner/v1/products/{external_id}": "a source_updated_at more than a day ahead of the server's clock",
    "POST /partner/v1/orders/{mall_order_id}/ship": "a tracking number's digit count depends on the carrier",
    **{
        f"GET /partner/v1/insights/{call}": "a period outside the store's retention, after today or over 92 days: "
        "rules of today's date and of two parameters together"
        for call in ("summary", "audience", "products", "benchmark", "winback")
    },
}
"""Operations that refuse some schema-valid requests with a 422 for a rule no JSON Schema can say (each reason is
in the API's own problem detail). For these alone, Schemathesis' "valid data is accepted" check takes a 422 as an
answer; every other check, and every other operation's, stays as Schemathesis ships it."""
ACCEPTED_422 = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"""Schemathesis' default expected statuses for valid data, and 422."""


@dataclass(frozen=True)
class Budget:
    """How many cases Schemathesis makes per operation, and from which seed."""

    max_examples: int
    seed: int
    stateful_steps: int
    stateful_runs: int
    long: bool = False

    @classmethod
    def from_environment(cls) -> Budget:
        if os.environ.get("SHOA_FUZZ") == "long":
            seed = int(os.environ.get("SHOA_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
            return cls(max_examples=int(os.environ.get("SHOA_FUZZ_EXAMPLES", "200")), seed=seed,
                       stateful_steps=50, stateful_runs=200, long=True)  # fmt: skip
        # make test: few cases per operation, the same ones on every run (a failure found in CI replays anywhere).
        return cls(max_examples=5, seed=20261207, stateful_steps=10, stateful_runs=15)

    def config(self) -> schemathesis.Config:
        return schemathesis.Config.from_dict(
            {
                "seed": self.seed,
                # Valid and invalid requests both; no example database left in the work tree.
                "generation": {
                    "max-examples": self.max_examples,
                    "mode": "all",
                    "database": "none",
                    "deterministic": not self.long,
                },
                # Every check Schemathesis has, with its defaults.
                "checks": {"enabled": True},
                "phases": {"stateful": {"max-steps": self.stateful_steps}},
                "operations": [
                    {"include-name": name, "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_422}}}
                    for name in REFUSED_BEYOND_THE_SCHEMA
                ],
            }
        )


BUDGET = Budget.from_environment()


def pytest_report_header() -> str:
    """Shown when pytest is run on ``tests/contract`` (as ``make fuzz`` does): the seed a failure replays with."""
    mode = "long (SHOA_FUZZ=long)" if BUDGET.long else "bounded"
    return f"contract suite: {mode}, {BUDGET.max_examples} cases per operation, SHOA_FUZZ_SEED={BUDGET.seed}"


@pytest.fixture(autouse=True)
def _schemathesis_reads_the_node_id(request: pytest.FixtureRequest) -> None:
    """Schemathesis' schema-from-a-fixture tests name each operation's subtest by rewriting the test's
    ``Node._nodeid``, an attribute pytest 9.2 no longer has; give it one to read (reporting is unchanged)."""
    request.node._nodeid = request.node.nodeid


@pytest.fixture
def contract_settings(services: Services, tmp_path: Path) -> Settings:
    settings = load_settings(
        services.environ(
            SHOA_SEARCH_DIR=str(tmp_path / "search"),
            SHOA_SUPPORT_KAKAO_SKILL_SECRET=SKILL_SECRET,
            SHOA_SUPPORT_LINE_CHANNEL_SECRET=LINE_SECRET,
            SHOA_INSTAGRAM_APP_SECRET=INSTAGRAM_APP_SECRET,
            SHOA_SUPPORT_INSTAGRAM_VERIFY_TOKEN=INSTAGRAM_VERIFY_TOKEN,
            SHOA_SUPPORT_TALKTALK_WEBHOOK_SECRET=TALKTALK_SECRET,
            SHOA_NOTIFY_SANDBOX_RECEIPT_KEY=SANDBOX_RECEIPT_KEY,
            SHOA_RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE=PLENTY,
            SHOA_RATE_LIMIT_SIGNUP_PER_IP_PER_HOUR=PLENTY,
            SHOA_RATE_LIMIT_LOGIN_FAILURES_BEFORE_LOCKOUT=PLENTY,
            SHOA_RATE_LIMIT_PARTNER_PER_KEY_PER_MINUTE=PLENTY,
            SHOA_RATE_LIMIT_ANONYMOUS_PER_IP_PER_MINUTE=PLENTY,
            SHOA_FEED_EVENTS_PER_DEVICE_PER_MINUTE=PLENTY,
        ),
        env_file=None,
    )
    create_search_index(settings.search.dir)
    return settings


@dataclass(frozen=True)
class PartnerKey:
    mall_id: uuid.UUID
    key: str


@pytest.fixture
async def partner_key(session: AsyncSession) -> PartnerKey:
    """하루일상, listed, with a key allowed everything a mall may do."""
    mall = await create_mall(session, name="하루일상")
    issued = await keys.issue_key(session, mall_id=mall.id, name="contract", scopes=EVERY_SCOPE)
    await session.commit()
    return PartnerKey(mall.id, issued.key)


@dataclass
class World:
    """The running app, its description, and what each audience knows."""

    schema: BaseSchema
    partner: PartnerKey
    http: requests.Session
    shopper_token: str = ""
    shoppers: int = 0
    orders: dict[str, str] = field(default_factory=dict)
    """The shopper's order id by payment method (``card``, ``virtual_account``)."""
    known: dict[str, list[str]] = field(default_factory=dict)
    """Path parameter values that name real things (ids of this world's products, orders...), by name."""

    def call(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self.http.request(method, path, headers=headers, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def sign_in_again(self) -> None:
        """A new shopper with a new token, after the last one signed out or closed her account."""
        self.shoppers += 1
        signed_up = self.call("POST", "/v1/auth/signup", json={
            "email": f"shopper-{self.shoppers}@example.kr", "password": PASSWORD, "gender": "female",
            "birth_date": "1997-04-12"})  # fmt: skip
        self.shopper_token = signed_up["access_token"]

    def learn(self, name: str, value: Any) -> None:
        values = self.known.setdefault(name, [])
        if str(value) not in values:
            values.append(str(value))


@pytest.fixture
def world(contract_settings: Settings, partner_key: PartnerKey) -> Iterator[World]:
    app = create_app(contract_settings)
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app, config=BUDGET.config())
    try:
        with asgi.get_client(app) as http:  # type: ignore[arg-type]  # Litestar's ASGI types are narrower
            world = World(schema=schema, partner=partner_key, http=http)
            _seed(world)
            schema.hook(_with_known_ids(world))
            yield world
    finally:
        asgi.shutdown_lifespans()


def _seed(world: World) -> None:
    """A mall with products, and a shopper who liked one, has one in her cart and two orders (card and virtual
    account) waiting to be paid."""
    partner = world.partner.key
    variants = [
        {"sku": "P1-BK-M", "color": "블랙", "size": "M", "price": 39000, "stock": 50},
        {"sku": "P1-IV-L", "color": "아이보리", "size": "L", "price": 39000, "stock": 50},
    ]
    products = [
        {"external_id": "P1", "name": "린넨 셔츠 원피스", "category_path": "원피스/셔츠원피스",
         "style_tags": ["미니멀"], "target_gender": "female", "target_age_bands": ["20s_late", "30s_early"],
         "image_urls": ["https://img.shoa.test/P1/1.jpg"], "source_updated_at": "2026-12-01T10:00:00+09:00",
         "variants": variants},
        {"external_id": "P2", "name": "와이드 슬랙스", "category_path": "하의/슬랙스", "target_gender": "female",
         "image_urls": ["https://img.shoa.test/P2/1.jpg"], "source_updated_at": "2026-12-01T10:00:00+09:00",
         "variants": [{"sku": "P2-BE-M", "price": 29000, "stock": 50}]},
    ]  # fmt: skip
    synced = world.call("PUT", "/partner/v1/products", token=partner, json={"products": products})
    world.learn("gateway", "sandbox")
    world.learn("provider", "sandbox")
    world.learn("mall_id", world.partner.mall_id)
    world.learn("external_id", "P1")
    for item in synced["items"]:
        world.learn("product_id", item["product_id"])
        for variant in world.call("GET", f"/v1/products/{item['product_id']}")["variants"]:
            world.learn("variant_id", variant["id"])

    signed_up = world.call("POST", "/v1/auth/signup", json={
        "email": "jiyoung@example.kr", "phone": "010-1234-5678", "password": PASSWORD, "display_name": "김지영",
        "gender": "female", "birth_date": "1997-04-12",
    })  # fmt: skip
    token = world.shopper_token = signed_up["access_token"]
    first, second = world.known["variant_id"][:2]
    world.call("PUT", f"/v1/likes/{world.known['product_id'][0]}", token=token)
    address = {"postcode": "04044", "road_address": "서울특별시 마포구 양화로 45", "detail": "101동 1203호",
               "recipient": "김지영", "phone": "010-1234-5678"}  # fmt: skip
    for method, variant_id, extra in (
        ("card", first, {}),
        ("virtual_account", second, {"bank": "신한은행", "refund_account": {
            "bank": "국민은행", "account_number": "123456-01-234567", "holder": "김지영"}}),
    ):  # fmt: skip
        body = {"address": address, "payment_method": method,
                "lines": [{"variant_id": variant_id, "quantity": 1}], **extra}  # fmt: skip
        order = world.call("POST", "/v1/orders", token=token, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        world.learn("order_id", order["id"])
        world.orders[method] = order["id"]
        for part in order["mall_orders"]:
            world.learn("mall_order_id", part["id"])
    world.call("PUT", f"/v1/cart/items/{first}", token=token, json={"quantity": 1})


@pytest.fixture
async def genuine_deposits(world: World, session: AsyncSession) -> None:
    """Valid deposit callbacks name the shopper's virtual-account order with its payment's secret half of the time,
    as the gateway would send them, so that the payment webhook's handler reads the payment back and follows it."""
    order_id = uuid.UUID(world.orders["virtual_account"])
    number, secret = (await session.execute(
        sa.select(Order.number, Payment.secret).join(Payment, Payment.order_id == Order.id).where(Order.id == order_id)
    )).one()  # fmt: skip

    def flatmap_case(context: schemathesis.HookContext, case: Case[Any]) -> st.SearchStrategy[Case[Any]]:
        positive = case.meta is not None and case.meta.generation.mode.is_positive
        if (
            case.operation.label != "POST /webhooks/payments/{gateway}"
            or not positive
            or not isinstance(case.body, dict)
        ):
            return st.just(case)
        genuine = case.derive(keep_auth=True)
        genuine.body = {**case.body, "orderId": number, "secret": secret}
        return st.sampled_from([case, genuine])

    world.schema.hook(flatmap_case)


def _with_known_ids(world: World) -> Any:
    """Valid cases name this world's products, orders and malls half of the time, so that their handlers run
    further than a 404; invalid cases keep what Schemathesis made (a real id could make them valid)."""

    def flatmap_case(context: schemathesis.HookContext, case: Case[Any]) -> st.SearchStrategy[Case[Any]]:
        names = [name for name in case.path_parameters or {} if name in world.known]
        if not names or case.meta is None or not case.meta.generation.mode.is_positive:
            return st.just(case)

        def named(values: dict[str, str]) -> Case[Any]:
            known_case = case.derive(keep_auth=True)  # the case Schemathesis made stays as it was
            known_case.path_parameters = {**known_case.path_parameters, **values}
            return known_case

        known = st.fixed_dictionaries({name: st.sampled_from(world.known[name]) for name in names})
        return st.one_of(st.just(case), known.map(named))

    return flatmap_case
