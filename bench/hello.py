"""The bare baseline: the least a Litestar app can do, served exactly like Shoa."""

from __future__ import annotations

from litestar import Litestar, get


@get("/")
async def status() -> dict[str, str]:
    return {"status": "ok"}


def create_hello_app() -> Litestar:
    return Litestar(route_handlers=[status], logging_config=None)
