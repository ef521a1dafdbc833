"""The embedded services and `shoa dev`: data survives restarts, nothing outlives its parent."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest

from catalog.demo import DEMO_MALLS
from shoa_api.dev import DEMO_KEY_NAME, DataFolder
from shoa_api.runtime import EmbeddedPostgres, EmbeddedRedis, EmbeddedServiceError, die_with_parent

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def _processes_mentioning(path: Path) -> list[str]:
    """Command lines of live processes that mention ``path`` (their data or socket directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (entry / "status").read_text()
            if str(path) in cmdline and "State:\tZ" not in status:
                found.append(cmdline.strip())
    return found


def _wait_until_gone(path: Path, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := _processes_mentioning(path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_postgres_keeps_its_data_between_runs(tmp_path: Path) -> None:
    data = tmp_path / "postgres"

    async def write() -> None:
        connection = await asyncpg.connect(host=str(server.socket_dir), user="postgres", database="shoa")
        await connection.execute("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('린넨셔츠')")
        await connection.close()

    async def read() -> Any:
        connection = await asyncpg.connect(host=str(server.socket_dir), user="postgres", database="shoa")
        try:
            return await connection.fetchval("SELECT note FROM kept")
        finally:
            await connection.close()

    with EmbeddedPostgres(data) as server:
        asyncio.run(write())
    with EmbeddedPostgres(data) as server:
        assert asyncio.run(read()) == "린넨셔츠"
    assert _wait_until_gone(data) == []


def test_postgres_killed_outright_starts_again_on_its_data(tmp_path: Path) -> None:
    """A crash leaves postmaster.pid saying "ready": the next start must wait for its own server, not trust it."""
    data = tmp_path / "postgres"

    async def count(server: EmbeddedPostgres, statement: str) -> Any:
        connection = await asyncpg.connect(host=str(server.socket_dir), user="postgres", database="shoa")
        try:
            return await connection.fetchval(statement)
        finally:
            await connection.close()

    crashed = EmbeddedPostgres(data).start()
    asyncio.run(count(crashed, "CREATE TABLE kept AS SELECT 1 AS n"))
    assert crashed._process is not None
    os.killpg(crashed._process.pid, signal.SIGKILL)
    crashed._process.wait()
    assert _wait_until_gone(data) == []
    assert "ready" in (data / "postmaster.pid").read_text()  # stale, as a crash leaves it

    with EmbeddedPostgres(data) as server:
        assert asyncio.run(count(server, "SELECT count(*) FROM kept")) == 1
    assert _wait_until_gone(data) == []


def test_redis_keeps_its_data_between_runs(tmp_path: Path) -> None:
    import redis  # noqa: PLC0415 - the sync client, for a sync test

    data = tmp_path / "redis"
    with EmbeddedRedis(data) as server:
        redis.Redis.from_url(server.url).set("likes:42", "7")
    with EmbeddedRedis(data) as server:
        assert redis.Redis.from_url(server.url).get("likes:42") == b"7"


def test_a_second_postgres_on_the_same_data_is_refused_clearly(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path / "postgres", durable=False), pytest.raises(EmbeddedServiceError) as error:
        EmbeddedPostgres(tmp_path / "postgres", durable=False).start()

    assert "in use by process" in str(error.value)


def test_a_second_redis_on_the_same_data_is_refused_clearly(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "redis", durable=False), pytest.raises(EmbeddedServiceError) as error:
        EmbeddedRedis(tmp_path / "redis", durable=False).start()

    assert "already answers" in str(error.value)


def test_a_very_long_data_path_still_gets_a_short_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("very-long-directory-name-" * 5) / "postgres"
    deep.parent.mkdir(parents=True)

    with EmbeddedPostgres(deep, durable=False) as server:
        assert len(str(server.socket_dir)) < 90

    assert _wait_until_gone(deep) == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _without_shoa_variables() -> dict[str, str]:
    """The environment of a newcomer's shell: nothing Shoa-specific set by hand."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SHOA_")}


class DevProcess:
    def __init__(self, workdir: Path, log_name: str) -> None:
        self.workdir = workdir
        self.port = _free_port()
        environment = _without_shoa_variables()
        self.log_path = workdir / log_name
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "shoa_api", "dev", "--port", str(self.port), "--demo-products", "300"],
            cwd=workdir,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(signal.SIGTERM),  # noqa: PLW1509 - if pytest dies, so does shoa dev
        )
        self.base_url = f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """What this `shoa dev` printed so far, its logs and its banner."""
        return self.log_path.read_text()

    def wait_until_serving(self, timeout: float = 90.0) -> None:
        """Until the API answers ready and the banner, printed once it accepts connections, is out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            with contextlib.suppress(httpx.HTTPError):
                ready = httpx.get(f"{self.base_url}/health/ready", timeout=2).status_code == 200
                if ready and "Shoa is ready." in self.output():
                    return
            time.sleep(0.2)
        pytest.fail(f"shoa dev did not serve within {timeout}s: {self.output()}")

    def mall_ids(self) -> list[str]:
        body = httpx.get(f"{self.base_url}/v1/malls", params={"limit": 100}, timeout=5).json()
        return [mall["id"] for mall in body["items"]]

    def stop(self, sig: signal.Signals) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(60)
        self.log.close()
        return code


@pytest.fixture
def start_dev(tmp_path: Path) -> Iterator[Callable[[], DevProcess]]:
    """Starts `shoa dev` in a fresh directory; whatever a failing test left running is killed afterwards."""
    started: list[DevProcess] = []

    def start() -> DevProcess:
        started.append(DevProcess(tmp_path, f"dev-{len(started) + 1}.log"))
        return started[-1]

    yield start
    for dev in started:
        if dev.process.poll() is None:
            dev.stop(signal.SIGKILL)  # its servers and worker follow it (parent-death signal)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def _partner_key_in(text: str) -> str | None:
    found = re.search(r"shoa_pk_[A-Za-z0-9_-]{43}", text)
    return found.group() if found else None


def _partner_me(dev: DevProcess, key: str) -> httpx.Response:
    return httpx.get(f"{dev.base_url}/partner/v1/me", headers={"Authorization": f"Bearer {key}"}, timeout=5)


def _shoa(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A `shoa` command typed in ``workdir`` by a newcomer: no SHOA_* variables, no options pointing anywhere."""
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "shoa_api", *args],
        cwd=workdir,
        env=_without_shoa_variables(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_shoa_dev_shows_its_progress_then_a_banner_with_a_working_partner_key_printed_only_once(
    workdir: Path, start_dev: Callable[[], DevProcess]
) -> None:
    dev = start_dev()
    dev.wait_until_serving()
    first_start = dev.output()
    first = dev.mall_ids()

    assert "Warning" not in first_start  # Authlib's deprecation warning, before all, is not what a newcomer reads
    assert first_start.index("Database migrated") < first_start.index("300/300 products") < first_start.index("ready")
    assert f"API          {dev.base_url}" in first_start
    assert f"API docs     {dev.base_url}/schema" in first_start
    assert f"Messages     {dev.base_url}/dev/messages" in first_start
    sandbox = httpx.get(f"{dev.base_url}/dev/messages", timeout=5)  # served in development only
    assert sandbox.json() == {"items": [], "next_cursor": None}, sandbox.text
    data = DataFolder(workdir / ".shoa")  # sockets beside the data, or in /tmp when that path is too long
    assert f"bin/psql -h {data.postgres.socket_dir} -U postgres shoa" in first_start
    assert f"bin/redis-cli -s {data.redis.socket_path}" in first_start
    key = _partner_key_in(first_start)
    assert key is not None
    me = _partner_me(dev, key)
    assert me.status_code == 200, me.text
    assert me.json()["mall_slug"] == DEMO_MALLS[0].slug
    assert sorted(me.json()["scopes"]) == ["catalog:write", "insights:read", "orders:read", "orders:write"]
    assert dev.stop(signal.SIGTERM) == 0
    assert _wait_until_gone(workdir) == []

    again = start_dev()
    again.wait_until_serving()
    second_start = again.output()
    second = again.mall_ids()
    still = _partner_me(again, key).status_code
    assert again.stop(signal.SIGINT) in (0, 130)

    assert "Database already at the newest migration" in second_start
    assert "Demo catalog: kept what is there (300 products)" in second_start
    assert _partner_key_in(second_start) is None  # stored hashed: it cannot be shown again
    assert f"malls keys create --mall {DEMO_MALLS[0].slug}" in second_start
    assert still == 200
    assert len(first) == len(DEMO_MALLS)
    assert second == first
    assert _wait_until_gone(workdir) == []


def test_the_cli_finds_the_database_of_shoa_dev_running_or_stopped_without_any_variables(
    workdir: Path, start_dev: Callable[[], DevProcess]
) -> None:
    dev = start_dev()
    dev.wait_until_serving()

    created = _shoa(workdir, "malls", "create", "--slug", "first-mall", "--name", "첫상점")
    issued = _shoa(
        workdir, "malls", "keys", "create", "--mall", "first-mall", "--name", "sync", "--scope", "catalog:write"
    )
    assert created.returncode == 0, created.stderr
    assert issued.returncode == 0, issued.stderr
    key = _partner_key_in(issued.stdout)
    assert key is not None
    assert _partner_me(dev, key).json()["mall_slug"] == "first-mall"  # the running API sees what the CLI wrote
    assert dev.stop(signal.SIGINT) in (0, 130)
    assert _wait_until_gone(workdir) == []

    listed = _shoa(workdir, "malls", "keys", "list", "--mall", DEMO_MALLS[0].slug)

    assert listed.returncode == 0, listed.stderr
    assert repr(DEMO_KEY_NAME) in listed.stdout
    assert "its PostgreSQL runs for this command only" in listed.stderr
    assert _wait_until_gone(workdir) == []  # and stops with the command


def _children(pid: int) -> dict[int, str]:
    """Direct children of ``pid``, with their command names."""
    found = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
            if int(fields[1]) == pid:
                found[int(entry.name)] = name
    return found


def _alive(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    return False


def test_shoa_dev_killed_outright_leaves_no_orphans(workdir: Path, start_dev: Callable[[], DevProcess]) -> None:
    dev = start_dev()
    dev.wait_until_serving()
    children = _children(dev.process.pid)
    names = sorted(name.rstrip("0123456789.") for name in children.values())
    assert names == ["postgres", "python", "redis-server"]  # the worker is the python one

    dev.stop(signal.SIGKILL)

    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert {pid: name for pid, name in children.items() if _alive(pid)} == {}
    assert _wait_until_gone(workdir) == []
