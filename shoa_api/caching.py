"""Short-lived, per-process reuse of public catalog answers.

Shoppers open the same first pages over and over; answering them from memory for a few seconds spares the
database. The cache is bounded by construction: only first pages (no cursor) and single resources are stored,
keyed by the parameters the route understands, so junk query parameters or made-up cursors cannot grow it,
and the store itself holds at most a fixed number of answers.
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import msgspec
from litestar.config.response_cache import ResponseCacheConfig
from litestar.stores.base import Store
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import HTTPScope
    from redis.asyncio import Redis

    from shoa_api.mirror import RedisMirror

KEYED_PARAMETERS = ("cursor", "limit")
"""The parameters that shape a cached answer, unless the route lists its own in ``opt["cache_key_parameters"]``."""
PUBLIC_CACHE_STORE = "public_answers"
CATALOG_VERSION_KEY = "shoa:public:catalog-version"
"""Bumped after every committed partner change; mirrored by every API process (see ``PublicAnswerStore``)."""
_KEPT = frozenset({b"content-type", b"content-length", b"content-language", b"etag", b"last-modified", b"vary"})
"""Headers a stored answer keeps: what describes the answer, never what belongs to one exchange."""


def public_cache_key(request: Request[Any, Any, Any]) -> str:
    if authorization := request.headers.get("authorization"):
        # A credentialed request may get a personal answer: it never shares a key with anyone's (and is never
        # stored, see ``worth_storing``).
        query_string = request.scope["query_string"].decode("latin-1")
        return f"{request.url.path}?{query_string}#personal:{hashlib.sha256(authorization.encode()).hexdigest()}"
    if request.method != "GET":
        # Never the key of a stored answer (only GETs are stored), so no other method can read one back.
        return f"{request.method} {request.url.path}"
    query = request.query_params
    names: tuple[str, ...] = request.route_handler.opt.get("cache_key_parameters", KEYED_PARAMETERS)
    # Every value of a repeated parameter, in the order sent, each escaped: no two requests share a key unless
    # the handler sees the same parameters. A parameter not sent is its bare name, apart from one sent empty
    # (`?sort=` is refused, and must never be answered with the stored answer of `/v1/search`).
    parts: list[str] = []
    for name in names:
        values = query.getall(name, None)
        if values is None:
            parts.append(name)
        else:
            parts.extend(f"{name}={quote(value, safe='')}" for value in values)
    return request.url.path + "?" + "&".join(parts)


def public_cache_config(seconds: int) -> ResponseCacheConfig:
    def worth_storing(scope: HTTPScope, status_code: int) -> bool:
        # Only a whole, successful GET answer of a route that asked for caching: an OPTIONS, HEAD or error answer
        # reaching a cached path must never be replayed to the next GET.
        if seconds <= 0 or status_code != 200 or scope["method"] != "GET":
            return False
        if not getattr(scope["route_handler"], "cache", False):
            return False
        credentialed = any(name == b"authorization" for name, _ in scope["headers"])
        return b"cursor=" not in scope["query_string"] and not credentialed

    return ResponseCacheConfig(
        default_expiration=max(seconds, 1),
        key_builder=public_cache_key,
        cache_response_filter=worth_storing,
        store=PUBLIC_CACHE_STORE,
    )


class ProcessLocalStore(Store):
    """A dict with expiry times, for answers this process reuses.

    Litestar's ``MemoryStore`` takes an anyio lock around every read; on one event loop with no awaits
    inside, a plain dict is already atomic, and the lock was a measurable share of a cached answer's cost.
    """

    __slots__ = ("_entries", "max_entries")

    def __init__(self, max_entries: int = 20_000) -> None:
        self._entries: dict[str, tuple[bytes, float | None]] = {}
        self.max_entries = max_entries
        """Past this, expired answers are swept out, then the oldest ones: memory stays bounded."""

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        data = value.encode() if isinstance(value, str) else value
        if key not in self._entries and len(self._entries) >= self.max_entries:
            self._make_room()
        self._entries[key] = (data, _deadline(expires_in))

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        data, deadline = entry
        if deadline is not None and deadline <= time.monotonic():
            del self._entries[key]
            return None
        if renew_for is not None and deadline is not None:
            self._entries[key] = (data, _deadline(renew_for))
        return data

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    def _make_room(self) -> None:
        now = time.monotonic()
        self._entries = {k: v for k, v in self._entries.items() if v[1] is None or v[1] > now}
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]  # dicts keep insertion order: the oldest goes

    async def delete_all(self) -> None:
        self._entries.clear()

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] is None:
            return None
        return max(0, int(entry[1] - time.monotonic()))


def _deadline(expires_in: int | timedelta | None) -> float | None:
    if expires_in is None:
        return None
    seconds = expires_in.total_seconds() if isinstance(expires_in, timedelta) else expires_in
    return time.monotonic() + seconds


class PublicAnswerStore(ProcessLocalStore):
    """Cached answers, kept with only the headers that describe the answer itself, and dropped by every process
    as soon as a mall changes its catalog.

    Litestar stores the ASGI messages it sent; headers that belong to one exchange (the request id, rate-limit
    counts) would otherwise be replayed to every later caller. An answer without an expiry is not kept at all.

    Each answer is stored with the catalog version it was read under (:data:`CATALOG_VERSION_KEY`, mirrored
    from Redis). A partner change bumps the version once committed, so a product a mall hid or sold out is never
    served again from any process's cache. The version an answer is stored with is the one seen when its lookup
    missed, before the handler read the database: an answer read while a change was committing is stored under
    the older version and so never served.
    """

    __slots__ = ("_mirror", "_missed")

    def __init__(self, max_entries: int = 20_000) -> None:
        super().__init__(max_entries)
        self._mirror: RedisMirror | None = None
        self._missed: dict[str, bytes] = {}
        """The catalog version each pending lookup saw when it missed, until its answer is stored."""

    def follow(self, mirror: RedisMirror) -> None:
        self._mirror = mirror

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        try:
            version = await self._catalog_version()
        except RedisError:
            return None  # answered fresh, and not stored: no version to keep it under
        stored = await super().get(key, renew_for)
        if stored is not None:
            kept_version, _, answer = stored.partition(b"|")
            if kept_version == version:
                return answer
        if len(self._missed) >= self.max_entries:
            self._missed.clear()  # lookups whose answers never came (errors); storing them later is skipped
        self._missed.setdefault(key, version)
        return None

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        version = self._missed.pop(key, None)
        if expires_in is None or version is None:
            return
        messages = msgspec.msgpack.decode(value.encode() if isinstance(value, str) else value)
        for message in messages:
            if message.get("type") == "http.response.start":
                message["headers"] = [
                    (name, header) for name, header in message.get("headers", ()) if bytes(name).lower() in _KEPT
                ]
        await super().set(key, version + b"|" + msgspec.msgpack.encode(messages), expires_in)

    async def _catalog_version(self) -> bytes:
        if self._mirror is None:
            return b"-"
        return await self._mirror.get(CATALOG_VERSION_KEY) or b"0"


async def catalog_changed(redis: Redis, mirror: RedisMirror) -> None:
    """A mall's committed change: every process stops serving public answers read before it."""
    await redis.incr(CATALOG_VERSION_KEY)
    mirror.forget(CATALOG_VERSION_KEY)  # other processes hear of it from Redis
