"""Search text analysis: product text and queries are cut into the same terms, whatever the shopper's keyboard."""

from __future__ import annotations

import pytest

from catalog.search.analysis import (
    CjkMark,
    Marks,
    QueryWord,
    Word,
    edit_distance,
    grams,
    highlight,
    index_text,
    normalize,
    product_name,
    query_words,
    required_grams,
    words,
)
from catalog.search.synonyms import ITEMS, MATERIALS, SYNONYMS

FULL_WIDTH_LINEN = "".join(chr(ord(char) + 0xFEE0) for char in "LINEN")


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        (f"{FULL_WIDTH_LINEN}\u3000셔츠", "linen 셔츠"),  # full-width letters and space
        ("ﾘﾈﾝｼｬﾂ", "リネンシャツ"),  # half-width Katakana
        ("Straße", "strasse"),  # case folding, not only lower case
        ("㈜하루", "(주)하루"),  # compatibility characters
    ],
)
def test_text_is_normalized_as_shoppers_expect(typed: str, normalized: str) -> None:
    assert normalize(typed) == normalized


def test_words_are_cut_where_scripts_meet() -> None:
    assert words("오버핏 린넨셔츠2024 Linen-Blend リネンシャツ") == [
        Word("오버핏", cjk=True, hangul=True),
        Word("린넨셔츠", cjk=True, hangul=True),
        Word("2024", cjk=False, hangul=False),
        Word("linen", cjk=False, hangul=False),
        Word("blend", cjk=False, hangul=False),
        Word("リネンシャツ", cjk=True, hangul=False),
    ]


def test_cjk_words_become_bigrams_and_a_single_character_stays_itself() -> None:
    assert grams("롱스커트") == ["롱스", "스커", "커트"]
    assert grams("바지") == ["바지"]
    assert grams("롱") == ["롱"]
    assert index_text("롱 스커트", "Classic LINEN").terms == ["롱", "스커", "커트", "classic", "linen"]
    assert index_text("リネン").terms == ["リネ", "ネン"]
    assert index_text("麻シャツ").terms == ["麻シ", "シャ", "ャツ"]


def test_an_unspaced_compound_shares_most_bigrams_with_its_spaced_form() -> None:
    unspaced = set(index_text("롱스커트").terms)
    spaced = set(index_text("롱 스커트").terms)
    assert len(unspaced & spaced) >= required_grams(len(grams("롱스커트")))


def test_cjk_words_are_also_kept_whole() -> None:
    assert index_text("린넨 반바지 Linen", "하의/반바지").words == ["린넨", "반바지", "하의", "반바지"]


def test_the_ends_of_a_compound_are_kept_too_as_it_names_a_kind_of_its_last_word() -> None:
    assert index_text("와이드팬츠 바지 Wide").ends == ["이드팬츠", "드팬츠", "팬츠"]


@pytest.mark.parametrize(
    ("name", "text", "labels", "head"),
    [
        ("[베스트] 울 코트 (2color)", "울 코트 (2color)", "베스트", "코트"),  # a vest it is not
        ("【당일출고】[자체제작] 후드 코트", "후드 코트", "당일출고 자체제작", "코트"),  # a coat with a hood
        ("코트 스니커즈", "코트 스니커즈", "", "스니커즈"),
        ("Classic Silk Blouse", "Classic Silk Blouse", "", "blouse"),
        ("[MADE]", "", "MADE", ""),
    ],
)
def test_a_product_name_puts_the_shops_labels_aside_and_the_item_last(
    name: str, text: str, labels: str, head: str
) -> None:
    assert product_name(name) == (text, labels, head)


@pytest.mark.parametrize(("count", "required"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 4), (6, 4)])
def test_two_thirds_of_a_words_bigrams_make_it_present(count: int, required: int) -> None:
    assert required_grams(count) == required


def test_the_last_query_word_is_a_prefix_unless_the_query_ends_with_a_space() -> None:
    assert [word.prefix for word in query_words("linen bla")] == [False, True]
    assert [word.prefix for word in query_words("linen bla ")] == [False, False]
    assert query_words("린넨 린넨 셔츠") == [
        QueryWord("린넨", cjk=True, hangul=True, prefix=False),
        QueryWord("셔츠", cjk=True, hangul=True, prefix=True),
    ]
    assert len(query_words(" ".join(f"w{n}" for n in range(15)))) == 10


@pytest.mark.parametrize(
    ("word", "typos"),
    [
        ("blaze", 1),  # Meilisearch: one typo from five letters
        ("coat", 0),
        ("cardigans", 2),  # two from nine
        ("블라우스", 1),  # Korean: one from three syllables
        ("가디건", 1),
        ("바지", 0),
        ("リネンシャツ", 0),  # none in Kana and Han
    ],
)
def test_typo_allowance(word: str, typos: int) -> None:
    (query_word,) = query_words(word)
    assert query_word.typos == typos


def test_edit_distance_counts_a_swap_as_one_and_stops_past_the_limit() -> None:
    assert edit_distance("블라우즈", "블라우스", limit=1) == 1
    assert edit_distance("clasic", "classic", limit=1) == 1
    assert edit_distance("lnien", "linen", limit=1) == 1
    assert edit_distance("blazer", "coat", limit=1) == 2


def test_highlight_marks_matches_and_escapes_the_rest() -> None:
    marks = Marks(cjk=(CjkMark("린넨", ("린넨",), 1),), words=frozenset({"linen"}))
    assert highlight('<b>린넨</b> & "코튼"', marks) == "&lt;b&gt;<em>린넨</em>&lt;/b&gt; &amp; &quot;코튼&quot;"
    assert highlight("오버핏 린넨셔츠", marks) == "오버핏 <em>린넨</em>셔츠"
    assert highlight("Classic LINEN Blazer", marks) == "Classic <em>LINEN</em> Blazer"
    # Marked in the name as it was written.
    assert highlight(FULL_WIDTH_LINEN, marks) == f"<em>{FULL_WIDTH_LINEN}</em>"


def test_highlight_marks_bigrams_of_a_compound_typed_unspaced() -> None:
    compound = CjkMark("롱스커트", ("롱스", "스커", "커트"), 2)
    assert highlight("데님 롱스커트", Marks(cjk=(compound,))) == "데님 <em>롱스커트</em>"
    assert highlight("플리츠 롱 스커트", Marks(cjk=(compound,))) == "플리츠 롱 <em>스커트</em>"
    long = CjkMark("롱", ("롱",), 1, prefix=True)
    assert highlight("데님 롱스커트", Marks(cjk=(long,))) == "데님 <em>롱</em>스커트"


def test_highlight_marks_prefixes_and_typos() -> None:
    marks = Marks(prefixes=frozenset({"lin"}), near=(("clasic", 1, False),))
    assert highlight("Classic Linen", marks) == "<em>Classic</em> <em>Linen</em>"
    korean = CjkMark("블라우즈", ("블라", "라우", "우즈"), 2, typos=1)
    assert highlight("실크 블라우스", Marks(cjk=(korean,))) == "실크 <em>블라우스</em>"


def test_each_word_of_the_synonym_table_names_one_thing_and_a_material_is_not_an_item() -> None:
    members = [normalize(word) for group in SYNONYMS for word in group]
    assert len(members) == len(set(members))
    (jeans,) = (group for group in ITEMS if "청바지" in group)
    (denim,) = (group for group in MATERIALS if "데님" in group)
    assert "데님" not in jeans
    assert "denim" in denim
