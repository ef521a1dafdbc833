"""``GET /v1/search``: products by words, filters and sort, with facet counts, for anyone."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

from litestar import get
from litestar.datastructures import State
from litestar.params import QueryParameter

from catalog.categories import CATEGORY_PATHS
from catalog.errors import InvalidSearchError
from catalog.schemas import AgeBandName
from catalog.search.engine import (
    MAX_PER_PAGE,
    MAX_RESULTS,
    GenderFilter,
    SearchEngine,
    SearchQuery,
    SearchResults,
    SortOrder,
)
from shoa_api.openapi import problems

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

SEARCH_PARAMETERS = (
    "q", "category", "mall", "price_min", "price_max", "gender", "age_band", "style", "color", "size", "in_stock",
    "exclusive", "sort", "page", "per_page",
)  # fmt: skip
"""Every parameter of the search: each one changes the answer, so each is part of the cached answer's key."""


@get(
    "/v1/search",
    operation_id="search_products",
    summary="Search products: words in Korean, Japanese or English, filters, sorts and facet counts",
    cache=True,
    tags=["catalog"],
    opt={"cache_key_parameters": SEARCH_PARAMETERS},
    responses=problems(InvalidSearchError("unknown category 상의/점프수트; see GET /v1/catalog/vocabulary")),
)
async def search_products(
    *,
    state: State,
    q: Annotated[str, QueryParameter(max_length=200, description="Words to find; parts of words work (린넨).")] = "",
    category: Annotated[
        list[str] | None,
        QueryParameter(
            max_items=20,
            description="Category paths (상의, 상의/블라우스); any of them.",
            schema_extra={"items": {"type": "string", "enum": sorted(CATEGORY_PATHS)}},
        ),
    ] = None,
    mall: Annotated[list[uuid.UUID] | None, QueryParameter(max_items=20, description="Mall ids; any of them.")] = None,
    price_min: Annotated[int | None, QueryParameter(ge=0, description="Lowest price paid, inclusive.")] = None,
    price_max: Annotated[int | None, QueryParameter(ge=0, description="Highest price paid, inclusive.")] = None,
    gender: Annotated[GenderFilter | None, QueryParameter(description="For women or men (and unisex).")] = None,
    age_band: Annotated[AgeBandName | None, QueryParameter(description="Products meant for this age band.")] = None,
    style: Annotated[list[str] | None, QueryParameter(max_items=20, description="Style tags; any of them.")] = None,
    color: Annotated[list[str] | None, QueryParameter(max_items=20, description="Colours; any of them.")] = None,
    size: Annotated[list[str] | None, QueryParameter(max_items=20, description="Sizes; any of them.")] = None,
    in_stock: Annotated[bool, QueryParameter(description="Only products that can be bought now.")] = False,
    exclusive: Annotated[bool, QueryParameter(description="Only products sold on Shoa alone.")] = False,
    sort: Annotated[SortOrder, QueryParameter(description="Order of the results.")] = "relevance",
    page: Annotated[int, QueryParameter(ge=1, le=MAX_RESULTS)] = 1,
    per_page: Annotated[int, QueryParameter(ge=1, le=MAX_PER_PAGE)] = 20,
) -> SearchResults:
    if unknown := sorted(set(category or ()) - CATEGORY_PATHS):
        msg = f"unknown category {', '.join(unknown)}; see GET /v1/categories"
        raise InvalidSearchError(msg)
    if price_min is not None and price_max is not None and price_min > price_max:
        msg = f"price_min {price_min} is above price_max {price_max}"
        raise InvalidSearchError(msg)
    if page * per_page > MAX_RESULTS:
        msg = f"search pages stop at the {MAX_RESULTS:,}th result; narrow the search with words or filters"
        raise InvalidSearchError(msg)
    query = SearchQuery(
        text=q.strip(),
        categories=tuple(dict.fromkeys(category or ())),
        mall_ids=tuple(dict.fromkeys(mall or ())),
        price_min=price_min,
        price_max=price_max,
        gender=gender,
        age_band=age_band,
        styles=_distinct(style),
        colors=_distinct(color),
        sizes=_distinct(size),
        in_stock=in_stock,
        exclusive=exclusive,
        sort=sort,
        page=page,
        per_page=per_page,
    )
    # The engine and a read session come from the app's state rather than as dependencies: Litestar resolves
    # dependencies with machinery (a task group for two) that costs an uncached search more than the session
    # itself, which the PostgreSQL engine only uses for its first search.
    engine: SearchEngine = state.search_engine
    session_maker: async_sessionmaker[AsyncSession] = state.read_session_maker
    async with session_maker() as session:
        return await engine.search(session, query)


def _distinct(values: list[str] | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value.strip() for value in values or () if value.strip()))
