"""``python -m bench search-quality``: how well a search engine ranks a judged catalog of Korean fashion.

The relevance set (``tests/catalog/search/relevance``, its README says how it was made) is a catalog of several
malls in the partner sync format and queries with graded judgments by external id. A fresh embedded PostgreSQL
is migrated and the catalog loaded through the partner sync itself (:func:`catalog.service.sync_products`), so
the engine sees what a mall's products become. The engine named by ``--engine`` then answers every query's first
page (relevance order, no filters), which is judged: P@10, NDCG@10, and whether the first hit is relevant. The
goal (issue 16): macro NDCG@10 >= 0.95, and no empty answer for a query that has relevant products.

An engine is one entry of :data:`ENGINES`: a function opening it over the loaded catalog. It keeps its index under
``EngineContext.work_dir`` and fills it before it is handed over, by running the worker's search-outbox consumer
until the outbox is empty, as ``shoa worker`` would. Meilisearch has no entry: no server can run here (its
adapter is tested against a protocol fake, which does not rank).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from bench.feed_metrics import ndcg_at
from bench.feed_report import machine_facts
from bench.http import BenchmarkError
from bench.report import markdown_page, markdown_table, now_utc, save_texts, text_table
from catalog import repository
from catalog.models import Mall
from catalog.search.engine import SearchQuery
from catalog.search.indexing import index_pending
from catalog.search.tantivy_engine import TantivyEngine
from catalog.service import sync_products
from shoa_api.database import create_engine, create_read_session_maker, create_session_maker, session_scope
from shoa_api.migrate import upgrade_to_head
from shoa_api.runtime import EmbeddedPostgres
from shoa_api.settings import DatabaseSettings

if TYPE_CHECKING:
    import argparse
    import uuid
    from collections.abc import AsyncIterator, Callable, Mapping, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from catalog.search.engine import SearchEngine

RELEVANCE_DIR = Path(__file__).resolve().parent.parent / "tests" / "catalog" / "search" / "relevance"
K = 10
RELEVANT = 2
"""The grade from which a hit counts as relevant for P@10 and the first hit (2 = relevant, 3 = exactly it)."""
GRADES = (1, 2, 3)
MIN_NDCG = 0.95
SYNC_BATCH = 500
QUERY_KINDS = (
    "item", "two-word", "unspaced", "typo-wrong", "typo-missing", "typo-extra", "synonym", "colour+item",
    "style+item", "inside-word", "japanese", "english", "no-relevant",
)  # fmt: skip
"""What each query tests; a query may be of several kinds. Every kind has queries (a test holds it)."""


class RelevanceMall(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    slug: str
    name: str
    description: str


class CatalogLine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One line of ``products.jsonl``: a product exactly as its mall sends it to ``PUT /partner/v1/products``."""

    mall: str
    product: msgspec.Raw


class JudgedQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    query: str
    kinds: list[str]
    note: str
    """How the query was judged, in a line."""
    judgments: dict[str, list[str]]
    """Grade (``"1"``-``"3"``) to the external ids judged so; a product not listed is not relevant (0)."""

    @property
    def grades(self) -> dict[str, int]:
        return {external_id: int(grade) for grade, ids in self.judgments.items() for external_id in ids}


class _Queries(msgspec.Struct, forbid_unknown_fields=True):
    queries: list[JudgedQuery]


@dataclass(frozen=True)
class RelevanceSet:
    malls: list[RelevanceMall]
    products: list[CatalogLine]
    queries: list[JudgedQuery]


def load_relevance_set(directory: Path = RELEVANCE_DIR) -> RelevanceSet:
    malls = msgspec.json.decode((directory / "malls.json").read_bytes(), type=list[RelevanceMall])
    decoder = msgspec.json.Decoder(CatalogLine)
    lines = (directory / "products.jsonl").read_bytes().splitlines()
    products = [decoder.decode(line) for line in lines if line.strip()]
    queries = msgspec.json.decode((directory / "queries.json").read_bytes(), type=_Queries).queries
    return RelevanceSet(malls=malls, products=products, queries=queries)


async def load_catalog(session: AsyncSession, relevance: RelevanceSet) -> dict[uuid.UUID, str]:
    """Add the set's malls and sync each one's products, in batches as a mall would send them; each created
    product's id to its external id. Raises if the sync rejects any product."""
    malls = {
        mall.slug: Mall(slug=mall.slug, name=mall.name, description=mall.description, logo_url=None)
        for mall in relevance.malls
    }
    repository.add_malls(session, list(malls.values()))
    await session.flush()
    external_ids: dict[uuid.UUID, str] = {}
    for slug, mall in malls.items():
        items = [line.product for line in relevance.products if line.mall == slug]
        for start in range(0, len(items), SYNC_BATCH):
            body = b'{"products":[' + b",".join(items[start : start + SYNC_BATCH]) + b"]}"
            result = await sync_products(session, mall_id=mall.id, body=body, max_items=SYNC_BATCH)
            rejected = [item for item in result.items if item.result == "rejected"]
            if rejected:
                msg = f"{slug}: the sync rejected {len(rejected)} products, first {msgspec.json.encode(rejected[0])!r}"
                raise BenchmarkError(msg)
            external_ids.update({item.product_id: item.external_id or "" for item in result.items if item.product_id})
    return external_ids


@dataclass(frozen=True)
class QueryScore:
    precision: float
    """Hits of grade ``RELEVANT`` or more among the first ``K``, over ``K``."""
    ndcg: float | None
    """Graded NDCG@K (gain = grade, discount log2(rank + 1), ideal = the judged grades in order); ``None`` when
    nothing is judged relevant, as there is then nothing to rank."""
    first_relevant: bool
    """The first hit has grade ``RELEVANT`` or more (``False`` on an empty answer)."""


def score_query(ranked: Sequence[str], grades: Mapping[str, int], *, k: int = K) -> QueryScore:
    relevance = {external_id: float(grade) for external_id, grade in grades.items()}
    return QueryScore(
        precision=sum(1 for external_id in ranked[:k] if grades.get(external_id, 0) >= RELEVANT) / k,
        ndcg=ndcg_at(ranked, relevance, k) if any(grade > 0 for grade in grades.values()) else None,
        first_relevant=bool(ranked) and grades.get(ranked[0], 0) >= RELEVANT,
    )


@dataclass(frozen=True)
class EngineContext:
    session_maker: async_sessionmaker[AsyncSession]
    """Sessions that write (an indexing job's)."""
    read_session_maker: async_sessionmaker[AsyncSession]
    """Sessions as the API's searches get them."""
    work_dir: Path
    """An empty folder for an engine's own files (its index), removed after the run."""


@contextlib.asynccontextmanager
async def _tantivy(context: EngineContext) -> AsyncIterator[SearchEngine]:
    """An index in the run's folder, fed by the worker's indexer from the search outbox until it is empty."""
    engine = TantivyEngine(context.work_dir / "search")
    try:
        while await index_pending(context.session_maker, engine):
            pass
        yield engine
    finally:
        engine.close()


ENGINES: dict[str, Callable[[EngineContext], contextlib.AbstractAsyncContextManager[SearchEngine]]] = {
    "tantivy": _tantivy,
}
"""Each engine by its ``--engine`` name: opens it over the loaded catalog, ready to search."""


@dataclass(frozen=True)
class QueryResult:
    id: str
    query: str
    kinds: list[str]
    judged: int
    """Products judged grade 1 or more."""
    relevant: int
    """Products judged ``RELEVANT`` or more."""
    total: int
    """Products the engine says match (up to its limit)."""
    ranked: list[str]
    """External ids of the first ``K`` hits, in order (``?<id>`` for a product not in the set)."""
    names: list[str]
    grades: list[int]
    """The judged grade of each of ``ranked``."""
    score: QueryScore

    @property
    def empty_but_relevant(self) -> bool:
        return self.judged > 0 and not self.ranked


@dataclass(frozen=True)
class QualityReport:
    command: str
    started_at: str
    engine: str
    options: dict[str, Any]
    seconds: dict[str, float]
    results: list[QueryResult]

    def scored(self, kind: str | None = None) -> list[QueryResult]:
        """Queries with something judged relevant (of ``kind``): those the averages are over."""
        return [r for r in self.results if r.score.ndcg is not None and (kind is None or kind in r.kinds)]

    def macro_ndcg(self, kind: str | None = None) -> float:
        return statistics.fmean([r.score.ndcg or 0.0 for r in self.scored(kind)] or [0.0])

    def macro_precision(self, kind: str | None = None) -> float:
        return statistics.fmean([r.score.precision for r in self.scored(kind)] or [0.0])

    def empty(self) -> list[QueryResult]:
        return [r for r in self.results if r.empty_but_relevant]

    def met(self) -> bool:
        return self.macro_ndcg() >= MIN_NDCG and not self.empty()


def run(args: argparse.Namespace) -> int:
    command, started_at = shlex.join(sys.orig_argv), now_utc()
    print(f"command: {command}")
    relevance = load_relevance_set()
    print(f"{len(relevance.products)} products, {len(relevance.queries)} judged queries, engine {args.engine}\n")
    seconds: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="shoa-bench-search-quality-") as tmp_name,
        EmbeddedPostgres(Path(tmp_name) / "postgres", durable=False) as postgres,
    ):
        started = time.perf_counter()
        upgrade_to_head(postgres.url)
        seconds["migrate"] = time.perf_counter() - started
        results = asyncio.run(
            judge(relevance, engine_name=args.engine, url=postgres.url, work_dir=Path(tmp_name), seconds=seconds)
        )
    report = QualityReport(
        command=command,
        started_at=started_at,
        engine=args.engine,
        options={"engine": args.engine, "k": K, "relevant_from_grade": RELEVANT},
        seconds=seconds,
        results=results,
    )
    print(render_text(report))
    texts = {".json": render_json(report), ".md": render_markdown(report)}
    for path in save_texts(args.output_dir, "search-quality", report.started_at, texts):
        print(f"saved {path}")
    return 0 if report.met() else 1


async def judge(
    relevance: RelevanceSet, *, engine_name: str, url: str, work_dir: Path, seconds: dict[str, float]
) -> list[QueryResult]:
    """Load the set into the migrated database at ``url`` through the partner sync, open the engine over it, and
    judge each query's first page (the quality floor test runs this too)."""
    database = create_engine(DatabaseSettings(url=url))
    try:
        started = time.perf_counter()
        session_maker = create_session_maker(database)
        async with session_scope(session_maker) as session:
            external_ids = await load_catalog(session, relevance)
        seconds["sync"] = time.perf_counter() - started
        context = EngineContext(session_maker, create_read_session_maker(database), work_dir / "engine")
        context.work_dir.mkdir()
        started = time.perf_counter()
        async with ENGINES[engine_name](context) as engine:
            seconds["open"] = time.perf_counter() - started
            started = time.perf_counter()
            results = [await _ask(engine, context, query, external_ids) for query in relevance.queries]
            seconds["search"] = time.perf_counter() - started
        return results
    finally:
        await database.dispose()


async def _ask(
    engine: SearchEngine, context: EngineContext, query: JudgedQuery, external_ids: Mapping[uuid.UUID, str]
) -> QueryResult:
    async with context.read_session_maker() as session:
        answer = await engine.search(session, SearchQuery(text=query.query, per_page=K))
    ranked = [external_ids.get(hit.id, f"?{hit.id}") for hit in answer.items]
    grades = query.grades
    return QueryResult(
        id=query.id,
        query=query.query,
        kinds=query.kinds,
        judged=len(grades),
        relevant=sum(1 for grade in grades.values() if grade >= RELEVANT),
        total=answer.total,
        ranked=ranked,
        names=[hit.name for hit in answer.items],
        grades=[grades.get(external_id, 0) for external_id in ranked],
        score=score_query(ranked, grades),
    )


QUERY_COLUMNS = (
    "id", "kinds", "query", "judged (>=2)", "hits", "P@10", "NDCG@10", "1st relevant", "grades of the first 10",
)  # fmt: skip
QUERY_NUMERIC = frozenset({3, 4, 5, 6})
KIND_COLUMNS = ("kind", "queries", "macro P@10", "macro NDCG@10", "1st relevant", "empty")
KIND_NUMERIC = frozenset({1, 2, 3, 4, 5})


def query_rows(report: QualityReport) -> list[tuple[str, ...]]:
    return [
        (
            r.id,
            ", ".join(r.kinds),
            r.query,
            f"{r.judged} ({r.relevant})",
            f"{r.total:,}",
            f"{r.score.precision:.1f}",
            "-" if r.score.ndcg is None else f"{r.score.ndcg:.3f}",
            ("yes" if r.score.first_relevant else "no") if r.judged else "-",
            " ".join([*map(str, r.grades), *["."] * (K - len(r.grades))]),
        )
        for r in report.results
    ]


def kind_rows(report: QualityReport) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for kind in (*QUERY_KINDS, None):
        of_kind = [r for r in report.results if kind is None or kind in r.kinds]
        scored = report.scored(kind)
        averages = (f"{report.macro_precision(kind):.3f}", f"{report.macro_ndcg(kind):.3f}") if scored else ("-", "-")
        first = f"{sum(1 for r in scored if r.score.first_relevant)}/{len(scored)}"
        rows.append(
            (kind or "all", str(len(of_kind)), *averages, first, str(sum(r.empty_but_relevant for r in of_kind)))
        )
    return rows


def notes(report: QualityReport) -> list[str]:
    no_relevant = [r for r in report.results if r.score.ndcg is None]
    shown = [f"{r.query} ({r.total:,})" for r in no_relevant if r.total]
    empty = report.empty()
    return [
        f"engine: {report.engine}; each query's first page of {K} in relevance order, no filters.",
        f"judged (>=2): products judged 1-3 (of them, {RELEVANT} or more). Grades: 3 exactly what was asked, "
        "2 relevant, 1 marginal, unlisted 0.",
        f"P@10: hits of grade >= {RELEVANT} among the first {K}, over {K} (below 1 whenever fewer are relevant). "
        f"NDCG@10: gain = grade, discount log2(rank + 1), ideal = the judged grades in order. 1st relevant: "
        f"the first hit has grade >= {RELEVANT}.",
        "grades of the first 10: each hit's judged grade in rank order; . where the answer ended.",
        f"macro averages over the {len(report.scored())} queries with judged products; "
        f"the {len(no_relevant)} with none are left out of them"
        + (f" (hits shown for them anyway: {', '.join(shown)})." if shown else " (they answered nothing)."),
        f"macro NDCG@10 {report.macro_ndcg():.3f} (goal >= {MIN_NDCG}); macro P@10 {report.macro_precision():.3f}; "
        f"queries with relevant products but an empty answer: {len(empty)} (goal 0)"
        + (f": {', '.join(r.query for r in empty)}." if empty else "."),
        "goal met." if report.met() else "goal NOT met.",
    ]


def render_text(report: QualityReport) -> str:
    blocks = [
        text_table(QUERY_COLUMNS, query_rows(report), QUERY_NUMERIC),
        text_table(KIND_COLUMNS, kind_rows(report), KIND_NUMERIC),
    ]
    timing = ", ".join(f"{name} {value:.1f}s" for name, value in report.seconds.items())
    return "\n\n".join([*blocks, "\n".join([*notes(report), f"time: {timing}"])])


def render_markdown(report: QualityReport) -> str:
    table = [
        *markdown_table(KIND_COLUMNS, kind_rows(report), KIND_NUMERIC),
        "",
        *markdown_table(QUERY_COLUMNS, query_rows(report), QUERY_NUMERIC),
    ]
    return markdown_page(
        benchmark="search-quality",
        started_at=report.started_at,
        command=report.command,
        table=table,
        notes=notes(report),
        sections={
            "Time": {name: f"{value:.1f} s" for name, value in report.seconds.items()},
            "Machine": machine_facts(),
            "Options": report.options,
        },
    )


def render_json(report: QualityReport) -> str:
    document = {
        "benchmark": "search-quality",
        "command": report.command,
        "started_at": report.started_at,
        "machine": machine_facts(),
        "options": report.options,
        "seconds": {name: round(value, 2) for name, value in report.seconds.items()},
        "macro_ndcg": round(report.macro_ndcg(), 4),
        "macro_precision": round(report.macro_precision(), 4),
        "empty_but_relevant": [r.id for r in report.empty()],
        "met": report.met(),
        "by_kind": [dict(zip(KIND_COLUMNS, row, strict=True)) for row in kind_rows(report)],
        "results": [{**asdict(r), "empty_but_relevant": r.empty_but_relevant} for r in report.results],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
