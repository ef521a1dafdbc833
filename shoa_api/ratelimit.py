"""Rate limits in Redis: fixed windows counted atomically, shared by every API process.

Litestar's ``Store`` interface has no atomic increment: counting through it (get, add one, set) loses hits
when requests race, which is exactly when limits matter. So the counters use Redis directly, and one round
trip per request (SET NX EX + INCR in a pipeline).
"""

from __future__ import annotations

import asyncio
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

    async def hit(self, limit: Limit, identifier: str, *, amount: int = 1) -> int | None:
        """Count ``amount`` hits; the seconds to wait when they go over the limit, else None."""
        now = time.time()
        window = int(now // limit.window_seconds)
        key = f"{KEY_PREFIX}{limit.name}:{identifier}:{window}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(key, 0, ex=limit.window_seconds + 1, nx=True)
            pipe.incrby(key, amount)
            _, count = await pipe.execute()
        if int(count) <= limit.limit:
            return None
        return max(1, math.ceil((window + 1) * limit.window_seconds - now))


class BufferedLimiter:
    """A limit counted in this process and added to Redis in batches, for the busiest, least sensitive traffic.

    Anonymous reads come by the thousand per second; a Redis round trip for each halved what one process could
    serve. Here a hit is a dict update; every ``flush_seconds`` the counts since the last flush are added to
    the shared Redis counters, and an address whose shared total is over the limit is refused locally until the
    window ends. Across N processes an address can overshoot by what N processes see in one flush interval.
    """

    def __init__(self, limit: Limit, *, flush_seconds: float = 0.25) -> None:
        self.limit = limit
        self.flush_seconds = flush_seconds
        self._pending: dict[tuple[int, str], int] = {}
        self._shared: dict[tuple[int, str], int] = {}
        """Redis's total at the last flush, which already includes what this process had sent."""
        self._blocked_until: dict[str, float] = {}

    def hit(self, identifier: str, now: float) -> int | None:
        blocked = self._blocked_until.get(identifier)
        if blocked is not None:
            if blocked > now:
                return max(1, math.ceil(blocked - now))
            del self._blocked_until[identifier]
        key = (int(now // self.limit.window_seconds), identifier)
        pending = self._pending[key] = self._pending.get(key, 0) + 1
        if self._shared.get(key, 0) + pending <= self.limit.limit:
            return None
        return self._block(identifier, key[0], now)

    async def flush(self, redis: Redis, now: float) -> None:
        pending, self._pending = self._pending, {}
        if pending:
            async with redis.pipeline(transaction=False) as pipe:
                for (window, identifier), hits in pending.items():
                    name = f"{KEY_PREFIX}{self.limit.name}:{identifier}:{window}"
                    pipe.incrby(name, hits)
                    pipe.expire(name, self.limit.window_seconds + 1)
                results = await pipe.execute()
            for (key, _), total in zip(pending.items(), results[::2], strict=True):
                self._shared[key] = int(total)
                if int(total) > self.limit.limit:
                    self._block(key[1], key[0], now)
        current = int(now // self.limit.window_seconds)
        self._shared = {key: total for key, total in self._shared.items() if key[0] >= current}

    async def run(self, redis: Redis) -> None:
        """Flush forever (until cancelled); a Redis outage only delays the counts."""
        while True:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush(redis, time.time())
            except RedisError:
                logger.warning("rate limits unavailable (Redis): %s counts kept for the next flush", self.limit.name)

    def _block(self, identifier: str, window: int, now: float) -> int:
        until = (window + 1) * self.limit.window_seconds
        self._blocked_until[identifier] = until
        return max(1, math.ceil(until - now))


def anonymous_read_limiter(settings: RateLimitSettings) -> BufferedLimiter:
    return BufferedLimiter(Limit("anonymous-ip", settings.anonymous_per_ip_per_minute, 60))


def fingerprint(value: str) -> str:
    """A stable identifier for a credential or a login name that keeps the value itself out of Redis."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class RateLimitMiddleware:
    """Per-IP limits on login, signup and anonymous reads; per-key limits on the partner API.

    A Redis outage lets requests through (logged): losing rate limits for a while is better than losing
    the shop.
    """

    def __init__(self, app: ASGIApp, settings: RateLimitSettings, *, anonymous: BufferedLimiter) -> None:
        self.app = app
        self.enabled = settings.enabled
        self.login = Limit("login-ip", settings.login_per_ip_per_minute, 60)
        self.signup = Limit("signup-ip", settings.signup_per_ip_per_hour, 3600)
        self.partner = Limit("partner-key", settings.partner_per_key_per_minute, 60)
        self.anonymous = anonymous

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rule = self._rule(scope) if self.enabled and scope["type"] == ScopeType.HTTP else None
        if isinstance(rule, str):
            retry_after = self.anonymous.hit(rule, time.time())
            if retry_after is not None:
                await _too_many_requests(scope, send, retry_after=retry_after, limit=self.anonymous.limit)
                return
        elif rule is not None:
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

    def _rule(self, scope: Any) -> tuple[Limit, str] | str | None:
        """The exact limit and identifier for this request, an address for the buffered anonymous limit, or None."""
        path: str = scope["path"]
        method: str = scope["method"]
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        if method == "POST" and path == "/v1/auth/login":
            return self.login, ip
        if method == "POST" and path == "/v1/auth/signup":
            return self.signup, ip
        if not path.startswith(("/v1/", "/partner/")):
            return None  # probes, metrics and docs: nothing to count, no headers to read
        authorization = _header(scope, b"authorization")
        if path.startswith("/partner/"):
            # Unknown and bad keys are counted too: that is what slows down someone guessing keys.
            return self.partner, fingerprint(authorization) if authorization else f"ip:{ip}"
        if method in ("GET", "HEAD") and authorization is None and path.startswith("/v1/"):
            return ip
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


class LoginLockout:
    """Wrong passwords in a row for one login name lock it for a while, whatever address they come from.

    Keyed by a fingerprint of the normalised login name, not by account, so names without an account behave
    the same (nothing to learn about who has one).
    """

    def __init__(self, redis: Redis, settings: RateLimitSettings) -> None:
        self.redis = redis
        self.enabled = settings.enabled
        self.failures_allowed = settings.login_failures_before_lockout
        self.lockout_seconds = settings.lockout_minutes * 60

    async def seconds_locked(self, login_name: str) -> int | None:
        if not self.enabled:
            return None
        ttl = await self.redis.ttl(self._key("locked", login_name))
        return int(ttl) if ttl and ttl > 0 else None

    async def record_failure(self, login_name: str) -> None:
        if not self.enabled:
            return
        failures_key = self._key("failures", login_name)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(failures_key)
            pipe.expire(failures_key, self.lockout_seconds)
            failures, _ = await pipe.execute()
        if int(failures) >= self.failures_allowed:
            await self.redis.set(self._key("locked", login_name), 1, ex=self.lockout_seconds)
            await self.redis.delete(failures_key)

    async def record_success(self, login_name: str) -> None:
        if self.enabled:
            await self.redis.delete(self._key("failures", login_name))

    def _key(self, kind: str, login_name: str) -> str:
        normalised = login_name.strip().lower().replace(" ", "").replace("-", "")
        return f"{KEY_PREFIX}login-{kind}:{fingerprint(normalised)}"
