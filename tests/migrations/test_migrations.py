"""The schema comes only from Alembic, and the models agree with it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from shoa_api.migrate import MIGRATIONS_DIR, alembic_config, upgrade_to_head
from shoa_api.tables import target_metadata

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tests.conftest import Services


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, target_metadata))


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences)

    assert differences == []


async def test_the_database_is_at_the_single_head(engine: AsyncEngine) -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    async with engine.connect() as connection:
        current = await connection.scalar(sa.text("SELECT version_num FROM alembic_version"))

    assert len(heads) == 1
    assert current == heads[0]


def test_migration_files_have_dated_names() -> None:
    names = sorted(path.name for path in (MIGRATIONS_DIR / "versions").glob("*.py") if path.name != "__init__.py")

    assert names
    assert all(len(name) > 11 and name[:4].isdigit() and name[4] == "_" for name in names)


async def test_downgrade_to_nothing_and_back_up(services: Services) -> None:
    scratch_url = await _scratch_database(services.database_url, "shoa_migration_roundtrip")
    config = alembic_config(scratch_url)

    # Alembic's async env runs its own event loop: keep it off this test's loop.
    await asyncio.to_thread(upgrade_to_head, scratch_url)
    await asyncio.to_thread(command.downgrade, config, "base")
    await asyncio.to_thread(upgrade_to_head, scratch_url)

    scratch = create_async_engine(scratch_url)
    try:
        async with scratch.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await scratch.dispose()


async def _scratch_database(url: str, name: str) -> str:
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    return sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)
