"""Alembic environment, async. Self-contained like the revisions: it imports no Shoa code, and is handed what it
needs by the caller's Config (``shoa_api.migrate``: ``shoa migrate``, ``shoa dev``, the tests, the benchmarks):
the database URL, and the models' metadata for autogenerate. A caller may also lend an open connection."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

config = context.config
target_metadata = config.attributes.get("target_metadata")


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        msg = (
            "Alembic runs through Shoa, which hands it the database and the models: `shoa migrate` upgrades, "
            '`shoa migrate --new-revision "what changed"` writes a revision from the models'
        )
        raise RuntimeError(msg)
    return url


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
