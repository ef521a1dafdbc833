"""Limits in Redis: brute force and scraping meet 429 with Retry-After; everyone else never notices."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from catalog import keys
from shoa_api.app import create_app
from shoa_api.runtime import EmbeddedRedis
from shoa_api.settings import load_settings
from tests.client import ShoaClient
from tests.factories import create_mall

if TYPE_CHECKING:
    from pathlib import Path

    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.conftest import Services


def _app(services: Services, **limits: str) -> Litestar:
    variables = {f"SHOA_RATE_LIMIT_{name.upper()}": value for name, value in limits.items()}
    return create_app(load_settings(services.environ(**variables), env_file=None))


async def test_login_attempts_from_one_address_are_limited(services: Services) -> None:
    async with ShoaClient(app=_app(services, login_per_ip_per_minute="3")) as client:
        answers = [
            await client.post("/v1/auth/login", json={"login": "a@example.kr", "password": "wrong-password"})
            for _ in range(4)
        ]

    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    limited = answers[-1]
    assert limited.headers["content-type"] == "application/problem+json"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["type"].endswith("/rate-limited")
    assert limited.json()["request_id"] == limited.headers["x-request-id"]


async def test_signups_from_one_address_are_limited(services: Services) -> None:
    async with ShoaClient(app=_app(services, signup_per_ip_per_hour="2")) as client:
        answers = [
            await client.post("/v1/auth/signup", json={"email": f"s{n}@example.kr", "password": "linen-shirt-2026"})
            for n in range(3)
        ]

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert int(answers[-1].headers["retry-after"]) <= 3600


async def test_anonymous_reads_are_limited_per_address(services: Services) -> None:
    async with ShoaClient(app=_app(services, anonymous_per_ip_per_minute="5")) as client:
        statuses = [(await client.get("/v1/malls")).status_code for _ in range(6)]
        probe = await client.get("/health/live")

    assert statuses == [200] * 5 + [429]
    assert probe.status_code == 200


async def test_partner_requests_are_limited_per_key(services: Services, session: AsyncSession) -> None:
    mall = await create_mall(session)
    first = await keys.issue_key(session, mall_id=mall.id, name="a", scopes=["orders:read"])
    second = await keys.issue_key(session, mall_id=mall.id, name="b", scopes=["orders:read"])
    await session.commit()
    async with ShoaClient(app=_app(services, partner_per_key_per_minute="2")) as client:
        with_first = [
            (await client.get("/partner/v1/me", headers={"Authorization": f"Bearer {first.key}"})).status_code
            for _ in range(3)
        ]
        with_second = await client.get("/partner/v1/me", headers={"Authorization": f"Bearer {second.key}"})

    assert with_first == [200, 200, 429]
    assert with_second.status_code == 200


async def test_limits_can_be_turned_off(services: Services) -> None:
    async with ShoaClient(app=_app(services, enabled="false", anonymous_per_ip_per_minute="1")) as client:
        statuses = [(await client.get("/v1/malls")).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]


async def test_a_redis_outage_lets_reads_through(services: Services, tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", durable=False).start()
    environ = services.environ(SHOA_REDIS_URL=redis.url, SHOA_RATE_LIMIT_ANONYMOUS_PER_IP_PER_MINUTE="100")
    async with ShoaClient(app=create_app(load_settings(environ, env_file=None))) as client:
        redis.stop()

        response = await client.get("/v1/malls")

    assert response.status_code == 200


async def test_anonymous_counts_are_shared_between_processes(services: Services) -> None:
    """Two app processes, one address: each counts locally, and the shared total in Redis decides."""
    first, second = _app(services, anonymous_per_ip_per_minute="5"), _app(services, anonymous_per_ip_per_minute="5")
    async with ShoaClient(app=first) as one, ShoaClient(app=second) as two:
        assert [(await one.get("/v1/malls")).status_code for _ in range(3)] == [200] * 3
        await asyncio.sleep(0.6)  # both flush: the shared count is 3
        assert (await two.get("/v1/malls")).status_code == 200
        await asyncio.sleep(0.6)  # the second process learns the total (4)
        assert (await two.get("/v1/malls")).status_code == 200

        refused = await two.get("/v1/malls")

    assert refused.status_code == 429


async def test_wrong_passwords_lock_the_login_whatever_the_address(services: Services) -> None:
    app = _app(services, login_failures_before_lockout="3", login_per_ip_per_minute="100")
    async with ShoaClient(app=app) as client:
        signup = {"email": "seoyeon@example.kr", "password": "linen-shirt-2026"}
        assert (await client.post("/v1/auth/signup", json=signup)).status_code == 201
        wrong = {"login": "seoyeon@example.kr", "password": "not-my-password"}
        failures = [(await client.post("/v1/auth/login", json=wrong)).status_code for _ in range(3)]
        right = {"login": "SeoYeon@example.kr", "password": "linen-shirt-2026"}

        locked = await client.post("/v1/auth/login", json=right)
        other = await client.post("/v1/auth/login", json={"login": "other@example.kr", "password": "x" * 12})

    assert failures == [401, 401, 401]
    assert locked.status_code == 429
    assert locked.json()["type"].endswith("/login-locked")
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    assert other.status_code == 401  # other logins are not affected


async def test_a_successful_login_clears_the_failure_count(services: Services) -> None:
    app = _app(services, login_failures_before_lockout="3", login_per_ip_per_minute="100")
    async with ShoaClient(app=app) as client:
        await client.post("/v1/auth/signup", json={"email": "seoyeon@example.kr", "password": "linen-shirt-2026"})
        wrong = {"login": "seoyeon@example.kr", "password": "not-my-password"}
        right = {"login": "seoyeon@example.kr", "password": "linen-shirt-2026"}
        statuses = []
        for attempt in (wrong, wrong, right, wrong, wrong, right):
            statuses.append((await client.post("/v1/auth/login", json=attempt)).status_code)

    assert statuses == [401, 401, 200, 401, 401, 200]
