"""Cutting text to a provider's limit: never half a character, a syllable with its marks, or a joined emoji."""

from __future__ import annotations

from notify.providers.limits import cut_text, utf8_size, utf16_size


def test_a_text_that_fits_is_left_alone() -> None:
    assert cut_text("배송이 시작됐습니다", 10) == "배송이 시작됐습니다"


def test_a_cut_ends_on_a_word_and_an_ellipsis_within_the_limit() -> None:
    cut = cut_text("주문하신 상품이 오늘 출발했습니다", 14)

    assert cut == "주문하신 상품이 오늘…"
    assert len(cut) <= 14


def test_sizes_are_measured_as_the_provider_counts() -> None:
    text = "🍎 사과 " * 50

    assert utf8_size(cut_text(text, 100, size=utf8_size)) <= 100
    assert utf16_size(cut_text(text, 100, size=utf16_size)) <= 100
    assert utf16_size("🍎") == 2
    assert utf8_size("사") == 3


def test_a_cut_never_separates_a_joined_emoji_or_a_combining_mark() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    accented = "cafe\u0301"

    assert cut_text("x" * 8 + family * 3, 12) == "xxxxxxxx…"
    assert cut_text(accented * 3, 4, ellipsis="") == "caf"


def test_text_without_spaces_is_cut_between_characters() -> None:
    assert cut_text("発送のお知らせです" * 5, 12) == "発送のお知らせです発送…"


def test_a_limit_smaller_than_the_ellipsis_leaves_nothing() -> None:
    assert cut_text("hello", 0) == ""
