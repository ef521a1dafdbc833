"""A provider endpoint that counts what reaches it, for the crash tests: LINE's push, which deduplicates on
``X-Line-Retry-Key``, or TalkTalk's send event, which cannot.

It runs in a thread (``http.server``), so it answers a worker in another process whatever the test's event loop
is doing, and the test can steer it between requests:

- ``hold()``: requests are taken (counted, and for LINE their retry key spent) but answered only after
  ``release()``: a worker killed meanwhile lost an answer to a message the provider has;
- ``storm(seconds, retry_after)``: every request meanwhile is answered 429 with ``Retry-After`` and not processed,
  as LINE documents its rate limits;
- start it later on a fixed port (``start(port)``) to play a provider that refused connections for a while.

``delivered`` counts, per recipient, the messages a shopper would see: each accepted push once.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self

LINE_PATH = "/v2/bot/message/push"
TALKTALK_PATH = "/chatbot/v1/event"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class CountingProvider:
    def __init__(self, kind: Literal["line", "talktalk"]) -> None:
        self.kind = kind
        self.requests = 0
        self.statuses: Counter[int] = Counter()
        self.delivered: Counter[str] = Counter()
        """Per recipient (LINE user id, TalkTalk user): messages the shopper would see."""
        self.held = 0
        """Requests taken and waiting for ``release()``."""
        self._spent_keys: set[str] = set()
        self._lock = threading.Lock()
        self._answer = threading.Event()
        self._answer.set()
        self._storm_until = 0.0
        self._retry_after = 1
        self._server: ThreadingHTTPServer | None = None

    @property
    def path(self) -> str:
        return LINE_PATH if self.kind == "line" else TALKTALK_PATH

    def start(self, port: int = 0) -> Self:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer, headers = provider.take(self.path, dict(self.headers.items()), body)
                try:
                    self.send_response(status)
                    for name, value in {**headers, "Content-Type": "application/json",
                                        "Content-Length": str(len(answer))}.items():  # fmt: skip
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the worker died waiting: the answer is lost, which is the point

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._answer.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def hold(self) -> None:
        self._answer.clear()

    def release(self) -> None:
        self._answer.set()

    def storm(self, seconds: float, *, retry_after: int = 1) -> None:
        self._storm_until = time.monotonic() + seconds
        self._retry_after = retry_after

    def take(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
        """Process one request as the provider would; wait while held, after processing."""
        status, answer, extra = self._process(path, {k.lower(): v for k, v in headers.items()}, body)
        if not self._answer.is_set():
            with self._lock:
                self.held += 1
            self._answer.wait(timeout=120)
        return status, answer, extra

    def _process(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
        with self._lock:
            self.requests += 1
            if path != self.path:
                return self._answered(404, {"message": "Not found"})
            if time.monotonic() < self._storm_until:
                return self._answered(429, {"message": "The API rate limit has been exceeded. Try again later."},
                                      {"Retry-After": str(self._retry_after)})  # fmt: skip
            request = json.loads(body)
            if self.kind == "talktalk":
                self.delivered[request["user"]] += 1
                return self._answered(200, {"success": True, "resultCode": "00"})
            key = headers.get("x-line-retry-key", "")
            if key in self._spent_keys:
                accepted = {"x-line-accepted-request-id": str(uuid.uuid5(uuid.NAMESPACE_URL, key))}
                return self._answered(409, {"message": "The retry key is already accepted"}, accepted)
            if key:
                self._spent_keys.add(key)
            self.delivered[request["to"]] += 1
            sent = {"sentMessages": [{"id": str(10**17 + self.requests), "quoteToken": uuid.uuid4().hex}]}
            return self._answered(200, sent, {"x-line-request-id": str(uuid.uuid4())})

    def _answered(
        self, status: int, payload: object, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        self.statuses[status] += 1
        return status, json.dumps(payload).encode(), headers or {}
