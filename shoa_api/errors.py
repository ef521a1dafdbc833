"""Every error leaves the API as RFC 9457 problem details (``application/problem+json``).

Domain errors carry a stable ``code`` and a status; advanced-alchemy's repository errors and Litestar's HTTP
exceptions are mapped here too. Anything else is a bug: logged with its stack trace, answered with a plain 500.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import asyncpg.exceptions as pg_exc
from advanced_alchemy.exceptions import DuplicateKeyError, ForeignKeyError, IntegrityError, NotFoundError
from litestar import Response
from litestar.exceptions import HTTPException, ValidationException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError as RedisOutOfMemoryError
from redis.exceptions import ReadOnlyError as RedisReadOnlyError
from redis.exceptions import ResponseError as RedisResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import exc as sa_exc

from accounts.errors import InvalidCredentialsError, InvalidTokenError
from personalization.errors import MissingDeviceError
from shoa_api.auth import MissingCredentialsError
from shoa_api.database import database_unavailable
from shoa_api.observability import request_id
from shoa_kernel.errors import DomainError

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ExceptionHandlersMap

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://api.shoa.kr/problems/"
RETRY_AFTER_SECONDS = 5
FOREIGN_KEY_VIOLATION = "23503"


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


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    headers = None
    if exc.status == 401:
        # RFC 6750: say how to authenticate, and (for a bad token) that the token was the problem.
        bad_token = not isinstance(exc, MissingCredentialsError | InvalidCredentialsError | MissingDeviceError)
        headers = {"WWW-Authenticate": 'Bearer realm="shoa"' + (', error="invalid_token"' if bad_token else "")}
    if (retry_after := getattr(exc, "retry_after", None)) is not None:
        headers = {"Retry-After": str(retry_after)}
    extra = {"errors": [{"field": exc.field, "source": "body", "message": exc.detail}]} if exc.field else {}
    extra.update(getattr(exc, "extra", None) or {})  # what a refusal names besides its text (the lines in conflict)
    return problem_response(
        request, status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, headers=headers, **extra
    )


_MISSING_PARAMETER = re.compile(r"Missing required (?P<source>\w+) parameter '(?P<name>[^']+)'")
"""How Litestar words a required parameter that was not sent (it gives no field errors for it)."""


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
    if not errors and (missing := _MISSING_PARAMETER.match(exc.detail or "")):
        errors = [{"field": missing["name"], "source": missing["source"], "message": "required"}]
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


def _database_error(
    request: Request[Any, Any, Any],
    exc: sa_exc.DBAPIError | pg_exc.PostgresError | pg_exc.InterfaceError | pg_exc.InternalClientError,
) -> Response[dict[str, Any]]:
    """An error from the database, wrapped by SQLAlchemy or raw from asyncpg: unavailable (503), the client's
    value (422), or a bug (500)."""
    if database_unavailable(exc):
        return _dependency_down(request, exc)
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    sqlstate = str(getattr(orig, "sqlstate", None) or "")
    if sqlstate == FOREIGN_KEY_VIOLATION and _refers_to_a_missing_account(exc):
        # Rows name an account only as the caller's token does: a validly signed token whose account is gone.
        return _domain_error(request, InvalidTokenError("the account this token was issued for does not exist"))
    if not sqlstate.startswith("22"):
        return _unexpected(request, exc)
    logger.info("refused a value the database cannot take (SQLSTATE %s)", sqlstate)
    return problem_response(
        request,
        status=HTTPStatus.UNPROCESSABLE_ENTITY,
        code="unstorable-value",
        title="A value cannot be stored",
        detail="A text field holds a character that cannot be stored, such as NUL (U+0000); remove it and retry.",
    )


def _postgres_error(exc: Exception) -> BaseException | None:
    """PostgreSQL's own error behind SQLAlchemy's and its adapter's wrappers: the one that names things."""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    postgres = orig if isinstance(orig, pg_exc.PostgresError) else getattr(orig, "__cause__", None)
    return postgres if isinstance(postgres, pg_exc.PostgresError) else orig


def _refers_to_a_missing_account(exc: Exception) -> bool:
    """A row written for an account that does not exist (not an account's row removed from under its rows)."""
    source = _postgres_error(exc)
    constraint, table = getattr(source, "constraint_name", None), getattr(source, "table_name", None)
    return isinstance(constraint, str) and constraint.endswith("_users") and table != "users"


def _not_found(request: Request[Any, Any, Any], exc: NotFoundError) -> Response[dict[str, Any]]:
    return problem_response(request, status=404, code="not-found", title="Not Found", detail="No such resource.")


def _conflict(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[dict[str, Any]]:
    detail = {
        DuplicateKeyError: "That value is already taken.",
        ForeignKeyError: "It refers to something that does not exist, or is still referred to.",
    }.get(type(exc), "It conflicts with data already stored.")
    return problem_response(request, status=409, code="conflict", title="Conflict", detail=detail)


_REDIS_CANNOT_WRITE_NOW = re.compile(r"\b(?:OOM|MISCONF|READONLY) ")
"""How Redis refuses a write it cannot take now, alone or quoted in a pipeline's or a script's error: out of memory
under ``maxmemory`` (``OOM``), unable to persist to its disk (``MISCONF``), or a replica (``READONLY``, during a
failover)."""


def _redis_refused(request: Request[Any, Any, Any], exc: RedisResponseError) -> Response[dict[str, Any]]:
    """Redis answered, and refused: a write it cannot take now may succeed shortly (503); any other refusal (a
    wrong command, a script's own error) is a bug."""
    cannot_write_now = isinstance(exc, RedisOutOfMemoryError | RedisReadOnlyError)
    if cannot_write_now or _REDIS_CANNOT_WRITE_NOW.search(str(exc)):
        return _dependency_down(request, exc)
    return _unexpected(request, exc)


def _dependency_down(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.error(
        "a backing service failed while handling %s %s",
        request.method,
        request.url.path,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return problem_response(
        request,
        status=503,
        code="service-unavailable",
        title="Service Unavailable",
        detail="A service this request needs is not answering; try again shortly.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class UnexpectedDatabaseError(Exception):
    """What a log keeps of a database error: PostgreSQL's message and DETAIL can quote a row's values (``Key
    (phone)=(+8210…) already exists``), so only the SQLSTATE and the names of what failed are kept, with the
    original's stack frames."""

    @classmethod
    def redacting(cls, exc: Exception) -> UnexpectedDatabaseError | None:
        if not isinstance(exc, sa_exc.DBAPIError | pg_exc.PostgresError):
            return None
        source = _postgres_error(exc)
        names = [
            f"{name}={value}"
            for name in ("schema_name", "table_name", "column_name", "constraint_name")
            if isinstance(value := getattr(source, name, None), str)
        ]
        sqlstate = getattr(source, "sqlstate", None) or "unknown"
        redacted = cls(f"{type(source).__name__}, SQLSTATE {sqlstate}" + (f" ({', '.join(names)})" if names else ""))
        redacted.__traceback__ = exc.__traceback__
        return redacted


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logged: Exception = UnexpectedDatabaseError.redacting(exc) or exc
    logger.error(
        "unhandled error while handling %s %s",
        request.method,
        request.url.path,
        exc_info=(type(logged), logged, logged.__traceback__),
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
        DomainError: _domain_error,
        ValidationException: _validation_error,
        HTTPException: _http_error,
        NotFoundError: _not_found,
        IntegrityError: _conflict,
        # SQLSTATE class 22 (data exception: a NUL in text, a number out of range) is the client's input; a
        # database that is unreachable, starting up, shutting down or full may answer shortly.
        sa_exc.DBAPIError: _database_error,
        # The database or Redis is unreachable or out of connections: the request may succeed shortly.
        sa_exc.OperationalError: _dependency_down,
        sa_exc.InterfaceError: _dependency_down,
        sa_exc.TimeoutError: _dependency_down,
        RedisConnectionError: _dependency_down,
        RedisTimeoutError: _dependency_down,
        # Redis out of memory, or unable to write to a full disk, refuses writes (and still answers reads).
        RedisResponseError: _redis_refused,
        # Raised raw while a new database connection is being opened (refused, no socket), and by the search
        # engine's statements, which go to asyncpg directly: sorted as SQLAlchemy's are.
        OSError: _dependency_down,
        pg_exc.PostgresError: _database_error,
        pg_exc.InterfaceError: _database_error,
        pg_exc.InternalClientError: _database_error,
        Exception: _unexpected,
    }


__all__ = ["PROBLEM_JSON", "exception_handlers", "problem_response"]
