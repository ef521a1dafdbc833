"""Alembic environment, async. The URL comes from the caller's Config (``shoa migrate``, the tests) or, when
``alembic`` is run by hand, from the Shoa settings; a caller may also lend an open connection."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from migrations.metadata import target_metadata

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

config = context.config


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from shoa_api.database import async_database_url  # noqa: PLC0415 - only for `alembic` run by hand
    from shoa_api.settings import load_settings  # noqa: PLC0415

    return async_database_url(load_settings().database.url)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def _run_offline() -> None:
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
elif (lent := config.attributes.get("connection")) is not None:
    _run(lent)
else:
    asyncio.run(_run_async())
