"""The PostgreSQL engine's searches are planned with their values, however often the same search runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.search.engine import SearchQuery
from catalog.search.postgres import PostgresSearch
from shoa_api.database import create_engine

if TYPE_CHECKING:
    from shoa_api.settings import Settings


async def test_a_repeated_search_never_settles_on_a_generic_plan(settings: Settings) -> None:
    """asyncpg prepares each statement once per connection; after five runs PostgreSQL may switch to a plan made
    without the values, which cannot use a LIKE pattern it does not know (80 ms instead of 36 over 100,000
    products). Searches are always planned with their values, and nothing else on the connection is."""
    engine = create_engine(settings.database)
    try:
        async with engine.connect() as connection:
            session = AsyncSession(bind=connection)
            for words in ("린넨", "셔츠", "린넨", "원피스", "린넨", "데님", "린넨", "니트", "린넨", "코트"):
                await PostgresSearch().search(session, SearchQuery(text=words, in_stock=True, price_max=50_000))
            plans = (
                await connection.execute(
                    sa.text(
                        "SELECT sum(generic_plans), sum(custom_plans) FROM pg_prepared_statements"
                        " WHERE statement LIKE '%search_text%' AND statement NOT LIKE '%pg_prepared_statements%'"
                    )
                )
            ).one()
            # Only searches: the connection's other statements keep their cached plans.
            after = await connection.scalar(sa.text("SHOW plan_cache_mode"))
    finally:
        await engine.dispose()
    generic, custom = plans
    assert custom >= 10
    assert generic == 0
    assert after == "auto"
