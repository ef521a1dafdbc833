"""`shoa migrate`, `shoa serve` and `shoa malls`, as an operator runs them: configured by SHOA_* variables only,
each command asking for no more than it uses. (The CLI beside `shoa dev` is proven in test_runtime.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from shoa_api.settings import child_environment
from tests.migrations.test_migrations import _scratch_database

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

    from tests.conftest import Services


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_shoa_migrate_builds_an_empty_database(services: Services, tmp_path: Path) -> None:
    url = await _scratch_database(services.database_url, "shoa_cli_migrate")

    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "shoa_api", "migrate"],
        env=child_environment(services.environ(SHOA_DATABASE_URL=url)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(sa.text("SELECT count(*) FROM malls")) == 0
    finally:
        await engine.dispose()


def test_shoa_serve_answers_and_stops_on_sigterm(services: Services, tmp_path: Path) -> None:
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "shoa_api", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=child_environment(services.environ()),
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline, status = time.monotonic() + 60, None
        while time.monotonic() < deadline and status != 200:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            with contextlib.suppress(httpx.HTTPError):
                status = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code
            time.sleep(0.1)
        assert status == 200
        assert httpx.get(f"http://127.0.0.1:{port}/v1/malls", timeout=5).json() == {"items": [], "next_cursor": None}
        # Too long for the server's parser: refused before the app, still as problem details.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/v1/search?q=" + "%EB%A6%B0" * 30_000)
        too_long = connection.getresponse()
        assert too_long.status == 400
        assert too_long.getheader("content-type") == "application/problem+json"
        assert json.loads(too_long.read())["type"].endswith("/unreadable-request")

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
        log.close()
    lines = (tmp_path / "serve.log").read_text().splitlines()
    assert any('"message":"Shoa API starting: env=test, search engine=tantivy"' in line for line in lines)


def _shoa_with_only(variables: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A `shoa` command with no SHOA_* variables but ``variables``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SHOA_")} | variables
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "shoa_api", *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_shoa_malls_create_needs_only_the_database_url(
    services: Services, engine: AsyncEngine, tmp_path: Path
) -> None:
    only_the_database = {"SHOA_DATABASE_URL": services.database_url}  # no secret key, no Redis

    result = await asyncio.to_thread(
        _shoa_with_only, only_the_database, "malls", "create", "--slug", "first-mall", "--name", "첫상점", cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mall first-mall created: ")
    async with engine.connect() as connection:
        assert await connection.scalar(sa.text("SELECT name FROM malls WHERE slug = 'first-mall'")) == "첫상점"


def test_a_database_command_with_no_database_to_use_says_how_to_get_one(tmp_path: Path) -> None:
    result = _shoa_with_only({}, "malls", "keys", "list", "--mall", "haru-ilsang", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("shoa: configuration error: SHOA_DATABASE_URL is missing, and ")
    assert "start `make run` once in this folder" in result.stderr
    assert not (tmp_path / ".shoa").exists()
