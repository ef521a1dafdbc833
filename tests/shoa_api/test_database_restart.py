"""PostgreSQL stops, crashes, shuts down or starts up under traffic: every answer is a success or a 503 with
``Retry-After``, never a 500, and the same app answers 200 again once the server is back.

Each test runs a PostgreSQL server of its own (the session's one must stay up for the other tests). The app is
never recreated: that proves the connection pool, and the search engine that reads through it, recover alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
from litestar import Litestar, get
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from catalog import keys
from catalog.search.indexing import index_pending
from catalog.search.tantivy_engine import TantivyEngine
from shoa_api.app import create_app
from shoa_api.errors import exception_handlers
from shoa_api.migrate import upgrade_to_head
from shoa_api.runtime import EmbeddedPostgres
from shoa_api.settings import load_settings
from tests.client import ShoaClient
from tests.conftest import create_search_index
from tests.factories import create_mall

if TYPE_CHECKING:
    import logging
    from collections.abc import AsyncIterator, Iterator

    from tests.conftest import Services

BACK_WITHIN_SECONDS = 10.0
"""How long the app may take to answer 200 again once PostgreSQL accepts connections."""


def _product(external_id: str) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "name": f"린넨 셔츠 원피스 {external_id}",
        "description": "여름에 시원한 린넨 100% 셔츠 원피스",
        "category_path": "원피스/셔츠원피스",
        "style_tags": ["오피스룩", "미니멀"],
        "target_gender": "female",
        "target_age_bands": ["20s_late", "30s_early"],
        "image_urls": [f"https://img.haru.kr/{external_id}/1.jpg"],
        "source_updated_at": "2026-11-20T10:00:00+09:00",
        "variants": [{"sku": f"{external_id}-BK-M", "color": "블랙", "size": "M", "price": 39000, "stock": 12}],
    }


PRODUCTS = [_product(f"LN-{n}") for n in range(3)]


@dataclass
class Shop:
    """A PostgreSQL server of its own with one mall, its key and its products, and an app in front of it."""

    postgres: EmbeddedPostgres
    services: Services
    search_dir: Path
    partner_headers: dict[str, str]
    product_id: str = ""
    client: ShoaClient | None = None

    def app(self) -> Any:
        environ = self.services.environ(
            SHOA_DATABASE_URL=self.postgres.url,
            SHOA_SEARCH_DIR=str(self.search_dir),
            # Every request must reach the database: no answer comes from the response cache.
            SHOA_PUBLIC_CACHE_SECONDS="0",
            SHOA_RATE_LIMIT_ENABLED="false",
        )
        return create_app(load_settings(environ, env_file=None))

    def requests(self) -> list[tuple[str, str]]:
        """Routes that each read or write the database, as (method, path)."""
        return [
            ("GET", "/v1/malls"),
            ("GET", f"/v1/products/{self.product_id}"),
            ("GET", "/v1/search?q=린넨"),
            ("GET", "/v1/feed"),
            ("GET", "/health/ready"),
            ("PUT", "/partner/v1/products"),
        ]

    async def send(self, method: str, path: str) -> httpx.Response:
        assert self.client is not None
        if method == "PUT":
            return await self.client.put(path, headers=self.partner_headers, json={"products": PRODUCTS})
        return await self.client.get(path)


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    # Durable: a server stopped at once keeps what it committed, as a production one does.
    server = EmbeddedPostgres(tmp_path / "postgres").start()
    try:
        upgrade_to_head(server.url)
        yield server
    finally:
        server.stop()


@pytest.fixture
async def shop(services: Services, postgres: EmbeddedPostgres, tmp_path: Path) -> Shop:
    """The shop, its products synced through an app that is then stopped and indexed for search as the worker
    would: each test starts its own app."""
    engine = create_async_engine(postgres.url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            mall = await create_mall(session, name="하루일상")
            issued = await keys.issue_key(session, mall_id=mall.id, name="sync", scopes=["catalog:write"])
            await session.commit()
    finally:
        await engine.dispose()
    shop = Shop(postgres, services, tmp_path / "search", {"Authorization": f"Bearer {issued.key}"})
    create_search_index(shop.search_dir)
    async with ShoaClient(app=shop.app()) as client:
        synced = await client.put("/partner/v1/products", headers=shop.partner_headers, json={"products": PRODUCTS})
    assert synced.status_code == 200, synced.text
    engine = create_async_engine(postgres.url)
    writer = TantivyEngine(shop.search_dir)
    try:
        assert await index_pending(async_sessionmaker(engine), writer) == len(PRODUCTS)
    finally:
        writer.close()
        await engine.dispose()
    shop.product_id = synced.json()["items"][0]["product_id"]
    return shop


@contextlib.asynccontextmanager
async def running(shop: Shop) -> AsyncIterator[ShoaClient]:
    async with ShoaClient(app=shop.app()) as client:
        shop.client = client
        try:
            yield client
        finally:
            shop.client = None


class Traffic:
    """Clients sending every route in turn until stopped; each answer is kept."""

    def __init__(self, shop: Shop, clients: int = 6) -> None:
        self.shop = shop
        self.answers: list[tuple[str, httpx.Response]] = []
        self._stopping = asyncio.Event()
        self._tasks = [asyncio.create_task(self._client(n)) for n in range(clients)]

    async def _client(self, offset: int) -> None:
        routes = self.shop.requests()
        n = offset
        while not self._stopping.is_set():
            method, path = routes[n % len(routes)]
            n += 1
            self.answers.append((f"{method} {path}", await self.shop.send(method, path)))
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        self._stopping.set()
        await asyncio.gather(*self._tasks)

    def statuses(self) -> set[int]:
        return {response.status_code for _, response in self.answers}


def _unavailable(response: httpx.Response) -> bool:
    """A 503 problem that tells the client when to try again."""
    return (
        response.status_code == 503
        and response.headers.get("retry-after", "").isdigit()
        and response.headers.get("content-type", "").startswith("application/problem+json")
    )


def _not_ready(route: str, response: httpx.Response) -> bool:
    """Readiness answers its orchestrator, which polls on its own schedule: a 503 problem naming the database."""
    return (
        route == "GET /health/ready"
        and response.status_code == 503
        and response.headers.get("content-type", "").startswith("application/problem+json")
        and response.json()["checks"]["database"] != "ok"
    )


def _wrong(answers: list[tuple[str, httpx.Response]]) -> list[tuple[str, int, str]]:
    """Answers that are neither a success nor a 503 problem with ``Retry-After`` (or readiness's own 503)."""
    return [
        (route, response.status_code, response.text[:300])
        for route, response in answers
        if not (response.is_success or _unavailable(response) or _not_ready(route, response))
    ]


async def _all_answer_200(shop: Shop) -> None:
    """Every route answers 200 within ``BACK_WITHIN_SECONDS`` (503 until then), then each once more."""
    deadline = time.monotonic() + BACK_WITHIN_SECONDS
    for method, path in shop.requests():
        while (response := await shop.send(method, path)).status_code != 200:
            assert _wrong([(f"{method} {path}", response)]) == []
            assert time.monotonic() < deadline, f"{method} {path} still answers {response.status_code}"
            await asyncio.sleep(0.1)
    again = {f"{method} {path}": (await shop.send(method, path)).status_code for method, path in shop.requests()}
    assert set(again.values()) == {200}, again


def _postmaster_pid(postgres: EmbeddedPostgres) -> int:
    return int((postgres.data_dir / "postmaster.pid").read_text().splitlines()[0])


def _stop_with(postgres: EmbeddedPostgres, stop_signal: signal.Signals) -> None:
    """Stop the server: SIGINT is a fast shutdown, SIGQUIT an immediate one (no checkpoint: crash recovery at
    the next start), SIGKILL kills every process of the server at once, as the kernel's OOM killer would."""
    pid = _postmaster_pid(postgres)
    if stop_signal is signal.SIGKILL:
        os.killpg(pid, signal.SIGKILL)  # the postmaster leads its own process group (see shoa_api.runtime)
    else:
        os.kill(pid, stop_signal)
    postgres.stop()  # waits for the postmaster to end
    if stop_signal is signal.SIGKILL:
        deadline = time.monotonic() + 10
        while _group_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        # A killed postmaster leaves its pid file saying "ready", which start() would believe at once.
        (postgres.data_dir / "postmaster.pid").unlink()


def _group_alive(group: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":
                return True
    return False


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGQUIT, signal.SIGKILL], ids=lambda s: s.name)
async def test_requests_get_503_while_postgres_restarts_and_200_once_it_is_back(
    shop: Shop, stop_signal: signal.Signals
) -> None:
    async with running(shop):
        await _all_answer_200(shop)  # the search engine has read the catalog; the pool holds connections
        traffic = Traffic(shop)
        try:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(_stop_with, shop.postgres, stop_signal)
            await asyncio.sleep(1.0)  # requests meet a server that is gone
            await asyncio.to_thread(shop.postgres.start)
            await asyncio.sleep(0.5)
        finally:
            await traffic.stop()

        assert _wrong(traffic.answers) == []
        assert 503 in traffic.statuses()
        await _all_answer_200(shop)


async def test_search_alone_comes_back_after_a_restart(shop: Shop) -> None:
    """With only searches arriving, the search's own check of its hits against the database (a pooled
    connection) is what must find the pool's dead connections and get new ones."""
    async with running(shop):
        pages = await asyncio.gather(*(shop.send("GET", "/v1/malls") for _ in range(8)))  # the pool fills up
        assert {page.status_code for page in pages} == {200}
        assert (await shop.send("GET", "/v1/search?q=린넨")).status_code == 200

        await asyncio.to_thread(_stop_with, shop.postgres, signal.SIGINT)
        await asyncio.to_thread(shop.postgres.start)

        deadline = time.monotonic() + BACK_WITHIN_SECONDS
        while (search := await shop.send("GET", "/v1/search?q=린넨")).status_code != 200:
            assert _unavailable(search), (search.status_code, search.text)
            assert time.monotonic() < deadline, "search still answers 503"
            await asyncio.sleep(0.1)
        assert search.json()["total"] == len(PRODUCTS)


def _sqlstates(records: list[logging.LogRecord]) -> set[str]:
    """The SQLSTATEs of the errors logged with these records, and of what each was raised from."""
    found = set()
    for record in records:
        error = record.exc_info[1] if record.exc_info else None
        while error is not None:
            found.add(str(getattr(error, "sqlstate", None) or getattr(getattr(error, "orig", None), "sqlstate", "")))
            error = error.__cause__
    return found - {"", "None"}


async def _connect_until_refused(postgres: EmbeddedPostgres) -> None:
    for _ in range(100):
        await (await asyncpg.connect(host=str(postgres.socket_dir), user="postgres", database="shoa")).close()
        await asyncio.sleep(0.02)


async def test_requests_get_503_while_postgres_refuses_new_connections(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    """A smart shutdown lets open sessions finish and refuses every new connection with SQLSTATE 57P03 ("the
    database system is shutting down"), as a server starting up or recovering does."""
    session = await asyncpg.connect(host=str(shop.postgres.socket_dir), user="postgres", database="shoa")
    try:
        os.kill(_postmaster_pid(shop.postgres), signal.SIGTERM)
        with pytest.raises(asyncpg.CannotConnectNowError):
            await _connect_until_refused(shop.postgres)

        async with running(shop):  # a new app: its pool has no connection yet, every request needs one
            caplog.clear()
            answers = [(f"{method} {path}", await shop.send(method, path)) for method, path in shop.requests()]
            assert _wrong(answers) == []
            assert {response.status_code for _, response in answers} == {503}
            assert "57P03" in _sqlstates(caplog.records)

            await session.close()  # the last session ends: the server stops
            session = None
            await asyncio.to_thread(shop.postgres.stop)
            await asyncio.to_thread(shop.postgres.start)
            await _all_answer_200(shop)
    finally:
        if session is not None:
            await session.close()


def _adapted(error: Exception) -> Exception:
    """``error`` as SQLAlchemy's asyncpg dialect hands it on: a DB-API error raised from asyncpg's."""
    adapted = AsyncAdapt_asyncpg_dbapi.Error(str(error), error)  # type: ignore[no-untyped-call]
    adapted.__cause__ = error
    return adapted


def _wrapped(error: Exception, sa_class: type[sa_exc.DBAPIError] = sa_exc.DBAPIError) -> sa_exc.DBAPIError:
    adapted = _adapted(error)
    wrapped = sa_class("SELECT 1", None, adapted)
    wrapped.__cause__ = adapted
    return wrapped


UNAVAILABLE = {
    "57P03 starting up, wrapped": _wrapped(asyncpg.CannotConnectNowError("the database system is starting up")),
    "57P03 shutting down, raw": asyncpg.CannotConnectNowError("the database system is shutting down"),
    "57P01 admin shutdown, wrapped": _wrapped(asyncpg.AdminShutdownError("terminating connection")),
    "57P02 crash shutdown, raw": asyncpg.CrashShutdownError("terminating connection because of crash"),
    "53300 too many connections, wrapped": _wrapped(asyncpg.TooManyConnectionsError("too many clients")),
    "53100 disk full, raw": asyncpg.DiskFullError("could not extend file"),
    "08006 connection failure, wrapped": _wrapped(asyncpg.ConnectionFailureError("connection failure")),
    "08003 closed mid-operation, raw": asyncpg.ConnectionDoesNotExistError("connection was closed"),
    "connection is closed, raw": asyncpg.InterfaceError("cannot perform operation: connection is closed"),
    "connection reset, raw": ConnectionResetError(104, "Connection reset by peer"),
    "connection reset, wrapped": _wrapped(ConnectionResetError(104, "Connection reset by peer")),
}
NOT_UNAVAILABLE = {
    "42P01 undefined table, wrapped": (_wrapped(asyncpg.UndefinedTableError("no"), sa_exc.ProgrammingError), 500),
    "42P01 undefined table, raw": (asyncpg.UndefinedTableError('relation "x" does not exist'), 500),
    "22021 NUL in text, wrapped": (_wrapped(asyncpg.CharacterNotInRepertoireError("NUL"), sa_exc.DataError), 422),
}
"""Statements the database refused for what they say: a bug (500) or the client's value (422)."""


async def _answer_to(error: Exception) -> httpx.Response:
    @get("/raise", sync_to_thread=False)
    def raise_it() -> None:
        raise error

    app = Litestar([raise_it], exception_handlers=exception_handlers())
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://shoa.test") as client:
        return await client.get("/raise")


@pytest.mark.parametrize("error", UNAVAILABLE.values(), ids=UNAVAILABLE.keys())
async def test_every_way_an_unavailable_database_arrives_is_a_503(error: Exception) -> None:
    response = await _answer_to(error)

    assert _unavailable(response), (response.status_code, response.text)
    assert response.json()["type"].endswith("/service-unavailable")


@pytest.mark.parametrize(("error", "status"), NOT_UNAVAILABLE.values(), ids=NOT_UNAVAILABLE.keys())
async def test_a_statement_the_database_refuses_is_not_a_503(error: Exception, status: int) -> None:
    assert (await _answer_to(error)).status_code == status
