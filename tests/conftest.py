"""The test harness: real PostgreSQL and Redis, started once per run, a schema built by Alembic.

Each pytest process (xdist worker) gets its own embedded servers, or, when ``SHOA_TEST_DATABASE_URL`` and
``SHOA_TEST_REDIS_URL`` point at external ones, its own database and Redis database number. Before every test
the tables are truncated and Redis is flushed, so no test ever sees another's rows.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
import tantivy
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from catalog.search.indexing import index_pending
from catalog.search.tantivy_engine import TantivyEngine
from catalog.search.tantivy_index import schema
from shoa_api.app import create_app
from shoa_api.database import async_database_url
from shoa_api.migrate import upgrade_to_head
from shoa_api.observability import JsonFormatter
from shoa_api.runtime import EmbeddedPostgres, EmbeddedRedis
from shoa_api.settings import Settings, load_settings
from shoa_api.tables import target_metadata
from tests.client import ShoaClient

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncEngine

TEST_SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


class Services:
    def __init__(self, database_url: str, redis_url: str, search_dir: Path) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.search_dir = search_dir
        """The Tantivy index of the processes a test starts, unless it names its own (never the repo's .shoa)."""

    def environ(self, **extra: str) -> dict[str, str]:
        return {
            "SHOA_ENV": "test",
            "SHOA_DATABASE_URL": self.database_url,
            "SHOA_REDIS_URL": self.redis_url,
            "SHOA_SEARCH_DIR": str(self.search_dir),
            "SHOA_SECRET_KEY": TEST_SECRET_KEY,
            "SHOA_LOG_FORMAT": "json",
            # Cheap hashes keep the suite fast; the algorithm and code path are the production ones.
            "SHOA_ARGON2_TIME_COST": "1",
            "SHOA_ARGON2_MEMORY_KIB": "1024",
            "SHOA_ARGON2_PARALLELISM": "1",
            **extra,
        }


def _worker_number(config: pytest.Config) -> int:
    worker = getattr(config, "workerinput", {}).get("workerid", "gw0")
    return int(worker.removeprefix("gw"))


@pytest.fixture(scope="session")
def services(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    worker = _worker_number(request.config)
    external_db, external_redis = os.environ.get("SHOA_TEST_DATABASE_URL"), os.environ.get("SHOA_TEST_REDIS_URL")
    root = tmp_path_factory.mktemp("services")
    postgres = redis = None
    try:
        if external_db:
            database_url = asyncio.run(_fresh_database(external_db, f"shoa_test_{worker}"))
        else:
            postgres = EmbeddedPostgres(root / "postgres", durable=False).start()
            database_url = postgres.url
        if external_redis:
            # A database number per worker; redis-py takes ?db= before the URL's path.
            redis_url = f"{external_redis}{'&' if '?' in external_redis else '?'}db={1 + worker}"
        else:
            redis = EmbeddedRedis(root / "redis", durable=False).start()
            redis_url = redis.url
        upgrade_to_head(database_url)
        create_search_index(root / "search")
        yield Services(database_url, redis_url, root / "search")
    finally:
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop()


async def _fresh_database(server_url: str, name: str) -> str:
    url = make_url(async_database_url(server_url))
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def engine(services: Services) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(services.database_url)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def redis_client(services: Services) -> AsyncIterator[Redis]:
    client = Redis.from_url(services.redis_url)
    yield client
    await client.aclose()


@pytest.fixture(autouse=True)
async def clean_state(engine: AsyncEngine, redis_client: Redis) -> None:
    """Empty every table and the Redis database before each test: no test sees another's data."""
    tables = ", ".join(f'"{table.name}"' for table in target_metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await redis_client.flushdb()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session for arranging data; commit what the app should see."""
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        yield session


@pytest.fixture
def settings(services: Services, tmp_path: Path) -> Settings:
    """Each test's app searches a Tantivy index of its own, empty, as the worker leaves it on its first turn
    (``search_index`` feeds it)."""
    settings = load_settings(services.environ(SHOA_SEARCH_DIR=str(tmp_path / "search")), env_file=None)
    create_search_index(settings.search.dir)
    return settings


def create_search_index(directory: str | Path) -> None:
    """An empty Tantivy index in ``directory``, as ``shoa worker`` creates it before its first batch."""
    path = TantivyEngine(directory).path
    path.mkdir(parents=True, exist_ok=True)
    tantivy.Index(schema(), path=str(path), reuse=True)


class SearchIndex:
    """The worker's side of the Tantivy index a test's app searches."""

    def __init__(self, writer: TantivyEngine, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self.writer = writer
        self._session_maker = session_maker

    async def settle(self) -> int:
        """Run the indexer until the search outbox is empty, as ``shoa worker`` does; how many rows it handled."""
        handled = 0
        while batch := await index_pending(self._session_maker, self.writer):
            handled += batch
        return handled


@pytest.fixture
async def search_index(settings: Settings, engine: AsyncEngine) -> AsyncIterator[SearchIndex]:
    """The worker's writer on the index of ``settings``: a test that searches what it wrote calls ``settle()``."""
    writer = TantivyEngine(settings.search.dir)
    try:
        yield SearchIndex(writer, async_sessionmaker(engine, expire_on_commit=False))
    finally:
        writer.close()


@pytest.fixture
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[ShoaClient]:
    async with ShoaClient(app=app, base_url="http://shoa.test") as client:
        yield client


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / ".shoa"
    path.mkdir()
    return path


@pytest.fixture
def every_log_line() -> Iterator[io.StringIO]:
    """Everything any logger writes, at every level, as the production JSON formatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)
