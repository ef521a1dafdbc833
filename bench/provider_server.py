"""A local messaging provider in a process of its own, for the benchmarks that send through real workers.

Run as ``python -m bench.provider_server KIND RESULT_FILE``, KIND ``line`` (``bench notify``) or ``nhn`` (``bench
winback``'s restock wave): it prints one JSON line with its URL and the credentials it expects, answers as the
provider documents (the tests' fakes: LINE deduplicating on ``X-Line-Retry-Key``; NHN Cloud taking up to 1,000
AlimTalk recipients a request and answering a repeated ``X-NC-API-IDEMPOTENCY-KEY`` with -1005) until its standard
input closes, then writes its record to RESULT_FILE as JSON: LINE, the address of every push it accepted; NHN, how
many AlimTalks each phone number was shown and how many requests it answered. A process of its own, so that
neither the benchmark's client nor the workers share the server's interpreter lock.

:class:`ProviderServer` runs it from a benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from tests.notify.fakes.line import FakeLine
from tests.notify.fakes.nhn import FakeNhnCloud

NHN_SEND_NO = "15446859"
Kind = Literal["line", "nhn"]


class ProviderServer:
    """``python -m bench.provider_server KIND`` in a child process: ``info`` is its first line (``url`` and the
    credentials), ``record`` what it wrote once it stopped."""

    def __init__(self, kind: Kind, result: Path) -> None:
        self.kind, self.result = kind, result
        self.info: dict[str, str] = {}
        self.record: Any = None
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return self.info["url"]

    def __enter__(self) -> ProviderServer:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.provider_server", self.kind, str(self.result)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.info = json.loads(self._process.stdout.readline())
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._process is not None
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=60)
        self.record = json.loads(self.result.read_text())


def main() -> int:
    kind, result = sys.argv[1], Path(sys.argv[2])
    if kind == "line":
        with FakeLine() as line:
            _serve({"url": line.url, "channel_access_token": line.channel_access_token})
            record: Any = [delivery.address for delivery in line.delivered]
    else:
        with FakeNhnCloud(send_numbers=[NHN_SEND_NO]) as nhn:
            _serve({"url": nhn.url, "app_key": nhn.app_key, "secret_key": nhn.secret_key,
                    "sender_key": nhn.sender_key, "sms_app_key": nhn.sms_app_key,
                    "sms_secret_key": nhn.sms_secret_key, "send_no": NHN_SEND_NO})  # fmt: skip
            shown = Counter(send.recipient_no for send in nhn.sent if send.product == "alimtalk")
            record = {"shown": shown, "requests": len(nhn.received)}
    result.write_text(json.dumps(record))
    return 0


def _serve(info: dict[str, str]) -> None:
    print(json.dumps(info), flush=True)
    sys.stdin.read()  # until the benchmark closes our standard input


if __name__ == "__main__":
    sys.exit(main())
