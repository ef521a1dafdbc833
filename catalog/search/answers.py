"""A search answered from :class:`~catalog.search.columns.CatalogColumns`: which slots match, their facets, the page.

Every step is a whole-array operation over the catalog's slots (100,000 products are 100,000 bytes a mask), so
an answer costs about the same whether it matches ten products or all of them.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import numpy as np

from catalog.search.columns import AGE_BANDS, GENDERS, MANY_FIELDS, CatalogColumns, many_key
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
from catalog.search.text import MIN_WORD_FOR_TWO_TYPOS, QueryTerm, highlight, query_terms
from catalog.search.values import packed

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from catalog.search.postings import TermPostings

_FEW = 6
_GENDERS = {"female": ("female", "unisex"), "male": ("male", "unisex")}


def answer(columns: CatalogColumns, query: SearchQuery) -> SearchResults:
    terms = query_terms(query.text)
    matched = columns.shown() & _filtered(columns, query)
    for term in terms:
        matched &= _holding(columns, term)
    found = np.flatnonzero(matched)
    total = min(int(found.shape[0]), MAX_RESULTS)
    return SearchResults(
        items=_hits(columns, _page(columns, found, terms, query), terms),
        page=query.page,
        per_page=query.per_page,
        total=total,
        total_pages=total_pages(total, query.per_page),
        facets=_facets(columns, matched, found),
    )


def _holding(columns: CatalogColumns, term: QueryTerm) -> NDArray[np.bool_]:
    """Slots whose text holds the term: any of its alternatives, or the word itself with a typo or two."""
    size = columns.size
    found = _holding_any(columns.text, term, size)
    if term.typo_tolerant is not None:
        word = term.typo_tolerant
        typos = 2 if len(word) >= MIN_WORD_FOR_TWO_TYPOS else 1
        for near in columns.text.terms_near(word, typos, prefix=term.prefix):
            found |= columns.text.matching(near, prefix=False, size=size)
    return found


def _holding_any(postings: TermPostings, term: QueryTerm, size: int) -> NDArray[np.bool_]:
    """Slots whose terms in ``postings`` hold one of the term's alternatives."""
    found = np.zeros(size, np.bool_)
    for word, prefix in term.needles():
        found |= postings.matching(word, prefix=prefix, size=size)
    return found


def _filtered(columns: CatalogColumns, query: SearchQuery) -> NDArray[np.bool_]:
    size = columns.size
    kept = np.ones(size, np.bool_)
    if query.categories:
        # A path, or a top level with everything under it.
        paths = [number for number in map(columns.categories.get, query.categories) if number is not None]
        tops = [number for number in map(columns.tops.get, query.categories) if number is not None]
        kept &= _one_of(columns.category[:size], paths) | _one_of(columns.top_category[:size], tops)
    if query.mall_ids:
        malls = [number for number in map(columns.malls.get, map(str, query.mall_ids)) if number is not None]
        kept &= _one_of(columns.mall[:size], malls)
    if query.price_min is not None:
        kept &= columns.price_from[:size] >= query.price_min
    if query.price_max is not None:
        kept &= columns.price_from[:size] <= query.price_max
    if query.gender is not None:
        kept &= _one_of(columns.gender[:size], [GENDERS.index(gender) for gender in _GENDERS[query.gender]])
    if query.age_band is not None:
        ages = columns.ages[:size]
        kept &= (ages == 0) | ((ages & (1 << AGE_BANDS.index(query.age_band))) != 0)
    for field, values in (("style", query.styles), ("color", query.colors), ("size", query.sizes)):
        if values:
            kept &= columns.many.any_of([many_key(field, value) for value in values], size)
    if query.in_stock:
        kept &= columns.in_stock[:size]
    if query.exclusive:
        kept &= columns.exclusive[:size]
    return kept


def _one_of(values: NDArray[np.integer[Any]], numbers: list[int]) -> NDArray[np.bool_]:
    """Where ``values`` is one of ``numbers``: a comparison per number while they are few (each costs about
    as much as one lookup of every value in a table), the table beyond."""
    if len(numbers) <= _FEW:
        found = np.zeros(values.shape[0], np.bool_)
        for number in numbers:
            found |= values == number
        return found
    table = np.zeros(int(values.max(initial=0)) + 1, np.bool_)
    table[[number for number in numbers if number < table.shape[0]]] = True
    return np.take(table, values)


def _page(
    columns: CatalogColumns, found: NDArray[np.int64], terms: list[QueryTerm], query: SearchQuery
) -> NDArray[np.int64]:
    """The page's slots in order: relevance (query words in the name, then popularity), or the asked sort; the
    newer product first among equals."""
    start = (query.page - 1) * query.per_page
    end = start + query.per_page
    if start >= found.shape[0]:
        return np.zeros(0, np.int64)
    if query.sort == "relevance" and terms:
        in_name = np.zeros(found.shape[0], np.int64)
        for term in terms:
            in_name += _holding_any(columns.name_terms, term, columns.size)[found]
        keys = (len(terms) - in_name) * columns.size + columns.rank("popularity")[found]
    else:
        keys = columns.rank("popularity" if query.sort == "relevance" else query.sort)[found]
    needed = min(end, found.shape[0])
    # The first ``needed`` keys, then in order: only those are sorted.
    first = np.argpartition(keys, needed - 1)[:needed] if needed < found.shape[0] else np.arange(needed)
    first = first[np.argsort(keys[first])]
    return found[first[start:end]]


def _hits(columns: CatalogColumns, slots: NDArray[np.int64], terms: list[QueryTerm]) -> list[SearchHit]:
    # Each column's values for the page at once, as Python values (a NumPy scalar per field costs more).
    fields = zip(
        slots.tolist(),
        columns.id_high[slots].tolist(),
        columns.id_low[slots].tolist(),
        columns.mall[slots].tolist(),
        columns.category[slots].tolist(),
        columns.price_min[slots].tolist(),
        columns.price_from[slots].tolist(),
        columns.in_stock[slots].tolist(),
        columns.exclusive[slots].tolist(),
        strict=True,
    )
    return [
        SearchHit(
            id=uuid.UUID(int=high << 64 | low),
            name=columns.names[slot],
            highlighted_name=highlight(columns.names[slot], terms),
            image_url=columns.images[slot],
            category_path=columns.categories.values[category],
            price=price,
            price_from=price_from,
            currency=columns.currencies[slot],
            in_stock=in_stock,
            exclusive=exclusive,
            mall=MallRef(columns.mall_ids[mall], columns.mall_names[mall]),
        )
        for slot, high, low, mall, category, price, price_from, in_stock, exclusive in fields
    ]


def _facets(columns: CatalogColumns, matched: NDArray[np.bool_], found: NDArray[np.int64]) -> Facets:
    per_path = np.bincount(columns.category[found], minlength=len(columns.categories)).tolist()
    categories: dict[str, int] = {}
    for path, count in zip(columns.categories.values, per_path, strict=True):
        if count:
            categories[path] = categories.get(path, 0) + count
            if "/" in path:
                top = path.split("/", 1)[0]
                categories[top] = categories.get(top, 0) + count
    per_mall = np.bincount(columns.mall[found], minlength=len(columns.malls)).tolist()
    # ``malls.values`` are the malls' ids as text already.
    malls = {mall_id: count for mall_id, count in zip(columns.malls.values, per_mall, strict=True) if count}
    labels = dict(zip(columns.malls.values, columns.mall_names, strict=True))
    per_bucket = np.bincount(columns.bucket[found], minlength=len(PRICE_BUCKETS)).tolist()
    many: dict[str, dict[str, int]] = {field: {} for field in MANY_FIELDS}
    for key, count in columns.many.counts(packed(matched, columns.capacity), found).items():
        field, value = key.split("\0", 1)
        many[field][value] = count
    return Facets(
        category=sort_facet(categories),
        mall=sort_facet(malls, labels),
        style=sort_facet(many["style"]),
        color=sort_facet(many["color"]),
        size=sort_facet(many["size"]),
        price=price_facet(
            {bucket_name(low, high): count for (low, high), count in zip(PRICE_BUCKETS, per_bucket, strict=True)}
        ),
    )
