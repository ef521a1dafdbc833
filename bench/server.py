"""An app under test: one uvicorn process, started the same way for every app so only the app differs."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self

import httpx

from bench.cpus import child_setup
from shoa_api.runtime import stop_process

if TYPE_CHECKING:
    from types import TracebackType

HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 60.0
SHUTDOWN_TIMEOUT_SECONDS = 15.0


class ServerError(RuntimeError):
    """The server did not come up; the message has the end of its log."""


class AppServer:
    """``uvicorn --factory FACTORY`` on a free local port, its output in ``log_path``."""

    def __init__(
        self,
        factory: str,
        *,
        environment: dict[str, str],
        log_path: Path,
        ready_path: str,
        cpus: frozenset[int] | None,
        cwd: Path,
    ) -> None:
        self.factory = factory
        self.environment = environment
        self.log_path = log_path
        self.ready_path = ready_path
        self.cpus = cpus
        self.cwd = cwd  # away from the work tree, whose .env the app would otherwise read
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        if self._process is None:
            msg = f"{self.factory} is not running"
            raise ServerError(msg)
        return self._process.pid

    def start(self) -> Self:
        command = [
            sys.executable, "-m", "uvicorn",
            "--factory", self.factory,
            "--host", HOST,
            "--port", str(self.port),
            "--workers", "1",  # one worker runs in uvicorn's own process: no supervisor between us and the app
            "--no-access-log",
            "--no-server-header",
            "--log-level", "warning",
        ]  # fmt: skip
        # A file, not a pipe: a pipe nobody reads fills up and stalls the server mid-run.
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                env=self.environment,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only us; we stop the server in order
                preexec_fn=child_setup(self.cpus, signal.SIGTERM),  # noqa: PLW1509 - pinning, parent-death signal
            )
        try:
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def peak_rss_mib(self) -> float:
        """The high-water mark of the server's resident memory so far (``VmHWM``)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                kib = int(line.split()[1])
                return kib / 1024
        msg = f"no VmHWM in /proc/{self.pid}/status"
        raise ServerError(msg)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, signal.SIGTERM, SHUTDOWN_TIMEOUT_SECONDS, name=self.factory)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _wait_until_answering(self) -> None:
        url = f"{self.base_url}{self.ready_path}"
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._process is None or self._process.poll() is not None:
                    msg = f"{self.factory} exited while starting: {self._log_tail()}"
                    raise ServerError(msg)
                try:
                    if client.get(url).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        msg = f"{self.factory} did not answer {url} within {STARTUP_TIMEOUT_SECONDS:.0f}s: {self._log_tail()}"
        raise ServerError(msg)

    def _log_tail(self, lines: int = 10) -> str:
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or f"(empty log at {self.log_path})"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port
