"""A local LINE Messaging API server in a process of its own, for ``python -m bench notify``.

Run as ``python -m bench.provider_server RESULT_FILE``: it prints ``<url> <channel access token>`` on its first
line, answers pushes as LINE documents (the tests' fake, deduplicating on ``X-Line-Retry-Key``) until its
standard input closes, then writes the addresses of every push it accepted to RESULT_FILE as JSON. A process of
its own, so that neither the benchmark's client nor its enqueueing shares the server's interpreter lock.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.notify.fakes.line import FakeLine


def main() -> int:
    result = Path(sys.argv[1])
    with FakeLine() as server:
        print(server.url, server.channel_access_token, flush=True)
        sys.stdin.read()  # until the benchmark closes our standard input
        addresses = [delivery.address for delivery in server.delivered]
    result.write_text(json.dumps(addresses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
