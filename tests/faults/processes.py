"""Real ``shoa serve`` and ``shoa worker`` processes for the restart tests, and what they share: a poll with a
deadline and the test of a documented "try again" answer.

Each process is started with the environment the test gives (``Services.environ`` and its own servers), writes its
log beside the test's files, and is stopped (SIGTERM, then SIGKILL) when its ``running_*`` block ends, whatever
happened in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import httpx

from shoa_api.settings import child_environment
from tests.notify.counting_server import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
    from pathlib import Path

STARTED_WITHIN_SECONDS = 60.0


async def until(condition: Callable[[], Awaitable[bool]], what: str, *, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def unavailable(response: httpx.Response) -> bool:
    """The documented answer of a request whose backing service is down: a 503 problem with ``Retry-After``."""
    return (
        response.status_code == 503
        and response.headers.get("retry-after", "").isdigit()
        and response.headers.get("content-type", "").startswith("application/problem+json")
        and response.json()["type"].endswith("/service-unavailable")
    )


def _spawn(command: str, environment: Mapping[str, str], log: Path, *arguments: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "shoa_api", command, *arguments],
            env=child_environment(environment),
            cwd=log.parent,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)


class ApiProcess:
    """``shoa serve`` as deployed, one server process on a free local port."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    def client(self, *, connections: int = 100) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url,
            timeout=httpx.Timeout(60, connect=10),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    def alive(self) -> bool:
        return self.process.poll() is None


@contextlib.asynccontextmanager
async def running_api(environment: Mapping[str, str], log: Path) -> AsyncIterator[ApiProcess]:
    port = free_port()
    process = _spawn("serve", environment, log, "--host", "127.0.0.1", "--port", str(port))
    api = ApiProcess(process, f"http://127.0.0.1:{port}", log)
    try:
        async with httpx.AsyncClient(base_url=api.url, timeout=2) as probe:

            async def answering() -> bool:
                if not api.alive():
                    msg = f"the API exited while starting: {await asyncio.to_thread(log.read_text)}"
                    raise AssertionError(msg)
                with contextlib.suppress(httpx.TransportError):
                    return (await probe.get("/health/live")).status_code == 200
                return False

            await until(answering, "the API answering", within=STARTED_WITHIN_SECONDS)
        yield api
    finally:
        await _stop(process)


@contextlib.asynccontextmanager
async def running_worker(environment: Mapping[str, str], log: Path) -> AsyncIterator[subprocess.Popen[bytes]]:
    process = _spawn("worker", environment, log)
    try:
        yield process
    finally:
        await _stop(process)
