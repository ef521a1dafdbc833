"""Which products hold a term: an inverted index over the terms of ``catalog.search.text.index_terms``.

Terms are sorted, so the terms a query word begins (``린넨`` begins ``린넨셔츠``) are one range of them, and the
products holding any of them are one slice of the postings. Most products sit in a compact part (sorted
terms, one array of product slots); a product written since the last compaction is "recent": its compact
postings no longer count, and its text is matched directly. Compaction folds the recent products in once they
are more than a small share of the whole, in one pass of array operations, without reading the database.
"""

from __future__ import annotations

import array
import bisect
from typing import TYPE_CHECKING

import numpy as np

from catalog.search.text import is_cjk

if TYPE_CHECKING:
    from numpy.typing import NDArray

_AFTER_EVERY_TERM = "\U0010ffff"
MIN_RECENT = 256
"""Recent products are compacted once there are more than this many and more than 2% of all products."""


class TermPostings:
    def __init__(self, *, min_recent: int = MIN_RECENT) -> None:
        self._min_recent = min_recent
        self._terms: list[str] = []
        self._starts: NDArray[np.int64] = np.zeros(1, np.int64)
        """Where each term's slots start in ``_slots``; one more entry than terms, the last is the end."""
        self._slots: NDArray[np.int32] = np.zeros(0, np.int32)
        self._recent: dict[int, str] = {}
        """Slot to indexed text (`` term term ``), for slots written since the last compaction."""
        self._recent_slots: NDArray[np.int64] | None = None
        self._size = 0
        """One past the highest slot ever written."""
        self._near: dict[tuple[str, int, bool], list[str]] = {}
        """Compact terms within typos of a word, per (word, typos, prefix)."""
        self._latin: list[str] | None = None
        self._recent_latin: set[str] = set()

    def load(self, built: PostingsBuilder, size: int) -> None:
        """Hold what ``built`` collected, for slots below ``size``, and nothing else: filling a catalog part by
        part, without every text in memory at once."""
        self._terms, self._starts, self._slots = built.build()
        self._size = size
        self._forget_recent()

    @property
    def pending(self) -> int:
        """Slots written since the last compaction (matched one by one until the next)."""
        return len(self._recent)

    def set(self, slot: int, text: str) -> None:
        """The terms of ``slot`` are now those of ``text`` (empty: none). Terms are whole words or runs of CJK
        characters (``index_terms``), so a term's first character tells its script."""
        self._recent[slot] = text
        self._recent_slots = None
        self._size = max(self._size, slot + 1)
        self._recent_latin.update(term for term in text.split() if not is_cjk(term[0]))
        if len(self._recent) > max(self._min_recent, self._size // 50):
            self.compact()

    def matching(self, word: str, *, prefix: bool, size: int) -> NDArray[np.bool_]:
        """Slots (of ``size``) holding ``word`` as a term, or, with ``prefix``, a term that begins with it."""
        found = np.zeros(size, np.bool_)
        low = bisect.bisect_left(self._terms, word)
        if prefix:
            high = bisect.bisect_left(self._terms, word + _AFTER_EVERY_TERM, lo=low)
        else:
            high = low + 1 if low < len(self._terms) and self._terms[low] == word else low
        found[self._slots[self._starts[low] : self._starts[high]]] = True
        if self._recent:
            found[self._recent_array()] = False
            needle = f" {word}" if prefix else f" {word} "
            for slot, text in self._recent.items():
                if needle in text:
                    found[slot] = True
        return found

    def terms_near(self, word: str, typos: int, *, prefix: bool) -> list[str]:
        """Terms without CJK characters that are ``word`` with at most ``typos`` typos (``within_typos``)."""
        key = (word, typos, prefix)
        near = self._near.get(key)
        if near is None:
            if self._latin is None:
                self._latin = [term for term in self._terms if not is_cjk(term[0])]
            if len(self._near) > 1024:
                self._near.clear()
            near = self._near[key] = [term for term in self._latin if within_typos(word, term, typos, prefix=prefix)]
        recent = {term for term in self._recent_latin if within_typos(word, term, typos, prefix=prefix)}
        return [*near, *sorted(recent.difference(near))]

    def compact(self) -> None:
        """Fold the recent products into the compact part. The compact pairs stay in their order (a term's
        number only shifts past new terms), so the few recent ones are merged in, not everything sorted again:
        about a tenth of the time, which the event loop waits for."""
        if not self._recent:
            return
        new_terms = {term for text in self._recent.values() for term in text.split()}.difference(self._terms)
        vocabulary = sorted(new_terms.union(self._terms))
        number = {term: index for index, term in enumerate(vocabulary)}
        renumbered = np.fromiter((number[term] for term in self._terms), np.int64, len(self._terms))
        stale = np.zeros(self._size, np.bool_)
        stale[self._recent_array()] = True
        kept = ~stale[self._slots]
        # One sortable key per (term, slot) pair: the term's number, then the slot.
        keys = np.repeat(renumbered * self._size, np.diff(self._starts))[kept] + self._slots[kept]
        recent = np.array(
            sorted(
                number[term] * self._size + slot for slot, text in self._recent.items() for term in set(text.split())
            ),
            np.int64,
        )
        keys = np.insert(keys, np.searchsorted(keys, recent), recent)
        ids, slots = np.divmod(keys, self._size)
        per_term = np.bincount(ids, minlength=len(vocabulary))
        used = per_term > 0
        self._terms = [term for term, keep in zip(vocabulary, used.tolist(), strict=True) if keep]
        self._starts = np.concatenate((np.zeros(1, np.int64), np.cumsum(per_term[used])))
        self._slots = slots.astype(np.int32)
        self._forget_recent()

    def _forget_recent(self) -> None:
        self._recent = {}
        self._recent_slots = None
        self._recent_latin = set()
        self._near = {}
        self._latin = None

    def _recent_array(self) -> NDArray[np.int64]:
        if self._recent_slots is None:
            self._recent_slots = np.fromiter(self._recent, np.int64, len(self._recent))
        return self._recent_slots


class PostingsBuilder:
    """Collects (term, slot) pairs as machine integers (a catalog has millions), then sorts them into postings."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        """Terms numbered in order of first sight."""
        self._ids, self._slots = array.array("q"), array.array("q")

    def add(self, slot: int, text: str) -> None:
        numbers = self._numbers
        found = [numbers.setdefault(term, len(numbers)) for term in dict.fromkeys(text.split())]
        self._ids.extend(found)
        self._slots.extend([slot] * len(found))

    def build(self) -> tuple[list[str], NDArray[np.int64], NDArray[np.int32]]:
        """Sorted terms, where each term's slots start, and the slots (ascending within a term)."""
        vocabulary = list(self._numbers)
        ordered = sorted(range(len(vocabulary)), key=vocabulary.__getitem__)
        place = np.empty(len(vocabulary), np.int64)
        place[ordered] = np.arange(len(vocabulary), dtype=np.int64)
        ids = place[np.frombuffer(self._ids, np.int64)]
        slots = np.frombuffer(self._slots, np.int64)
        order = np.lexsort((slots, ids))
        per_term = np.bincount(ids, minlength=len(vocabulary))
        used = per_term > 0
        terms = [vocabulary[number] for number, keep in zip(ordered, used.tolist(), strict=True) if keep]
        starts = np.concatenate((np.zeros(1, np.int64), np.cumsum(per_term[used])))
        return terms, starts, slots[order].astype(np.int32)


def within_typos(word: str, term: str, typos: int, *, prefix: bool) -> bool:
    """``term`` (or, with ``prefix``, its beginning) is ``word`` with at most ``typos`` edits: a letter added,
    removed, replaced, or two neighbours swapped (Meilisearch's typo tolerance counts the same edits)."""
    if len(term) < len(word) - typos or (not prefix and len(term) > len(word) + typos):
        return False
    previous2: list[int] | None = None
    previous = list(range(len(term) + 1))
    for i, char in enumerate(word, 1):
        current = [i] + [0] * len(term)
        for j, other in enumerate(term, 1):
            cost = 0 if char == other else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if previous2 is not None and i > 1 and j > 1 and char == term[j - 2] and word[i - 2] == other:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
        if min(previous) > typos:
            return False
    # With ``prefix``, the word may be the beginning of the term, of any length, within the allowed edits.
    return (min(previous) if prefix else previous[len(term)]) <= typos
