"""Orchestrators ask whether the process lives and whether it can serve; operators scrape its metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from catalog.search.meilisearch import MeilisearchEngine
from shoa_api.app import create_app
from shoa_api.runtime import EmbeddedRedis
from shoa_api.settings import load_settings
from tests.client import ShoaClient
from tests.meilisearch.fake_server import FakeMeilisearch

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import Services


async def test_live_answers_without_touching_dependencies(client: ShoaClient) -> None:
    response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_postgres_redis_and_search_answer(client: ShoaClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "search": "ok"}}


async def test_not_ready_when_redis_is_stopped(services: Services, tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", durable=False).start()
    app = create_app(load_settings(services.environ(SHOA_REDIS_URL=redis.url), env_file=None))
    async with ShoaClient(app=app) as client:
        assert (await client.get("/health/ready")).status_code == 200
        redis.stop()

        response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["detail"] == "unavailable: redis"
    assert problem["checks"]["database"] == "ok"
    assert problem["checks"]["redis"] != "ok"


async def test_not_ready_when_postgres_is_unreachable(services: Services, tmp_path: Path) -> None:
    nowhere = f"postgresql+asyncpg://postgres@/shoa?host={tmp_path}"
    app = create_app(load_settings(services.environ(SHOA_DATABASE_URL=nowhere), env_file=None))
    async with ShoaClient(app=app) as client:
        response = await client.get("/health/ready")

    assert response.status_code == 503
    problem = response.json()
    assert problem["detail"] == "unavailable: database"  # the Tantivy index is on disk: search is there
    assert problem["checks"]["redis"] == "ok"


@pytest.fixture
def meili() -> Iterator[FakeMeilisearch]:
    with FakeMeilisearch() as fake:
        yield fake


async def test_ready_checks_meilisearch_and_its_products_index(services: Services, meili: FakeMeilisearch) -> None:
    environ = services.environ(
        SHOA_SEARCH_ENGINE="meilisearch", SHOA_MEILISEARCH_URL=meili.url, SHOA_MEILISEARCH_KEY=meili.master_key
    )
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None))) as client:
        before_the_worker = await client.get("/health/ready")
        async with httpx.AsyncClient() as http:
            await MeilisearchEngine(http, url=meili.url, key=meili.master_key).apply_settings()
        response = await client.get("/health/ready")

    # A new server has no index until the worker creates it: searches would fail, so not ready yet.
    assert before_the_worker.status_code == 503
    assert before_the_worker.json()["detail"] == "unavailable: search"
    assert response.status_code == 200
    assert response.json()["checks"]["search"] == "ok"
    index_checks = [r for r in meili.requests if r.path == "/indexes/products" and r.method == "GET"]
    assert index_checks[-1].headers["authorization"] == f"Bearer {meili.master_key}"


async def test_not_ready_when_meilisearch_is_down(services: Services) -> None:
    environ = services.environ(
        SHOA_SEARCH_ENGINE="meilisearch", SHOA_MEILISEARCH_URL="http://127.0.0.1:9", SHOA_MEILISEARCH_KEY="masterKey"
    )
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None))) as client:
        response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["detail"] == "unavailable: search"


METRICS_TOKEN = "scraper-token-0123456789"


async def test_metrics_count_requests_by_route_template(services: Services) -> None:
    app = create_app(load_settings(services.environ(SHOA_METRICS_TOKEN=METRICS_TOKEN), env_file=None))
    async with ShoaClient(app=app) as client:
        await client.get("/v1/malls")
        await client.get("/v1/malls/6f1c2f54-0000-4000-8000-000000000000")

        response = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert 'shoa_http_requests_total{method="GET",route="/v1/malls",status="200"} 1.0' in text
    assert 'shoa_http_requests_total{method="GET",route="/v1/malls/{mall_id}",status="404"} 1.0' in text
    assert 'shoa_http_request_duration_seconds_count{method="GET",route="/v1/malls"} 1.0' in text
    assert 'shoa_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/v1/malls"} 1.0' in text


async def test_metrics_are_not_served_to_anyone_on_the_api_port(services: Services, client: ShoaClient) -> None:
    assert (await client.get("/metrics")).status_code == 404  # no token configured: no metrics at all

    app = create_app(load_settings(services.environ(SHOA_METRICS_TOKEN=METRICS_TOKEN), env_file=None))
    async with ShoaClient(app=app) as scraped:
        anonymous = await scraped.get("/metrics")
        wrong = await scraped.get("/metrics", headers={"Authorization": "Bearer guessed-token"})

    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert "shoa_http_requests_total" not in anonymous.text + wrong.text
    assert anonymous.headers["content-type"].startswith("application/problem+json")


async def test_a_database_outage_is_a_503_without_internals(services: Services, tmp_path: Path) -> None:
    nowhere = f"postgresql+asyncpg://postgres@/shoa?host={tmp_path}"
    app = create_app(load_settings(services.environ(SHOA_DATABASE_URL=nowhere), env_file=None))
    async with ShoaClient(app=app) as client:
        response = await client.get("/v1/malls")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/service-unavailable")
    assert str(tmp_path) not in response.text
    assert "Traceback" not in response.text
    assert "asyncpg" not in response.text.lower()


async def test_a_probe_s_problem_names_the_request_id_it_was_answered_with(client: ShoaClient) -> None:
    response = await client.get("/metrics")  # no token configured: a 404 problem

    assert response.json()["request_id"] == response.headers["x-request-id"]
