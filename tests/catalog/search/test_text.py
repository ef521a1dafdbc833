"""Highlighting: the quick path for plain names (ASCII and Hangul) marks exactly what the general one marks."""

from __future__ import annotations

import random

import pytest

from catalog.search.text import _highlight_any, _highlight_plain, highlight, query_terms

PIECES = (
    "린넨",
    "셔츠",
    "원피스",
    "드레스",
    "Linen",
    "linen",
    "LIN",
    "blazer",
    " ",
    " ",
    "&",
    "<b>",
    "[",
    "]",
    "2",
    "_",
)
QUERIES = ("린넨", "린넨 셔츠", "셔츠", "원피스", "lin", "linen", "linen blazer", "넨셔", "<b>", "2")


@pytest.mark.parametrize("seed", range(3))
def test_plain_names_are_marked_as_the_general_path_marks_them(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        name = "".join(rng.choices(PIECES, k=rng.randint(1, 8)))
        for query in QUERIES:
            needles = [(word, term.prefix) for term in query_terms(query) for word in term.alternatives]
            assert _highlight_plain(name, needles) == _highlight_any(name, needles), (name, query)


def test_marks_and_escaping() -> None:
    assert highlight("오버핏 린넨셔츠 & 리넨 <b>", query_terms("린넨")) == (
        "오버핏 <em>린넨</em>셔츠 &amp; <em>리넨</em> &lt;b&gt;"
    )
    assert highlight("Classic LINEN Blazer", query_terms("linen bla")) == ("Classic <em>LINEN</em> <em>Bla</em>zer")
    assert highlight("リネンシャツ ホワイト", query_terms("リネン")) == "<em>リネン</em>シャツ ホワイト"
