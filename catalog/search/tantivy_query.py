"""A shopper's search as Tantivy queries: each word's presence and weight, the filters, and what to highlight.

A query word is present in a product when one of its sources holds it:

- a CJK word of two bigrams or more, when a field holds two thirds of its bigrams
  (``analysis.required_grams``), so ``롱스커트`` and ``롱 스커트`` find each other; a two-syllable word is one
  bigram and must be there; a one-character word stands alone or begins a word (``롱`` in ``롱스커트``);
- a Latin word whole, or as the beginning of a word when it is the last one typed, or with Meilisearch's typos;
- a Korean word of three syllables or more with one wrong, missing or extra syllable, but only when the word as
  typed is in no product: a syllable changes the item too easily (``베이지`` and ``베이직``, ``청바지`` and
  ``반바지``);
- one of its synonyms (``text.SYNONYMS``), spelt exactly.

Scores are BM25 over those terms, weighted by source (``SOURCE_WEIGHTS``); the CJK word whole adds a bonus, so
``바지`` ranks a product named ``바지`` above one named ``반바지``; a compound's first and last characters standing
alone add a little (``롱스커트`` and ``롱 스커트``). Prefixes, typos and synonyms weigh less than the word as
typed.

Docs followed (tantivy-py 0.27): Query.term_query, term_set_query, boolean_query (Occur,
``minimum_number_should_match``), boost_query, const_score_query, fuzzy_term_query (``distance``, ``prefix``),
range_query; Searcher.search.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import tantivy
from tantivy import Occur, Query

from catalog.search import analysis
from catalog.search.analysis import CjkMark, Marks, QueryWord, query_words, required_grams, words
from catalog.search.synonyms import SYNONYMS
from catalog.search.tantivy_index import SOURCES

if TYPE_CHECKING:
    from collections.abc import Callable

    from catalog.search.engine import SearchQuery

SOURCE_WEIGHTS = {"name": 4.0, "category": 2.0, "tags": 1.5, "description": 1.0}
"""BM25 multipliers: the name tells most, then the category, then style tags and colours, then the description."""
WHOLE_WORD_BONUS = 1.0
"""A CJK query word that is a word of the product (not part of a longer one), relative to its source's weight."""
PREFIX_WEIGHT = 0.5
EDGE_WEIGHT = 0.5
TYPO_WEIGHT = 0.2
SYNONYM_WEIGHT = 0.3
assert set(SOURCE_WEIGHTS) == set(SOURCES)


@dataclass(frozen=True)
class TextQuery:
    """The words of a search, each as a query a product matches when it holds the word (scored by how well)."""

    words: tuple[QueryWord, ...]
    presences: tuple[Query, ...]
    marks: Marks

    def all_words(self, filters: list[Query]) -> Query:
        """Products holding every word."""
        return _all([*self.presences, *filters])

    def some_words(self, filters: list[Query], *, tier: float) -> Query:
        """Products holding at least one word, those holding more words first (``tier`` per word, above any
        BM25 score), then by score."""
        scored = [(Occur.Should, presence) for presence in self.presences]
        tiers = [(Occur.Should, Query.const_score_query(presence, tier)) for presence in self.presences]
        return _all([Query.boolean_query([*scored, *tiers]), *filters])


def text_query(schema: tantivy.Schema, text: str, *, exists: Callable[[Query], bool]) -> TextQuery | None:
    """The words of ``text`` as queries, or ``None`` when it has no word. ``exists`` tells whether any product
    matches a query (for Korean typos, tried only on words no product holds)."""
    found = query_words(text)
    if not found:
        return None
    presences: list[Query] = []
    typos: list[int] = []
    for word in found:
        clauses = _literal(schema, word)
        allowed = 0 if word.cjk and word.typos and exists(_any(clauses)) else word.typos
        if allowed:
            clauses.extend(_typos(schema, word, allowed))
        for synonym in _synonyms(word.text):
            clauses.extend(_synonym(schema, synonym))
        presences.append(_with_edges(_any(clauses), _edges(schema, word)))
        typos.append(allowed)
    return TextQuery(tuple(found), tuple(presences), _marks(found, typos))


def _marks(found: list[QueryWord], typos: list[int]) -> Marks:
    """What to highlight in names: each word as it was matched, and its synonyms spelt exactly."""
    cjk: list[CjkMark] = []
    latin: set[str] = set()
    prefixes: set[str] = set()
    near: list[tuple[str, int, bool]] = []
    for word, allowed in zip(found, typos, strict=True):
        if word.cjk:
            grams = tuple(dict.fromkeys(word.grams))
            cjk.append(CjkMark(word.text, grams, required_grams(len(grams)), len(word.text) == 1, allowed))
        else:
            latin.add(word.text)
            if word.prefix:
                prefixes.add(word.text)
            if allowed:
                near.append((word.text, allowed, word.prefix))
        for part in (part for synonym in _synonyms(word.text) for part in words(synonym)):
            if part.cjk:
                cjk.append(CjkMark(part.text, (), 1))
            else:
                latin.add(part.text)
    return Marks(tuple(cjk), frozenset(latin), frozenset(prefixes), tuple(near))


def _literal(schema: tantivy.Schema, word: QueryWord) -> list[Query]:
    """The word as typed, in every source."""
    clauses: list[Query] = []
    grams = list(dict.fromkeys(word.grams))
    for source, weight in SOURCE_WEIGHTS.items():
        terms, whole = f"{source}_terms", f"{source}_words"
        if len(grams) == 1:
            clauses.append(_boost(Query.term_query(schema, terms, grams[0]), weight))
        else:
            bigrams = [(Occur.Should, Query.term_query(schema, terms, gram)) for gram in grams]
            least = required_grams(len(grams))
            clauses.append(_boost(Query.boolean_query(bigrams, minimum_number_should_match=least), weight))
        if word.cjk:
            clauses.append(_boost(Query.term_query(schema, whole, word.text), weight * WHOLE_WORD_BONUS))
        if (word.cjk and len(word.text) == 1) or (word.prefix and not word.cjk):
            field = whole if word.cjk else terms
            prefix = Query.fuzzy_term_query(schema, field, word.text, distance=0, prefix=True)
            clauses.append(_boost(prefix, weight * PREFIX_WEIGHT))
    return clauses


def _edges(schema: tantivy.Schema, word: QueryWord) -> list[Query]:
    """A CJK word's first and last characters standing alone: ``롱스커트`` prefers ``롱 스커트`` to ``랩 스커트``,
    which hold the same two bigrams."""
    if not word.cjk or len(word.text) < 3:
        return []
    return [
        _boost(Query.term_query(schema, f"{source}_terms", char), weight * EDGE_WEIGHT)
        for source, weight in SOURCE_WEIGHTS.items()
        for char in dict.fromkeys((word.text[0], word.text[-1]))
    ]


def _with_edges(presence: Query, edges: list[Query]) -> Query:
    """``presence``, scoring more with each of ``edges`` (which alone match nothing)."""
    if not edges:
        return presence
    return Query.boolean_query([(Occur.Must, presence), *((Occur.Should, edge) for edge in edges)])


def _typos(schema: tantivy.Schema, word: QueryWord, typos: int) -> list[Query]:
    """The word with ``typos`` edits: a CJK word as a whole word, a Latin one as a term (or a term's start)."""
    clauses: list[Query] = []
    for source, weight in SOURCE_WEIGHTS.items():
        field = f"{source}_words" if word.cjk else f"{source}_terms"
        prefix = word.prefix and not word.cjk
        fuzzy = Query.fuzzy_term_query(schema, field, word.text, distance=typos, prefix=prefix)
        clauses.append(_boost(fuzzy, weight * TYPO_WEIGHT))
    return clauses


def _synonym(schema: tantivy.Schema, synonym: str) -> list[Query]:
    """A synonym spelt exactly: all its terms (a CJK word's every bigram) in one source."""
    terms = list(dict.fromkeys(term for word in words(synonym) for term in _terms(word.text, cjk=word.cjk)))
    if not terms:
        return []
    return [
        _boost(_all([Query.term_query(schema, f"{source}_terms", term) for term in terms]), weight * SYNONYM_WEIGHT)
        for source, weight in SOURCE_WEIGHTS.items()
    ]


def _terms(text: str, *, cjk: bool) -> list[str]:
    return analysis.grams(text) if cjk else [text]


@functools.cache
def _synonym_table() -> dict[str, tuple[str, ...]]:
    """Each word of ``text.SYNONYMS``, normalized, and the other words of its groups."""
    others: dict[str, set[str]] = {}
    for group in SYNONYMS:
        normalized = {" ".join(word.text for word in words(member)) for member in group}
        for member in normalized:
            others.setdefault(member, set()).update(normalized - {member})
    return {member: tuple(sorted(alternatives)) for member, alternatives in others.items()}


def _synonyms(word: str) -> tuple[str, ...]:
    return _synonym_table().get(word, ())


def filters(schema: tantivy.Schema, query: SearchQuery) -> list[Query]:
    """One query per filter of ``query``; a product must match them all. They score nothing."""
    found: list[Query] = []
    for field, values in (
        ("categories", query.categories),
        ("mall_id", tuple(str(mall_id) for mall_id in query.mall_ids)),
        ("style_tags", query.styles),
        ("colors", query.colors),
        ("sizes", query.sizes),
    ):
        if values:
            found.append(Query.term_set_query(schema, field, list(values)))
    if query.gender is not None:
        found.append(Query.term_query(schema, "target_genders", query.gender))
    if query.age_band is not None:
        found.append(Query.term_query(schema, "age_bands", query.age_band))
    if query.price_min is not None or query.price_max is not None:
        found.append(
            Query.range_query(
                schema,
                "price_from",
                tantivy.FieldType.Integer,
                lower_bound=query.price_min,
                upper_bound=query.price_max,
            )
        )
    if query.in_stock:
        found.append(Query.term_query(schema, "in_stock", True))  # noqa: FBT003 - the value a term query matches
    if query.exclusive:
        found.append(Query.term_query(schema, "exclusive", True))  # noqa: FBT003
    return [Query.const_score_query(condition, 0.0) for condition in found]


def match_all(conditions: list[Query]) -> Query:
    """Every product that meets ``conditions`` (every product when there are none)."""
    return _all(conditions)


def _all(queries: list[Query]) -> Query:
    if not queries:
        return Query.all_query()
    if len(queries) == 1:
        return queries[0]
    return Query.boolean_query([(Occur.Must, query) for query in queries])


def _any(queries: list[Query]) -> Query:
    if len(queries) == 1:
        return queries[0]
    return Query.boolean_query([(Occur.Should, query) for query in queries])


def _boost(query: Query, weight: float) -> Query:
    return query if weight == 1.0 else Query.boost_query(query, weight)
