"""Which documents a query matches, and where: query terms, prefix search, typo tolerance, synonyms, phrases.

As documented (reference/api/search, learn/relevancy/*, resources/internals/prefix):

- ``q`` is split into words on whitespace and punctuation and normalized like document text (``text``); only
  the first ten words count. Double quotes make a phrase (words consecutive, exact); ``-word`` and ``-"a b"``
  exclude the documents containing them.
- The last word of ``q`` also matches as a prefix (``adv`` finds ``adventure``) unless ``q`` ends with a
  separator, or the ``prefixSearch`` setting is ``disabled``.
- Typos: none below ``minWordSizeForTypos.oneTypo`` characters (5), one below ``twoTypos`` (9), two above;
  a typo on the first letter counts as two; Damerau-Levenshtein distance, so a swap of two letters is one
  typo. Off with ``typoTolerance.enabled: false``, for words in ``disableOnWords`` and in attributes listed in
  ``disableOnAttributes``. Prefixes tolerate typos too.
- Synonyms apply as configured (a one-way entry works one way; a mutual association lists both directions);
  keys and values are normalized; multi-word synonyms are phrases; a multi-word key is recognised when the query
  has its words in a row.
- Stop words are left out of the query.

Simplifications: Korean, Japanese and Chinese text is not segmented with dictionaries as charabia does; instead
a CJK query word matches any CJK document word that contains it (``린넨`` finds ``린넨셔츠``, and so does
``셔츠``). Concatenated and split queries (``any way`` → ``anyway``) are not tried; synonyms and phrase words
match exactly; a phrase's words are highlighted one by one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.meilisearch.documents import covers, lookup
from tests.meilisearch.text import Token, is_cjk_char, normalize, original_span, tokenize

if TYPE_CHECKING:
    from tests.meilisearch.errors import JsonObject

MAX_QUERY_WORDS = 10
VALUE_GAP = 8
"""Positions skipped between two values of an attribute, so words of different values are never close."""


@dataclass(frozen=True)
class WordSpec:
    text: str
    prefix: bool
    max_typos: int


@dataclass(frozen=True)
class Alternative:
    """One way to satisfy a query term: its own word(s), or a synonym."""

    words: tuple[WordSpec, ...]
    consecutive: bool
    synonym: bool = False


@dataclass(frozen=True)
class QueryTerm:
    text: str
    alternatives: tuple[Alternative, ...]


@dataclass
class ParsedQuery:
    terms: list[QueryTerm]
    negatives: list[Alternative]
    words: list[str]
    """The normalized words of the positive terms, in query order (for exactness)."""

    def highlight_specs(self) -> list[WordSpec]:
        return [spec for term in self.terms for alternative in term.alternatives for spec in alternative.words]


@dataclass(frozen=True)
class WordMatch:
    typos: int
    exact: bool
    span: tuple[int, int]
    """The matched part of the document word, in normalized characters."""


@dataclass
class AttributeText:
    name: str
    rank: int
    typos_allowed: bool
    values: list[list[Token]] = field(default_factory=list)

    def tokens(self) -> list[Token]:
        return [token for value in self.values for token in value]


@dataclass
class TermMatch:
    typos: int
    exact: bool
    positions: list[tuple[int, int]]
    """(attribute rank, word position) of every occurrence."""

    @property
    def best_rank(self) -> int:
        return min(rank for rank, _ in self.positions)

    @property
    def first_position(self) -> int:
        return min(position for rank, position in self.positions if rank == self.best_rank)


def allowed_typos(word: str, typo_tolerance: JsonObject) -> int:
    if not typo_tolerance["enabled"] or word in {normalize(item) for item in typo_tolerance["disableOnWords"]}:
        return 0
    sizes = typo_tolerance["minWordSizeForTypos"]
    length = len(word)
    if length < sizes["oneTypo"]:
        return 0
    return 1 if length < sizes["twoTypos"] else 2


def _synonym_table(settings: JsonObject) -> dict[tuple[str, ...], list[tuple[str, ...]]]:
    table: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for key, values in settings["synonyms"].items():
        words = tuple(token.text for token in tokenize(key))
        if words:
            table.setdefault(words, []).extend(
                tuple(token.text for token in tokenize(value)) for value in values if tokenize(value)
            )
    return table


_QUOTED = re.compile(r'(-?)"([^"]*)"')


@dataclass(frozen=True)
class _QueryItem:
    words: list[Token]
    phrase: bool
    negated: bool
    ends_query: bool
    """Nothing follows it in ``q``, not even a separator: the condition for prefix search."""


def parse_query(q: str, settings: JsonObject) -> ParsedQuery:
    items: list[_QueryItem] = []
    cursor = 0
    for quoted in [*_QUOTED.finditer(q), None]:
        end = quoted.start() if quoted else len(q)
        for token in tokenize(q[cursor:end]):
            at = cursor + token.start
            negated = at > 0 and q[at - 1] == "-" and (at == 1 or q[at - 2].isspace())
            items.append(_QueryItem([token], phrase=False, negated=negated, ends_query=cursor + token.end == len(q)))
        if quoted:
            negated = quoted.group(1) == "-" and (quoted.start() == 0 or q[quoted.start() - 1].isspace())
            phrase = tokenize(quoted.group(2))
            if phrase:
                items.append(_QueryItem(phrase, phrase=True, negated=negated, ends_query=False))
            cursor = quoted.end()
    return _build_query(items, settings)


def _build_query(items: list[_QueryItem], settings: JsonObject) -> ParsedQuery:
    stop_words = {normalize(word) for word in settings["stopWords"]}
    negatives = [
        Alternative(tuple(WordSpec(token.text, prefix=False, max_typos=0) for token in item.words), consecutive=True)
        for item in items
        if item.negated
    ]
    positives = [item for item in items if not item.negated]
    kept = [item for item in positives if item.phrase or item.words[0].text not in stop_words]
    positives = (kept or positives)[:MAX_QUERY_WORDS]
    prefix_search = settings["prefixSearch"] != "disabled"
    synonyms = _synonym_table(settings)
    longest_key = max((len(key) for key in synonyms), default=1)
    terms: list[QueryTerm] = []
    index = 0
    while index < len(positives):
        item = positives[index]
        if item.phrase:
            specs = tuple(WordSpec(token.text, prefix=False, max_typos=0) for token in item.words)
            terms.append(QueryTerm(" ".join(spec.text for spec in specs), (Alternative(specs, consecutive=True),)))
            index += 1
            continue
        group = positives[index : index + _synonym_group(positives, index, synonyms, longest_key)]
        texts = tuple(member.words[0].text for member in group)
        last_of_query = index + len(group) == len(positives) and group[-1].ends_query
        own = tuple(
            WordSpec(
                text,
                prefix=prefix_search and last_of_query and position == len(texts) - 1,
                max_typos=allowed_typos(text, settings["typoTolerance"]),
            )
            for position, text in enumerate(texts)
        )
        alternatives = [Alternative(own, consecutive=False)]
        for synonym in synonyms.get(texts, []):
            synonym_specs = tuple(WordSpec(word, prefix=False, max_typos=0) for word in synonym)
            alternatives.append(Alternative(synonym_specs, consecutive=len(synonym) > 1, synonym=True))
        terms.append(QueryTerm(" ".join(texts), tuple(alternatives)))
        index += len(group)
    words = [word for term in terms for word in term.text.split()]
    return ParsedQuery(terms, negatives, words)


def _synonym_group(positives: list[_QueryItem], index: int, synonyms: dict[tuple[str, ...], Any], longest: int) -> int:
    """How many query words from ``index`` on form a multi-word synonym key (1 when none does)."""
    for size in range(min(longest, len(positives) - index), 1, -1):
        window = positives[index : index + size]
        if not any(item.phrase for item in window) and tuple(item.words[0].text for item in window) in synonyms:
            return size
    return 1


def _optimal_string_alignment(left: str, right: str) -> int:
    previous_row = list(range(len(right) + 1))
    before_previous: list[int] = []
    for i, left_char in enumerate(left, start=1):
        row = [i] + [0] * len(right)
        for j, right_char in enumerate(right, start=1):
            cost = 0 if left_char == right_char else 1
            row[j] = min(previous_row[j] + 1, row[j - 1] + 1, previous_row[j - 1] + cost)
            if i > 1 and j > 1 and left_char == right[j - 2] and left[i - 2] == right_char:
                row[j] = min(row[j], before_previous[j - 2] + 1)
        before_previous, previous_row = previous_row, row
    return previous_row[-1]


def typo_count(query_word: str, word: str) -> int:
    """Edits between the words, where a typo on the first letter counts twice."""
    distance = _optimal_string_alignment(query_word, word)
    return distance + 1 if query_word[:1] != word[:1] else distance


def match_word(spec: WordSpec, token: Token, *, typos_allowed: bool) -> WordMatch | None:
    word = token.text
    if word == spec.text:
        return WordMatch(0, exact=True, span=(0, len(word)))
    if token.is_cjk and spec.text and is_cjk_char(spec.text[0]) and spec.text in word:
        start = word.index(spec.text)
        return WordMatch(0, exact=False, span=(start, start + len(spec.text)))
    if spec.prefix and word.startswith(spec.text):
        return WordMatch(0, exact=False, span=(0, len(spec.text)))
    budget = spec.max_typos if typos_allowed else 0
    return _match_with_typos(spec, word, budget) if budget else None


def _match_with_typos(spec: WordSpec, word: str, budget: int) -> WordMatch | None:
    typos = typo_count(spec.text, word)
    if typos <= budget:
        return WordMatch(typos, exact=False, span=(0, len(word)))
    if not spec.prefix:
        return None
    # A prefix with typos: the closest beginning of the word, a few letters shorter or longer than the query word.
    lengths = range(max(1, len(spec.text) - budget), min(len(word), len(spec.text) + budget) + 1)
    best = min(((typo_count(spec.text, word[:length]), length) for length in lengths), default=None)
    if best is None or best[0] > budget:
        return None
    return WordMatch(best[0], exact=False, span=(0, best[1]))


def searchable_texts(document: JsonObject, settings: JsonObject, field_order: list[str]) -> list[AttributeText]:
    """The searchable attributes of a document, most important first, as tokenized values."""
    searchable = settings["searchableAttributes"]
    names = field_order if "*" in searchable else searchable
    no_typos = settings["typoTolerance"]["disableOnAttributes"]
    texts: list[AttributeText] = []
    for rank, name in enumerate(names):
        attribute = AttributeText(name, rank, typos_allowed=not any(covers(name, item) for item in no_typos))
        position = 0
        for value in _text_values(lookup(document, name)):
            tokens = tokenize(value, first_position=position)
            if tokens:
                attribute.values.append(tokens)
                position = tokens[-1].position + VALUE_GAP
        texts.append(attribute)
    return texts


def _text_values(values: list[Any]) -> list[str]:
    texts: list[str] = []
    for value in values:
        if isinstance(value, dict):
            texts.extend(_text_values(list(value.values())))
        elif isinstance(value, list):
            texts.extend(_text_values(value))
        elif isinstance(value, bool):
            texts.append("true" if value else "false")
        elif isinstance(value, str | int | float):
            texts.append(str(value))
    return texts


def match_alternative(alternative: Alternative, attributes: list[AttributeText]) -> TermMatch | None:
    if alternative.consecutive:
        return _match_phrase(alternative, attributes)
    typos, exact, positions = 0, not alternative.synonym, []
    for spec in alternative.words:
        best: tuple[int, int, int] | None = None
        word_positions: list[tuple[int, int]] = []
        for attribute in attributes:
            for token in attribute.tokens():
                found = match_word(spec, token, typos_allowed=attribute.typos_allowed)
                if found is None:
                    continue
                word_positions.append((attribute.rank, token.position))
                candidate = (found.typos, 0 if found.exact else 1, attribute.rank)
                best = candidate if best is None else min(best, candidate)
        if best is None:
            return None
        typos += best[0]
        exact = exact and best[1] == 0
        positions.extend(word_positions)
    return TermMatch(typos, exact, positions)


def _match_phrase(alternative: Alternative, attributes: list[AttributeText]) -> TermMatch | None:
    positions: list[tuple[int, int]] = []
    for attribute in attributes:
        for value in attribute.values:
            for start in range(len(value) - len(alternative.words) + 1):
                window = value[start : start + len(alternative.words)]
                if all(
                    match_word(spec, token, typos_allowed=False)
                    for spec, token in zip(alternative.words, window, strict=True)
                ):
                    positions.append((attribute.rank, window[0].position))
    return TermMatch(0, exact=not alternative.synonym, positions=positions) if positions else None


def match_term(term: QueryTerm, attributes: list[AttributeText]) -> TermMatch | None:
    """The best way the document satisfies the term: fewest typos, then its own words over synonyms."""
    found = [match for alternative in term.alternatives if (match := match_alternative(alternative, attributes))]
    if not found:
        return None
    best = min(found, key=lambda match: (match.typos, not match.exact))
    return TermMatch(best.typos, best.exact, [position for match in found for position in match.positions])


def highlight_spans(value: str, specs: list[WordSpec]) -> list[tuple[int, int]]:
    """Character ranges of ``value`` to highlight: every word matching a query word, prefix matches only in part.

    A CJK word can hold several query words (``린넨셔츠`` for ``린넨 셔츠``), each highlighted.
    """
    spans: list[tuple[int, int]] = []
    for token in tokenize(value):
        found = sorted(
            {match.span for spec in specs if (match := match_word(spec, token, typos_allowed=True))},
            key=lambda span: (span[0], -span[1]),
        )
        covered = 0
        for start, end in found:
            if start < covered:
                continue
            first, last = original_span(value[token.start : token.end], start, end)
            spans.append((token.start + first, token.start + last))
            covered = end
    return spans
