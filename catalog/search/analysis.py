"""Search text analysis for the Tantivy engine: product text and queries cut into the same terms.

Korean and Japanese write compounds without spaces (``롱스커트``) and shoppers type them either way (``롱 스커트``),
so runs of Hangul, Kana or Han characters are indexed as overlapping character bigrams (``롱스 스커 커트``); a run
of one character is its own term. Runs are also kept whole, as words, so that a query word that *is* a word of
the product (``바지``) ranks above one found inside another word (``반바지``), and so are their ends (``팬츠`` of
``와이드팬츠``), since a Korean compound names a kind of its last word. Latin letters and digits form whole words;
the last word of a query may also be the beginning of a word (``lin`` finds ``linen``).

A product name is read as Korean malls write it: labels in square brackets say how the shop sells the product,
not what it is (``[베스트]`` is no vest), and the last word names the item (``후드 코트`` is a coat).

Everything is normalized first: Unicode NFKC (full-width letters and half-width Kana become their usual forms)
and case folding. The functions here are pure; the engine decides how terms are weighted and combined.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from dataclasses import dataclass, field
from typing import NamedTuple

MAX_QUERY_WORDS = 10
"""Words past the tenth are ignored, as Meilisearch does."""
LATIN_ONE_TYPO = 5
"""Meilisearch's ``minWordSizeForTypos.oneTypo``: a Latin word of this many letters may have one typo."""
LATIN_TWO_TYPOS = 9
"""Meilisearch's ``minWordSizeForTypos.twoTypos``."""
HANGUL_ONE_TYPO = 3
"""A Korean word of this many syllables may have one wrong, missing or extra syllable."""

_HANGUL = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0xA960, 0xA97F),  # Hangul Jamo extended A
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xD7B0, 0xD7FF),  # Hangul Jamo extended B
)
_KANA_AND_HAN = (
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3134F),  # CJK extensions B to G
)


@functools.lru_cache(maxsize=65536)
def _kind(char: str) -> int:
    """0: not part of a word; 1: Latin, digits and every other script kept whole; 2: Kana or Han; 3: Hangul."""
    if unicodedata.category(char)[0] not in "LNM":
        return 0
    code = ord(char)
    if any(low <= code <= high for low, high in _HANGUL):
        return 3
    if any(low <= code <= high for low, high in _KANA_AND_HAN):
        return 2
    return 1


def normalize(text: str) -> str:
    """NFKC with case folding: full-width and capital Latin letters become plain small ones, half-width Kana
    the usual (full-width) ones."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


class Word(NamedTuple):
    text: str
    """Normalized."""
    cjk: bool
    """Hangul, Kana or Han: matched through bigrams."""
    hangul: bool


def words(text: str) -> list[Word]:
    """The words of ``text`` once normalized: runs of word characters, cut where CJK and other scripts meet."""
    return [word for _, word in _words_at(normalize(text))]


def _words_at(normalized: str) -> list[tuple[int, Word]]:
    found: list[tuple[int, Word]] = []
    start, current, hangul = 0, 0, True
    for index, char in enumerate(normalized):
        kind = _kind(char)
        same_side = current != 0 and kind != 0 and (kind == 1) == (current == 1)
        if current != 0 and not same_side:
            found.append((start, Word(normalized[start:index], cjk=current != 1, hangul=hangul)))
        if kind != 0 and not same_side:
            start, hangul = index, True
        hangul = hangul and kind == 3
        current = kind
    if current != 0:
        found.append((start, Word(normalized[start:], cjk=current != 1, hangul=hangul)))
    return found


_LABEL = re.compile(r"\[[^\]]*\]|【[^】]*】")
_ASIDE = re.compile(r"\([^)]*\)")


class ProductName(NamedTuple):
    """A product name as a Korean mall writes it: ``[베스트] 울 코트 (2color)``."""

    text: str
    """The name without its labels: what the product is."""
    labels: str
    """The shop's labels in square brackets (``[베스트]``, ``[당일출고]``): how it sells the product, not what
    it is; a vest is not ``[베스트]``."""
    head: str
    """The last word outside brackets and parentheses: Korean (and English) names put the item last, after what
    describes it (``후드 코트`` is a coat, ``코트 스니커즈`` sneakers)."""


def product_name(name: str) -> ProductName:
    labels = " ".join(match.group()[1:-1] for match in _LABEL.finditer(name))
    text = " ".join(_LABEL.sub(" ", name).split())
    found = words(_ASIDE.sub(" ", text))
    return ProductName(text, labels, found[-1].text if found else "")


def grams(word: str) -> list[str]:
    """Overlapping character bigrams of a CJK word (``롱스커트``: ``롱스 스커 커트``); a single character is itself."""
    if len(word) < 2:
        return [word]
    return [word[index : index + 2] for index in range(len(word) - 1)]


class IndexedText(NamedTuple):
    """A product's text as the terms it is found by."""

    terms: list[str]
    """Bigrams of its CJK words, its other words whole."""
    words: list[str]
    """Its CJK words whole: a word of its own ranks above the same letters inside another word."""
    ends: list[str]
    """The ends of two characters or more of its CJK words, but the words themselves (``와이드팬츠``:
    ``이드팬츠``, ``드팬츠``, ``팬츠``): a Korean compound names a kind of its last word."""


def index_text(*texts: str) -> IndexedText:
    indexed = IndexedText([], [], [])
    for text in texts:
        for word in words(text):
            if not word.cjk:
                indexed.terms.append(word.text)
                continue
            indexed.terms.extend(grams(word.text))
            indexed.words.append(word.text)
            indexed.ends.extend(word.text[start:] for start in range(1, len(word.text) - 1))
    return indexed


def required_grams(count: int) -> int:
    """Of a query word's ``count`` bigrams, how many a product must hold in one field for the word to be present.

    Two thirds, rounded up: ``롱스커트`` (``롱스 스커 커트``) is then present in ``롱 스커트``, and ``블라우즈`` (a
    syllable wrong) in ``블라우스``; a word of two or three syllables must be there whole.
    """
    return count - count // 3


class QueryWord(NamedTuple):
    text: str
    """Normalized."""
    cjk: bool
    hangul: bool
    prefix: bool
    """The last word of a query that does not end with a separator: the shopper may still be typing it."""

    @property
    def grams(self) -> list[str]:
        return grams(self.text) if self.cjk else [self.text]

    @property
    def typos(self) -> int:
        """How many typos the word may carry: Meilisearch's rule for Latin words, one for Korean words of three
        syllables or more, none for Kana and Han."""
        if self.hangul:
            return 1 if len(self.text) >= HANGUL_ONE_TYPO else 0
        if self.cjk:
            return 0
        if len(self.text) >= LATIN_TWO_TYPOS:
            return 2
        return 1 if len(self.text) >= LATIN_ONE_TYPO else 0


def query_words(text: str) -> list[QueryWord]:
    """The words of a query (the first ``MAX_QUERY_WORDS``, each once)."""
    normalized = normalize(text)
    found = list(dict.fromkeys(word for _, word in _words_at(normalized)))[:MAX_QUERY_WORDS]
    typing = bool(normalized) and _kind(normalized[-1]) != 0
    return [
        QueryWord(word.text, word.cjk, word.hangul, prefix=typing and position == len(found) - 1)
        for position, word in enumerate(found)
    ]


def edit_distance(left: str, right: str, *, limit: int) -> int:
    """Levenshtein distance with adjacent transpositions counting one (as Tantivy's fuzzy terms), or ``limit + 1``
    once it is certain to exceed ``limit``."""
    if abs(len(left) - len(right)) > limit:
        return limit + 1
    before: list[int] | None = None
    previous = list(range(len(right) + 1))
    for i, left_char in enumerate(left, 1):
        current = [i] + [0] * len(right)
        for j, right_char in enumerate(right, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left_char != right_char))
            if before is not None and i > 1 and j > 1 and left_char == right[j - 2] and left[i - 2] == right_char:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return min(previous[-1], limit + 1)


# -- highlighting --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CjkMark:
    """A CJK query word as the highlighter looks for it in each CJK word of a name."""

    text: str
    grams: tuple[str, ...]
    required: int
    """The word itself is marked wherever it occurs; failing that, its bigrams, if at least this many occur."""
    prefix: bool = False
    """A single character also marks a word beginning with it."""
    typos: int = 0
    """A whole word within this many edits is marked too."""


@dataclass(frozen=True)
class Marks:
    """What a query matched, for :func:`highlight`."""

    cjk: tuple[CjkMark, ...] = ()
    words: frozenset[str] = frozenset()
    """Latin words (and synonyms) marked where a name has them whole."""
    prefixes: frozenset[str] = frozenset()
    """Latin words marked where a name has a word beginning with them."""
    near: tuple[tuple[str, int, bool], ...] = field(default=())
    """``(word, typos, prefix)``: Latin words marked where a name has them with a typo or two."""


def highlight(text: str, marks: Marks) -> str:
    """``text`` HTML-escaped, with the words the query matched marked ``<em>…</em>``."""
    chars: list[tuple[int, str]] = [
        (position, folded) for position, char in enumerate(text) for folded in normalize(char)
    ]
    normalized = "".join(folded for _, folded in chars)
    marked = [False] * len(text)
    for start, word in _words_at(normalized):
        for offset, length in _spans(word, marks):
            for index in range(start + offset, start + offset + length):
                marked[chars[index][0]] = True
    out: list[str] = []
    start = 0
    for end in range(1, len(text) + 1):
        if end == len(text) or marked[end] != marked[start]:
            run = html.escape(text[start:end])
            out.append(f"<em>{run}</em>" if marked[start] else run)
            start = end
    return "".join(out)


def _spans(word: Word, marks: Marks) -> list[tuple[int, int]]:
    """Where in ``word`` (offset, length) the marks match."""
    spans: list[tuple[int, int]] = []
    if word.cjk:
        for mark in marks.cjk:
            spans.extend(_cjk_spans(word.text, mark))
        return spans
    text = word.text
    if text in marks.words or any(text.startswith(prefix) for prefix in marks.prefixes):
        return [(0, len(text))]
    for near, typos, prefix in marks.near:
        if edit_distance(near, text, limit=typos) <= typos or (
            prefix and edit_distance(near, text[: len(near)], limit=typos) <= typos
        ):
            return [(0, len(text))]
    return spans


def _cjk_spans(text: str, mark: CjkMark) -> list[tuple[int, int]]:
    whole = _occurrences(text, mark.text)
    if whole:
        return whole
    if mark.prefix and text.startswith(mark.text):
        return [(0, len(mark.text))]
    if mark.typos and edit_distance(mark.text, text, limit=mark.typos) <= mark.typos:
        return [(0, len(text))]
    if len(mark.grams) < 2:
        return []
    found = [gram for gram in mark.grams if gram in text]
    if len(found) < mark.required:
        return []
    return [span for gram in found for span in _occurrences(text, gram)]


def _occurrences(text: str, needle: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = text.find(needle)
    while start >= 0 and needle:
        spans.append((start, len(needle)))
        start = text.find(needle, start + 1)
    return spans
