"""A process-local mirror of a few Redis keys, kept true by Redis's own invalidation messages.

Some keys are read on nearly every request and written rarely: whether an access token was revoked, a
shopper's taste version, a segment's current candidate list. Reading them from Redis each time costs a round
trip apiece; reading them from a copy that might be stale would let a logged-out token through. The mirror uses
Redis's server-assisted client-side caching (``CLIENT TRACKING … BCAST PREFIX``, Redis 6+): Redis tells us about
every change to a key under the tracked prefixes (a write, a delete, an expiry, an eviction, a flush), made by
any client of any process, and the mirror forgets that key before it could be read again.

Two connections do it, as RESP2 requires: one subscribed to ``__redis__:invalidate``, and one that turned
tracking on and redirects its messages there; both are watched. Whenever they are not both up and proven, the
mirror keeps nothing and every read goes to Redis, so a broken connection costs speed, never correctness. A
value read while an invalidation for its key arrives is not kept. Entries also lapse after ``max_age`` seconds.

What changes in this process is forgotten at once by the writer (``forget``), so a request sees its own
process's writes without waiting for the message; another process's writes show when the message arrives,
normally well under a millisecond after the write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.connection import AbstractConnection

logger = logging.getLogger(__name__)

INVALIDATION_CHANNEL = "__redis__:invalidate"


class RedisMirror:
    def __init__(
        self,
        redis: Redis,
        prefixes: tuple[str, ...],
        *,
        max_entries: int = 100_000,
        max_age: float = 30.0,
        check_every: float = 5.0,
    ) -> None:
        self.redis = redis
        self.prefixes = prefixes
        self.max_entries = max_entries
        self.max_age = max_age
        self.check_every = check_every
        self._entries: dict[str, tuple[float, bytes | None]] = {}
        self._reading: dict[str, bool] = {}
        """Keys being read from Redis now, and whether an invalidation for them arrived meanwhile."""
        self._live = self._went_live = False
        self.live_since: asyncio.Event = asyncio.Event()
        """Set while the mirror keeps values (for tests and readiness)."""

    @property
    def live(self) -> bool:
        return self._live

    async def get(self, key: str) -> bytes | None:
        """The value of ``key`` (``None`` when it does not exist), from the mirror when it is known and current."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        if not self._live or not key.startswith(self.prefixes):
            return await self._read(key)
        # A read of the same key already in flight keeps its flag: resetting it could hide an invalidation from
        # that read. The first read to finish takes the flag; any other one finds none and keeps nothing.
        self._reading.setdefault(key, False)
        try:
            value = await self._read(key)
        finally:
            invalidated = self._reading.pop(key, True)
        if self._live and not invalidated:
            self._keep(key, value)
        return value

    async def _read(self, key: str) -> bytes | None:
        value = await self.redis.get(key)
        return value.encode() if isinstance(value, str) else value

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    def forget(self, key: str) -> None:
        """The writer's own invalidation: this process read its write next, without waiting for the message."""
        self._entries.pop(key, None)
        if key in self._reading:
            self._reading[key] = True

    def _keep(self, key: str, value: bytes | None) -> None:
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (time.monotonic() + self.max_age, value)

    def _forget_everything(self) -> None:
        self._live = False
        self.live_since.clear()
        self._entries.clear()
        for key in self._reading:
            self._reading[key] = True

    # --- The invalidation stream ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Keep the two connections up for as long as the app runs; reconnect after any failure, waiting longer
        each time it fails before going live (a Redis that refuses ``CLIENT TRACKING`` is retried once a minute)."""
        pause = 1.0
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                self._forget_everything()
                raise
            except (RedisError, OSError, ValueError) as error:
                logger.warning("Redis mirror interrupted (%s); reading through until it is back", error)
            pause = 1.0 if self._went_live else min(pause * 2, 60.0)
            self._went_live = False
            self._forget_everything()
            _stop_if_cancelled()
            await asyncio.sleep(pause)

    async def _follow(self) -> None:
        pool = self.redis.connection_pool
        # RESP2 on both, whatever the app's client speaks: invalidations then arrive as plain pub/sub messages
        # (under RESP3 redis-py would hand them to a client-side-cache hook instead of returning them).
        options = pool.connection_kwargs | {"protocol": 2}
        listener: AbstractConnection = pool.connection_class(**options)
        tracker: AbstractConnection = pool.connection_class(**options)
        try:
            await listener.connect()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            await tracker.connect()  # type: ignore[no-untyped-call]
            listener_id = await _command(listener, "CLIENT", "ID")
            await listener.send_command("SUBSCRIBE", INVALIDATION_CHANNEL)
            # Subscription replies and messages are what redis-py calls push responses.
            await listener.read_response(push_request=True)
            prefixes = [part for prefix in self.prefixes for part in ("PREFIX", prefix)]
            await _command(tracker, "CLIENT", "TRACKING", "ON", "REDIRECT", listener_id, "BCAST", *prefixes)
            self._live = self._went_live = True
            self.live_since.set()
            while True:
                # None: nothing for ``check_every`` seconds (and then, is tracking still on?).
                _stop_if_cancelled()
                message = await listener.read_response(timeout=self.check_every, push_request=True)
                if message is None:
                    await self._check(tracker, listener_id)
                else:
                    self._invalidated(message)
        finally:
            self._forget_everything()
            for connection in (listener, tracker):
                with contextlib.suppress(Exception):
                    await connection.disconnect()

    async def _check(self, tracker: AbstractConnection, listener_id: Any) -> None:
        """Both connections still do their part: the tracker still redirects to the listener (a closed
        listener would leave it redirecting nowhere, silently in RESP2)."""
        info = await _command(tracker, "CLIENT", "TRACKINGINFO")
        # A map; RESP2 sends it as a flat list of names and values.
        fields = info if isinstance(info, dict) else dict(zip(info[::2], info[1::2], strict=True))
        fields = {_text(name): value for name, value in fields.items()}
        flags = {_text(flag) for flag in fields.get("flags", [])}
        if "on" not in flags or "broken_redirect" in flags or fields.get("redirect") != listener_id:
            msg = f"tracking is no longer redirected to the listener ({sorted(flags)})"
            raise ValueError(msg)

    def _invalidated(self, message: Any) -> None:
        if not isinstance(message, list) or len(message) != 3 or _text(message[0]) != "message":
            return  # a subscription confirmation, or a pong
        keys = message[2]
        if keys is None:  # FLUSHDB, FLUSHALL
            self._entries.clear()
            for key in self._reading:
                self._reading[key] = True
            return
        for raw in keys:
            self.forget(_text(raw))


def _stop_if_cancelled() -> None:
    """redis-py may swallow a cancellation that lands while it closes a connection; the task must still end."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _command(connection: AbstractConnection, *args: Any) -> Any:
    await connection.send_command(*args)
    return await connection.read_response()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
