"""The HTTP server's own refusals as problem details.

uvicorn answers a request it cannot even parse (a request line or headers past the parser's limits, bytes that
are not HTTP) with a plain-text 400 before the app sees it. Clients get the same ``application/problem+json``
shape there as everywhere else; the connection still closes, as uvicorn's does.
"""

from __future__ import annotations

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shoa_api.errors import PROBLEM_JSON, PROBLEM_TYPE_BASE


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        body = msgspec.json.encode(
            {
                "type": f"{PROBLEM_TYPE_BASE}unreadable-request",
                "title": "Bad Request",
                "status": 400,
                "detail": "The request could not be read as HTTP: its request line or headers are malformed, or "
                "longer than the server reads (about 64 KB for a URL).",
            }
        )
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            f"content-type: {PROBLEM_JSON}\r\n".encode(),
            f"content-length: {len(body)}\r\n".encode(),
            b"x-content-type-options: nosniff\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join([*head, body]))
        self.transport.close()
