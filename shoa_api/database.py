"""Engine and transaction scopes shared by the API, the worker and the CLI."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, TypeVar

from litestar.datastructures import State  # noqa: TC002 - Litestar reads dependency annotations
from litestar.di import NamedDependency  # noqa: TC002
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

T = TypeVar("T")

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

    from shoa_api.settings import DatabaseSettings


def async_database_url(url: str) -> str:
    """The same URL with the asyncpg driver, whichever PostgreSQL spelling it came with."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    return create_async_engine(
        async_database_url(settings.url),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        # No pre-ping: it costs three round trips per checkout. A connection the server dropped fails one
        # statement, SQLAlchemy then discards the whole pool, and connections older than this are replaced.
        pool_recycle=1800,
        echo=settings.echo,
    )


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
    """
    try:
        yield db_session
    except BaseException:
        await db_session.rollback()
        raise
    else:
        await db_session.commit()
