"""``FakeMeilisearch``: a local HTTP server that answers the Meilisearch v1.14 endpoints Shoa uses, as documented.

No Meilisearch can run on these machines, so the search adapter is tested against this stand-in. It listens on
127.0.0.1 (a free port) in a background thread, keeps everything in memory, and behaves as the v1.14 reference
describes (docs: reference/api/*, reference/errors/*, learn/*), module by module:

- ``api``: the endpoints — ``/health`` (no key needed), ``/version``, ``/indexes`` (list, create, get, update,
  delete), ``/indexes/{uid}/settings`` and its sub-routes, ``/indexes/{uid}/documents`` (add or replace with
  POST, add or update with PUT, JSON / NDJSON / CSV; get, list, fetch, delete one, ``delete-batch``, delete by
  filter, delete all), ``/indexes/{uid}/search`` (POST) and ``/tasks``.
- ``errors``: error bodies ``{"message", "code", "type", "link"}`` and their statuses.
- ``tasks``: the asynchronous task queue; ``store``: indexes and documents; ``settings``: index settings.
- ``search``, ``filters``, ``filter_matching``, ``matching``, ``ranking``, ``formatting``, ``text``: the search
  engine, with the simplifications each module's docstring lists (CJK words are not dictionary-segmented,
  ranking rules are plain sort keys, ``_rankingScore`` is approximate, no geo or semantic search).

Not served (404 or 405): search with GET, multi-search, facet search, similar documents, ``/keys``, ``/stats``,
``/batches``, task cancellation and deletion, index swaps, dumps and snapshots.

Every request but ``GET /health`` needs ``Authorization: Bearer <master key>``: without the header (or with
another scheme) the answer is 401 ``missing_authorization_header``, with a wrong key 403 ``invalid_api_key``
(docs: reference/api/authorization). API keys other than the master key are not modelled.

Test controls, beyond what Meilisearch offers: ``process_tasks``, ``pause_tasks`` / ``resume_tasks`` /
``tasks_paused``, ``begin_next_task`` and ``wait_for_tasks`` for the task lifecycle; ``fail_next_tasks`` for
failed tasks; ``fail_next_requests`` (5xx answers), ``delay_next_requests`` (timeouts) and
``drop_next_connections`` (a connection closed without an answer) for retry logic; ``requests`` records every
request received.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.meilisearch.api import MeilisearchApi, Request
from tests.meilisearch.errors import (
    JsonObject,
    MeiliError,
    internal_error,
    invalid_api_key,
    missing_authorization_header,
)
from tests.meilisearch.store import Store
from tests.meilisearch.tasks import TaskQueue

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _HttpFault:
    remaining: int
    method: str | None
    path_prefix: str | None
    status: int | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    drop_connection: bool = False

    def applies_to(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path_prefix is None or path.startswith(self.path_prefix)
        )


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    drop_connection: bool = False


def _json_answer(status: int, body: object) -> HttpAnswer:
    return HttpAnswer(status, {"Content-Type": "application/json"}, json.dumps(body, ensure_ascii=False).encode())


def _error_answer(error: MeiliError) -> HttpAnswer:
    answer = _json_answer(error.status, error.body())
    if error.status == 503:
        answer.headers["Retry-After"] = "10"
    return answer


def _json_body(headers: dict[str, str], body: bytes) -> Any:
    content_type = headers.get("content-type")
    accepted = "Accepted values for the Content-Type header are: `application/json`"
    if content_type is None:
        raise MeiliError("missing_content_type", f"A Content-Type header is missing. {accepted}", status=415)
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise MeiliError(
            "invalid_content_type", f"The Content-Type `{content_type}` is invalid. {accepted}", status=415
        )
    if not body.strip():
        raise MeiliError("missing_payload", "A json payload is missing.")
    try:
        return json.loads(body)
    except ValueError as error:
        raise MeiliError("malformed_payload", f"The json payload provided is malformed. `{error}`.") from error


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "/?")


class _Server(ThreadingHTTPServer):
    block_on_close = False
    """``stop()`` must not wait for a client's idle keep-alive connection; those threads are daemons."""


class FakeMeilisearch:
    """A Meilisearch v1.14 stand-in on a free local port; use it as a context manager or ``start()``/``stop()``."""

    def __init__(self, *, master_key: str | None = None, auto_process_tasks: bool = True) -> None:
        self.master_key = master_key or secrets.token_hex(16)
        self._lock = threading.RLock()
        self.store = Store()
        self.tasks = TaskQueue(self._lock, auto_process=auto_process_tasks)
        self._routes = [
            (method, _compile(pattern), handler, wants_json)
            for method, pattern, handler, wants_json in MeilisearchApi(self.store, self.tasks).routes()
        ]
        self._faults: list[_HttpFault] = []
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._serving: threading.Thread | None = None
        self.requests: list[RecordedRequest] = []

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Meilisearch is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeMeilisearch:
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._serving = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-meilisearch", daemon=True
        )
        self._serving.start()
        self.tasks.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.tasks.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeMeilisearch:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- tasks -----------------------------------------------------------------------------------------------

    def process_tasks(self) -> list[int]:
        """Run every enqueued (or processing) task to completion now; returns their uids."""
        return self.tasks.process_all()

    def pause_tasks(self) -> None:
        """Leave new tasks ``enqueued`` until ``resume_tasks`` or ``process_tasks``."""
        self.tasks.pause()

    def resume_tasks(self) -> None:
        self.tasks.resume()

    @contextlib.contextmanager
    def tasks_paused(self) -> Iterator[None]:
        self.pause_tasks()
        try:
            yield
        finally:
            self.resume_tasks()

    def begin_next_task(self) -> int | None:
        """Move the oldest enqueued task to ``processing`` and leave it there (pause first); returns its uid."""
        task = self.tasks.begin_next()
        return task.uid if task else None

    def wait_for_tasks(self, timeout: float = 5.0) -> None:
        """Block until no task is enqueued or processing (with automatic processing on)."""
        if not self.tasks.wait_until_idle(timeout):
            raise TimeoutError(f"tasks still pending after {timeout} s")

    def fail_next_tasks(
        self, count: int = 1, *, code: str = "internal", message: str | None = None, error_type: str = "internal"
    ) -> None:
        """Make the next ``count`` tasks fail with this error instead of running."""
        error = (
            internal_error(message or "Simulated failure")
            if code == "internal"
            else MeiliError(code, message or f"Simulated `{code}` failure.", error_type=error_type)
        )
        self.tasks.fail_next(count, error)

    # -- HTTP faults -----------------------------------------------------------------------------------------

    def fail_next_requests(
        self,
        count: int = 1,
        *,
        status: int = 503,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Answer the next matching requests with ``status``; by default a Meilisearch ``internal`` error body."""
        if body is None:
            error = internal_error("Simulated failure")
            body = json.dumps(error.body()).encode()
            headers = {
                "Content-Type": "application/json",
                **({"Retry-After": "10"} if status == 503 else {}),
                **(headers or {}),
            }
        self._add_fault(_HttpFault(count, method, path_prefix, status=status, body=body, headers=headers or {}))

    def delay_next_requests(
        self, count: int = 1, *, seconds: float, method: str | None = None, path_prefix: str | None = None
    ) -> None:
        """Hold the next matching requests ``seconds`` before answering, long enough for a client timeout."""
        self._add_fault(_HttpFault(count, method, path_prefix, delay_seconds=seconds))

    def drop_next_connections(
        self, count: int = 1, *, method: str | None = None, path_prefix: str | None = None
    ) -> None:
        """Close the connection of the next matching requests without answering."""
        self._add_fault(_HttpFault(count, method, path_prefix, drop_connection=True))

    def _add_fault(self, fault: _HttpFault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, method: str, path: str) -> _HttpFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.applies_to(method, path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- inspection ------------------------------------------------------------------------------------------

    def documents(self, index_uid: str) -> list[JsonObject]:
        with self._lock:
            return [document for _, document in self.store.get(index_uid).ordered_documents()]

    # -- requests --------------------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> HttpAnswer:
        """Answer one request as Meilisearch would (``headers`` with lower-case names)."""
        parts = urlsplit(target)
        path = parts.path
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, headers, body))
        fault = self._take_fault(method, path)
        if fault is not None:
            if fault.drop_connection:
                return HttpAnswer(0, {}, b"", drop_connection=True)
            if fault.delay_seconds:
                self._stopping.wait(fault.delay_seconds)
            if fault.status is not None:
                return HttpAnswer(fault.status, fault.headers, fault.body)
        try:
            return self._dispatch(method, path, query, headers, body)
        except MeiliError as error:
            return _error_answer(error)
        except Exception as error:  # noqa: BLE001 - a bug in the fake must still answer like Meilisearch's 500
            return _error_answer(internal_error(repr(error)))

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> HttpAnswer:
        found = [(route, match) for route in self._routes if (match := route[1].fullmatch(path))]
        if not found:
            return HttpAnswer(404, {}, b"")
        chosen = next(((route, match) for route, match in found if route[0] == method), None)
        if chosen is None:
            return HttpAnswer(405, {}, b"")
        (_, _, handler, wants_json), match = chosen
        if path.rstrip("/") != "/health":
            self._authenticate(headers)
        request = Request(
            params={name: unquote(value) for name, value in match.groupdict().items()},
            query=query,
            body=_json_body(headers, body) if wants_json else None,
            raw_body=body,
            content_type=headers.get("content-type"),
        )
        with self._lock:
            status, answer = handler(request)
        return _json_answer(status, answer)

    def _authenticate(self, headers: dict[str, str]) -> None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme != "Bearer":
            raise missing_authorization_header()
        if not secrets.compare_digest(token.encode(), self.master_key.encode()):
            raise invalid_api_key()


def _handler_for(fake: FakeMeilisearch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30
        """Seconds an idle keep-alive connection is kept."""

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = fake.handle(method, self.path, headers, body)
            if answer.drop_connection:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            with contextlib.suppress(OSError):  # the client may have given up (a timeout test)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler
