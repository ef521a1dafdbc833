"""Rate limits in Redis: fixed windows counted atomically, shared by every API process.

Litestar's ``Store`` interface has no atomic increment: counting through it (get, add one, set) loses hits
when requests race, which is exactly when limits matter. So the counters use Redis directly, and one round
trip per request (SET NX EX + INCR in a pipeline).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.enums import ScopeType
from redis.exceptions import RedisError

from shoa_api.observability import request_id

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send
    from redis.asyncio import Redis

    from shoa_api.settings import RateLimitSettings

logger = logging.getLogger(__name__)

KEY_PREFIX = "shoa:rl:"


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window_seconds: int


class RateLimiter:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def hit(self, limit: Limit, identifier: str) -> int | None:
        """Count one hit; the seconds to wait when this one is over the limit, else None."""
        now = time.time()
        window = int(now // limit.window_seconds)
        key = f"{KEY_PREFIX}{limit.name}:{identifier}:{window}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(key, 0, ex=limit.window_seconds + 1, nx=True)
            pipe.incr(key)
            _, count = await pipe.execute()
        if int(count) <= limit.limit:
            return None
        return max(1, math.ceil((window + 1) * limit.window_seconds - now))

    async def count(self, limit: Limit, identifier: str) -> int:
        window = int(time.time() // limit.window_seconds)
        value = await self.redis.get(f"{KEY_PREFIX}{limit.name}:{identifier}:{window}")
        return int(value or 0)


def fingerprint(value: str) -> str:
    """A stable identifier for a credential or a login name that keeps the value itself out of Redis."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class RateLimitMiddleware:
    """Per-IP limits on login, signup and anonymous reads; per-key limits on the partner API.

    A Redis outage lets requests through (logged): losing rate limits for a while is better than losing
    the shop.
    """

    def __init__(self, app: ASGIApp, settings: RateLimitSettings) -> None:
        self.app = app
        self.enabled = settings.enabled
        self.login = Limit("login-ip", settings.login_per_ip_per_minute, 60)
        self.signup = Limit("signup-ip", settings.signup_per_ip_per_hour, 3600)
        self.partner = Limit("partner-key", settings.partner_per_key_per_minute, 60)
        self.anonymous = Limit("anonymous-ip", settings.anonymous_per_ip_per_minute, 60)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = self._rule(scope) if self.enabled and scope["type"] == ScopeType.HTTP else None
        if rule is not None:
            limit, identifier = rule
            limiter = RateLimiter(scope["app"].state.redis)
            try:
                retry_after = await limiter.hit(limit, identifier)
            except RedisError:
                logger.warning("rate limits unavailable (Redis): letting %s through", limit.name)
                retry_after = None
            if retry_after is not None:
                await _too_many_requests(scope, send, retry_after=retry_after, limit=limit)
                return
        await self.app(scope, receive, send)

    def _rule(self, scope: Any) -> tuple[Limit, str] | None:
        path: str = scope["path"]
        method: str = scope["method"]
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        if method == "POST" and path == "/v1/auth/login":
            return self.login, ip
        if method == "POST" and path == "/v1/auth/signup":
            return self.signup, ip
        authorization = _header(scope, b"authorization")
        if path.startswith("/partner/"):
            # Unknown and bad keys are counted too: that is what slows down someone guessing keys.
            return self.partner, fingerprint(authorization) if authorization else f"ip:{ip}"
        if method in ("GET", "HEAD") and authorization is None and path.startswith("/v1/"):
            return self.anonymous, ip
        return None


def _header(scope: Any, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _too_many_requests(scope: Scope, send: Send, *, retry_after: int, limit: Limit) -> None:
    body = msgspec.json.encode(
        {
            "type": "https://api.shoa.kr/problems/rate-limited",
            "title": "Too Many Requests",
            "status": 429,
            "detail": f"too many requests ({limit.limit} per {limit.window_seconds} s); retry after {retry_after} s",
            "instance": scope["path"],
            "request_id": request_id(),
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(retry_after).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
