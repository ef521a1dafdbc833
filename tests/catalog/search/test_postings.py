"""Term postings find exactly the products whose text holds a term, through writes and compactions."""

from __future__ import annotations

import random

import numpy as np
import pytest

from catalog.search.postings import TermPostings, within_typos
from catalog.search.text import index_terms

WORDS = ("린넨셔츠", "셔츠", "와이드팬츠", "린넨", "데님스커트", "linen", "line", "blazer", "リネンシャツ", "오버핏")
QUERIES = ("린넨", "셔츠", "츠", "팬츠", "데님", "lin", "linen", "line", "blazer", "リネン", "シャツ", "수영복", "오")


def holds(text: str, word: str, *, prefix: bool) -> bool:
    return any(term.startswith(word) if prefix else term == word for term in text.split())


@pytest.mark.parametrize("seed", range(5))
def test_matches_agree_with_the_texts_through_writes_and_compactions(seed: int) -> None:
    rng = random.Random(seed)
    postings = TermPostings(min_recent=8)
    texts: dict[int, str] = {}
    for step in range(400):
        slot = rng.randrange(60)
        texts[slot] = "" if rng.random() < 0.1 else index_terms(*rng.sample(WORDS, rng.randint(1, 3)))
        postings.set(slot, texts[slot])
        if step % 97 == 0:
            postings.compact()
        if step % 10 == 0:
            size = max(texts) + 1
            for word in QUERIES:
                for prefix in (True, False):
                    expected = [slot in texts and holds(texts[slot], word, prefix=prefix) for slot in range(size)]
                    found = postings.matching(word, prefix=prefix, size=size)
                    assert found.tolist() == expected, (word, prefix, step)


def test_a_slot_emptied_holds_nothing_after_compaction() -> None:
    postings = TermPostings(min_recent=1)
    postings.set(0, index_terms("린넨셔츠"))
    postings.set(1, index_terms("린넨팬츠"))
    postings.compact()
    postings.set(0, "")
    postings.compact()
    assert postings.matching("린넨", prefix=True, size=2).tolist() == [False, True]
    assert not np.any(postings.matching("셔츠", prefix=True, size=2))


@pytest.mark.parametrize(
    ("word", "term", "typos", "prefix", "expected"),
    [
        ("lineen", "linen", 1, False, True),  # a letter added
        ("clasic", "classic", 1, False, True),  # a letter left out
        ("lniens", "linens", 1, False, True),  # neighbours swapped
        ("linan", "linen", 1, False, True),  # a letter replaced
        ("lxxen", "linen", 1, False, False),
        ("blazer", "blazers", 1, False, True),
        ("blazer", "blazerjacket", 1, False, False),
        ("blazer", "blazerjacket", 1, True, True),  # the last word of a query may be a term's beginning
        ("blazre", "blazerjacket", 1, True, True),
        ("cardigans", "cardigan", 2, False, True),
        ("cardigxxs", "cardigan", 2, False, False),
    ],
)
def test_typos_are_counted_as_meilisearch_counts_them(
    word: str, term: str, typos: int, prefix: bool, expected: bool
) -> None:
    assert within_typos(word, term, typos, prefix=prefix) is expected
