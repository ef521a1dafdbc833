"""The HTTP side of every messaging provider fake: a real HTTP/1.1 server on 127.0.0.1 (a free port) in a thread.

A fake subclasses :class:`FakeProviderServer` and implements :meth:`~FakeProviderServer.answer`, which reads one
request and answers it as the provider's documentation says (it runs under the fake's lock, so checking and
recording a retry key, say, is atomic). The base gives what every provider test needs:

- ``received``: every request, in order, faults included; ``delivered``: the messages the provider took, that is,
  what the shopper's app would show (``delivered_to(address)`` counts them for one shopper).
- ``fail_next(n, kind)``: the next ``n`` requests fail. Generic kinds (:class:`Fault`) fail before the provider
  processes the request (``server_error``, ``unavailable``, ``disconnect``, ``hang``, ``rate_limit``) or after
  it took the message (``lost_answer``: the connection closes unanswered; ``slow_answer``: the answer comes after
  the client gave up), which is how a test loses an answer. Each fake adds its own kinds (``fault_kinds``).
- ``set_down()`` / ``set_down(False)``: an outage; every request fails (503 from the gateway by default).
- ``rate_limit(per_second, ...)``: a token bucket; requests beyond it get the provider's rate-limit answer.

The server runs in a thread so that it keeps answering whatever the test's event loop does, and so that a worker
in another process (a crash test) can reach it. ``hang`` waits ``hang_seconds`` (or until the fake closes).
"""

from __future__ import annotations

import abc
import contextlib
import enum
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType


class Fault(enum.StrEnum):
    SERVER_ERROR = "server_error"
    """The provider's own 500 answer, before processing."""
    UNAVAILABLE = "unavailable"
    """A 503 HTML page from a gateway in front of the provider, before processing."""
    DISCONNECT = "disconnect"
    """The connection closes without an answer, before processing."""
    HANG = "hang"
    """No answer until the client gives up (or ``hang_seconds`` pass), before processing."""
    RATE_LIMIT = "rate_limit"
    """The provider's rate-limit answer; the request is not processed."""
    LOST_ANSWER = "lost_answer"
    """The provider processes the request (the message is sent), then the connection closes unanswered."""
    SLOW_ANSWER = "slow_answer"
    """The provider processes the request, then answers only after ``hang_seconds``."""


_AFTER = {Fault.LOST_ANSWER, Fault.SLOW_ANSWER}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    """Lower-cased names."""
    body: bytes
    received_at: float
    """``time.monotonic()`` when the request was read."""

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of_json(cls, status: int, payload: object, headers: Mapping[str, str] | None = None) -> Answer:
        merged = {"Content-Type": "application/json;charset=UTF-8", **(headers or {})}
        return cls(status, json.dumps(payload, ensure_ascii=False).encode(), merged)


@dataclass(frozen=True)
class Delivered:
    """A message the provider took: what the shopper's app shows."""

    address: str
    text: str
    message_id: str
    body: Any
    """The request's JSON body."""


class _Drop:
    """Close the connection without an answer."""


_DROP = _Drop()


class _TokenBucket:
    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second, self.capacity = per_second, float(burst)
        self.tokens, self.updated = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class FakeProviderServer(abc.ABC):
    fault_kinds: ClassVar[frozenset[str]] = frozenset()
    """The provider-specific kinds ``fail_next`` accepts besides :class:`Fault`; answered by ``fault_answer``."""

    def __init__(self) -> None:
        self.received: list[Request] = []
        self.delivered: list[Delivered] = []
        self.hang_seconds = 30.0
        self._lock = threading.RLock()
        self._faults: deque[tuple[str, float | None]] = deque()
        self._down: str | None = None
        self._bucket: _TokenBucket | None = None
        self._bucket_retry_after: float | None = None
        self._release = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- what a fake implements ------------------------------------------------------------------------------

    @abc.abstractmethod
    def answer(self, request: Request) -> Answer:
        """Process one request as the provider would, record what it took in ``delivered``, and answer."""

    @abc.abstractmethod
    def rate_limited_answer(self, request: Request, retry_after: float | None) -> Answer:
        """The provider's documented rate-limit answer (``Retry-After`` only when the test asks for one)."""

    def server_error_answer(self, request: Request) -> Answer:
        return Answer.of_json(500, {"message": "Internal server error"})

    @abc.abstractmethod
    def fault_answer(self, kind: str, request: Request) -> Answer:
        """The provider's documented answer for one of its ``fault_kinds``; the request is not processed."""

    # -- test controls ---------------------------------------------------------------------------------------

    def fail_next(self, count: int, kind: str, *, retry_after: float | None = None) -> None:
        """Make the next ``count`` requests fail as ``kind`` (a :class:`Fault` or one of ``fault_kinds``)."""
        if kind not in set(Fault) | self.fault_kinds:
            raise ValueError(f"{type(self).__name__} knows no fault {kind!r}")
        with self._lock:
            self._faults.extend([(kind, retry_after)] * count)

    def set_down(self, *, down: bool = True, kind: str = Fault.UNAVAILABLE) -> None:
        """An outage: while down, every request fails as ``kind`` (``unavailable``, ``disconnect`` or ``hang``)."""
        with self._lock:
            self._down = kind if down else None

    def rate_limit(self, per_second: float | None, *, burst: int = 1, retry_after: float | None = None) -> None:
        """Answer requests beyond ``per_second`` (after a ``burst``) with the rate-limit answer; ``None`` lifts it."""
        with self._lock:
            self._bucket = _TokenBucket(per_second, burst) if per_second is not None else None
            self._bucket_retry_after = retry_after

    def delivered_to(self, address: str) -> list[Delivered]:
        with self._lock:
            return [message for message in self.delivered if message.address == address]

    def requests_to(self, path: str) -> list[Request]:
        with self._lock:
            return [request for request in self.received if request.path == path]

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._release.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # -- one exchange ----------------------------------------------------------------------------------------

    def _exchange(self, request: Request) -> Answer | _Drop:
        with self._lock:
            self.received.append(request)
            down = self._down
            kind, retry_after = self._faults.popleft() if self._faults and down is None else (None, None)
            limited = False
            if down is None and kind is None and self._bucket is not None:
                limited = not self._bucket.take()
        if down is not None:
            return self._before(down, request, None)
        if kind is not None and kind not in _AFTER:
            return self._before(kind, request, retry_after)
        if limited:
            return self.rate_limited_answer(request, self._bucket_retry_after)
        with self._lock:
            answer = self.answer(request)
        if kind == Fault.LOST_ANSWER:
            return _DROP
        if kind == Fault.SLOW_ANSWER:
            self._release.wait(self.hang_seconds)
        return answer

    def _before(self, kind: str, request: Request, retry_after: float | None) -> Answer | _Drop:
        if kind == Fault.DISCONNECT:
            return _DROP
        if kind == Fault.HANG:
            self._release.wait(self.hang_seconds)
            return _DROP
        if kind == Fault.UNAVAILABLE:
            page = b"<html><body><h1>503 Service Unavailable</h1></body></html>"
            return Answer(503, page, {"Content-Type": "text/html"})
        if kind == Fault.SERVER_ERROR:
            return self.server_error_answer(request)
        if kind == Fault.RATE_LIMIT:
            return self.rate_limited_answer(request, retry_after)
        return self.fault_answer(kind, request)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    """socketserver listens with a backlog of 5: more simultaneous connections (a benchmark's, a busy worker's)
    would be reset before they were accepted."""

    def __init__(self, owner: FakeProviderServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``received`` instead."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            received_at=time.monotonic(),
        )
        assert isinstance(self.server, _Server)
        answer = self.server.owner._exchange(request)
        if isinstance(answer, _Drop):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        with contextlib.suppress(OSError):  # the client may have given up already (slow answers)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
