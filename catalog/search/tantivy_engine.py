"""The Tantivy engine: an embedded index in a folder, written by one process and read by any number.

The worker is the only writer: it feeds the index from the search outbox (``catalog.search.indexing``) with the
documents ``catalog.search.documents`` builds, through :meth:`TantivyEngine.apply_changes`, which returns once
the change is committed to disk (the outbox rows are deleted after that). API processes open the same folder
read-only; the files are memory-mapped, so they share one copy through the operating system. Before each search
the reader looks at the index's ``meta.json`` (one ``stat``) and reloads when a commit replaced it, so a change is
searchable as soon as the writer committed it.

Like Meilisearch's, the index lags the catalog by the indexer's turn, so each page is checked against the
database (``catalog.search.visibility``) and a hidden or deleted product never shows. Queries are built in
``tantivy_query``, the index is declared in ``tantivy_index``, and text is cut by ``analysis``.

Ranking, for a search with words: every product holding some word, those holding more of the words first (the
item, the last word, counting most); then BM25 (both in ``tantivy_query``); then popularity; then the newer
product. Tantivy's own top-k orders by score alone, so the engine fetches the best ``FIRST_FETCH`` hits, orders
them with the tie-breaks, and fetches more only when the page reaches into a run of equal scores that may go on
past what it fetched.

Docs followed (tantivy-py 0.27): Index (path, ``reuse``), Index.open, ``config_reader(reload_policy="manual")``,
Index.reload, Index.writer, IndexWriter (``delete_documents_by_term``, ``add_document``, ``commit``,
``rollback``, ``wait_merging_threads``), Searcher (search with ``order_by_field``/``order``/``offset``,
``fast_field_values``, ``aggregate`` with Elasticsearch-style ``terms`` and ``range`` requests, ``doc``).
"""

from __future__ import annotations

import html
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import tantivy

from catalog.search.analysis import Marks, highlight
from catalog.search.engine import (
    MAX_RESULTS,
    PRICE_BUCKETS,
    Facets,
    SearchHit,
    SearchQuery,
    SearchResults,
    bucket_name,
    price_facet,
    sort_facet,
    total_pages,
)
from catalog.search.errors import IndexWriterBusyError, SearchUnavailableError
from catalog.search.tantivy_index import FACET_FIELDS, SCHEMA_VERSION, SORTS, StoredHit, decode_hit, entry, schema
from catalog.search.tantivy_query import filters, match_all, text_query
from catalog.search.visibility import visible_now

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

FIRST_FETCH = 100
"""Hits fetched for a page ordered by relevance, at least; more when a run of equal scores may go on."""
MAX_FETCH = 20_000
"""Past this many hits, a run of equal scores is ordered among those fetched only."""
FACET_SCAN = 10_000
"""Values of one facet counted exactly (per index segment); the most frequent ``MAX_FACET_VALUES`` are shown."""
WRITER_HEAP_BYTES = 64_000_000
_DESC = tantivy.Order.Desc
_AGGREGATIONS: dict[str, Any] = {
    **{name: {"terms": {"field": name, "size": FACET_SCAN, "segment_size": FACET_SCAN}} for name in FACET_FIELDS},
    "price": {
        "range": {
            "field": "price_from",
            "ranges": [
                {"key": bucket_name(low, high), "from": low} | ({} if high is None else {"to": high})
                for low, high in PRICE_BUCKETS
            ],
        }
    },
}


@dataclass(frozen=True)
class _Found:
    """What the index answered, before the database has its say."""

    hits: list[StoredHit]
    total: int
    facets: dict[str, dict[str, int]]
    marks: Marks | None


class TantivyEngine:
    """Product search on a Tantivy index in ``directory``; also the index's writer, for the worker."""

    name = "tantivy"

    def __init__(self, directory: Path | str, *, writer_heap_bytes: int = WRITER_HEAP_BYTES) -> None:
        self.path = Path(directory) / f"products-v{SCHEMA_VERSION}"
        self._schema = schema()
        self._writer_heap_bytes = writer_heap_bytes
        self._writer: tantivy.IndexWriter | None = None
        self._writing = threading.Lock()
        self._reader: tantivy.Index | None = None
        self._read_stamp: tuple[int, int, int] | None = None
        self._reloading = threading.Lock()

    # -- writing ---------------------------------------------------------------------------------------------

    async def apply_changes(self, *, upserts: Sequence[dict[str, Any]], deletes: Sequence[str]) -> None:
        """Add or replace ``upserts`` and remove the products ``deletes``, in one commit; returns once it is on
        disk. On failure nothing of the change is kept (and ``SearchUnavailableError`` is raised)."""
        if upserts or deletes:
            await anyio.to_thread.run_sync(self._apply, list(upserts), list(deletes))

    def _apply(self, upserts: list[dict[str, Any]], deletes: list[str]) -> None:
        with self._writing:
            writer = self._open_writer()
            try:
                for document in upserts:
                    writer.delete_documents_by_term("id", str(uuid.UUID(document["id"])))
                    writer.add_document(entry(document))
                for product_id in deletes:
                    writer.delete_documents_by_term("id", str(uuid.UUID(product_id)))
                writer.commit()
            except Exception as exc:
                writer.rollback()
                msg = f"Tantivy index {self.path}: the change was not committed: {type(exc).__name__}: {exc}"
                raise SearchUnavailableError(msg) from exc

    def _open_writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            self.path.mkdir(parents=True, exist_ok=True)
            index = tantivy.Index(self._schema, path=str(self.path), reuse=True)
            try:
                self._writer = index.writer(heap_size=self._writer_heap_bytes, num_threads=1)
            except ValueError as exc:
                if "LockBusy" not in str(exc):
                    raise
                msg = f"Tantivy index {self.path}: another process writes it"
                raise IndexWriterBusyError(msg) from None
        return self._writer

    async def prepare(self) -> bool:
        """Create the index if it does not exist yet, so the API can search an empty catalog, and take its writer
        (``IndexWriterBusyError`` while another worker holds it); whether it was created (the worker then queues
        every product for it: a new schema version starts empty)."""
        created = not (self.path / "meta.json").exists()
        await anyio.to_thread.run_sync(self._open_writer)
        return created

    def close(self) -> None:
        """Let the writer finish its merges and release the index's write lock, for the worker as it stops;
        searching goes on."""
        with self._writing:
            if self._writer is not None:
                self._writer.wait_merging_threads()
                self._writer = None

    # -- searching -------------------------------------------------------------------------------------------

    async def search(self, session: AsyncSession, query: SearchQuery) -> SearchResults:
        found = await anyio.to_thread.run_sync(self._find, query)
        hit_ids = [uuid.UUID(hit.id) for hit in found.hits]
        facet_malls = [mall for mall in map(_uuid_or_none, found.facets.get("mall_id", {})) if mall is not None]
        visible, listed = await visible_now(session, hit_ids, facet_malls)
        items = [
            SearchHit(
                id=hit_id,
                name=hit.name,
                highlighted_name=html.escape(hit.name) if found.marks is None else highlight(hit.name, found.marks),
                image_url=hit.image_url,
                category_path=hit.category_path,
                price=hit.price,
                price_from=hit.price_from,
                currency=hit.currency,
                in_stock=hit.in_stock,
                exclusive=hit.exclusive,
                mall=visible[hit_id],
            )
            for hit, hit_id in zip(found.hits, hit_ids, strict=True)
            if hit_id in visible
        ]
        malls = {mall: count for mall, count in found.facets.get("mall_id", {}).items() if mall in listed}
        facets = Facets(
            category=sort_facet(found.facets.get("categories", {})),
            mall=sort_facet(malls, listed),
            style=sort_facet(found.facets.get("style_tags", {})),
            color=sort_facet(found.facets.get("colors", {})),
            size=sort_facet(found.facets.get("sizes", {})),
            price=price_facet(found.facets.get("price", {})),
        )
        total = min(found.total, MAX_RESULTS)
        return SearchResults(
            items=items,
            page=query.page,
            per_page=query.per_page,
            total=total,
            total_pages=total_pages(total, query.per_page),
            facets=facets,
        )

    def _find(self, query: SearchQuery) -> _Found:
        searcher = self._searcher()
        conditions = filters(self._schema, query)
        text = text_query(self._schema, query.text, searcher)
        pager = _Pager(
            searcher,
            self._schema,
            start=min((query.page - 1) * query.per_page, MAX_RESULTS),
            end=min(query.page * query.per_page, MAX_RESULTS),
        )
        if text is None:
            matching = match_all(conditions)
            page, total = pager.ordered(matching, "popularity" if query.sort == "relevance" else query.sort)
        else:
            matching = text.matching(conditions)
            every_word = text.every_word(conditions)
            if every_word is not None and _holding_every_word_suffice(searcher, every_word, pager, query.sort):
                page, total = pager.page(text.ranked_among(every_word), query.sort)
                matching = every_word
            else:
                page, total = pager.page(matching, query.sort)
        facets = _facets(searcher.aggregate(matching, _AGGREGATIONS)) if total else {}
        hits = [decode_hit(bytes(searcher.doc(address)["hit"][0])) for address in page]
        return _Found(hits, total, facets, None if text is None else text.marks)

    def _searcher(self) -> tantivy.Searcher:
        """A searcher on the last commit: the index is reloaded when the writer has replaced ``meta.json``."""
        try:
            meta = (self.path / "meta.json").stat()
        except FileNotFoundError:
            msg = f"Tantivy index {self.path} does not exist yet (the worker creates it)"
            raise SearchUnavailableError(msg) from None
        stamp = (meta.st_ino, meta.st_mtime_ns, meta.st_size)
        if stamp != self._read_stamp or self._reader is None:
            with self._reloading:
                if self._reader is None:
                    reader = tantivy.Index.open(str(self.path))
                    reader.config_reader(reload_policy="manual")
                    self._reader = reader
                elif stamp != self._read_stamp:
                    self._reader.reload()
                self._read_stamp = stamp
        return self._reader.searcher()


@dataclass(frozen=True)
class _Pager:
    """Hits ``start`` to ``end`` of a query in some order, from one searcher (one commit), and how many match."""

    searcher: tantivy.Searcher
    schema: tantivy.Schema
    start: int
    end: int

    def page(self, matching: tantivy.Query, sort: str) -> tuple[list[tantivy.DocAddress], int]:
        return self.ranked(matching) if sort == "relevance" else self.ordered(matching, sort)

    def ordered(self, matching: tantivy.Query, sort: str) -> tuple[list[tantivy.DocAddress], int]:
        """By ``newest`` or one of ``SORTS``, the newer product first on ties.

        Tantivy orders by one field and breaks its ties by where documents sit in the index. So the first
        ``end`` hits are fetched by the sort's field, those before the last value are ordered here with the
        tie-break, and the hits sharing the last value (which may go on past ``end``) are fetched again by id.
        """
        searcher, start, end = self.searcher, self.start, self.end
        if end <= start:
            return [], _count(searcher.search(matching, 1, count=True))
        if sort == "newest":
            result = searcher.search(matching, end - start, count=True, order_by_field="id", offset=start, order=_DESC)
            return [address for _, address in result.hits], _count(result)
        field, kind, order = SORTS[sort]
        result = searcher.search(matching, end, count=True, order_by_field=field, order=order)
        hits: list[tuple[Any, tantivy.DocAddress]] = result.hits
        total = _count(result)
        ties: list[tantivy.DocAddress] = []
        if len(hits) == end and total > end:
            last = hits[-1][0]
            hits = [(value, address) for value, address in hits if value != last]
            sharing = tantivy.Query.range_query(self.schema, field, kind, lower_bound=last, upper_bound=last)
            tied = searcher.search(match_all([matching, sharing]), end - len(hits), order_by_field="id", order=_DESC)
            ties = [address for _, address in tied.hits]
        sign = 1 if order == tantivy.Order.Asc else -1
        return [*self._newer_first(hits, key=lambda value: sign * value), *ties][start:end], total

    def ranked(self, matching: tantivy.Query) -> tuple[list[tantivy.DocAddress], int]:
        """By score, then popularity, then the newer product."""
        fetch = max(self.end, FIRST_FETCH)
        while True:
            result = self.searcher.search(matching, fetch, count=True)
            hits: list[tuple[float, tantivy.DocAddress]] = result.hits
            lowest = hits[-1][0] if hits else 0.0
            if len(hits) < fetch or fetch >= MAX_FETCH or sum(score > lowest for score, _ in hits) >= self.end:
                break
            fetch = min(fetch * 4, MAX_FETCH)
        popularity = self.searcher.fast_field_values("popularity", [address for _, address in hits])
        scored = [((score, value or 0.0), address) for (score, address), value in zip(hits, popularity, strict=True)]
        ordered = self._newer_first(scored, key=lambda pair: (-pair[0], -pair[1]))
        return ordered[self.start : self.end], _count(result)

    def _newer_first(
        self, hits: list[tuple[Any, tantivy.DocAddress]], *, key: Callable[[Any], Any]
    ) -> list[tantivy.DocAddress]:
        """``hits`` ordered by ``key`` of their values, then the newer product first."""
        addresses = [address for _, address in hits]
        high = self.searcher.fast_field_values("id_high", addresses)
        low = self.searcher.fast_field_values("id_low", addresses)
        order = sorted(range(len(hits)), key=lambda i: (key(hits[i][0]), -int(high[i] or 0), -int(low[i] or 0)))
        return [addresses[i] for i in order]


def _holding_every_word_suffice(
    searcher: tantivy.Searcher, every_word: tantivy.Query, pager: _Pager, sort: str
) -> bool:
    """Whether only the products holding every word answer: by relevance, when they fill the page asked for (they
    rank first anyway; Meilisearch's matching strategies do the same); sorted by a field, whenever there are any
    (else a search for 블랙 슬랙스 by price would list every black thing before the slacks)."""
    held = _count(searcher.search(every_word, 1, count=True))
    return held >= pager.end if sort == "relevance" else held > 0


def _count(result: tantivy.SearchResult) -> int:
    """How many products matched (``search(count=True)``; tantivy-py's type hints leave ``count`` out)."""
    count: int | None = getattr(result, "count", None)
    return count or 0


def _facets(answer: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {
        name: {str(bucket["key"]): int(bucket["doc_count"]) for bucket in result.get("buckets", ())}
        for name, result in answer.items()
    }


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
