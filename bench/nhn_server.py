"""A local NHN Cloud (AlimTalk v2.3 and SMS v3.0) in a process of its own, for the win-back benchmark's delivery.

Run as ``python -m bench.nhn_server RESULT_FILE``: it prints one JSON line with its URL and the keys it expects,
answers as NHN documents (the tests' fake: up to 1,000 recipients a request, ``X-NC-API-IDEMPOTENCY-KEY`` repeats
answered -1005) until its standard input closes, then writes to RESULT_FILE, as JSON, how many AlimTalks each
phone number was shown and how many requests it answered.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from tests.notify.fakes.nhn import FakeNhnCloud

SEND_NO = "15446859"


def main() -> int:
    result = Path(sys.argv[1])
    with FakeNhnCloud(send_numbers=[SEND_NO]) as server:
        keys = {"url": server.url, "app_key": server.app_key, "secret_key": server.secret_key,
                "sender_key": server.sender_key, "sms_app_key": server.sms_app_key,
                "sms_secret_key": server.sms_secret_key, "send_no": SEND_NO}  # fmt: skip
        print(json.dumps(keys), flush=True)
        sys.stdin.read()  # until the benchmark closes our standard input
        shown = Counter(send.recipient_no for send in server.sent if send.product == "alimtalk")
        requests = len(server.received)
    result.write_text(json.dumps({"shown": shown, "requests": requests}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
