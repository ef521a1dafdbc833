"""The PostgreSQL engine: the catalog tables are the index, followed into each API process's memory.

A search over the catalog tables themselves cost PostgreSQL about 40 ms over 100,000 products (visiting the
thousands of rows a trigram index proposes, then counting facets over every match), far from the 50 ms p99
the benchmark asks at 16 connections on two cores. So each API process holds the searchable fields in
:class:`~catalog.search.columns.CatalogColumns` and answers from memory (``catalog.search.answers``), and
PostgreSQL stays the only source of truth:

- The first search reads every mall, then the products part by part.
- Every later search first waits for a read of what was committed since, in one statement that is an index
  lookup returning nothing when nothing changed; searches that arrive while one read is under way share the
  next. Triggers stamp each written row with its transaction id (``search_xid``);
  the engine remembers the oldest transaction still running when it last read (``pg_snapshot_xmin``) and
  the transactions at or past it whose rows it has read, and asks for rows of any other transaction at or
  past it. A transaction that commits late is therefore never skipped, and a search sees every change
  committed before it began, as a search of the tables themselves would: a hidden product is gone at once.
- Deleted rows leave tombstones (``catalog.models.SearchTombstone``); a truncated table makes the engine read
  everything again.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.search.answers import answer
from catalog.search.columns import CatalogColumns, MallRow, ProductRow
from catalog.search.postings import MIN_RECENT

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

    from catalog.search.engine import SearchQuery, SearchResults

_CHANGES_SQL = """
    SELECT 'floor', NULL::uuid, NULL::uuid, NULL::text, NULL::text, NULL::text, NULL::text[], NULL::text[],
           NULL::text[], NULL::text, NULL::text[], NULL::bigint, NULL::bigint, NULL::text, NULL::boolean,
           NULL::boolean, NULL::text, NULL::float8, NULL::text, NULL::text,
           pg_snapshot_xmin(pg_current_snapshot())::text::bigint, NULL::bigint
    UNION ALL
    SELECT 'product', id, mall_id, name, image_urls[1], category_path, style_tags, colors, sizes, target_gender,
           target_age_bands, price_min, price_from, currency, in_stock, exclusive, status, popularity,
           search_name, search_text, search_xid, search_seq
    FROM products WHERE search_xid >= $1 AND search_xid <> ALL($2::bigint[])
    UNION ALL
    SELECT 'mall', id, NULL, name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           status, NULL, NULL, NULL, search_xid, search_seq
    FROM malls WHERE search_xid >= $1 AND search_xid <> ALL($2::bigint[])
    UNION ALL
    SELECT 'removed', product_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, search_xid, search_seq
    FROM search_tombstones WHERE search_xid >= $1 AND search_xid <> ALL($2::bigint[])
"""
_XID, _SEQ = 20, 21
_FLOOR = sa.text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
_PRODUCTS_PART = sa.text(
    """
    SELECT id, mall_id, name, image_urls[1], category_path, style_tags, colors, sizes, target_gender,
           target_age_bands, price_min, price_from, currency, in_stock, exclusive, status, popularity,
           search_name, search_text, search_seq
    FROM products WHERE id > :after ORDER BY id LIMIT :limit
    """
).bindparams(sa.bindparam("after", type_=sa.Uuid), sa.bindparam("limit", type_=sa.Integer))
_MALLS = sa.text("SELECT id, name, status, search_seq FROM malls")
_LOAD_PART = 10_000


@dataclass
class _Copy:
    """The catalog as far as this process has read it, and where to read on from."""

    columns: CatalogColumns
    floor: int
    """Every transaction below this one had ended when last read, and its rows were read."""
    seen: set[int] = field(default_factory=set)
    """Transactions at or past ``floor`` whose rows were read."""

    def advance(self, floor: int, xids: set[int]) -> None:
        self.floor = max(self.floor, floor)
        self.seen = {xid for xid in self.seen | xids if xid >= self.floor}


class PostgresSearch:
    name = "postgres"

    def __init__(self, *, min_recent: int = MIN_RECENT) -> None:
        self._min_recent = min_recent
        self._copy: _Copy | None = None
        self._loading = asyncio.Lock()
        self._asked: asyncio.Future[None] | None = None
        """The next read of the changes, which every search arriving before it starts waits for."""
        self._reading: asyncio.Task[None] | None = None

    async def search(self, session: AsyncSession, query: SearchQuery) -> SearchResults:
        return answer(await self._current(session), query)

    async def aclose(self) -> None:
        """Stop reading changes (the app calls this as it stops)."""
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
        if self._asked is not None and not self._asked.done():
            self._asked.cancel()

    async def _current(self, session: AsyncSession) -> CatalogColumns:
        """The catalog with every change committed before this call."""
        if self._copy is not None:
            await self._caught_up(session)
        if self._copy is None:  # never read, or the products table was truncated: read it all
            async with self._loading:
                if self._copy is None:
                    self._copy = await self._load(session)
        return self._copy.columns

    async def _caught_up(self, session: AsyncSession) -> None:
        """Wait for a read of the changes that starts after this call. Searches that arrive while one read is
        under way share the next one: one statement and one connection checked out for all of them, none for
        each search."""
        bind = session.bind
        assert bind is not None, "search sessions are bound to the database"
        engine = bind if isinstance(bind, AsyncEngine) else bind.engine
        asked = self._asked
        if asked is None:
            asked = self._asked = asyncio.get_running_loop().create_future()
            if self._reading is None or self._reading.done():
                self._reading = asyncio.create_task(self._read_while_asked(engine), name="search-changes")
        await asyncio.shield(asked)

    async def _read_while_asked(self, engine: AsyncEngine) -> None:
        while (asked := self._asked) is not None:
            self._asked = None
            try:
                copy = self._copy
                if copy is not None:
                    async with engine.connect() as connection:
                        rows = await _changes(connection, copy)
                    self._apply_changes(copy, rows)
            except Exception as error:  # noqa: BLE001 - every search waiting for this read gets its error
                asked.set_exception(error)
            else:
                asked.set_result(None)

    def _apply_changes(self, copy: _Copy, rows: Sequence[tuple[Any, ...]]) -> None:
        if any(row[0] == "removed" and row[1] is None for row in rows):
            self._copy = None  # the products table was truncated
            return
        _apply(copy.columns, rows)
        copy.advance(rows[0][_XID], {row[_XID] for row in rows[1:]})

    async def _load(self, session: AsyncSession) -> _Copy:
        """Every product and mall, read part by part and filled in off the event loop.

        The parts are read in statements of their own (the read session commits each one), so a transaction
        may commit between them: reading on from the oldest transaction running before the first part, with
        none counted as seen, reads again whatever such a transaction wrote."""
        columns = CatalogColumns(min_recent=self._min_recent)
        floor: int = (await session.execute(_FLOOR)).scalar_one()
        malls = [MallRow._make(row) for row in await session.execute(_MALLS)]
        after = uuid.UUID(int=0)
        while True:
            part = [
                ProductRow._make(row)
                for row in await session.execute(_PRODUCTS_PART, {"after": after, "limit": _LOAD_PART})
            ]
            await anyio.to_thread.run_sync(columns.load, part, malls)
            malls = []
            if len(part) < _LOAD_PART:
                break
            after = part[-1].id
        await anyio.to_thread.run_sync(columns.finish_load)
        return _Copy(columns, floor)


async def _changes(connection: AsyncConnection, copy: _Copy) -> Sequence[tuple[Any, ...]]:
    """The rows written by transactions at or past the copy's floor other than those it has seen; the first
    row is the new floor.

    Every search waits for this, so it goes to asyncpg directly (its prepared statement, its records), without
    SQLAlchemy's statement and result handling around it. SQLAlchemy therefore never sees this statement fail:
    a connection it failed on (the server restarted, crashed or ended it; the search was cancelled half-way)
    is discarded here, rather than handed back to the pool to fail the next search or request too."""
    driver: asyncpg.Connection = (await connection.get_raw_connection()).driver_connection
    try:
        records = await driver.fetch(_CHANGES_SQL, copy.floor, sorted(copy.seen))
    except BaseException:
        await connection.invalidate()
        raise
    rows = [tuple(row) for row in records]
    floors = [row for row in rows if row[0] == "floor"]
    return [*floors, *(row for row in rows if row[0] != "floor")]


def _apply(columns: CatalogColumns, rows: Sequence[tuple[Any, ...]]) -> None:
    for row in rows:
        if row[0] == "mall":
            columns.apply_mall(MallRow(row[1], row[3], row[16], row[_SEQ]))
    for row in rows:
        if row[0] == "product":
            columns.apply_product(ProductRow._make((*row[1:20], row[_SEQ])))
    for row in rows:
        if row[0] == "removed" and row[1] is not None:
            columns.remove_product(row[1], row[_SEQ])
