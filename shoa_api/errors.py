"""Every error leaves the API as RFC 9457 problem details (``application/problem+json``).

Domain errors carry a stable ``code`` and a status; advanced-alchemy's repository errors and Litestar's HTTP
exceptions are mapped here too. Anything else is a bug: logged with its stack trace, answered with a plain 500.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from advanced_alchemy.exceptions import DuplicateKeyError, ForeignKeyError, IntegrityError, NotFoundError
from litestar import Response
from litestar.exceptions import HTTPException, ValidationException

from catalog.errors import CatalogError
from shoa_api.observability import request_id

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ExceptionHandlersMap

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://api.shoa.kr/problems/"


def problem_response(
    request: Request[Any, Any, Any],
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": f"{PROBLEM_TYPE_BASE}{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request_id(),
        **extra,
    }
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _domain_error(request: Request[Any, Any, Any], exc: CatalogError) -> Response[dict[str, Any]]:
    return problem_response(request, status=exc.status, code=exc.code, title=exc.title, detail=exc.detail)


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = [
        {
            "field": item.get("key", ""),
            "source": str(getattr(item.get("source"), "value", item.get("source") or "")),
            "message": item.get("message", ""),
        }
        for item in (exc.extra if isinstance(exc.extra, list) else [])
        if isinstance(item, dict)
    ]
    fields = ", ".join(e["field"] for e in errors if e["field"]) or "the request"
    return problem_response(
        request,
        status=HTTPStatus.UNPROCESSABLE_ENTITY,
        code="validation-failed",
        title="The request has invalid fields",
        detail=f"Check {fields}.",
        errors=errors,
    )


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = HTTPStatus(exc.status_code)
    code = status.phrase.lower().replace(" ", "-").replace("'", "")
    detail = exc.detail if exc.detail and exc.detail != status.phrase else status.description
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.error("HTTP %s raised while handling %s %s", status.value, request.method, request.url.path)
        detail = status.description
    return problem_response(request, status=status, code=code, title=status.phrase, detail=detail, headers=exc.headers)


def _not_found(request: Request[Any, Any, Any], exc: NotFoundError) -> Response[dict[str, Any]]:
    return problem_response(request, status=404, code="not-found", title="Not Found", detail="No such resource.")


def _conflict(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[dict[str, Any]]:
    detail = {
        DuplicateKeyError: "That value is already taken.",
        ForeignKeyError: "It refers to something that does not exist, or is still referred to.",
    }.get(type(exc), "It conflicts with data already stored.")
    return problem_response(request, status=409, code="conflict", title="Conflict", detail=detail)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.error(
        "unhandled error while handling %s %s",
        request.method,
        request.url.path,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return problem_response(
        request,
        status=500,
        code="internal-error",
        title="Internal Server Error",
        detail="Something went wrong on our side; the request id helps us find it.",
    )


def exception_handlers() -> ExceptionHandlersMap:
    return {
        CatalogError: _domain_error,
        ValidationException: _validation_error,
        HTTPException: _http_error,
        NotFoundError: _not_found,
        IntegrityError: _conflict,
        Exception: _unexpected,
    }


__all__ = ["PROBLEM_JSON", "exception_handlers", "problem_response"]
