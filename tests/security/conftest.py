"""What the OWASP modules share: the order tests' two malls with their synced catalog and their shoppers, each
calling the real app (tests/orders/conftest.py says what they hold), and the route table the modules enumerate."""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING, Self

from litestar.routes import HTTPRoute

from tests.orders import conftest as orders

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.handlers import HTTPRouteHandler

malls = orders.malls
catalog = orders.catalog
shopper = orders.shopper
sign_up = orders.sign_up
messages = orders.messages


def route_table(app: Litestar) -> dict[tuple[str, str], tuple[HTTPRoute, HTTPRouteHandler]]:
    """Every (method, path) the app answers, HEAD and OPTIONS aside, with its route and handler."""
    return {
        (method, route.path_format): (route, handler)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        for method in handler.http_methods - {"HEAD", "OPTIONS"}
    }


class Listener:
    """A TCP port on 127.0.0.1 that counts who connects: proof that Shoa fetched nothing from an address a caller
    gave it (a token's key URL, an image, a redirect)."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.close()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()
