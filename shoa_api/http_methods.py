"""HEAD and OPTIONS as HTTP defines them (RFC 9110 §9.3.2, §9.3.7), for every route.

Litestar answers HEAD on a GET route with 405, and its generated OPTIONS answer can list the methods of an
earlier, partial view of a route (``/v1/me`` said ``DELETE, OPTIONS``). One raw ASGI wrapper fixes both: a
HEAD is handled as the GET it mirrors with the body left out, and an OPTIONS answer's ``Allow`` is rewritten
from the routes the app really has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send


def allowed_methods(app: Litestar) -> dict[str, bytes]:
    """Each route's path template and its ``Allow`` value, HEAD included wherever GET is."""
    allowed: dict[str, bytes] = {}
    for route in app.routes:
        methods = set(route.methods)
        if "GET" in methods:
            methods.add("HEAD")
        allowed[route.path_format] = ", ".join(sorted(methods)).encode()
    return allowed


class MethodSemantics:
    def __init__(self, app: ASGIApp, allowed: dict[str, bytes]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method")
        if method == "HEAD":
            await self._head(cast("HTTPScope", scope), receive, send)
        elif method == "OPTIONS":
            await self._options(cast("HTTPScope", scope), receive, send)
        else:
            await self.app(scope, receive, send)

    async def _head(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        # A copy: the server reads the method from its own scope to know that no body may follow.
        as_get = cast("HTTPScope", {**scope, "method": "GET"})
        ended = False

        async def send_headers_only(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.start":
                cast("dict[str, Any]", scope)["path_template"] = as_get.get("path_template")
                await send(message)
            elif message["type"] == "http.response.body" and not ended and not message.get("more_body", False):
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif message["type"] != "http.response.body":
                await send(message)

        await self.app(as_get, receive, send_headers_only)

    async def _options(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        async def send_true_allow(message: Message) -> None:
            if message["type"] == "http.response.start":
                allow = self.allowed.get(str(scope.get("path_template") or ""))
                if allow is not None:
                    headers = [(name, value) for name, value in message.get("headers", ()) if name.lower() != b"allow"]
                    message["headers"] = [*headers, (b"allow", allow)]
            await send(message)

        await self.app(scope, receive, send_true_allow)
