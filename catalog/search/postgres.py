"""The PostgreSQL engine: search over the catalog tables themselves, through a pg_trgm index.

Products carry their search terms (``search_text``, see ``catalog.search.text``): each query word (or any of its
synonyms) must be found there as a term prefix, which the trigram index answers even for two-syllable Korean
words. Filters are plain columns of ``products``; facets are counted over the whole match in one pass. The
answer is always current: there is no index to lag behind, and hidden products or paused malls drop out at
once.

Relevance: products with more query words in their name come first, then the more popular, then the newer.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, aggregate_order_by
from sqlalchemy.exc import DBAPIError

from catalog.models import Mall, MallStatus, Product, ProductStatus
from catalog.search.engine import (
    MAX_RESULTS,
    PRICE_BUCKETS,
    Facets,
    MallRef,
    SearchHit,
    SearchQuery,
    SearchResults,
    bucket_name,
    price_facet,
    sort_facet,
    total_pages,
)
from catalog.search.text import QueryTerm, highlight, query_terms

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncSession

_p = Product.__table__.c
_m = Mall.__table__.c

_GENDERS = {"female": ("female", "unisex"), "male": ("male", "unisex")}


class PostgresSearch:
    name = "postgres"

    async def search(self, session: AsyncSession, query: SearchQuery) -> SearchResults:
        """One statement, one pass over the matches: the page, every facet's counts and the total."""
        terms = query_terms(query.text)
        counts: dict[str, dict[str, int]] = {kind: {} for kind in _FACET_KINDS}
        labels: dict[str, str] = {}
        total, hits = 0, []
        async with _planned_for_its_values(session):
            rows = (await session.execute(_statement(query, terms))).all()
        for kind, value, label, number, page in rows:
            if kind == "hits":
                hits = [_hit(row, terms) for row in page]
            elif kind == "total":
                total = number
            else:
                counts[kind][value] = number
                if label is not None:
                    labels[value] = label
        total = min(total, MAX_RESULTS)
        return SearchResults(
            items=hits,
            page=query.page,
            per_page=query.per_page,
            total=total,
            total_pages=total_pages(total, query.per_page),
            facets=_facets(counts, labels),
        )


@contextlib.asynccontextmanager
async def _planned_for_its_values(session: AsyncSession) -> AsyncIterator[None]:
    """The search runs planned for its values. asyncpg prepares each statement once per connection, and after
    five runs PostgreSQL may settle on a generic plan made without the values, which cannot use a LIKE pattern
    it does not know: 80 ms a search instead of 36 over 100,000 products. Only searches need it: forced on every
    statement, re-planning made the partner sync's statements a third slower."""
    await session.execute(sa.text("SET plan_cache_mode = force_custom_plan"))
    try:
        yield
    except BaseException:
        # The search's own error is the one to report. Inside a transaction the SET is undone with it; outside
        # one, a RESET that fails too leaves a connection the pool will replace.
        with contextlib.suppress(DBAPIError):
            await session.execute(sa.text("RESET plan_cache_mode"))
        raise
    await session.execute(sa.text("RESET plan_cache_mode"))


_FACET_KINDS = ("category", "mall", "style", "color", "size", "price")
_HIT_COLUMNS = (
    "id", "name", "image_url", "category_path", "price", "price_from", "currency", "in_stock", "exclusive", "mall_id",
    "mall_name",
)  # fmt: skip


def _hit(row: list[Any], terms: list[QueryTerm]) -> SearchHit:
    fields = dict(zip(_HIT_COLUMNS, row, strict=True))
    return SearchHit(
        id=uuid.UUID(fields["id"]),
        name=fields["name"],
        highlighted_name=highlight(fields["name"], terms),
        image_url=fields["image_url"],
        category_path=fields["category_path"],
        price=fields["price"],
        price_from=fields["price_from"],
        currency=fields["currency"],
        in_stock=fields["in_stock"],
        exclusive=fields["exclusive"],
        mall=MallRef(uuid.UUID(fields["mall_id"]), fields["mall_name"]),
    )


def _conditions(query: SearchQuery, terms: list[QueryTerm]) -> list[sa.ColumnElement[bool]]:
    text_array: Any = ARRAY(sa.String())
    where: list[sa.ColumnElement[bool]] = [
        _p.status != ProductStatus.HIDDEN.value,
        _m.status == MallStatus.ACTIVE.value,
    ]
    for term in terms:
        matches = [_p.search_text.like(pattern) for pattern in term.patterns()]
        if term.typo_tolerant is not None:
            # pg_trgm's word similarity (threshold 0.6, through the same index): "lineen" still finds "linen".
            matches.append(sa.literal(term.typo_tolerant, sa.Text).op("<%")(_p.search_text))
        where.append(sa.or_(*matches))
    if query.categories:
        paths = sa.literal(list(query.categories), text_array)
        where.append(
            sa.or_(_p.category_path == sa.any_(paths), sa.func.split_part(_p.category_path, "/", 1) == sa.any_(paths))
        )
    if query.mall_ids:
        where.append(_p.mall_id == sa.any_(sa.literal(list(query.mall_ids), ARRAY(sa.Uuid()))))
    if query.price_min is not None:
        where.append(_p.price_from >= query.price_min)
    if query.price_max is not None:
        where.append(_p.price_from <= query.price_max)
    if query.gender is not None:
        where.append(_p.target_gender.in_(_GENDERS[query.gender]))
    if query.age_band is not None:
        where.append(
            sa.or_(
                _p.target_age_bands == sa.literal([], text_array),
                _p.target_age_bands.op("@>")(sa.literal([query.age_band], text_array)),
            )
        )
    for column, values in ((_p.style_tags, query.styles), (_p.colors, query.colors), (_p.sizes, query.sizes)):
        if values:
            where.append(column.op("&&")(sa.literal(list(values), text_array)))
    if query.in_stock:
        where.append(_p.in_stock)
    if query.exclusive:
        where.append(_p.exclusive)
    return where


def _name_hits(terms: list[QueryTerm]) -> sa.ColumnElement[int]:
    """How many of the query's words the name holds: the first relevance criterion."""
    return sum(
        (sa.cast(sa.or_(*(_p.search_name.like(pattern) for pattern in term.patterns())), sa.Integer) for term in terms),
        start=sa.literal(0),
    )


def _statement(query: SearchQuery, terms: list[QueryTerm]) -> sa.CompoundSelect[Any]:
    # The matches carry only what facets and sorting need; the page's few rows fetch what their tiles show.
    matched = (
        sa.select(
            _p.id,
            _p.mall_id,
            _p.category_path,
            _p.style_tags,
            _p.colors,
            _p.sizes,
            _p.price_from,
            _p.popularity,
            (_name_hits(terms) if terms else sa.literal(0)).label("name_hits"),
        )
        .join_from(Product.__table__, Mall.__table__, _m.id == _p.mall_id)
        .where(*_conditions(query, terms))
        .cte("matched")
        .prefix_with("MATERIALIZED")
    )
    c = matched.c
    newest = c.id.desc()
    order: list[sa.ColumnElement[Any]]
    match query.sort:
        case "newest":
            order = [newest]
        case "price_asc":
            order = [c.price_from.asc(), newest]
        case "price_desc":
            order = [c.price_from.desc(), newest]
        case "relevance" if terms:
            order = [c.name_hits.desc(), c.popularity.desc(), newest]
        case _:  # popularity, and relevance without words
            order = [c.popularity.desc(), newest]
    page = (
        sa.select(c.id, sa.func.row_number().over(order_by=order).label("position"))
        .order_by(*order)
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
        .subquery("page")
    )
    product, mall = Product.__table__.alias("hit"), Mall.__table__.alias("hit_mall")
    tile = (
        product.c.id, product.c.name, product.c.image_urls[1], product.c.category_path, product.c.price_min,
        product.c.price_from, product.c.currency, product.c.in_stock, product.c.exclusive, mall.c.id, mall.c.name,
    )  # fmt: skip
    hits = (
        sa.select(
            sa.func.coalesce(
                sa.func.jsonb_agg(aggregate_order_by(sa.func.jsonb_build_array(*tile), page.c.position)),
                sa.literal_column("'[]'::jsonb"),
            )
        )
        .select_from(page)
        .join(product, product.c.id == page.c.id)
        .join(mall, mall.c.id == product.c.mall_id)
        .scalar_subquery()
    )
    count = sa.func.count()
    bucket = sa.case(
        *((c.price_from < high, bucket_name(low, high)) for low, high in PRICE_BUCKETS if high is not None),
        else_=bucket_name(*PRICE_BUCKETS[-1]),
    )
    no_hits = sa.cast(sa.null(), JSONB)

    def grouped(kind: str, value: Any) -> sa.Select[Any]:
        return sa.select(sa.literal(kind), value, sa.null(), count, no_hits).select_from(matched).group_by(value)

    def unnested(kind: str, column: Any) -> sa.Select[Any]:
        value = sa.func.unnest(column).table_valued("value").render_derived()
        return (
            sa.select(sa.literal(kind), value.c.value, sa.null(), count, no_hits)
            .select_from(matched)
            .join(value, sa.true())
            .group_by(value.c.value)
        )

    return sa.union_all(
        sa.select(sa.literal("hits"), sa.null(), sa.null(), sa.literal(0), hits),
        sa.select(sa.literal("total"), sa.null(), sa.null(), count, no_hits).select_from(matched),
        grouped("category", c.category_path),
        sa.select(sa.literal("mall"), sa.cast(_m.id, sa.String), _m.name, count, no_hits)
        .select_from(matched)
        .join(Mall.__table__, _m.id == c.mall_id)
        .group_by(_m.id, _m.name),
        unnested("style", c.style_tags),
        unnested("color", c.colors),
        unnested("size", c.sizes),
        grouped("price", bucket),
    )


def _facets(counts: dict[str, dict[str, int]], labels: dict[str, str]) -> Facets:
    categories = dict(counts["category"])
    for path, number in counts["category"].items():
        if "/" in path:
            top = path.split("/", 1)[0]
            categories[top] = categories.get(top, 0) + number
    return Facets(
        category=sort_facet(categories),
        mall=sort_facet(counts["mall"], labels),
        style=sort_facet(counts["style"]),
        color=sort_facet(counts["color"]),
        size=sort_facet(counts["size"]),
        price=price_facet(counts["price"]),
    )
