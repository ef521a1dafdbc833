"""Ordering the matched documents: the ranking rules, applied in the order the settings list them.

Docs: learn/relevancy/ranking_rules, learn/relevancy/custom_ranking_rules, learn/filtering_and_sorting/
sort_search_results, reference/api/search (``matchingStrategy``, placeholder search).

- ``matchingStrategy``: ``last`` (default) keeps documents that match the first words of the query when they
  lack later ones, the ``words`` rule ranking those that contain more query words first ("batman dark knight":
  all three, then ``batman dark``, then ``batman``); ``all`` keeps only documents containing every word;
  ``frequency`` drops the most frequent words first.
- ``words`` always applies before ``typo``, ``proximity``, ``attribute`` and ``exactness``, even when the
  settings leave it out or list it later, as the docs say.
- ``typo``: fewer typos first. ``proximity``: query words closer together (and in query order) first, a
  distance capped at 8 and 8 across attributes. ``attribute``: matches in a more important searchable attribute
  first, then nearer the attribute's start. ``exactness``: an attribute equal to the query, then one starting
  with it, then more words matched exactly (no prefix, typo or synonym). ``sort`` and custom rules
  (``price:asc``): numbers before strings, strings compared by their lowercase UTF-8 bytes, documents without
  the field last; an array sorts by its lowest value ascending and its highest descending.
- A placeholder search (no query words) is ordered by ``sort`` and custom rules only, then by insertion order.

Simplifications: each rule is a plain sort key rather than Meilisearch's bucket sort with its graph-based
proximity and attribute scoring; ``_rankingScore`` is a rough measure from matched words and typos, not
Meilisearch's formula.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.meilisearch.documents import leaf_values, lookup
from tests.meilisearch.matching import (
    AttributeText,
    ParsedQuery,
    TermMatch,
    match_alternative,
    match_term,
    searchable_texts,
)

if TYPE_CHECKING:
    from tests.meilisearch.errors import JsonObject

_RELEVANCY_RULES = ("typo", "proximity", "attribute", "exactness")
_MAX_PROXIMITY = 8


@functools.total_ordering
class SortValue:
    """A document's value for one sort criterion, ordered as Meilisearch orders it."""

    def __init__(self, values: list[Any], *, descending: bool) -> None:
        numbers = [float(value) for value in values if isinstance(value, int | float) and not isinstance(value, bool)]
        texts = [_sortable_text(value) for value in values if isinstance(value, str | bool)]
        pick = max if descending else min
        self.descending = descending
        self.group = 0 if numbers else 1 if texts else 2
        self.number = pick(numbers) if numbers else 0.0
        self.text = pick(texts) if texts else b""

    def _comparable(self) -> tuple[int, float, bytes]:
        return self.group, self.number, self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SortValue) and self._comparable() == other._comparable()

    def __hash__(self) -> int:
        return hash(self._comparable())

    def __lt__(self, other: SortValue) -> bool:
        if self.group != other.group:
            return self.group < other.group
        if self.group == 0:
            return self.number > other.number if self.descending else self.number < other.number
        return self.text > other.text if self.descending else self.text < other.text


def _sortable_text(value: str | bool) -> bytes:
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return value.lower().encode()


def sort_value(document: JsonObject, attribute: str, *, descending: bool) -> SortValue:
    return SortValue(leaf_values(lookup(document, attribute)), descending=descending)


def effective_rules(rules: list[str]) -> list[str]:
    if "words" in rules and all(rules.index("words") < rules.index(rule) for rule in _RELEVANCY_RULES if rule in rules):
        return list(rules)
    without_words = [rule for rule in rules if rule != "words"]
    first_relevancy = next(
        (at for at, rule in enumerate(without_words) if rule in _RELEVANCY_RULES), len(without_words)
    )
    return [*without_words[:first_relevancy], "words", *without_words[first_relevancy:]]


@dataclass
class RankedDocument:
    internal_id: int
    document: JsonObject
    score: float
    sort_key: tuple[Any, ...]


@dataclass
class _Candidate:
    internal_id: int
    document: JsonObject
    attributes: list[AttributeText]
    matches: list[TermMatch | None]


def _counted_terms(matches: list[TermMatch | None], strategy: str, removal_order: list[int]) -> list[int]:
    """Indexes of the query terms the document is ranked on; empty when it does not match the query."""
    count = len(matches)
    if strategy == "all":
        return list(range(count)) if all(matches) else []
    if strategy == "last":
        matched_prefix = 0
        while matched_prefix < count and matches[matched_prefix] is not None:
            matched_prefix += 1
        return list(range(matched_prefix))
    for removed in range(count):
        remaining = sorted(set(range(count)) - set(removal_order[:removed]))
        if all(matches[term] is not None for term in remaining):
            return remaining
    return []


def _proximity(first: TermMatch, second: TermMatch) -> int:
    distances = [
        later - earlier if later > earlier else earlier - later + 1
        for rank, earlier in first.positions
        for other_rank, later in second.positions
        if rank == other_rank
    ]
    return min([*distances, _MAX_PROXIMITY])


def _exact_attribute(query: ParsedQuery, attributes: list[AttributeText]) -> int:
    """0 when an attribute value is exactly the query, 1 when one starts with it, 2 otherwise."""
    best = 2
    for attribute in attributes:
        for value in attribute.values:
            texts = [token.text for token in value]
            if texts == query.words:
                return 0
            if texts[: len(query.words)] == query.words:
                best = 1
    return best


def _relevancy_keys(candidate: _Candidate, counted: list[int], query: ParsedQuery) -> dict[str, Any]:
    matched = [match for term in counted if (match := candidate.matches[term]) is not None]
    exact_words = sum(1 for match in matched if match.exact and match.typos == 0)
    return {
        "words": -len(counted),
        "typo": sum(match.typos for match in matched),
        "proximity": sum(_proximity(first, second) for first, second in itertools.pairwise(matched)),
        "attribute": (sum(match.best_rank for match in matched), sum(match.first_position for match in matched)),
        "exactness": (_exact_attribute(query, candidate.attributes), -exact_words) if matched else (2, 0),
    }


def rank(
    documents: list[tuple[int, JsonObject]],
    query: ParsedQuery,
    settings: JsonObject,
    field_order: list[str],
    *,
    strategy: str,
    sort: list[tuple[str, bool]],
) -> list[RankedDocument]:
    """The documents matching ``query``, best first. ``sort`` holds (attribute, descending) criteria."""
    candidates: list[_Candidate] = []
    for internal_id, document in documents:
        attributes = searchable_texts(document, settings, field_order)
        if any(match_alternative(negative, attributes) for negative in query.negatives):
            continue
        candidates.append(
            _Candidate(internal_id, document, attributes, [match_term(term, attributes) for term in query.terms])
        )
    term_count = len(query.terms)
    frequencies = [sum(1 for candidate in candidates if candidate.matches[term]) for term in range(term_count)]
    removal_order = sorted(range(term_count), key=lambda term: (-frequencies[term], -term))
    rules = effective_rules(settings["rankingRules"])
    ranked: list[RankedDocument] = []
    for candidate in candidates:
        counted = _counted_terms(candidate.matches, strategy, removal_order)
        if term_count and not counted:
            continue
        relevancy = _relevancy_keys(candidate, counted, query) if term_count else {}
        key: list[Any] = []
        for rule in rules:
            if rule == "sort":
                key.append(tuple(sort_value(candidate.document, name, descending=desc) for name, desc in sort))
            elif rule in relevancy or rule in _RELEVANCY_RULES or rule == "words":
                key.append(relevancy.get(rule, 0))
            else:
                attribute, _, order = rule.rpartition(":")
                key.append(sort_value(candidate.document, attribute, descending=order == "desc"))
        key.append(candidate.internal_id)
        ranked.append(
            RankedDocument(candidate.internal_id, candidate.document, _score(relevancy, term_count), tuple(key))
        )
    ranked.sort(key=lambda document: document.sort_key)
    return ranked


def _score(relevancy: dict[str, Any], term_count: int) -> float:
    if not term_count:
        return 1.0
    matched: int = -relevancy["words"]
    typos: int = relevancy["typo"]
    typo_penalty = min(typos, 2 * matched) / (4.0 * matched)
    return round(matched / term_count * (1.0 - typo_penalty), 4)
