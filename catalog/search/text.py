"""Search text: how product text and queries are normalized and cut into terms, the same way on both sides.

Korean and Japanese write compounds without spaces (``린넨셔츠``), and a shopper who types ``셔츠`` expects to
find it. The PostgreSQL engine therefore stores every suffix of a run of CJK characters as its own term
(``린넨셔츠 넨셔츠 셔츠 츠``): a substring of the run is then a prefix of one of its terms, and the terms that
begin with a word are one range of the sorted terms (``catalog.search.postings``). Latin-script words are
kept whole; the last word of a query also matches as a prefix (``lin`` finds ``linen``), as Meilisearch does.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

from catalog.search.synonyms import SYNONYMS

_CJK_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
)
MAX_QUERY_WORDS = 10
"""Words past the tenth are ignored, as Meilisearch does."""
MIN_WORD_FOR_TYPOS = 5
"""As Meilisearch's ``minWordSizeForTypos.oneTypo``: shorter words must be spelled right."""
MIN_WORD_FOR_TWO_TYPOS = 9
"""As Meilisearch's ``minWordSizeForTypos.twoTypos``."""


@functools.lru_cache(maxsize=65536)
def is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


@functools.lru_cache(maxsize=65536)
def _is_word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNM"


@functools.lru_cache(maxsize=8192)
def _normalize_char(char: str) -> str:
    decomposed = unicodedata.normalize("NFKD", char)
    kept = "".join(part for part in decomposed if not 0x0300 <= ord(part) < 0x0370)
    return unicodedata.normalize("NFC", kept).lower()


def normalize(text: str) -> str:
    """Lower case, compatibility forms folded (full-width letters become ASCII), accents off Latin letters."""
    return "".join(_normalize_char(char) for char in text)


class Word(NamedTuple):
    text: str
    """Normalized."""
    cjk: bool


def words(text: str) -> list[Word]:
    """Words of ``text``: runs of letters and digits, cut where the script changes between CJK and the rest."""
    found: list[Word] = []
    current: list[str] = []
    current_cjk = False
    for char in normalize(text):
        if not _is_word_char(char):
            if current:
                found.append(Word("".join(current), current_cjk))
                current = []
            continue
        cjk = is_cjk(char)
        if current and cjk != current_cjk:
            found.append(Word("".join(current), current_cjk))
            current = []
        current.append(char)
        current_cjk = cjk
    if current:
        found.append(Word("".join(current), current_cjk))
    return found


def index_terms(*texts: str) -> str:
    """The indexed form of ``texts``: space-separated terms with a space on each side, CJK runs with suffixes."""
    terms: list[str] = []
    for text in texts:
        for word in words(text):
            if word.cjk:
                terms.extend(word.text[start:] for start in range(len(word.text)))
            else:
                terms.append(word.text)
    return f" {' '.join(dict.fromkeys(terms))} "


@dataclass(frozen=True)
class QueryTerm:
    """One word of the query and its synonyms; a product matches the term if it matches any alternative."""

    alternatives: tuple[str, ...]
    prefix: bool
    """Latin words match whole unless last in the query; CJK words match anywhere in a run (``prefix`` too)."""
    typo_tolerant: str | None = None
    """A Latin word of ``MIN_WORD_FOR_TYPOS`` letters or more, which may also match with a typo."""

    def needles(self) -> list[tuple[str, bool]]:
        """Each alternative, and whether an indexed term only has to begin with it (or be it, if not)."""
        return [(text, self.prefix or has_cjk(text)) for text in self.alternatives]


def query_terms(query: str) -> list[QueryTerm]:
    found = words(query)[:MAX_QUERY_WORDS]
    ends_with_separator = bool(query) and not _is_word_char(query[-1])
    terms = []
    for position, word in enumerate(found):
        last = position == len(found) - 1 and not ends_with_separator
        alternatives = (word.text, *sorted(_synonyms_of(word.text) - {word.text}))
        typo_tolerant = word.text if not word.cjk and len(word.text) >= MIN_WORD_FOR_TYPOS else None
        terms.append(QueryTerm(alternatives=alternatives, prefix=word.cjk or last, typo_tolerant=typo_tolerant))
    return terms


@functools.cache
def _synonym_index() -> dict[str, frozenset[str]]:
    index: dict[str, frozenset[str]] = {}
    for group in SYNONYMS:
        for word in group:
            index[normalize(word)] = frozenset(normalize(w) for w in group)
    return index


def _synonyms_of(word: str) -> frozenset[str]:
    return _synonym_index().get(word, frozenset({word}))


def has_cjk(text: str) -> bool:
    return any(is_cjk(char) for char in text)


def highlight(text: str, terms: list[QueryTerm]) -> str:
    """``text`` HTML-escaped, with what the query matched marked ``<em>…</em>``, as Meilisearch marks it."""
    needles = [(alternative, term.prefix) for term in terms for alternative in term.alternatives]
    if _PLAIN.fullmatch(text):
        return _highlight_plain(text, needles)
    return _highlight_any(text, needles)


def _highlight_any(text: str, needles: list[tuple[str, bool]]) -> str:
    found = _original_words(text)
    # An alternative can only match a word it is part of: most are part of none (synonyms, other words).
    folded = " ".join(word.text for _, word in found)
    present = [(alternative, prefix) for alternative, prefix in needles if alternative in folded]
    if not present:
        return html.escape(text)
    marked = [False] * len(text)
    for start, word in found:
        for alternative, prefix in present:
            if word.cjk:
                offset = word.text.find(alternative)
                if offset >= 0:
                    _mark(marked, start, word.text, offset, offset + len(alternative))
            elif word.text == alternative or (prefix and word.text.startswith(alternative)):
                _mark(marked, start, word.text, 0, len(alternative))
    out: list[str] = []
    start = 0
    for end in range(1, len(text) + 1):
        if end == len(text) or marked[end] != marked[start]:
            run = html.escape(text[start:end])
            out.append(f"<em>{run}</em>" if marked[start] else run)
            start = end
    return "".join(out)


_PLAIN = re.compile("[\u0020-\u007e\uac00-\ud7a3]*")
"""Printable ASCII and Hangul syllables: most names. Their words are what a regular expression finds (ASCII
letters and digits are the only ASCII word characters, every Hangul syllable is CJK), and normalizing them is
lowering their case, which keeps every character where it was."""
_PLAIN_WORDS = re.compile("[\uac00-\ud7a3]+|[A-Za-z0-9]+")


_SPECIAL = re.compile("[&<>\"']")


def _unchanged(text: str) -> str:
    return text


def _highlight_plain(text: str, needles: list[tuple[str, bool]]) -> str:
    """:func:`highlight` for text that :data:`_PLAIN` matches: the same marks, without a flag per character."""
    lowered = text.lower()
    present = [(alternative, prefix) for alternative, prefix in needles if alternative in lowered]
    spans: list[tuple[int, int]] = []
    for match in _PLAIN_WORDS.finditer(lowered) if present else ():
        word, start = match[0], match.start()
        for alternative, prefix in present:
            if word[0] >= "\uac00":
                offset = word.find(alternative)
                if offset >= 0:
                    spans.append((start + offset, start + offset + len(alternative)))
            elif word == alternative or (prefix and word.startswith(alternative)):
                spans.append((start, start + len(alternative)))
    escape = html.escape if _SPECIAL.search(text) else _unchanged  # most names have nothing to escape
    out: list[str] = []
    done = 0
    for start, end in sorted(spans):
        if end <= done:
            continue
        if start > done or not out:
            out.append(escape(text[done:start]))
            out.append(f"<em>{escape(text[start:end])}</em>")
        else:  # overlaps or touches the last mark: one mark
            out[-1] = f"{out[-1][:-5]}{escape(text[done:end])}</em>"
        done = end
    out.append(escape(text[done:]))
    return "".join(out)


def _original_words(text: str) -> list[tuple[int, Word]]:
    """Words of ``text`` with where each starts in it (in original characters, not normalized ones)."""
    found: list[tuple[int, Word]] = []
    start: int | None = None
    for index, char in enumerate([*text, " "]):
        boundary = not _is_word_char(char) or (start is not None and is_cjk(char) != is_cjk(text[start]))
        if start is not None and boundary:
            found.append((start, Word(normalize(text[start:index]), is_cjk(text[start]))))
            start = None
        if start is None and index < len(text) and _is_word_char(char):
            start = index
    return found


def _mark(marked: list[bool], word_start: int, normalized: str, start: int, end: int) -> None:
    # Normalizing almost never changes a word's length; when it does (ligatures), mark the whole word.
    length = len(normalized)
    if any(len(_normalize_char(c)) != 1 for c in normalized):
        start, end = 0, length
    for position in range(word_start + start, word_start + end):
        marked[position] = True
