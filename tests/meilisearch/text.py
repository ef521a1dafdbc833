"""Turning strings into Meilisearch words: normalization and tokenization.

Meilisearch's tokenizer (charabia) lowercases, removes non-spacing marks from Latin-like scripts (so ``sábia``
matches ``sabia``; docs: reference/api/search, "Query term normalization") and splits words on separators:
whitespace and punctuation. This module does the same with the Unicode character categories.

Simplification: charabia segments Chinese, Japanese and Korean text with dictionaries (``린넨셔츠`` becomes
``린넨`` + ``셔츠``). Here a run of CJK characters stays one token, marked ``is_cjk``, and the matching module
lets a query word match any part of such a token instead (see ``matching``).
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

_COMBINING_DIACRITICS = range(0x0300, 0x0370)
"""Accents on Latin, Greek and Cyrillic letters. Japanese voicing marks (U+3099) are not stripped."""

_CJK_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
)


def is_cjk_char(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def is_word_char(char: str) -> bool:
    """Letters, digits and marks make words; everything else (spaces, punctuation, symbols) separates them."""
    return unicodedata.category(char)[0] in "LNM"


@functools.lru_cache(maxsize=4096)
def normalize_char(char: str) -> str:
    decomposed = unicodedata.normalize("NFKD", char)
    kept = "".join(part for part in decomposed if ord(part) not in _COMBINING_DIACRITICS)
    # Recomposing turns Hangul Jamo back into syllables and keeps Kana voicing marks on their letter.
    return unicodedata.normalize("NFC", kept).lower()


def normalize(text: str) -> str:
    return "".join(normalize_char(char) for char in text)


@dataclass(frozen=True)
class Token:
    """A word of an attribute value: its normalized form and where it sits in the original string."""

    text: str
    start: int
    """Character offset of the word in the original string."""
    end: int
    position: int
    """Word index within the attribute, used by the proximity and attribute rules."""
    is_cjk: bool


def tokenize(text: str, *, first_position: int = 0) -> list[Token]:
    tokens: list[Token] = []
    start: int | None = None
    for index, char in enumerate([*text, " "]):
        continues = start is not None and is_word_char(char) and is_cjk_char(char) == is_cjk_char(text[start])
        if continues:
            continue
        if start is not None:
            word = text[start:index]
            normalized = normalize(word)
            if normalized:
                position = first_position + len(tokens)
                tokens.append(Token(normalized, start, index, position, is_cjk=is_cjk_char(word[0])))
            start = None
        if index < len(text) and is_word_char(char):
            start = index
    return tokens


def original_span(word: str, normalized_start: int, normalized_end: int) -> tuple[int, int]:
    """The characters of ``word`` whose normalized form covers ``[normalized_start, normalized_end)``."""
    consumed = 0
    start = end = len(word)
    for index, char in enumerate(word):
        if consumed >= normalized_start and start == len(word):
            start = index
        consumed += len(normalize_char(char))
        if consumed >= normalized_end:
            end = index + 1
            break
    return min(start, end), end
