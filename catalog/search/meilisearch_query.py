"""A shopper's search as a Meilisearch search request: words, filters, sort, page, facets and highlighting.

Docs: reference/api/search, learn/filtering_and_sorting/filter_expression_reference (the array form, ``IN``,
quoting), learn/filtering_and_sorting/sort_search_results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from catalog.search.analysis import words

if TYPE_CHECKING:
    from catalog.search.engine import SearchQuery

FACETS = ["categories", "mall_id", "style_tags", "colors", "sizes", "price_bucket"]
RETRIEVED = [
    "id", "name", "image_url", "category_path", "price", "price_from", "currency", "in_stock", "exclusive", "mall_id",
]  # fmt: skip
HIGHLIGHT_START, HIGHLIGHT_END = "\x02", "\x03"
"""Markers no product name contains, so a name can be HTML-escaped first and the markers made ``<em>`` after."""


def search_request(query: SearchQuery) -> dict[str, Any]:
    """The body of ``POST /indexes/products/search`` for ``query``."""
    has_words = bool(words(query.text))
    body: dict[str, Any] = {
        "matchingStrategy": "frequency",
        "page": query.page,
        "hitsPerPage": query.per_page,
        "facets": FACETS,
        "attributesToRetrieve": RETRIEVED,
        "attributesToHighlight": ["name"],
        "highlightPreTag": HIGHLIGHT_START,
        "highlightPostTag": HIGHLIGHT_END,
    }
    if has_words:
        body["q"] = query.text
    if filters := search_filter(query):
        body["filter"] = filters
    if sort := _sort(query, has_words=has_words):
        body["sort"] = sort
    return body


def search_filter(query: SearchQuery) -> list[str]:
    """Meilisearch's array form: every element must hold (AND); values of one filter are alternatives (OR)."""
    conditions: list[str] = []
    for attribute, values in (
        ("categories", query.categories),
        ("mall_id", tuple(str(mall_id) for mall_id in query.mall_ids)),
        ("style_tags", query.styles),
        ("colors", query.colors),
        ("sizes", query.sizes),
    ):
        if values:
            conditions.append(f"{attribute} IN [{', '.join(_quote(value) for value in values)}]")
    if query.gender is not None:
        conditions.append(f"target_genders = {_quote(query.gender)}")
    if query.age_band is not None:
        conditions.append(f"age_bands = {_quote(query.age_band)}")
    if query.price_min is not None:
        conditions.append(f"price_from >= {int(query.price_min)}")
    if query.price_max is not None:
        conditions.append(f"price_from <= {int(query.price_max)}")
    if query.in_stock:
        conditions.append("in_stock = true")
    if query.exclusive:
        conditions.append("exclusive = true")
    return conditions


def _quote(value: str) -> str:
    """A filter string value: double quotes, with backslashes and quotes escaped (Meilisearch 1.4 and later)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sort(query: SearchQuery, *, has_words: bool) -> list[str]:
    newest = "id:desc"  # ids are UUIDv7: their string order is creation order
    match query.sort:
        case "newest":
            return [newest]
        case "price_asc":
            return ["price_from:asc", newest]
        case "price_desc":
            return ["price_from:desc", newest]
        case "relevance" if has_words:
            return []
        case _:
            return ["popularity:desc", newest]
