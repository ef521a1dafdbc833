"""One gate for every JSON request body: its media type, its nesting and its syntax, before any route sees it.

- **Credentials first.** A route for a logged-in shopper checks her token before anything of the body: a caller
  without one learns only that (401), not how the body would have been refused.
- **Size.** No body of ours but a catalog batch needs more than :data:`MAX_BODY_BYTES`; a larger one is refused
  with 413 before it is read (its ``Content-Length``) or decoded. The catalog sync, which says so with
  ``opt={"large_body": True}``, takes up to ``SHOA_CATALOG_MAX_BATCH_BYTES`` (the app's limit for every body).
- **Media type.** Only ``application/json`` is read. A body sent as ``text/plain`` or a form is what another
  site's page can make a visitor's browser send without a CORS preflight; it is refused with 415.
- **Nesting.** No request of ours nests deeper than a few levels; past :data:`MAX_DEPTH` the body is refused
  with 400 before a decoder recurses into it (1,000 levels once overflowed the decoder's stack as a 500).
- **Syntax.** A body that is not JSON is one 400 problem, ``malformed-json``, on every route, whether the route
  decodes a typed body or reads items one by one (the catalog sync and the event batch).
- **Types.** A typed body (a ``data`` parameter) is converted here strictly, as the API's description says (an
  integral ``51.0`` is an integer, as in JSON Schema). Litestar converts it laxly after (``0`` for ``false``,
  ``"5"`` for ``5``), which would take what the description refuses; a body that is not its type is the 422
  ``validation-failed`` problem, field by field.

A route that reads its body raw says so with ``opt={"json_body": True}``; a route with a ``data`` parameter
needs nothing. The body Litestar reads here is kept on the request's scope, so it is read from the socket once.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
from litestar.exceptions import ValidationException

from shoa_api.auth import provide_shopper
from shoa_api.errors import problem_response

if TYPE_CHECKING:
    from litestar import Request, Response

MAX_BODY_BYTES = 1024 * 1024
"""Largest JSON body of a route that takes no catalog batch: a batch of 100 events, the largest, is about 30 KB.
Without it every route read up to the catalog's 16 MiB, and an anonymous app could make each request decode that."""
MAX_DEPTH = 32
"""Deepest nesting of objects and arrays a body may have; our deepest request (a catalog item's variant
options) is four levels."""
JSON_MEDIA_TYPE = "application/json"
_METHODS_WITH_BODIES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_STRING = re.compile(rb'"[^"]*"')
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_KEEP_BRACKETS_AND_QUOTES = bytes(range(256)).translate(None, b'[]{}"')
_DEPTH_STEP = np.zeros(256, dtype=np.int8)
_DEPTH_STEP[list(b"[{")] = 1
_DEPTH_STEP[list(b"]}")] = -1


def nesting_depth(body: bytes) -> int:
    """How deeply the objects and arrays of a JSON text nest, without decoding it.

    Everything runs in C: escaped backslashes and quotes go first, so every remaining ``"`` opens or closes a
    string; then strings (with any brackets inside them) go, and what is left is brackets alone.
    """
    plain = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = _STRING.sub(b"", plain.translate(None, _KEEP_BRACKETS_AND_QUOTES))
    if not brackets:
        return 0
    steps = _DEPTH_STEP[np.frombuffer(brackets, dtype=np.uint8)]
    return int(np.cumsum(steps, dtype=np.int64).max())


def takes_json_body(request: Request[Any, Any, Any]) -> bool:
    handler = request.route_handler
    flagged: bool | None = handler.opt.get("json_body")
    if flagged is not None:
        return flagged
    return "data" in handler.parsed_fn_signature.parameters


async def check_json_body(request: Request[Any, Any, Any]) -> Response[Any] | None:  # noqa: PLR0911 - per refusal
    """``before_request`` hook: a problem answer for a body no route should read, else ``None``."""
    if request.method not in _METHODS_WITH_BODIES or not takes_json_body(request):
        return None
    if "shopper" in request.route_handler.parsed_fn_signature.parameters:
        await provide_shopper(request, request.app.state)  # raises for a missing or refused token
    limit = None if request.route_handler.opt.get("large_body") else MAX_BODY_BYTES
    declared = request.headers.get("content-length", "")
    if limit is not None and declared.isdigit() and int(declared) > limit:
        return _too_large(request, limit)
    body = await request.body()
    if limit is not None and len(body) > limit:
        return _too_large(request, limit)
    if not body:
        return _malformed(request, "The body is empty; this request needs a JSON object.")
    media_type, options = request.content_type
    charset = options.get("charset", "utf-8").lower()
    if media_type.lower() != JSON_MEDIA_TYPE or charset not in {"utf-8", "utf8"}:
        sent = request.headers.get("content-type") or "no Content-Type"
        return problem_response(
            request,
            status=415,
            code="unsupported-media-type",
            title="Unsupported Media Type",
            detail=f"Send the body as `Content-Type: application/json` (UTF-8); this request sent {sent}.",
            headers={f"Accept-{request.method.title()}": JSON_MEDIA_TYPE},
        )
    if (depth := nesting_depth(body)) > MAX_DEPTH:
        return problem_response(
            request,
            status=400,
            code="json-too-deep",
            title="The JSON body nests too deeply",
            detail=f"Objects and arrays may nest {MAX_DEPTH} levels deep; this body nests {depth}.",
        )
    try:
        msgspec.json.decode(body, type=msgspec.Raw)
    except msgspec.DecodeError as exc:
        reason = "it ends early" if str(exc) == "Input data was truncated" else str(exc)
        if _SURROGATE_ESCAPE.search(body):
            reason += " (a \\uD800-\\uDFFF escape must be half of a surrogate pair)"
        return _malformed(request, f"The body is not valid JSON: {reason}.")
    _check_type(request, body)
    return None


def _check_type(request: Request[Any, Any, Any], body: bytes) -> None:
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    body_type = data.annotation if data is not None else None
    if not (isinstance(body_type, type) and issubclass(body_type, msgspec.Struct)):
        return
    try:
        msgspec.convert(_integral_floats_as_ints(msgspec.json.decode(body)), body_type, strict=True)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$")
        field = where.rstrip("`").removeprefix(".") or "data"
        raise ValidationException(
            detail=f"Check {field}.", extra=[{"key": field, "source": "body", "message": message}]
        ) from None


def _integral_floats_as_ints(value: Any) -> Any:
    """``51.0`` is the integer 51 to JSON Schema, and so to the description; msgspec's strict mode wants ``51``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral_floats_as_ints(item) for item in value]
    if isinstance(value, dict):
        return {key: _integral_floats_as_ints(item) for key, item in value.items()}
    return value


def _too_large(request: Request[Any, Any, Any], limit: int) -> Response[Any]:
    return problem_response(
        request,
        status=413,
        code="request-entity-too-large",
        title="Request Entity Too Large",
        detail=f"A body for this request may be at most {limit:,} bytes.",
    )


def _malformed(request: Request[Any, Any, Any], detail: str) -> Response[Any]:
    return problem_response(request, status=400, code="malformed-json", title="Malformed JSON body", detail=detail)
