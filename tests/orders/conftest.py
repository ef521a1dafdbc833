"""What the order tests share: two malls that sync a small catalog through the partner API, shoppers reachable on
AlimTalk, each side's HTTP calls, and the messages the shoppers received.

Fixtures (every one goes through the real app, ``client``, on the suite's PostgreSQL and Redis):

- ``malls``: two listed malls, 하루일상 (``malls.haru``) and 모노마켓 (``malls.mono``), each with a partner key
  allowed ``catalog:write``, ``orders:read`` and ``orders:write``; nothing synced yet, default shipping
  (3,000 won, free from 50,000).
- ``catalog``: the same malls with ``CATALOG`` synced through ``PUT /partner/v1/products``; ``catalog.variant(sku)``
  is a variant's id, ``await catalog.stock(sku)`` its stock as stored now.
- ``shopper``: 지영, signed up over HTTP with a Korean mobile, AlimTalk consent and ``preferred_messenger``
  ``alimtalk``; ``sign_up`` signs up more the same way, ``many_shoppers(n)`` makes n at once (rows and tokens
  made directly, for races).
- ``messages``: ``await messages.send()`` runs notify's dispatcher once with the sandbox provider on every
  channel; ``await messages.received(user_id)`` is what the sandbox sent the shopper, in the order the steps
  enqueued them.

Helpers for paying and the worker: ``place_order`` (a checkout that must succeed), ``pay_by_card`` (the sandbox's
payment window, then the app's confirm), ``receive_deposit`` (the sandbox's depositor and its webhook),
``gateway_payment`` (the payment as the gateway holds it now) and ``run_order_deadlines`` (one run of the worker's
real ``order-deadlines`` job).

The variants (price / stock): 하루일상 ``H1`` 린넨 셔츠 원피스 — ``H1-BK-M`` 39,000 / 10, ``H1-IV-M`` 39,000 / 3,
``H1-BK-L`` 39,000 / 0; ``H2`` 와이드 슬랙스 — ``H2-BE-M`` 29,000 / 20. 모노마켓 ``M1`` 오버핏 울 니트 —
``M1-GR-F`` 45,000 / 10; ``M2`` 캔버스 토트백 — ``M2-IV-F`` 19,000 / 1.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.models import User
from catalog import keys
from catalog.models import Product, Variant
from notify.models import Message, SandboxMessage
from orders.models import Payment
from orders.payments.sandbox import SandboxGateway
from shoa_api.wiring import dispatcher_from, index_writer, order_kit
from shoa_api.worker import WorkerContext, order_deadlines_job
from shoa_kernel.clock import utc_now
from tests.factories import create_mall
from tests.notify.builders import dispatcher, every_channel, sandbox

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx
    from sqlalchemy.ext.asyncio import AsyncEngine

    from orders.payments.base import Payment as GatewayPayment
    from orders.payments.base import PaymentGateway
    from shoa_api.settings import Settings
    from tests.client import ShoaClient

PASSWORD = "linen-shirt-2026"
PARTNER_SCOPES = ["catalog:write", "orders:read", "orders:write"]
SOURCE_UPDATED_AT = "2026-12-01T10:00:00+09:00"
REFUND_ACCOUNT: dict[str, str] = {"bank": "국민은행", "account_number": "123456-01-234567", "holder": "김지영"}
"""The shopper's own account, which a virtual-account checkout needs for refunds."""
ADDRESS: dict[str, str] = {
    "postcode": "04044",
    "road_address": "서울특별시 마포구 양화로 45",
    "detail": "101동 1203호",
    "recipient": "김지영",
    "phone": "010-1234-5678",
}
"""A delivery address as the postcode search gives it."""

_numbers = itertools.count(1)


def product(
    external_id: str, name: str, category_path: str, *variants: dict[str, Any], **changes: Any
) -> dict[str, Any]:
    """One item of a ``PUT /partner/v1/products`` batch (the shape tests/catalog syncs)."""
    item: dict[str, Any] = {
        "external_id": external_id,
        "name": name,
        "description": f"{name} — 매일 입기 좋은 기본 아이템",
        "category_path": category_path,
        "style_tags": ["미니멀"],
        "target_gender": "female",
        "target_age_bands": ["20s_late", "30s_early"],
        "image_urls": [f"https://img.shoa.test/{external_id}/1.jpg"],
        "source_updated_at": SOURCE_UPDATED_AT,
        "variants": list(variants),
    }
    return item | changes


def variant(sku: str, *, price: int, stock: int, color: str, size: str) -> dict[str, Any]:
    return {"sku": sku, "color": color, "size": size, "price": price, "stock": stock}


CATALOG: dict[str, list[dict[str, Any]]] = {
    "haru": [
        product("H1", "린넨 셔츠 원피스", "원피스/셔츠원피스",
                variant("H1-BK-M", price=39000, stock=10, color="블랙", size="M"),
                variant("H1-IV-M", price=39000, stock=3, color="아이보리", size="M"),
                variant("H1-BK-L", price=39000, stock=0, color="블랙", size="L")),
        product("H2", "와이드 슬랙스", "하의/슬랙스",
                variant("H2-BE-M", price=29000, stock=20, color="베이지", size="M")),
    ],
    "mono": [
        product("M1", "오버핏 울 니트", "상의/니트",
                variant("M1-GR-F", price=45000, stock=10, color="그레이", size="FREE")),
        product("M2", "캔버스 토트백", "가방/토트백",
                variant("M2-IV-F", price=19000, stock=1, color="아이보리", size="FREE")),
    ],
}  # fmt: skip
"""What each mall sells in the ``catalog`` fixture."""


# --- The malls' side --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PartnerMall:
    """A mall calling the partner API with its key. The action helpers assert a 2xx answer and return its body;
    ``call`` returns the raw response for tests about refusals."""

    client: ShoaClient
    id: uuid.UUID
    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def call(self, method: str, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, path, headers=self.headers, json=json, **kwargs)

    async def sync(self, *products: dict[str, Any]) -> dict[str, Any]:
        """``PUT /partner/v1/products``; every item must be accepted."""
        answer = await self._ok("PUT", "/partner/v1/products", {"products": list(products)})
        assert answer["rejected"] == 0, answer
        return answer

    async def change_variant(self, external_id: str, sku: str, **fields: Any) -> dict[str, Any]:
        """``PATCH /partner/v1/products/{external_id}``: a variant's ``price``, ``sale_price`` or ``stock``."""
        return await self._ok("PATCH", f"/partner/v1/products/{external_id}", {"variants": [{"sku": sku, **fields}]})

    async def set_shipping(self, *, fee: int, free_from: int | None) -> dict[str, Any]:
        body = {"shipping_fee": fee, "free_shipping_threshold": free_from}
        return await self._ok("PUT", "/partner/v1/mall/shipping", body)

    async def orders(self, status: str | None = None) -> list[dict[str, Any]]:
        """This mall's mall-orders, oldest first (the first page)."""
        params = {"status": status} if status else {}
        answer = await self._ok("GET", "/partner/v1/orders", None, params=params)
        return list(answer["items"])

    async def accept(self, mall_order_id: str) -> dict[str, Any]:
        return await self._ok("POST", f"/partner/v1/orders/{mall_order_id}/accept")

    async def ship(self, mall_order_id: str, *, carrier: str = "cj", tracking_number: str) -> dict[str, Any]:
        body = {"carrier": carrier, "tracking_number": tracking_number}
        return await self._ok("POST", f"/partner/v1/orders/{mall_order_id}/ship", body)

    async def deliver(self, mall_order_id: str) -> dict[str, Any]:
        return await self._ok("POST", f"/partner/v1/orders/{mall_order_id}/deliver")

    async def _ok(self, method: str, path: str, json: Any = None, **kwargs: Any) -> dict[str, Any]:
        response = await self.call(method, path, json, **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return dict(response.json())


@dataclass(frozen=True, kw_only=True)
class Malls:
    haru: PartnerMall
    mono: PartnerMall


@dataclass(frozen=True, kw_only=True)
class Catalog:
    """Both malls with ``CATALOG`` synced."""

    malls: Malls
    variants: dict[str, uuid.UUID]
    """Variant id by SKU."""
    products: dict[str, uuid.UUID]
    """Product id by the mall's external id."""
    engine: AsyncEngine

    def variant(self, sku: str) -> uuid.UUID:
        return self.variants[sku]

    async def stock(self, sku: str) -> int:
        """The variant's stock as committed now."""
        async with AsyncSession(self.engine) as session:
            stock = await session.scalar(sa.select(Variant.stock).where(Variant.sku == sku))
        assert stock is not None, sku
        return stock

    async def in_stock(self, external_id: str) -> bool:
        async with AsyncSession(self.engine) as session:
            in_stock = await session.scalar(sa.select(Product.in_stock).where(Product.external_id == external_id))
        assert in_stock is not None, external_id
        return in_stock


async def _partner_mall(client: ShoaClient, session: AsyncSession, *, name: str, slug: str) -> PartnerMall:
    mall = await create_mall(session, name=name, slug=slug)
    issued = await keys.issue_key(session, mall_id=mall.id, name="shop-system", scopes=PARTNER_SCOPES)
    await session.commit()
    return PartnerMall(client=client, id=mall.id, name=name, key=issued.key)


@pytest.fixture
async def malls(client: ShoaClient, session: AsyncSession) -> Malls:
    """Two listed malls with partner keys (``catalog:write``, ``orders:read``, ``orders:write``), nothing synced."""
    return Malls(
        haru=await _partner_mall(client, session, name="하루일상", slug="haru"),
        mono=await _partner_mall(client, session, name="모노마켓", slug="mono"),
    )


@pytest.fixture
async def catalog(malls: Malls, session: AsyncSession, engine: AsyncEngine) -> Catalog:
    """``malls`` with ``CATALOG`` synced through the partner API."""
    await malls.haru.sync(*CATALOG["haru"])
    await malls.mono.sync(*CATALOG["mono"])
    variants = {row.sku: row.id for row in await session.execute(sa.select(Variant.sku, Variant.id))}
    products = {row.external_id: row.id for row in await session.execute(sa.select(Product.external_id, Product.id))}
    return Catalog(malls=malls, variants=variants, products=products, engine=engine)


# --- The shoppers' side -----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Shopper:
    """A logged-in shopper calling the API with her access token. ``checkout`` returns the raw response; the
    others assert a 2xx answer and return its body."""

    client: ShoaClient
    user_id: uuid.UUID
    access_token: str
    phone: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    async def call(self, method: str, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        headers = self.headers | kwargs.pop("headers", {})
        return await self.client.request(method, path, headers=headers, json=json, **kwargs)

    async def put_item(self, variant_id: uuid.UUID, quantity: int) -> dict[str, Any]:
        """``PUT /v1/cart/items/{variant_id}``: the cart after."""
        return await self._ok("PUT", f"/v1/cart/items/{variant_id}", {"quantity": quantity})

    async def cart(self) -> dict[str, Any]:
        return await self._ok("GET", "/v1/cart")

    async def checkout(
        self,
        *,
        payment_method: str = "virtual_account",
        lines: list[dict[str, Any]] | None = None,
        key: str | None = None,
        **fields: Any,
    ) -> httpx.Response:
        """``POST /v1/orders`` to ``ADDRESS`` with a fresh ``Idempotency-Key`` unless ``key`` is given; the cart
        unless ``lines`` are."""
        return await self.call(
            "POST",
            "/v1/orders",
            checkout_body(payment_method=payment_method, lines=lines, **fields),
            headers={"Idempotency-Key": key or str(uuid.uuid4())},
        )

    async def order(self, order_id: str) -> dict[str, Any]:
        return await self._ok("GET", f"/v1/orders/{order_id}")

    async def orders(self) -> list[dict[str, Any]]:
        return list((await self._ok("GET", "/v1/orders"))["items"])

    async def messages(self) -> list[dict[str, Any]]:
        """``GET /v1/me/messages``: newest first (the first page)."""
        return list((await self._ok("GET", "/v1/me/messages", params={"limit": 100}))["items"])

    async def _ok(self, method: str, path: str, json: Any = None, **kwargs: Any) -> dict[str, Any]:
        response = await self.call(method, path, json, **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return dict(response.json())


def checkout_body(*, payment_method: str = "virtual_account", lines: list[dict[str, Any]] | None = None,
                  **fields: Any) -> dict[str, Any]:  # fmt: skip
    """A checkout request to ``ADDRESS``; ``fields`` add to it or replace its parts."""
    body: dict[str, Any] = {"address": ADDRESS, "payment_method": payment_method}
    if payment_method == "virtual_account":
        body["refund_account"] = REFUND_ACCOUNT
    if lines is not None:
        body["lines"] = lines
    return body | fields


async def sign_up_shopper(client: ShoaClient, *, email: str, phone: str) -> Shopper:
    """Sign up over HTTP with a Korean mobile, then agree to AlimTalk and prefer it, as the app's settings do."""
    response = await client.post("/v1/auth/signup", json={"email": email, "phone": phone, "password": PASSWORD})
    assert response.status_code == 201, response.text
    tokens = response.json()
    shopper = Shopper(client=client, user_id=uuid.UUID(tokens["profile"]["id"]),
                      access_token=tokens["access_token"], phone=tokens["profile"]["contacts"]["phone"])  # fmt: skip
    profile = await shopper._ok("PATCH", "/v1/me", {"consents": {"alimtalk": True}, "preferred_messenger": "alimtalk"})
    assert (profile["consents"]["alimtalk"], profile["preferred_messenger"]) == (True, "alimtalk")
    return shopper


@pytest.fixture
async def shopper(client: ShoaClient) -> Shopper:
    """지영: signed up with 010-1234-5678, AlimTalk consented and preferred."""
    return await sign_up_shopper(client, email="jiyoung@example.kr", phone="010-1234-5678")


@pytest.fixture
def sign_up(client: ShoaClient) -> Callable[[], Awaitable[Shopper]]:
    """Another shopper signed up over HTTP like ``shopper``, with her own email and mobile."""

    async def another() -> Shopper:
        number = next(_numbers)
        return await sign_up_shopper(client, email=f"shopper{number}@example.kr", phone=f"010-5555-{number:04d}")

    return another


@pytest.fixture
def many_shoppers(client: ShoaClient, session: AsyncSession) -> Callable[[int], Awaitable[list[Shopper]]]:
    """``n`` shoppers at once, for races: their accounts inserted in one statement (a Korean mobile, AlimTalk
    consented and preferred) and their access tokens signed by the app's own signer, as a login would."""

    async def make(count: int) -> list[Shopper]:
        first = next(_numbers) * 1000
        users = [
            User(email=f"racer{first + n}@example.kr", phone=f"+82107{first + n:07d}", locale="ko",
                 consent_alimtalk=True, preferred_messenger="alimtalk")
            for n in range(count)
        ]  # fmt: skip
        session.add_all(users)
        await session.commit()
        signer = client.app.state.auth.access_tokens
        now = utc_now()
        return [
            Shopper(client=client, user_id=user.id, access_token=signer.issue(user.id, now=now)[0], phone=user.phone)
            for user in users
        ]

    return make


# --- Messages ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Messages:
    """notify's side: the dispatcher run in-process with the sandbox provider, and what it sent."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sessions", async_sessionmaker(self.engine, expire_on_commit=False))

    async def send(self) -> int:
        """Send every message due; how many were claimed."""
        return await dispatcher(every_channel(sandbox(self.engine))).run(self.sessions)

    async def received(self, user_id: uuid.UUID) -> list[SandboxMessage]:
        """What the sandbox sent to ``user_id``, in the order the order steps enqueued the messages."""
        async with self.sessions() as session:
            query = (
                sa.select(SandboxMessage)
                .join(Message, Message.id == SandboxMessage.message_id)
                .where(Message.user_id == user_id)
                .order_by(Message.id)
            )
            return list(await session.scalars(query))

    async def events(self, user_id: uuid.UUID) -> list[str]:
        """The events enqueued for ``user_id`` (sent or not), oldest first."""
        async with self.sessions() as session:
            query = sa.select(Message.event).where(Message.user_id == user_id).order_by(Message.id)
            return list(await session.scalars(query))


@pytest.fixture
def messages(engine: AsyncEngine) -> Messages:
    return Messages(engine=engine)


# --- Paying, and the worker's order deadlines -------------------------------------------------------------------


async def place_order(shopper: Shopper, lines: dict[uuid.UUID, int], *, payment_method: str = "card") -> dict[str, Any]:
    """A checkout of ``lines`` (variant id → quantity) that must succeed; the order as the shopper reads it."""
    wanted = [{"variant_id": str(variant_id), "quantity": quantity} for variant_id, quantity in lines.items()]
    response = await shopper.checkout(payment_method=payment_method, lines=wanted)
    assert response.status_code == 201, response.text
    return dict(response.json())


def sandbox_gateway(client: ShoaClient) -> SandboxGateway:
    """The app's payment gateway: the sandbox, as the suite configures it."""
    gateway = client.app.state.orders.gateway
    assert isinstance(gateway, SandboxGateway)
    return gateway


async def pay_by_card(shopper: Shopper, order: dict[str, Any]) -> dict[str, Any]:
    """The sandbox's payment window authorises the order's amount and the app confirms it; the paid order."""
    payment_key = await sandbox_gateway(shopper.client).authorize_card(
        order_id=order["number"], order_name=order["name"], amount=order["total_amount"]
    )
    body = {"payment_key": payment_key, "amount": order["total_amount"]}
    return await shopper._ok("POST", f"/v1/orders/{order['id']}/payment/confirm", body)


async def receive_deposit(shopper: Shopper, order: dict[str, Any]) -> dict[str, Any]:
    """The depositor pays the order's virtual account at the sandbox and its ``DEPOSIT_CALLBACK`` reaches the
    webhook; the paid order."""
    callback = await sandbox_gateway(shopper.client).deposit(order["number"])
    answer = await shopper.client.post("/webhooks/payments/sandbox", content=callback)
    assert (answer.status_code, answer.json()) == (200, {"result": "paid"}), answer.text
    return await shopper.order(order["id"])


async def gateway_payment(client: ShoaClient, order: dict[str, Any]) -> GatewayPayment:
    """The order's payment as the app's gateway reports it now (its status, its balance after refunds)."""
    async with client.app.state.read_session_maker() as session:
        payment_key = await session.scalar(sa.select(Payment.payment_key).where(Payment.order_id == order["id"]))
    assert payment_key is not None, order["number"]
    gateway: PaymentGateway = client.app.state.orders.gateway
    return await gateway.get_payment(payment_key)


async def run_order_deadlines(client: ShoaClient, engine: AsyncEngine, *, settings: Settings | None = None) -> None:
    """One run of the worker's real ``order-deadlines`` job, now, beside the app: its own order kit built from
    ``settings`` (the app's by default) as the worker builds it, the app's clients otherwise."""
    state = client.app.state
    settings = settings or state.settings
    session_maker = async_sessionmaker(engine, expire_on_commit=False)
    context = WorkerContext(
        settings=settings,
        engine=engine,
        session_maker=session_maker,
        redis=state.redis,
        http=state.http,
        search_engine=index_writer(settings, state.http),
        orders=order_kit(settings, outbox=state.outbox, http=state.http, session_maker=session_maker),
        winback=state.winback,
        dispatcher=dispatcher_from(settings, templates=state.outbox.templates, providers=state.messaging),
        worker_id="order-tests",
    )
    await order_deadlines_job().run(context)
