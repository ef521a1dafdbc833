"""Readiness: can this process serve traffic? Each dependency is probed with a short deadline, concurrently."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import msgspec
import sqlalchemy as sa

from catalog.search.meilisearch_index import INDEX_UID
from catalog.search.tantivy_engine import TantivyEngine

if TYPE_CHECKING:
    from collections.abc import Awaitable

    import httpx
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine

    from shoa_api.settings import Settings

PROBE_TIMEOUT = 2.0


class Readiness(msgspec.Struct, frozen=True):
    ready: bool
    checks: dict[str, str]
    """``ok`` or a short reason for each dependency: ``database``, ``redis``, ``search``."""

    @property
    def failed(self) -> list[str]:
        return [name for name, state in self.checks.items() if state != "ok"]


async def check_readiness(
    *, settings: Settings, engine: AsyncEngine, redis: Redis, http: httpx.AsyncClient
) -> Readiness:
    probes: dict[str, Awaitable[None]] = {
        "database": _probe_database(engine),
        "redis": _probe_redis(redis),
    }
    if settings.search.engine == "meilisearch":
        url, key = settings.meilisearch.url, settings.meilisearch.key
        assert url is not None  # checked when the settings were loaded
        assert key is not None
        probes["search"] = _probe_meilisearch(http, url, key.reveal())
    else:
        probes["search"] = _probe_tantivy(settings.search.dir)
    names = list(probes)
    results = await asyncio.gather(*(_with_deadline(p) for p in probes.values()))
    checks = dict(zip(names, results, strict=True))
    return Readiness(ready=all(state == "ok" for state in checks.values()), checks=checks)


async def _with_deadline(probe: Awaitable[None]) -> str:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await probe
    except TimeoutError:
        return f"no answer within {PROBE_TIMEOUT:.0f}s"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; its class names the cause
        return f"unavailable ({type(exc).__name__})"
    return "ok"


async def _probe_database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(sa.text("SELECT 1"))


async def _probe_redis(redis: Redis) -> None:
    await redis.ping()


async def _probe_meilisearch(http: httpx.AsyncClient, base_url: str, key: str) -> None:
    # GET /health is public in Meilisearch and answers {"status": "available"} when it can serve.
    response = await http.get(f"{base_url.rstrip('/')}/health")
    response.raise_for_status()
    if response.json().get("status") != "available":
        msg = "meilisearch is not available"
        raise RuntimeError(msg)
    # Searches need the index: a new or wiped server answers 404 until the worker has created it.
    index = await http.get(f"{base_url.rstrip('/')}/indexes/{INDEX_UID}", headers={"Authorization": f"Bearer {key}"})
    index.raise_for_status()


async def _probe_tantivy(directory: str) -> None:
    # The worker creates the index on its first turn; until then searches are answered 503.
    if not (TantivyEngine(directory).path / "meta.json").exists():
        msg = "the Tantivy index does not exist yet"
        raise FileNotFoundError(msg)
