"""The search interface both engines implement, and the query and answer they share.

A query is validated once, at the HTTP edge, into :class:`SearchQuery`; each engine turns it into its own
language (SQL over the catalog tables, or a Meilisearch search request) and answers a :class:`SearchResults`
of the same shape, so a client cannot tell which engine served it. The contract suite
(``tests/catalog/search/test_contract.py``) runs the same cases against both.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import msgspec

from catalog.schemas import AgeBandName

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

SortOrder = Literal["relevance", "newest", "price_asc", "price_desc", "popularity"]
GenderFilter = Literal["female", "male"]
"""``female`` finds products for women and unisex ones; ``male`` likewise."""

MAX_PER_PAGE = 50
MAX_RESULTS = 1000
"""No page reaches past the 1,000th hit (Meilisearch's ``maxTotalHits``); ``total`` stops there too."""
MAX_FACET_VALUES = 100
"""Per facet, the values with the most products (Meilisearch's ``maxValuesPerFacet``)."""

PRICE_BUCKETS: tuple[tuple[int, int | None], ...] = (
    (0, 20_000),
    (20_000, 40_000),
    (40_000, 70_000),
    (70_000, 100_000),
    (100_000, None),
)
"""Price ranges (what the shopper pays, in the currency's minor unit), lower bound included, upper excluded."""


def price_bucket(price: int) -> str:
    for low, high in PRICE_BUCKETS:
        if high is None or price < high:
            return bucket_name(low, high)
    raise AssertionError  # the last bucket is open-ended


def bucket_name(low: int, high: int | None) -> str:
    return f"{low}-{'' if high is None else high}"


class SearchQuery(msgspec.Struct, frozen=True, kw_only=True):
    text: str = ""
    """What the shopper typed; empty lists everything that passes the filters."""
    categories: tuple[str, ...] = ()
    """Category paths; a top level (``상의``) includes its children. Several: any of them."""
    mall_ids: tuple[uuid.UUID, ...] = ()
    price_min: int | None = None
    """Inclusive, on the price a shopper pays today (``price_from``)."""
    price_max: int | None = None
    """Inclusive."""
    gender: GenderFilter | None = None
    age_band: AgeBandName | None = None
    """Products declared for this age band, or for no band in particular."""
    styles: tuple[str, ...] = ()
    colors: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    in_stock: bool = False
    """Only products with at least one variant in stock."""
    exclusive: bool = False
    """Only products sold on Shoa alone."""
    sort: SortOrder = "relevance"
    page: int = 1
    per_page: int = 20


class MallRef(msgspec.Struct, frozen=True):
    id: uuid.UUID
    name: str


class SearchHit(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    highlighted_name: str
    """The name with the words that matched the query marked ``<em>…</em>`` (HTML-escaped otherwise)."""
    image_url: str
    category_path: str
    price: int
    """The lowest regular price of its variants."""
    price_from: int
    """The lowest price a shopper pays today."""
    currency: str
    in_stock: bool
    exclusive: bool
    mall: MallRef


class FacetValue(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    value: str
    count: int
    label: str | None = None
    """A readable name where the value is an id (malls)."""


class Facets(msgspec.Struct, frozen=True, kw_only=True):
    """Counts over every product matching the query and filters, most products first."""

    category: list[FacetValue]
    """Category paths, top levels included (``상의`` counts all of ``상의/…``)."""
    mall: list[FacetValue]
    style: list[FacetValue]
    color: list[FacetValue]
    size: list[FacetValue]
    price: list[FacetValue]
    """Every bucket of ``PRICE_BUCKETS``, in price order, as ``"low-high"`` (high excluded, empty when open)."""


class SearchResults(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SearchHit]
    page: int
    per_page: int
    total: int
    """Products matching, counted up to ``MAX_RESULTS``."""
    total_pages: int
    facets: Facets


@runtime_checkable
class SearchEngine(Protocol):
    name: str

    async def search(self, session: AsyncSession, query: SearchQuery) -> SearchResults:
        """The page of ``query``. ``session`` is a read session on the catalog (the engine may not need it)."""
        ...


def sort_facet(values: dict[str, int], labels: dict[str, str] | None = None) -> list[FacetValue]:
    """Most products first, then by value; at most ``MAX_FACET_VALUES``; zero counts left out."""
    ordered = sorted((-count, value) for value, count in values.items() if count > 0)
    labels = labels or {}
    return [
        FacetValue(value=value, count=-negative, label=labels.get(value))
        for negative, value in ordered[:MAX_FACET_VALUES]
    ]


def price_facet(counts: dict[str, int]) -> list[FacetValue]:
    return [
        FacetValue(value=bucket_name(low, high), count=counts.get(bucket_name(low, high), 0))
        for low, high in PRICE_BUCKETS
    ]


def total_pages(total: int, per_page: int) -> int:
    return -(-total // per_page)
