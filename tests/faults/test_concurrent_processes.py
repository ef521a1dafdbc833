"""Two ``shoa serve`` and two ``shoa worker`` processes on one PostgreSQL and one Redis, driven at once through both
APIs: partner malls sync their catalogs, edit them and set stock through either API while shoppers check out, pay,
cancel and send their behaviour through either, and the malls accept, ship and deliver through the other.

What the two workers must do together, and what this proves they do:

- every message an order step enqueued reaches the shopper's LINE exactly once (a local LINE server counts each
  retry key it is sent), and every step that messages did enqueue its message;
- every catalog change reaches the search index: the index holds exactly the documents the database gives, and
  both APIs' search answers show every product as the database has it;
- every behaviour event counts once in the scores (the same batch sent again through the other API is a
  duplicate), the scores the workers roll up to PostgreSQL are the ones in Redis, and the event store holds each
  event once;
- nothing deadlocks: no request fails, and PostgreSQL detected no deadlock.

A load that deadlocks only now and then would make a test that fails now and then, so the interleavings that did
deadlock are also held on purpose, one at a time (a lock the test takes stops the first request at its worst
moment until the second one waits too): a mall's sync or price patch of a product whose last unit a checkout is
taking, and a cancel giving back two variants another shopper is buying. Both requests must succeed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import sqlalchemy as sa
import tantivy
from sqlalchemy.ext.asyncio import async_sessionmaker

from accounts.models import User
from catalog import keys
from catalog.models import Product, SearchOutbox
from catalog.search.documents import documents_for
from catalog.search.tantivy_engine import TantivyEngine
from catalog.search.tantivy_index import decode_hit, entry
from insights.models import Event
from notify.models import Message
from notify.providers.base import retry_key
from orders.models import Order, Transition
from orders.payments.sandbox import SandboxGateway
from personalization.models import SegmentScore
from personalization.scores import EVERYONE, Decay, segment_scores
from shoa_api.wiring import access_tokens_from
from shoa_kernel.clock import utc_now
from tests.factories import create_mall
from tests.faults.processes import running_api, running_worker, until
from tests.locks import TableLock
from tests.notify.fakes.line import PUSH_PATH, FakeLine

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

    from shoa_api.settings import Settings
    from tests.client import ShoaClient
    from tests.conftest import Services
    from tests.faults.processes import ApiProcess

PRODUCTS = 8
"""Per mall; the first two are the hot ones every shopper buys, the last one is deleted, one before it only viewed."""
SHOPPERS = 10
HOT_STOCK = 500
"""Enough for every checkout however the malls' stock updates and the checkouts interleave."""
CATEGORIES = ("원피스/셔츠원피스", "하의/슬랙스", "상의/니트", "가방/토트백")
SETTLE_SECONDS = 60.0
ADDRESS = {
    "postcode": "04044",
    "road_address": "서울특별시 마포구 양화로 45",
    "detail": "101동 1203호",
    "recipient": "김지영",
    "phone": "010-1234-5678",
}


# --- Who takes part ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Partner:
    mall_id: uuid.UUID
    code: str
    """The letter of its external ids and SKUs (H, M)."""
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def sku(self, number: int, size: str) -> str:
        return f"{self.code}{number:02d}-{size}"


@dataclass(frozen=True, kw_only=True)
class Shopper:
    user_id: uuid.UUID
    token: str
    line_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def create_partners(session: AsyncSession) -> list[Partner]:
    partners = []
    for name, slug, code in (("하루일상", "haru", "H"), ("모노마켓", "mono", "M")):
        mall = await create_mall(session, name=name, slug=slug)
        issued = await keys.issue_key(
            session, mall_id=mall.id, name="shop-system", scopes=["catalog:write", "orders:read", "orders:write"]
        )
        await session.commit()
        partners.append(Partner(mall_id=mall.id, code=code, key=issued.key))
    return partners


async def create_shoppers(session: AsyncSession, settings: Settings, count: int) -> list[Shopper]:
    """Shoppers reachable on LINE only (consented and preferred), with tokens signed as a login would."""
    users = [
        User(
            email=f"linefan{n}@example.kr",
            line_user_id=f"U{n + 1:032x}",
            consent_line=True,
            preferred_messenger="line",
            locale="ko",
        )
        for n in range(count)
    ]
    session.add_all(users)
    await session.commit()
    signer, now = access_tokens_from(settings.security), utc_now()
    return [
        Shopper(user_id=user.id, token=signer.issue(user.id, now=now)[0], line_id=user.line_user_id or "")
        for user in users
    ]


def product_item(partner: Partner, number: int, *, version: int, stock: int, price: int) -> dict[str, Any]:
    """One product of a ``PUT /partner/v1/products`` batch, as the mall has it at ``version`` (a later version is a
    later ``source_updated_at``)."""
    changed_at = utc_now().replace(microsecond=0) - datetime.timedelta(hours=1) + datetime.timedelta(minutes=version)
    return {
        "external_id": f"{partner.code}{number:02d}",
        "name": f"린넨 셔츠 {partner.code}{number:02d} 버전{version}",
        "description": f"매일 입기 좋은 기본 아이템 ({version}번째 수정)",
        "category_path": CATEGORIES[number % len(CATEGORIES)],
        "style_tags": ["미니멀"],
        "target_gender": "female",
        "target_age_bands": ["20s_late", "30s_early"],
        "image_urls": [f"https://img.shoa.test/{partner.code}{number:02d}/{version}.jpg"],
        "source_updated_at": changed_at.isoformat(),
        "variants": [
            {"sku": partner.sku(number, size), "color": "블랙", "size": size, "price": price, "stock": stock}
            for size in ("M", "L")
        ],
    }


# --- The traffic ------------------------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Every request of the test, through the API it names (0 or 1); an answer other than the one expected is kept
    in ``failures``."""

    apis: list[httpx.AsyncClient]
    failures: list[str] = field(default_factory=list)

    async def call(self, api: int, method: str, path: str, *, expect: int = 200, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.apis[api % 2].request(method, path, **kwargs)
        except httpx.TransportError as exc:
            self.failures.append(f"API {api % 2} {method} {path}: {type(exc).__name__} {exc}")
            raise
        if response.status_code != expect:
            self.failures.append(f"API {api % 2} {method} {path}: {response.status_code} {response.text[:300]}")
        return response


async def sync(traffic: Traffic, api: int, partner: Partner, items: list[dict[str, Any]]) -> None:
    answer = await traffic.call(api, "PUT", "/partner/v1/products", json={"products": items}, headers=partner.headers)
    if answer.is_success and answer.json()["rejected"]:
        traffic.failures.append(f"sync rejected: {answer.text[:300]}")


async def set_stock(traffic: Traffic, api: int, partner: Partner, stock: Mapping[str, int]) -> None:
    items = [{"sku": sku, "stock": left} for sku, left in stock.items()]
    await traffic.call(api, "PUT", "/partner/v1/stock", json={"items": items}, headers=partner.headers)


async def catalogs_synced_and_edited(traffic: Traffic, partners: list[Partner]) -> None:
    """Each mall's catalog created in two batches, one through each API; then at once, through both: every product
    sent again as two newer versions (the newest must win whichever arrives last), stock set and prices patched,
    and the last product deleted."""
    await asyncio.gather(
        *(
            sync(
                traffic,
                half,
                partner,
                [
                    product_item(partner, n, version=1, stock=HOT_STOCK, price=39000)
                    for n in range(1 + half * PRODUCTS // 2, 1 + (half + 1) * PRODUCTS // 2)
                ],
            )
            for partner in partners
            for half in (0, 1)
        )
    )
    edits: list[Awaitable[object]] = []
    for side, partner in enumerate(partners):
        for version in (2, 3):
            prices = 29000 + 1000 * version
            items = [
                product_item(partner, n, version=version, stock=HOT_STOCK, price=prices) for n in range(1, PRODUCTS + 1)
            ]
            edits.append(sync(traffic, side + version, partner, items))
        edits.append(
            set_stock(traffic, side, partner, {partner.sku(3, "M"): 0, partner.sku(3, "L"): 0, partner.sku(4, "M"): 7})
        )
        edits.append(
            traffic.call(
                side + 1,
                "PATCH",
                f"/partner/v1/products/{partner.code}05",
                headers=partner.headers,
                json={"variants": [{"sku": partner.sku(5, "L"), "price": 25000}]},
            )
        )
        edits.append(
            traffic.call(
                side,
                "DELETE",
                f"/partner/v1/products/{partner.code}{PRODUCTS:02d}",
                headers=partner.headers,
                expect=204,
            )
        )
    await asyncio.gather(*edits)


async def malls_keep_editing(traffic: Traffic, partners: list[Partner], *, rounds: int) -> None:
    """While shoppers buy: newer versions of the hot products (their variants rewritten) and their stock set again,
    through both APIs."""
    for version in range(4, 4 + rounds):
        await asyncio.gather(
            *(
                step
                for side, partner in enumerate(partners)
                for step in (
                    sync(
                        traffic,
                        side + version,
                        partner,
                        [product_item(partner, n, version=version, stock=HOT_STOCK, price=33000) for n in (1, 2)],
                    ),
                    set_stock(
                        traffic,
                        side + version + 1,
                        partner,
                        {partner.sku(1, "M"): HOT_STOCK, partner.sku(2, "L"): HOT_STOCK},
                    ),
                )
            )
        )


async def variant_ids(engine: AsyncEngine) -> dict[str, uuid.UUID]:
    async with engine.connect() as connection:
        return dict((await connection.execute(sa.text("SELECT sku, id FROM variants"))).all())


async def checkout(traffic: Traffic, api: int, shopper: Shopper, variant_ids: list[uuid.UUID]) -> httpx.Response:
    body = {
        "address": ADDRESS,
        "payment_method": "card",
        "lines": [{"variant_id": str(variant_id), "quantity": 1} for variant_id in variant_ids],
    }
    headers = shopper.headers | {"Idempotency-Key": str(uuid.uuid4())}
    return await traffic.call(api, "POST", "/v1/orders", json=body, headers=headers, expect=201)


async def shop(
    traffic: Traffic,
    gateway: SandboxGateway,
    partners: dict[uuid.UUID, Partner],
    shopper: Shopper,
    number: int,
    lines: list[uuid.UUID],
) -> None:
    """One shopper's story through both APIs: checkout, the card paid, then either the malls accept, ship and
    deliver every part, or she cancels the whole order."""
    api = number % 2
    placed = await checkout(traffic, api, shopper, lines)
    order = placed.json()
    payment_key = await gateway.authorize_card(
        order_id=order["number"], order_name=order["name"], amount=order["total_amount"]
    )
    await traffic.call(
        api + 1,
        "POST",
        f"/v1/orders/{order['id']}/payment/confirm",
        headers=shopper.headers,
        json={"payment_key": payment_key, "amount": order["total_amount"]},
    )
    if number % 2:
        await traffic.call(api, "POST", f"/v1/orders/{order['id']}/cancel", json={}, headers=shopper.headers)
        return

    async def fulfil(part: dict[str, Any]) -> None:
        partner = partners[uuid.UUID(part["mall_id"])]
        path = f"/partner/v1/orders/{part['id']}"
        await traffic.call(0, "POST", f"{path}/accept", headers=partner.headers)
        await traffic.call(
            1,
            "POST",
            f"{path}/ship",
            headers=partner.headers,
            json={"carrier": "cj", "tracking_number": f"6401234{number:05d}"},
        )
        await traffic.call(0, "POST", f"{path}/deliver", headers=partner.headers)

    await asyncio.gather(*(fulfil(part) for part in order["mall_orders"]))


def behaviour(product_ids: Iterable[uuid.UUID], at: datetime.datetime) -> list[dict[str, str]]:
    """A view and a like of each product, as the app sends them."""
    return [
        {"id": str(uuid.uuid4()), "kind": kind, "product_id": str(product_id), "occurred_at": at.isoformat()}
        for product_id in product_ids
        for kind in ("view", "like")
    ]


async def send_behaviour(traffic: Traffic, shopper: Shopper, number: int, events: list[dict[str, str]]) -> None:
    """The batch through one API, then again through the other (an app retrying after a lost answer): all
    duplicates the second time."""
    first = await traffic.call(number, "POST", "/v1/events", json={"events": events}, headers=shopper.headers)
    again = await traffic.call(number + 1, "POST", "/v1/events", json={"events": events}, headers=shopper.headers)
    counts = [(answer.json()["accepted"], answer.json()["duplicate"]) for answer in (first, again)]
    if counts != [(len(events), 0), (0, len(events))]:
        traffic.failures.append(f"events of shopper {number} counted {counts}")


# --- What the processes did -------------------------------------------------------------------------------------


def index_as_stored(search_dir: str | Path) -> dict[str, tuple[bytes, float]]:
    """Every product the Tantivy index holds, as its last commit has it: what a result tile shows (the stored hit)
    and the popularity its sort reads."""
    index = tantivy.Index.open(str(TantivyEngine(search_dir).path))
    searcher = index.searcher()
    addresses = [address for _, address in searcher.search(tantivy.Query.all_query(), searcher.num_docs + 1).hits]
    popularity = searcher.fast_field_values("popularity", addresses)
    return {
        decode_hit(hit := bytes(searcher.doc(address)["hit"][0])).id: (hit, float(value or 0.0))
        for address, value in zip(addresses, popularity, strict=True)
    }


async def index_as_the_database_says(engine: AsyncEngine) -> dict[str, tuple[bytes, float]]:
    """What the index must hold once every change is applied: the document of every product shoppers may see."""
    async with async_sessionmaker(engine)() as session:
        product_ids = list(await session.scalars(sa.select(Product.id)))
        documents, _ = await documents_for(session, product_ids)
    return {
        document["id"]: (bytes(entry(document).to_dict()["hit"][0]), float(document["popularity"] or 0.0))
        for document in documents
    }


async def products_in_search_outbox(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return {str(product_id) for product_id in await connection.scalars(sa.select(SearchOutbox.product_id))}


async def search_outbox_empty(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        return not await connection.scalar(sa.select(sa.func.count()).select_from(SearchOutbox))


async def statuses(engine: AsyncEngine) -> Counter[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(sa.select(Message.status, sa.func.count()).group_by(Message.status))
        return Counter(dict(rows.all()))


async def every_message_settled(engine: AsyncEngine) -> bool:
    return not {"queued", "sending"} & set(await statuses(engine))


def pushes_by_retry_key(line: FakeLine) -> Counter[str]:
    return Counter(request.header("x-line-retry-key") or "" for request in line.requests_to(PUSH_PATH))


async def expected_message_keys(engine: AsyncEngine) -> set[str]:
    """The messages the order steps must have enqueued: each order's receipt and payment, each mall-order's
    shipment, delivery and cancel (keyed on its transition), and each cancelled paid part's refund."""
    async with engine.connect() as connection:
        orders = list(await connection.scalars(sa.select(Order.id)))
        steps = (
            await connection.execute(
                sa.select(Transition.id, Transition.to_status, Transition.mall_order_id).where(
                    Transition.to_status.in_(["shipped", "delivered", "cancelled"])
                )
            )
        ).all()
    return (
        {f"order:{order_id}:{step}" for order_id in orders for step in ("received", "paid")}
        | {f"order-step:{step_id}" for step_id, _, _ in steps}
        | {f"order-refund:cancel:{part_id}" for _, status, part_id in steps if status == "cancelled"}
    )


async def deadlocks(engine: AsyncEngine) -> int:
    """Deadlocks PostgreSQL has detected in this database since its statistics began."""
    async with engine.connect() as connection:
        return int(
            await connection.scalar(
                sa.text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            )
            or 0
        )


@contextlib.asynccontextmanager
async def no_deadlock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Fail if PostgreSQL detected a deadlock while the block ran: its log says so at once (the embedded server's),
    its statistics once the backends involved have reported (at the latest when they end)."""
    before = await deadlocks(engine)
    log = await postgres_log(engine)
    offset = log.stat().st_size if log is not None else 0
    yield
    if log is not None:
        with log.open("rb") as output:
            output.seek(offset)
            written = output.read().decode(errors="replace").splitlines()
        assert [line for line in written if "deadlock" in line] == []
    assert await deadlocks(engine) == before


async def postgres_log(engine: AsyncEngine) -> Path | None:
    """The embedded PostgreSQL's log (beside its data folder, as ``EmbeddedPostgres`` writes it); None for an
    external server."""
    async with engine.connect() as connection:
        data_directory = Path(str(await connection.scalar(sa.text("SHOW data_directory"))))
    log = data_directory.parent / f"{data_directory.name}.log"
    return log if log.exists() else None


async def scores_by_product(redis: Redis, decay: Decay, segment: str, at: datetime.datetime) -> dict[uuid.UUID, float]:
    return dict(await segment_scores(redis, decay, segment, now=at.timestamp()))


async def saved_scores(
    engine: AsyncEngine, decay: Decay, segment: str, at: datetime.datetime
) -> dict[uuid.UUID, float]:
    """The scores the workers rolled up to PostgreSQL, decayed to ``at``."""
    faded = SegmentScore.score * sa.func.power(
        0.5, sa.extract("epoch", sa.literal(at) - SegmentScore.as_of) / decay.half_life_seconds
    )
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(SegmentScore.product_id, faded).where(SegmentScore.segment == segment)
        )
        return {product_id: float(score) for product_id, score in rows}


@contextlib.asynccontextmanager
async def two_apis(
    environment: Mapping[str, str], folder: Path, *, workers: int
) -> AsyncIterator[tuple[list[ApiProcess], Traffic]]:
    """``shoa serve`` twice and ``shoa worker`` ``workers`` times, started together, and the traffic through the two
    APIs; every process stopped (SIGTERM) when the block ends."""
    async with contextlib.AsyncExitStack() as stack:
        for number in range(1, workers + 1):
            await stack.enter_async_context(running_worker(environment, folder / f"worker-{number}.log"))
        apis: list[ApiProcess] = []
        async with asyncio.TaskGroup() as group:
            for number in (1, 2):
                group.create_task(_enter(stack, running_api(environment, folder / f"api-{number}.log"), apis))
        clients = [await stack.enter_async_context(api.client()) for api in apis]
        yield apis, Traffic(clients)


async def _enter(
    stack: contextlib.AsyncExitStack,
    context: contextlib.AbstractAsyncContextManager[ApiProcess],
    into: list[ApiProcess],
) -> None:
    into.append(await stack.enter_async_context(context))


def logs(folder: Path) -> str:
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in sorted(folder.glob("*.log"))
    )


# --- The story --------------------------------------------------------------------------------------------------


async def test_two_apis_and_two_workers_lose_nothing_double_nothing_and_never_deadlock(
    services: Services,
    settings: Settings,
    engine: AsyncEngine,
    session: AsyncSession,
    redis_client: Redis,
    line: FakeLine,
    tmp_path: Path,
) -> None:
    partners = await create_partners(session)
    shoppers = await create_shoppers(session, settings, SHOPPERS)
    gateway = SandboxGateway(session_maker=async_sessionmaker(engine, expire_on_commit=False))
    environment = services.environ(
        SHOA_SEARCH_DIR=str(settings.search.dir),
        SHOA_NOTIFY_PROVIDER_LINE="line",
        SHOA_LINE_MESSAGING_CHANNEL_ACCESS_TOKEN=line.channel_access_token,
        SHOA_LINE_MESSAGING_BASE_URL=line.url,
        SHOA_FEED_ROLLUP_SECONDS="1",
        SHOA_DATABASE_POOL_TIMEOUT="30",
    )
    decay = Decay(half_life_seconds=settings.feed.half_life_hours * 3600)

    async with no_deadlock(engine), two_apis(environment, tmp_path, workers=2) as (apis, traffic):
        await catalogs_synced_and_edited(traffic, partners)
        variants = await variant_ids(engine)
        by_mall = {partner.mall_id: partner for partner in partners}
        haru, mono = partners
        shuffle = random.Random(20)
        baskets = []
        for number in range(SHOPPERS):
            # Both hot products of both malls, in an order of her own, and one of three others.
            basket = [
                variants[haru.sku(1, "M")],
                variants[mono.sku(2, "L")],
                variants[haru.sku(2, "L")],
                variants[mono.sku(1, "M")],
                variants[(haru, mono)[number % 2].sku(4 + number % 3, "L")],
            ]
            shuffle.shuffle(basket)
            baskets.append(basket)
        async with async_sessionmaker(engine)() as lookup:
            viewed = list(
                await lookup.scalars(
                    sa.select(Product.id).where(
                        Product.external_id.in_([f"H{PRODUCTS - 1:02d}", f"M{PRODUCTS - 1:02d}"])
                    )
                )
            )
        behaved_at = utc_now()
        batches = [behaviour(viewed, behaved_at) for _ in shoppers]
        await asyncio.gather(
            *(
                shop(traffic, gateway, by_mall, shopper, number, baskets[number])
                for number, shopper in enumerate(shoppers)
            ),
            *(send_behaviour(traffic, shopper, number, batches[number]) for number, shopper in enumerate(shoppers)),
            malls_keep_editing(traffic, partners, rounds=3),
        )
        assert traffic.failures == [], "\n".join(traffic.failures)

        # Both workers at work until everything is applied, sent and rolled up.
        await until(lambda: search_outbox_empty(engine), "every catalog change indexed", within=SETTLE_SECONDS)
        await until(lambda: every_message_settled(engine), "every message sent", within=SETTLE_SECONDS)
        expected_scores = dict.fromkeys(viewed, 5.0 * SHOPPERS)  # a view and a like each

        async def rolled_up() -> bool:
            now = utc_now()
            saved = await saved_scores(engine, decay, EVERYONE, now)
            return all(saved.get(p) == pytest.approx(s, rel=1e-3) for p, s in expected_scores.items())

        await until(rolled_up, "the scores rolled up", within=SETTLE_SECONDS)

        # The roll-up keeps writing popularity (each write queued for the index) while the workers run: the index
        # catches up with the database, the outbox drained.
        async def index_caught_up() -> bool:
            return await search_outbox_empty(engine) and index_as_stored(
                settings.search.dir
            ) == await index_as_the_database_says(engine)

        await until(index_caught_up, "the index as the database says", within=SETTLE_SECONDS)

        # Shoppers searching through either API see every product as the database has it.
        for api in (0, 1):
            for partner in partners:

                async def shown_as_stored(api: int = api, partner: Partner = partner) -> bool:
                    return await search_shows_the_database(traffic.apis[api], partner, engine)

                await until(shown_as_stored, f"API {api}'s search of {partner.code} as stored", within=20)
        assert traffic.failures == [], "\n".join(traffic.failures)
        assert all(api.alive() for api in apis), logs(tmp_path)

    # Once the workers stopped, the index holds exactly what the database says, popularity included, except where
    # a change is still in the outbox (a roll-up just before the stop): nothing lost, for the next worker to apply.
    indexed, database = index_as_stored(settings.search.dir), await index_as_the_database_says(engine)
    differing = {product for product in indexed.keys() | database.keys()
                 if indexed.get(product) != database.get(product)}  # fmt: skip
    assert differing <= await products_in_search_outbox(engine)

    # Every message sent once: each retry key pushed once, and every one the steps enqueued.
    async with engine.connect() as connection:
        sent = (await connection.execute(sa.select(Message.idempotency_key, Message.delivery_key))).all()
    assert await statuses(engine) == {"accepted": len(sent)}
    assert {key for key, _ in sent} == await expected_message_keys(engine)
    assert pushes_by_retry_key(line) == {str(retry_key(delivery_key)): 1 for _, delivery_key in sent}
    assert Counter(message.address for message in line.delivered) == await messages_per_shopper(engine, shoppers)

    # Every behaviour event counted once, in Redis, in what the workers rolled up, and in the event store.
    now = utc_now()
    in_redis = await scores_by_product(redis_client, decay, EVERYONE, now)
    saved = await saved_scores(engine, decay, EVERYONE, now)
    for product_id, score in expected_scores.items():
        assert in_redis[product_id] == pytest.approx(score, rel=1e-3)
        assert saved[product_id] == pytest.approx(in_redis[product_id], rel=1e-6)
    async with engine.connect() as connection:
        stored = dict(
            (
                await connection.execute(
                    sa.select(Event.kind, sa.func.count()).where(Event.product_id.in_(viewed)).group_by(Event.kind)
                )
            ).all()
        )
        bought_lines = await connection.scalar(
            sa.text("SELECT count(*) FROM order_lines l JOIN mall_orders m ON m.id = l.mall_order_id")
        )
        purchases = await connection.scalar(sa.select(sa.func.count()).where(Event.kind == "purchase"))
    assert stored == {"view": SHOPPERS * len(viewed), "like": SHOPPERS * len(viewed)}
    assert purchases == bought_lines  # every order was paid: each line a purchase, once


async def search_shows_the_database(api: httpx.AsyncClient, partner: Partner, engine: AsyncEngine) -> bool:
    """Whether the mall's products as a shopper searches them through ``api``, page by page, are those shoppers may
    see, each with its name, price and stock as stored, and no other."""
    shown: set[tuple[str, str, int, bool]] = set()
    page, pages, total = 1, 1, 0
    while page <= pages:
        parameters: dict[str, str | int] = {
            "mall": str(partner.mall_id),
            "sort": "newest",
            "per_page": 50,
            "page": page,
        }
        answer = await api.get("/v1/search", params=parameters)
        assert answer.status_code == 200, answer.text
        found = answer.json()
        shown |= {(item["id"], item["name"], item["price_from"], item["in_stock"]) for item in found["items"]}
        page, pages, total = page + 1, found["total_pages"], found["total"]
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(Product.id, Product.name, Product.price_from, Product.in_stock).where(
                Product.mall_id == partner.mall_id, Product.status != "hidden"
            )
        )
        stored = {(str(product_id), name, price, in_stock) for product_id, name, price, in_stock in rows}
    return shown == stored and total == len(stored)


async def messages_per_shopper(engine: AsyncEngine, shoppers: list[Shopper]) -> Counter[str]:
    """How many messages each shopper's LINE should show: one per message enqueued for her."""
    line_ids = {shopper.user_id: shopper.line_id for shopper in shoppers}
    async with engine.connect() as connection:
        rows = await connection.execute(sa.select(Message.user_id, sa.func.count()).group_by(Message.user_id))
        return Counter({line_ids[user_id]: count for user_id, count in rows if user_id is not None})


# --- The races, one at a time -----------------------------------------------------------------------------------


def a_large_catalog(partner: Partner) -> list[dict[str, Any]]:
    """Fifty products of a hundred variants each: a catalog large enough that PostgreSQL reads variants by index,
    in the order a statement lists them, as it does in production."""
    return [
        product_item(partner, number, version=1, stock=5, price=19000)
        | {
            "external_id": f"F{number:03d}",
            "name": f"기본 티셔츠 F{number:03d}",
            "variants": [
                {"sku": f"F{number:03d}-{size:03d}", "color": "화이트", "size": str(size), "price": 19000, "stock": 5}
                for size in range(100)
            ],
        }
        for number in range(50)
    ]


async def lock_waits(engine: AsyncEngine) -> list[str]:
    """The statements waiting for a lock now."""
    query = sa.text(
        "SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    async with engine.connect() as connection:
        return list(await connection.scalars(query))


async def until_waiting(engine: AsyncEngine, traffic: Traffic, count: int, what: str) -> None:
    """Until ``count`` statements wait for a lock; a request that failed meanwhile fails the test at once."""

    async def waiting() -> bool:
        assert traffic.failures == [], "\n".join(traffic.failures)
        return len(await lock_waits(engine)) >= count

    await until(waiting, what)


@contextlib.asynccontextmanager
async def rows_held(engine: AsyncEngine, variant_ids: list[uuid.UUID]) -> AsyncIterator[None]:
    """The variants' rows locked (``FOR UPDATE``) by the test until the block ends: whoever needs them waits."""
    async with engine.connect() as connection, connection.begin():
        await connection.execute(
            sa.text("SELECT id FROM variants WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"), {"ids": variant_ids}
        )
        yield
        await connection.rollback()


async def test_a_mall_editing_or_a_shopper_cancelling_what_another_buys_queue_instead_of_deadlocking(
    settings: Settings, engine: AsyncEngine, session: AsyncSession, client: ShoaClient
) -> None:
    """Three races, each held at its worst moment by a lock the test takes, released once both requests wait (in
    the app in this process: which process sends a statement is nothing to PostgreSQL's locks, and a race held on
    purpose needs no second one):

    1. a checkout of a last unit (it will write the product: sold out) holds the variant when the mall's sync of
       the product arrives;
    2. the same with the mall's price patch of that variant;
    3. a shopper cancels an order of two variants, listed with the higher id first, while another checks out the
       same two: the cancel waits for a variant it gives back (the test holds it) when the checkout arrives.
    """
    haru, _ = await create_partners(session)
    buyer, canceller, other = await create_shoppers(session, settings, 3)
    gateway = SandboxGateway(session_maker=async_sessionmaker(engine, expire_on_commit=False))
    traffic = Traffic([client, client])
    await sync(traffic, 0, haru, [product_item(haru, n, version=1, stock=5, price=39000) for n in (1, 2, 3)])
    await sync(traffic, 0, haru, a_large_catalog(haru))
    await set_stock(traffic, 0, haru, {haru.sku(1, "M"): 1, haru.sku(2, "M"): 1})
    async with engine.begin() as connection:
        await connection.execute(sa.text("ANALYZE variants"))  # as autovacuum does once a table has grown
    variants = await variant_ids(engine)

    async with no_deadlock(engine):
        # 1 and 2: the last unit's checkout holds its variant, waiting to claim its key; the mall's edit arrives.
        edits: dict[int, Callable[[], Coroutine[object, object, object]]] = {
            1: lambda: sync(traffic, 1, haru, [product_item(haru, 1, version=2, stock=1, price=39000)]),
            2: lambda: traffic.call(
                1,
                "PATCH",
                f"/partner/v1/products/{haru.code}02",
                headers=haru.headers,
                json={"variants": [{"sku": haru.sku(2, "M"), "price": 35000}]},
            ),
        }
        for number, edit in edits.items():
            keys_lock = TableLock(engine, "order_checkout_keys")
            await keys_lock.take()
            try:
                buying = asyncio.create_task(checkout(traffic, 0, buyer, [variants[haru.sku(number, "M")]]))
                await until_waiting(engine, traffic, 1, "the checkout holding the last unit")
                editing = asyncio.create_task(edit())
                await until_waiting(engine, traffic, 2, "the mall's edit waiting too")
            finally:
                await keys_lock.release()
            await asyncio.gather(buying, editing)

        # 3: an order of H03-L and H03-M (the higher id first), cancelled while another shopper buys both.
        low, high = sorted([variants[haru.sku(3, "M")], variants[haru.sku(3, "L")]])
        placed = (await checkout(traffic, 0, canceller, [high, low])).json()
        payment_key = await gateway.authorize_card(
            order_id=placed["number"], order_name=placed["name"], amount=placed["total_amount"]
        )
        await traffic.call(
            1,
            "POST",
            f"/v1/orders/{placed['id']}/payment/confirm",
            headers=canceller.headers,
            json={"payment_key": payment_key, "amount": placed["total_amount"]},
        )
        async with rows_held(engine, [high]):
            cancelling = asyncio.create_task(
                traffic.call(0, "POST", f"/v1/orders/{placed['id']}/cancel", json={}, headers=canceller.headers)
            )
            await until_waiting(engine, traffic, 1, "the cancel giving the stock back")
            buying = asyncio.create_task(checkout(traffic, 1, other, [low, high]))
            await until_waiting(engine, traffic, 2, "the checkout of the same two variants waiting too")
        await asyncio.gather(cancelling, buying)

    assert traffic.failures == [], "\n".join(traffic.failures)
