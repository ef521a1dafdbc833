"""An HTTP client for the app that runs the app's lifespan in the test's own event loop.

Litestar's ``AsyncTestClient`` runs the lifespan in a portal thread with its own loop while requests run in
the test's loop, and its exit blocks the test's loop until the lifespan has shut down. Clients made at start-up
(Redis, httpx, the database pool) then hold connections of the other loop, and closing them can wait forever.
Here startup, requests and shutdown share one loop, as they do under uvicorn.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Self

import httpx

if TYPE_CHECKING:
    from types import TracebackType

    from litestar import Litestar

LIFESPAN_TIMEOUT = 30.0


class ShoaClient(httpx.AsyncClient):
    def __init__(self, app: Litestar, base_url: str = "http://shoa.test") -> None:
        super().__init__(
            transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 50123)),  # type: ignore[arg-type]
            base_url=base_url,
            follow_redirects=True,
            headers={"user-agent": "shoa-tests"},
        )
        self.app = app
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._lifespan: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self._lifespan = asyncio.create_task(self.app(scope, self._to_app.get, self._from_app.put))  # type: ignore[arg-type]
        await self._to_app.put({"type": "lifespan.startup"})
        await self._expect("lifespan.startup.complete")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        try:
            await self._to_app.put({"type": "lifespan.shutdown"})
            await self._expect("lifespan.shutdown.complete")
            if self._lifespan is not None:
                await asyncio.wait_for(self._lifespan, LIFESPAN_TIMEOUT)
        finally:
            await super().__aexit__(exc_type, exc, tb)

    async def _expect(self, message_type: str) -> None:
        message = await asyncio.wait_for(self._from_app.get(), LIFESPAN_TIMEOUT)
        if message["type"] != message_type:
            msg = f"the app's lifespan answered {message} instead of {message_type}"
            raise RuntimeError(msg)
