"""Structured JSON logs, request ids and Prometheus metrics.

One raw ASGI middleware does all three per request: it costs a few microseconds, where stacking
Litestar's middlewares (each building its own ``Request``) costs several times that on every call.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import sys
import time
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.enums import ScopeType
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from shoa_api.settings import AppSettings

__all__ = ["PROMETHEUS_CONTENT_TYPE", "Metrics", "ObservabilityMiddleware", "configure_logging", "request_id"]

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"  # the server adds the charset
_QUIET_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})
"""Probes and scrapes arrive every few seconds; logging each would drown the requests people care about."""

access_log = logging.getLogger("shoa.access")


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


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = _request_id.get()
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {record.getMessage()}"
        line = f"{line} [{rid}]" if rid else line
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
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


class Metrics:
    """The app's Prometheus metrics, in a registry of its own so that apps (and tests) never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "shoa_http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "shoa_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response body.",
            ["method", "route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class ObservabilityMiddleware:
    """Gives every request an id (kept from ``X-Request-ID`` when sane), logs it, and counts it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        started = time.perf_counter()
        rid = _incoming_request_id(scope) or os.urandom(16).hex()
        token = _request_id.set(rid)
        header = (b"x-request-id", rid.encode())
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or "unmatched"
            self.metrics.observe(method, route, status, elapsed)
            if scope["path"] not in _QUIET_PATHS:
                access_log.info(
                    "%s %s %s",
                    method,
                    scope["path"],
                    status,
                    extra={"status": status, "duration_ms": round(elapsed * 1000, 2), "route": route},
                )
            _request_id.reset(token)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _VALID_REQUEST_ID.match(text) else None
    return None
