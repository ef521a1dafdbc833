"""The PostgreSQL engine: search over the catalog tables themselves, through a pg_trgm index.

Products carry their search terms (``search_text``, see ``catalog.search.text``): each query word (or any of its
synonyms) must be found there as a term prefix, which the trigram index answers even for two-syllable Korean
words. Filters are plain columns of ``products``; facets are counted over the whole match in one pass. The
answer is always current: there is no index to lag behind, and hidden products or paused malls drop out at
once.

Relevance: products with more query words in their name come first, then the more popular, then the newer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

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
    from sqlalchemy.ext.asyncio import AsyncSession

_p = Product.__table__.c
_m = Mall.__table__.c

_GENDERS = {"female": ("female", "unisex"), "male": ("male", "unisex")}


class PostgresSearch:
    name = "postgres"

    async def search(self, session: AsyncSession, query: SearchQuery) -> SearchResults:
        terms = query_terms(query.text)
        where = _conditions(query, terms)
        hits = await _page(session, query, terms, where)
        facets, total = await _facets(session, where)
        total = min(total, MAX_RESULTS)
        return SearchResults(
            items=hits,
            page=query.page,
            per_page=query.per_page,
            total=total,
            total_pages=total_pages(total, query.per_page),
            facets=facets,
        )


def _conditions(query: SearchQuery, terms: list[QueryTerm]) -> list[sa.ColumnElement[bool]]:
    text_array: Any = ARRAY(sa.String())
    where: list[sa.ColumnElement[bool]] = [
        _p.status != ProductStatus.HIDDEN.value,
        _m.status == MallStatus.ACTIVE.value,
    ]
    for term in terms:
        where.append(sa.or_(*(_p.search_text.like(pattern) for pattern in term.patterns())))
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


def _order(query: SearchQuery, terms: list[QueryTerm]) -> list[sa.ColumnElement[Any]]:
    newest = _p.id.desc()
    match query.sort:
        case "newest":
            return [newest]
        case "price_asc":
            return [_p.price_from.asc(), newest]
        case "price_desc":
            return [_p.price_from.desc(), newest]
        case "popularity":
            return [_p.popularity.desc(), newest]
        case "relevance" if terms:
            in_name = sum(
                (
                    sa.cast(sa.or_(*(_p.search_name.like(pattern) for pattern in term.patterns())), sa.Integer)
                    for term in terms
                ),
                start=sa.literal(0),
            )
            return [in_name.desc(), _p.popularity.desc(), newest]
        case _:
            return [_p.popularity.desc(), newest]


async def _page(
    session: AsyncSession, query: SearchQuery, terms: list[QueryTerm], where: list[sa.ColumnElement[bool]]
) -> list[SearchHit]:
    statement = (
        sa.select(
            _p.id,
            _p.name,
            _p.image_urls[1],
            _p.category_path,
            _p.price_min,
            _p.price_from,
            _p.currency,
            _p.in_stock,
            _p.exclusive,
            _m.id,
            _m.name,
        )
        .join_from(Product.__table__, Mall.__table__, _m.id == _p.mall_id)
        .where(*where)
        .order_by(*_order(query, terms))
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
    )
    return [
        SearchHit(
            id=row[0],
            name=row[1],
            highlighted_name=highlight(row[1], terms),
            image_url=row[2],
            category_path=row[3],
            price=row[4],
            price_from=row[5],
            currency=row[6],
            in_stock=row[7],
            exclusive=row[8],
            mall=MallRef(row[9], row[10]),
        )
        for row in await session.execute(statement)
    ]


async def _facets(session: AsyncSession, where: list[sa.ColumnElement[bool]]) -> tuple[Facets, int]:
    """Every facet's counts and the number of matches, in one statement over one pass of the matches."""
    matched = (
        sa.select(
            _p.category_path, _p.mall_id, _m.name.label("mall_name"), _p.style_tags, _p.colors, _p.sizes, _p.price_from
        )
        .join_from(Product.__table__, Mall.__table__, _m.id == _p.mall_id)
        .where(*where)
        .cte("matched")
        .prefix_with("MATERIALIZED")
    )
    bucket = sa.case(
        *((matched.c.price_from < high, bucket_name(low, high)) for low, high in PRICE_BUCKETS if high is not None),
        else_=bucket_name(*PRICE_BUCKETS[-1]),
    )
    count = sa.func.count()

    def grouped(kind: str, value: Any, *, label: Any = None) -> sa.Select[Any]:
        if label is None:
            return sa.select(sa.literal(kind), value, sa.null(), count).select_from(matched).group_by(value)
        return sa.select(sa.literal(kind), value, label, count).select_from(matched).group_by(value, label)

    def unnested(kind: str, column: Any) -> sa.Select[Any]:
        value = sa.func.unnest(column).table_valued("value").render_derived()
        return (
            sa.select(sa.literal(kind), value.c.value, sa.null(), count)
            .select_from(matched)
            .join(value, sa.true())
            .group_by(value.c.value)
        )

    statement: sa.CompoundSelect[Any] = sa.union_all(
        sa.select(sa.literal("total"), sa.null(), sa.null(), count).select_from(matched),
        grouped("category", matched.c.category_path),
        grouped("mall", sa.cast(matched.c.mall_id, sa.String), label=matched.c.mall_name),
        unnested("style", matched.c.style_tags),
        unnested("color", matched.c.colors),
        unnested("size", matched.c.sizes),
        grouped("price", bucket),
    )
    counts: dict[str, dict[str, int]] = {kind: {} for kind in ("category", "mall", "style", "color", "size", "price")}
    labels: dict[str, str] = {}
    total = 0
    for kind, value, label, number in await session.execute(statement):
        if kind == "total":
            total = number
            continue
        counts[kind][value] = number
        if label is not None:
            labels[value] = label
    categories = dict(counts["category"])
    for path, number in counts["category"].items():
        if "/" in path:
            top = path.split("/", 1)[0]
            categories[top] = categories.get(top, 0) + number
    facets = Facets(
        category=sort_facet(categories),
        mall=sort_facet(counts["mall"], labels),
        style=sort_facet(counts["style"]),
        color=sort_facet(counts["color"]),
        size=sort_facet(counts["size"]),
        price=price_facet(counts["price"]),
    )
    return facets, total
