"""Structured JSON logs, request ids and Prometheus metrics.

One raw ASGI middleware does all three per request: it costs a few microseconds, where stacking
Litestar's middlewares (each building its own ``Request``) costs several times that on every call.
"""

from __future__ import annotations

import bisect
import contextvars
import itertools
import logging
import os
import re
import sys
import time
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.enums import ScopeType
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

    from shoa_api.settings import AppSettings

__all__ = [
    "PROMETHEUS_CONTENT_TYPE",
    "Metrics",
    "ObservabilityMiddleware",
    "configure_logging",
    "messaging_metrics",
    "request_id",
]

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"  # the server adds the charset
_EXCHANGE_KEY = "shoa.exchange"
_QUIET_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})
"""Probes and scrapes arrive every few seconds: logging or counting each would drown the traffic that matters."""

access_log = logging.getLogger("shoa.access")

# Request ids: 10 random bytes per process and a 48-bit counter, 32 hex digits like a UUID's; unique across
# processes (renewed in a forked child) without a system call per request.
_ID_PREFIX = os.urandom(10).hex()
_id_counter = itertools.count()


def _renew_request_id_prefix() -> None:
    global _ID_PREFIX  # noqa: PLW0603 - per-process state by nature
    _ID_PREFIX = os.urandom(10).hex()


os.register_at_fork(after_in_child=_renew_request_id_prefix)


def request_id() -> str | None:
    """The id of the request being handled, if any."""
    return _request_id.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extra fields, exception."""

    _encoder = msgspec.json.Encoder(enc_hook=str)  # anything unusual in `extra` is logged as its str()
    _reserved = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}

    def __init__(self) -> None:
        super().__init__()
        self._second, self._second_text = -1, ""

    def _utc_time(self, created: float) -> str:
        """ISO 8601 in UTC with milliseconds; the seconds part is formatted once per second, not per line."""
        second = int(created)
        if second != self._second:
            self._second, self._second_text = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._utc_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (rid := getattr(record, "request_id", None) or _request_id.get()) is not None:
            entry["request_id"] = rid
        for key in record.__dict__.keys() - self._reserved:
            if not key.startswith("_"):
                entry[key] = record.__dict__[key]
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._encoder.encode(entry).decode()


_CONTROL_ESCAPES = {
    code: f"\\u{code:04x}" for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F))
} | {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}
"""Control characters (line breaks, terminal escapes, bidirectional overrides) as JSON writes them: a URL or a
header sent by a client can then neither forge a log line nor recolour or rewrite the operator's terminal."""


def printable(text: str) -> str:
    return text.translate(_CONTROL_ESCAPES)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None) or _request_id.get()
        message = printable(record.getMessage())
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {message}"
        line = f"{line} [{rid}]" if rid else line
        if record.exc_info:
            # A traceback keeps its own line breaks; what a client wrote into its messages is escaped.
            trace = "\n".join(printable(part) for part in self.formatException(record.exc_info).split("\n"))
            line = f"{line}\n{trace}"
        return line


class _ShoaHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handler we install, so configuring twice replaces it and leaves a host's handlers alone."""


def configure_logging(settings: AppSettings) -> None:
    # The logging HOWTO's optimisations: our lines carry neither the caller's file and line nor thread and
    # process names, so skip computing them on every record (the access log writes one per request).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = _ShoaHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _ShoaHandler)] + [handler]
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware writes the access log, with ids
    # httpx logs every outbound URL at INFO; provider URLs can carry codes and tokens in their query strings.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics(Collector):
    """HTTP request counts and latencies, kept as plain numbers and turned into Prometheus metrics on scrape.

    prometheus_client's own counters take a lock on every update, which showed in the cost of every
    request; one event loop needs no lock, so we count in dicts and let the registry ask for them.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests: dict[tuple[str, str, int], int] = {}
        # Per (method, route): a count per bucket (plus one past the last), and the sum of seconds.
        self._latency: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
        self.registry.register(self)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        latency = self._latency.get((method, route))
        if latency is None:
            latency = self._latency[(method, route)] = ([0] * (len(LATENCY_BUCKETS) + 1), [0.0])
        latency[0][bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        latency[1][0] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "shoa_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels=["method", "route", "status"],
        )
        for (method, route, status), count in sorted(self._requests.items()):
            requests.add_metric([method, route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "shoa_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response body.",
            labels=["method", "route"],
        )
        for (method, route), (counts, total) in sorted(self._latency.items()):
            cumulative = list(itertools.accumulate(counts))
            bounds = [str(bound) for bound in LATENCY_BUCKETS] + ["+Inf"]
            latency.add_metric([method, route], list(zip(bounds, cumulative, strict=True)), total[0])
        yield latency

    def exposition(self, *extra: Metric) -> bytes:
        """The exposition of this process's counters, and of ``extra`` families counted elsewhere (the messaging
        tables, which every worker writes)."""
        if not extra:
            return generate_latest(self.registry)
        return generate_latest(_WithExtra(self.registry, extra))


class _WithExtra:
    """A registry's metrics followed by some more, for one exposition."""

    def __init__(self, registry: CollectorRegistry, extra: Sequence[Metric]) -> None:
        self.registry, self.extra = registry, extra

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()
        yield from self.extra


def messaging_metrics(
    outcomes: Iterable[tuple[str, str, str, int]], statuses: Iterable[tuple[str, int]]
) -> list[Metric]:
    """Messaging as the outbox's tables record it, the same whichever process is scraped: calls to providers and
    receipts per provider, channel and outcome, and messages per status (``dead`` is the dead-letter count)."""
    attempts = CounterMetricFamily(
        "shoa_notify_attempts",
        "Calls to messaging providers and their receipts, by provider, channel and outcome "
        "(accepted, transient, permanent, unknown, pending; delivered and undelivered for receipts).",
        labels=["provider", "channel", "outcome"],
    )
    for provider, channel, outcome, count in sorted(outcomes):
        attempts.add_metric([provider, channel, outcome], count)
    messages = GaugeMetricFamily("shoa_notify_messages", "Messages in the outbox, by status.", labels=["status"])
    for status, count in sorted(statuses):
        messages.add_metric([status], count)
    return [attempts, messages]


class ObservabilityMiddleware:
    """Gives every request an id (kept from ``X-Request-ID`` when sane), logs it, and counts it.

    The response side (the id header, the status) is :func:`tag_response`, a Litestar ``before_send`` hook:
    Litestar already wraps ``send`` for its hooks, and a second wrapper of our own cost more than its work.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = _incoming_request_id(scope) or f"{_ID_PREFIX}{next(_id_counter):012x}"
        token = _request_id.set(rid)
        exchange = _Exchange(rid)
        scope["state"][_EXCHANGE_KEY] = exchange
        try:
            await self.app(scope, receive, send)
        finally:
            _request_id.reset(token)
            if scope["path"] not in _QUIET_PATHS:  # probes and scrapes are neither logged nor counted
                self._record(scope, exchange, time.perf_counter() - started)

    def _record(self, scope: HTTPScope, exchange: _Exchange, elapsed: float) -> None:
        route = scope.get("path_template") or "unmatched"
        method, status = scope["method"], exchange.status
        self.metrics.observe(method, route, status, elapsed)
        access_log.info(
            "%s %s %s",
            method,
            scope["path"],
            status,
            extra={
                "request_id": exchange.request_id,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "route": route,
            },
        )


class _Exchange:
    __slots__ = ("request_id", "status")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.status = 500  # until a response starts; a request that never gets one is counted as failed


async def tag_response(message: Message, scope: Scope) -> None:
    """``before_send`` hook: put the request id and the protective headers on the response, and note its status
    for the access log."""
    if message["type"] == "http.response.start":
        exchange: _Exchange | None = scope["state"].get(_EXCHANGE_KEY)
        if exchange is None:  # an app run without the middleware (a benchmark's bare app)
            rid = f"{_ID_PREFIX}{next(_id_counter):012x}"
        else:
            exchange.status = message["status"]
            rid = exchange.request_id
        headers = [*message.get("headers", ()), (b"x-request-id", rid.encode()), _NOSNIFF]
        if _personal(scope) and not any(name.lower() == b"cache-control" for name, _ in headers):
            headers.append(_NO_STORE)
        message["headers"] = headers


_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")
_PERSONAL_PATHS = ("/v1/auth/", "/v1/me", "/v1/likes", "/partner/")
"""Answers that carry tokens or personal data even when the request has no credentials (signup, login)."""


def _personal(scope: Scope) -> bool:
    """Whether an answer may hold tokens or personal data, so no cache on the way (a proxy, the browser's disk)
    may keep it: every credentialed request, and the paths that hand out tokens."""
    return scope["path"].startswith(_PERSONAL_PATHS) or any(name == b"authorization" for name, _ in scope["headers"])


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _VALID_REQUEST_ID.match(text) else None
    return None
