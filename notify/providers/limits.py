"""Fitting text into a provider's limit without breaking a character, a word or an emoji in two.

Each provider measures differently: LINE counts UTF-16 code units for message text and grapheme clusters for
labels, Meta counts UTF-8 bytes, TalkTalk counts characters. Rendered messages are checked against the channel's
limits when templates load, so cutting here is the last line of defence (a long tracking URL, a long name), not
the way messages are normally shaped. Counting code points is a safe stand-in for grapheme clusters: a text
within N code points is within N grapheme clusters.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

ELLIPSIS = "…"
_WORD_BACKOFF = 24
"""How far back (in characters) a cut may move to end on a word boundary rather than inside a word."""
_JOINERS = {"\u200d", "\u200c"}


def utf8_size(text: str) -> int:
    return len(text.encode())


def utf16_size(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def cut_text(text: str, limit: int, *, size: Callable[[str], int] = len, ellipsis: str = ELLIPSIS) -> str:
    """``text`` if it fits in ``limit`` (as ``size`` measures), else a clean prefix ending in ``ellipsis`` that does."""
    if size(text) <= limit:
        return text
    budget = limit - size(ellipsis)
    if budget <= 0:
        return ""
    low, high = 0, len(text)
    while low < high:  # the longest prefix within the budget; size grows with the prefix
        middle = (low + high + 1) // 2
        if size(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    end = _clean_end(text, low)
    return text[:end].rstrip() + ellipsis


def _clean_end(text: str, end: int) -> int:
    """Move a cut back so that it keeps combining marks, joined emoji and (nearby) whole words together."""
    while 0 < end < len(text) and (_extends(text[end]) or text[end - 1] in _JOINERS):
        end -= 1
    for index in range(end, max(end - _WORD_BACKOFF, 0), -1):
        if text[index - 1].isspace() or (index < len(text) and text[index].isspace()):
            return index
    return end


def _extends(char: str) -> bool:
    """Characters that belong to the one before them: combining marks, joiners, variation selectors."""
    return (
        unicodedata.category(char) in {"Mn", "Me", "Mc"}
        or char in _JOINERS
        or "\ufe00" <= char <= "\ufe0f"
        or "\U0001f3fb" <= char <= "\U0001f3ff"  # skin tone modifiers
    )
