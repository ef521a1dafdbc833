"""A shopper's search as Tantivy queries: which words it seeks, how each is found and weighed, the filters, and
what to highlight.

The words sought are those typed, except that a CJK word typed without its spaces is cut where the catalog's own
words meet (``니트조끼``: ``니트`` and ``조끼``). A word is present in a product when one of its sources holds it:

- a CJK word as a word of its own; or ending a longer word, which a compound names a kind of (``팬츠`` in
  ``와이드팬츠``), unless that word is in the synonym table as a thing of its own (``반바지`` is not ``바지``);
  or as two thirds of its bigrams (``analysis.required_grams``) anywhere, so ``롱스커트`` and ``롱 스커트``
  find each other; a one-character word stands alone or begins a word (``롱`` in ``롱스커트``);
- a Latin word whole, or as the beginning of a word when it is the last one typed, or with Meilisearch's typos;
- a Korean word of three syllables or more with one wrong, missing or extra syllable, but only when the word as
  typed is in no product: a syllable changes the item too easily (``베이지`` and ``베이직``, ``청바지`` and
  ``반바지``);
- one of its synonyms (``synonyms.SYNONYMS``), spelt exactly; the synonyms of a phrase typed (``trench coat``)
  belong to each of its words.

Products holding more of the words come first (a tier per word, above any score): a word counts for the tier
when the name, the category, the style tags or the colours hold it, not the description alone, which names other
items (``슬랙스나 청바지와 코디하기 좋아요``); the last word counts most, as Korean and English put the item last
(for ``린넨 셔츠``, another shirt is a better answer than another linen thing). Within a tier, scores are BM25
over those terms, weighted by source (``SOURCE_WEIGHTS``) and by how the word was found: a word of its own above
the end of a word above bigrams elsewhere, the word typed above its synonyms, typos and prefixes.

Docs followed (tantivy-py 0.27): Query.term_query, term_set_query, boolean_query (Occur,
``minimum_number_should_match``), boost_query, const_score_query, fuzzy_term_query (``distance``, ``prefix``),
range_query; Searcher.search, Searcher.doc_freq.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import tantivy
from tantivy import Occur, Query

from catalog.search.analysis import (
    CjkMark,
    Marks,
    QueryWord,
    grams,
    index_text,
    query_words,
    required_grams,
    words,
)
from catalog.search.synonyms import synonym_table
from catalog.search.tantivy_index import SOURCES

if TYPE_CHECKING:
    from catalog.search.engine import SearchQuery

SOURCE_WEIGHTS = {"name": 4.0, "head": 4.0, "category": 2.0, "tags": 1.5, "description": 1.0}
"""BM25 multipliers: the name tells most (its last word, the item, once more as ``head``), then the category,
then style tags and colours, then the description."""
IDENTITY_SOURCES = ("name", "category", "tags")
"""The sources that say what a product is: a word counts for its tier only when one of them holds it (``head`` is
part of the name)."""
WHOLE_WORD_BONUS = 1.0
"""A CJK word that is a word of the product, on top of its bigrams (relative to its source's weight)."""
END_BONUS = 0.7
"""A CJK word that ends a word of the product, on top of its bigrams."""
PREFIX_WEIGHT = 0.5
TYPO_WEIGHT = 0.2
SYNONYM_WEIGHT = 0.3
WORD_TIER = 10_000.0
"""What a word present adds to a score, above any BM25 score."""
LAST_WORD_TIER = 1.5
"""The last word's tier, in ``WORD_TIER``."""
assert set(SOURCE_WEIGHTS) == set(SOURCES)


@dataclass(frozen=True)
class TextQuery:
    """The words a search seeks, each as a query a product matches when it holds the word."""

    presences: tuple[Query, ...]
    """Per word: the products holding it in any source, scored by how well."""
    identities: tuple[Query, ...]
    """Per word: the products whose name, category, tags or colours hold it."""
    tiers: tuple[float, ...]
    """Per word: what its presence in ``identities`` adds to a score, in ``WORD_TIER``."""
    marks: Marks

    def every_word(self, filters: list[Query]) -> Query | None:
        """Products meeting ``filters`` whose name, category, tags or colours hold every word (the first tier,
        unscored); ``None`` for a single word."""
        if len(self.identities) < 2:
            return None
        return Query.boolean_query([*((Occur.Must, identity) for identity in self.identities), *_musts(filters)])

    def ranked_among(self, every_word: Query) -> Query:
        """The products of ``every_word``, scored as :meth:`matching` scores them (they share its first tier)."""
        scored = Query.boolean_query([(Occur.Should, presence) for presence in self.presences])
        return Query.boolean_query([(Occur.Must, every_word), (Occur.Should, scored)])

    def matching(self, filters: list[Query]) -> Query:
        """Products meeting ``filters`` and holding at least one word, those of the higher tiers first, then by
        score."""
        scored = Query.boolean_query([(Occur.Should, presence) for presence in self.presences])
        tiers = [
            (Occur.Should, Query.const_score_query(identity, WORD_TIER * tier))
            for identity, tier in zip(self.identities, self.tiers, strict=True)
        ]
        return Query.boolean_query([(Occur.Must, scored), *tiers, *_musts(filters)])


@dataclass(frozen=True)
class _Sought:
    """A word a search seeks: typed, or a part of a compound typed without its spaces."""

    word: QueryWord
    tier: float
    synonyms: tuple[str, ...] = ()


def text_query(schema: tantivy.Schema, text: str, searcher: tantivy.Searcher) -> TextQuery | None:
    """The words of ``text`` as queries on ``searcher``'s index, or ``None`` when it has no word."""
    typed = query_words(text)
    if not typed:
        return None
    catalog = _Catalog(searcher)
    sought = _with_synonyms(_sought(typed, catalog))
    presences: list[Query] = []
    identities: list[Query] = []
    typos: list[int] = []
    for found in sought:
        word = found.word
        by_source = _literal(schema, word)
        allowed = word.typos
        if word.cjk and allowed and catalog.holds(_any([clause for cs in by_source.values() for clause in cs])):
            allowed = 0
        for source, clause in _typos(schema, word, allowed):
            by_source[source].append(clause)
        for synonym in found.synonyms:
            for source, clause in _synonym(schema, synonym):
                by_source[source].append(clause)
        identity = _any([clause for source in IDENTITY_SOURCES for clause in by_source[source]])
        elsewhere = [
            clause for source in SOURCE_WEIGHTS if source not in IDENTITY_SOURCES for clause in by_source[source]
        ]
        presences.append(_any([identity, *elsewhere]))
        identities.append(identity)
        typos.append(allowed)
    tiers = tuple(found.tier for found in sought)
    return TextQuery(tuple(presences), tuple(identities), tiers, _marks(typed, sought, typos))


def _sought(typed: list[QueryWord], catalog: _Catalog) -> list[_Sought]:
    """The words to seek for those typed, with their tiers: each word (or part of a compound) 1, the last
    ``LAST_WORD_TIER``."""
    sought: list[_Sought] = []
    for position, word in enumerate(typed):
        parts = catalog.parts(word)
        for index, part in enumerate(parts):
            last = position == len(typed) - 1 and index == len(parts) - 1
            sought.append(_Sought(part, LAST_WORD_TIER if last else 1.0))
    return sought


class _Catalog:
    """What the index holds, for the choices a query makes on it: the words of its products, and whether any
    product matches a query. One per search."""

    def __init__(self, searcher: tantivy.Searcher) -> None:
        self._searcher = searcher
        self._words: dict[str, bool] = {}

    def holds(self, query: Query) -> bool:
        return bool(self._searcher.search(query, 1, count=False).hits)

    def has_word(self, text: str) -> bool:
        """Whether ``text`` is a word of the synonym table, or a word of some product's name, category, tags or
        colours."""
        if text not in self._words:
            self._words[text] = text in synonym_table() or any(
                self._searcher.doc_freq(f"{source}_words", text) for source in IDENTITY_SOURCES
            )
        return self._words[text]

    def parts(self, word: QueryWord) -> list[QueryWord]:
        """A CJK word typed without its spaces, cut into the fewest words of the catalog (``니트조끼``: ``니트``,
        ``조끼``); the word itself when it is a word of the synonym table (``청바지`` is not ``청`` and ``바지``)
        or no cut makes words of it."""
        if not word.cjk or len(word.text) < 3 or word.text in synonym_table():
            return [word]
        parts = self._fewest_words(word.text)
        if parts is None:
            return [word]
        last = len(parts) - 1
        return [word._replace(text=part, prefix=word.prefix and index == last) for index, part in enumerate(parts)]

    def _fewest_words(self, text: str) -> list[str] | None:
        """``text`` as the fewest words of the catalog, two at least; ``None`` when there is no such cut."""
        fewest: list[list[str] | None] = [[], *([None] * len(text))]
        for end in range(1, len(text) + 1):
            for start in range(end):
                before, best = fewest[start], fewest[end]
                if before is None or (start, end) == (0, len(text)) or not self.has_word(text[start:end]):
                    continue
                if best is None or len(before) + 1 < len(best):
                    fewest[end] = [*before, text[start:end]]
        return fewest[len(text)]


def _with_synonyms(sought: list[_Sought]) -> list[_Sought]:
    """Each word with its synonyms, and those of the phrases it is part of (``trench coat``)."""
    synonyms = [set(_synonyms(found.word.text)) for found in sought]
    longest = max(member.count(" ") + 1 for member in synonym_table())
    for length in range(2, longest + 1):
        for start in range(len(sought) - length + 1):
            phrase = " ".join(found.word.text for found in sought[start : start + length])
            for position in range(start, start + length):
                synonyms[position].update(_synonyms(phrase))
    return [
        _Sought(found.word, found.tier, tuple(sorted(others))) for found, others in zip(sought, synonyms, strict=True)
    ]


def _synonyms(text: str) -> tuple[str, ...]:
    return synonym_table().get(text, ())


def _marks(typed: list[QueryWord], sought: list[_Sought], typos: list[int]) -> Marks:
    """What to highlight in names: each word as typed and as sought, as it was matched, and its synonyms spelt
    exactly."""
    cjk: list[CjkMark] = []
    latin: set[str] = set()
    prefixes: set[str] = set()
    near: list[tuple[str, int, bool]] = []
    allowed_typos = {found.word.text: allowed for found, allowed in zip(sought, typos, strict=True)}
    for word in dict.fromkeys([*typed, *(found.word for found in sought)]):
        allowed = allowed_typos.get(word.text, 0)
        if word.cjk:
            unique = tuple(dict.fromkeys(word.grams))
            cjk.append(CjkMark(word.text, unique, required_grams(len(unique)), len(word.text) == 1, allowed))
        else:
            latin.add(word.text)
            if word.prefix:
                prefixes.add(word.text)
            if allowed:
                near.append((word.text, allowed, word.prefix))
    for part in (part for found in sought for synonym in found.synonyms for part in words(synonym)):
        if part.cjk:
            cjk.append(CjkMark(part.text, (), 1))
        else:
            latin.add(part.text)
    return Marks(tuple(cjk), frozenset(latin), frozenset(prefixes), tuple(near))


def _literal(
    schema: tantivy.Schema, word: QueryWord, *, weight: float = 1.0, exact: bool = False
) -> dict[str, list[Query]]:
    """The word in each source, as typed (or, ``exact``, as a synonym: all of its bigrams, and no prefix)."""
    clauses: dict[str, list[Query]] = {source: [] for source in SOURCE_WEIGHTS}
    unique = list(dict.fromkeys(word.grams))
    for source, source_weight in SOURCE_WEIGHTS.items():
        scale = weight * source_weight
        terms, whole = f"{source}_terms", f"{source}_words"
        if len(unique) == 1:
            clauses[source].append(_boost(Query.term_query(schema, terms, unique[0]), scale))
        else:
            bigrams = [(Occur.Should, Query.term_query(schema, terms, gram)) for gram in unique]
            least = len(unique) if exact else required_grams(len(unique))
            clauses[source].append(_boost(Query.boolean_query(bigrams, minimum_number_should_match=least), scale))
        if word.cjk:
            clauses[source].append(_boost(Query.term_query(schema, whole, word.text), scale * WHOLE_WORD_BONUS))
        if word.cjk and len(word.text) > 1:
            clauses[source].append(_boost(_end(schema, source, word.text), scale * END_BONUS))
        if not exact and ((word.cjk and len(word.text) == 1) or (word.prefix and not word.cjk)):
            field = whole if word.cjk else terms
            prefix = Query.fuzzy_term_query(schema, field, word.text, distance=0, prefix=True)
            clauses[source].append(_boost(prefix, scale * PREFIX_WEIGHT))
    return clauses


def _end(schema: tantivy.Schema, source: str, text: str) -> Query:
    """``text`` ending a word of ``source``, unless that word is in the synonym table (``반바지`` for ``바지``)."""
    end = Query.term_query(schema, f"{source}_ends", text)
    others = _table_words_by_end().get(text, ())
    if not others:
        return end
    unless = [(Occur.MustNot, Query.term_query(schema, f"{source}_words", other)) for other in others]
    return Query.boolean_query([(Occur.Must, end), *unless])


@functools.cache
def _table_words_by_end() -> dict[str, tuple[str, ...]]:
    """The words of the synonym table by each of their ends: things of their own, not kinds of their end."""
    by_end: dict[str, list[str]] = {}
    for member in synonym_table():
        if " " not in member:
            for end in index_text(member).ends:
                by_end.setdefault(end, []).append(member)
    return {end: tuple(dict.fromkeys(found)) for end, found in by_end.items()}


def _typos(schema: tantivy.Schema, word: QueryWord, typos: int) -> list[tuple[str, Query]]:
    """The word with ``typos`` edits: a CJK word as a whole word, a Latin one as a term (or a term's start)."""
    if not typos:
        return []
    clauses: list[tuple[str, Query]] = []
    for source, weight in SOURCE_WEIGHTS.items():
        field = f"{source}_words" if word.cjk else f"{source}_terms"
        prefix = word.prefix and not word.cjk
        fuzzy = Query.fuzzy_term_query(schema, field, word.text, distance=typos, prefix=prefix)
        clauses.append((source, _boost(fuzzy, weight * TYPO_WEIGHT)))
    return clauses


def _synonym(schema: tantivy.Schema, synonym: str) -> list[tuple[str, Query]]:
    """A synonym spelt exactly, at ``SYNONYM_WEIGHT``: a word found as a word typed is; a phrase by all its terms
    (a CJK word's every bigram) in one source."""
    found = words(synonym)
    if len(found) == 1:
        (only,) = found
        word = QueryWord(only.text, only.cjk, only.hangul, prefix=False)
        by_source = _literal(schema, word, weight=SYNONYM_WEIGHT, exact=True)
        return [(source, clause) for source, clauses in by_source.items() for clause in clauses]
    terms = list(dict.fromkeys(term for part in found for term in (grams(part.text) if part.cjk else [part.text])))
    clauses: list[tuple[str, Query]] = []
    for source, weight in SOURCE_WEIGHTS.items():
        every = _all([Query.term_query(schema, f"{source}_terms", term) for term in terms])
        clauses.append((source, _boost(every, weight * SYNONYM_WEIGHT)))
    return clauses


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


def _musts(queries: list[Query]) -> list[tuple[Occur, Query]]:
    return [(Occur.Must, query) for query in queries]


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
