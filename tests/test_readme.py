"""The README starts with the two commands and tells a five-minute story that really works; the configuration
reference names every setting.

The story is run as written — bash, curl and the CLI — against a real `shoa serve` and `shoa worker` on the
test's database with the demo catalog, and every answer the README promises on the right (``# → …``) must be the
one printed.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from shoa_api.dev import DEV_SKILL_SECRET
from shoa_api.settings import settings_variables

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.conftest import Services

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
PROMISE = re.compile(r"\s+#\s+→\s+(?P<answer>.+)$")


def test_every_setting_is_documented_with_whether_it_is_required() -> None:
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in CONFIGURATION.splitlines()
        if line.startswith("| `SHOA_")
    }

    for name, _kind, required in settings_variables():
        assert name in rows, f"{name} is missing from docs/configuration.md's table"
        assert ("| yes |" in rows[name]) == required, f"{name}: docs/configuration.md says otherwise about required"


def test_the_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]

    assert first_block.lstrip().startswith("make run")
    assert "make test" in first_block


def test_every_link_of_the_readme_and_docs_leads_to_a_file() -> None:
    for document in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", document.read_text(encoding="utf-8")):
            if not target.startswith("http"):
                assert (document.parent / target).exists(), f"{document.relative_to(ROOT)} links to {target}"


def _story() -> str:
    after = README.split("## Five minutes with Shoa", 1)[1]
    return after.split("```sh", 1)[1].split("```", 1)[0]


def _checked(story: str, base: str) -> str:
    """The story as a bash script that stops at the first failure and at the first broken promise."""
    lines = [
        "set -euo pipefail",
        'curl() { command curl --fail-with-body --max-time 30 "$@"; }',  # an HTTP error stops the story
    ]
    for number, line in enumerate(story.strip().splitlines(), start=1):
        if line.startswith("BASE="):
            lines.append(f"BASE={base}")
            continue
        promise = PROMISE.search(line)
        if promise is None:
            lines.append(line)
            continue
        answer = promise.group("answer").strip()
        lines.append(f"got=$({line[: promise.start()]})")
        complaint = f"line {number} of the story: expected {answer}, got $got"
        lines.append(f'[ "$got" = {shlex.quote(answer)} ] || {{ echo "{complaint}" >&2; exit 1; }}')
        lines.append('echo "$got"')
    return "\n".join(lines) + "\n"


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def shoa_serve(services: Services, tmp_path: Path) -> Iterator[str]:
    # As `make run` starts them (development: the sandbox gateway's depositor is there), on the test's database.
    environ = {
        **os.environ,
        **services.environ(
            SHOA_LOG_FORMAT="console",
            SHOA_ENV="development",
            SHOA_SEARCH_DIR=str(tmp_path / "s"),
            SHOA_SUPPORT_KAKAO_SKILL_SECRET=DEV_SKILL_SECRET,  # as make run sets it
        ),
    }
    environ.pop("SHOA_TEST_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "shoa_api", "seed", "--products", "600"],
        env=environ,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "shoa_api", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environ, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "shoa_api", "worker"], env=environ, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Ready once the worker has created the search index; the story starts once the demo catalog is in it.
        deadline = time.monotonic() + 60
        while not _demo_catalog_searchable(base):
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert worker.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        yield base
    finally:
        for process in (server, worker):
            process.send_signal(signal.SIGTERM)
        for process in (server, worker):
            process.wait(timeout=30)
        log.close()


def _demo_catalog_searchable(base: str) -> bool:
    try:
        if httpx.get(f"{base}/health/ready", timeout=2).status_code != 200:
            return False
        return bool(httpx.get(f"{base}/v1/search", params={"q": "원피스"}, timeout=5).json()["total"])
    except httpx.TransportError:
        return False


def test_the_five_minute_story_works_as_written(services: Services, shoa_serve: str, tmp_path: Path) -> None:
    environ = {**os.environ, **services.environ()}
    script = tmp_path / "story.sh"
    script.write_text(_checked(_story(), shoa_serve), encoding="utf-8")

    told = subprocess.run(  # noqa: S603
        ["/bin/bash", str(script)], env=environ, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )

    assert told.returncode == 0, told.stdout + told.stderr
    assert told.stdout.splitlines()[0] == "anonymous"
