"""Engine and transaction scopes shared by the API, the worker and the CLI."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg.exceptions as pg_exc
from litestar.datastructures import State  # noqa: TC002 - Litestar reads dependency annotations
from litestar.di import NamedDependency  # noqa: TC002
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

T = TypeVar("T")

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator

    from sqlalchemy.engine import ExceptionContext
    from sqlalchemy.pool import ConnectionPoolEntry

    from shoa_api.settings import DatabaseSettings

UNAVAILABLE_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03", "57P05", "25006", "40001", "40P01")
"""What PostgreSQL says when it cannot serve now but may shortly: no connection (class 08), out of connections,
memory or disk (class 53), shutting down, crashed, starting up or recovering, or closing an idle session; a
standby that cannot write yet during a failover (25006); a serialization failure or a deadlock, which the same
request retried resolves (40001, 40P01)."""
_LOST_CONNECTION_SQLSTATES = ("08", "57P01", "57P02", "57P05")
"""The subset that also means this connection is gone: the server ended it, or it broke on the way."""


def async_database_url(url: str) -> str:
    """The same URL with the asyncpg driver, whichever PostgreSQL spelling it came with."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    engine = create_async_engine(
        async_database_url(settings.url),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        # No pre-ping: it costs three round trips per checkout. A connection the server dropped is replaced at
        # checkout once asyncpg has seen its socket close, and otherwise fails one statement, after which
        # SQLAlchemy discards it and every connection opened before it; connections older than this are replaced.
        pool_recycle=1800,
        echo=settings.echo,
        # A failing statement's parameters may be a shopper's phone number or email: keep them out of the
        # exception's text, and so out of every log line and traceback that carries it.
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "checkout", _replace_closed_connection)
    event.listen(engine.sync_engine, "handle_error", _discard_lost_connection)
    return engine


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached or cannot serve just now (a retry shortly may
    succeed), rather than that the statement or its values are wrong.

    It looks through SQLAlchemy's wrapping to asyncpg's error and what caused it, so the answer is the same
    whether the error comes raw from asyncpg or wrapped in a ``DBAPIError``.
    """
    for cause in _causes(error):
        if isinstance(cause, sa_exc.DBAPIError) and cause.connection_invalidated:
            return True
        if _sqlstate(cause).startswith(UNAVAILABLE_SQLSTATES) or _connection_broke(cause):
            return True
    return False


def _connection_lost(error: BaseException) -> bool:
    return any(
        _sqlstate(cause).startswith(_LOST_CONNECTION_SQLSTATES) or _connection_broke(cause) for cause in _causes(error)
    )


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what SQLAlchemy wrapped and what each error was raised from."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = current.orig if isinstance(current, sa_exc.DBAPIError) else None
        current = orig if isinstance(orig, BaseException) else current.__cause__


def _sqlstate(error: BaseException) -> str:
    sqlstate = getattr(error, "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else ""


def _connection_broke(error: BaseException) -> bool:
    """The socket failed (refused, missing, reset, broken pipe, timed out), asyncpg already knew the connection
    closed, or asyncpg lost track of where the conversation with the server stood, which follows a connection
    the server ended half-way through an answer."""
    if isinstance(error, OSError | pg_exc.InternalClientError):
        return True
    return isinstance(error, pg_exc.InterfaceError) and "connection is closed" in str(error)


def _replace_closed_connection(
    dbapi_connection: Any,
    connection_record: ConnectionPoolEntry,
    connection_proxy: Any,
) -> None:
    """A pooled connection whose socket the server closed (a restart, a crash) is replaced before it is handed
    out: no request fails on it, and no round trip is spent finding out."""
    driver = connection_record.driver_connection
    if driver is not None and driver.is_closed():
        msg = "the server closed this pooled connection"
        raise sa_exc.DisconnectionError(msg)


def _discard_lost_connection(context: ExceptionContext) -> None:
    """Count a connection the server ended as lost, so SQLAlchemy discards it (and the pool's older ones).

    asyncpg's dialect only counts a connection as lost once asyncpg has seen its socket close, which is often
    just after the statement failed: the connection then went back to the pool, half-way through reading an
    error, and failed the next request that took it ("another operation is in progress").
    """
    if context.connection is not None and not context.is_disconnect and _connection_lost(context.original_exception):
        context.is_disconnect = True


def create_session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def create_read_session_maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for read-only requests: each statement runs on its own, with no BEGIN and COMMIT around it.

    That is the consistency a READ COMMITTED transaction gives anyway (each statement sees what was committed
    when it started), for a third of the round trips. Writes never use these sessions.
    """
    return async_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)


@contextlib.asynccontextmanager
async def session_scope(session_maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction for a worker job or a CLI command: committed on success, rolled back on error."""
    async with session_maker() as session, session.begin():
        yield session


async def run_unit_of_work(database: DatabaseSettings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """``work`` in one transaction on an engine of its own, for a CLI command or a script outside the app."""
    engine = create_engine(database)
    try:
        async with session_scope(create_session_maker(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


async def provide_read_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    """A read-only request's session (see :func:`create_read_session_maker`), closed when the request ends."""
    session_maker: async_sessionmaker[AsyncSession] = state.read_session_maker
    async with session_maker() as session:
        yield session


async def provide_transaction(db_session: NamedDependency[AsyncSession]) -> AsyncGenerator[AsyncSession, None]:
    """The request's transaction, committed after the handler returns and *before* the response is sent.

    advanced-alchemy's ``autocommit`` before-send handler commits while the response is already on its way and
    only logs a failed commit, so a client could see 200 for a write that never landed. Committing here, in the
    dependency's cleanup, turns a failed commit into an error response instead.

    A rollback that fails because the connection is gone (the server restarted or crashed mid-request) leaves the
    request's own error as the answer: the transaction ended with the connection, and Litestar would otherwise
    answer the rollback's error, grouped with the first, as a 500.
    """
    try:
        yield db_session
    except BaseException:
        try:
            await db_session.rollback()
        except sa_exc.DBAPIError as rollback_error:
            if not database_unavailable(rollback_error):
                raise
        raise
    else:
        await db_session.commit()
