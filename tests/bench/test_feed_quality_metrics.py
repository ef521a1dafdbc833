"""The feed-quality benchmark's yardsticks: NDCG against held-out purchases, and how malls share a list."""

from __future__ import annotations

import math

import pytest

from bench.feed_metrics import dcg, gap_interval, mall_mix, ndcg_at, rank_by


def test_the_purchases_in_their_best_order_score_one() -> None:
    bought = {"linen-shirt": 3.0, "slacks": 2.0, "loafers": 1.0}

    assert ndcg_at(["linen-shirt", "slacks", "loafers", "tote"], bought, 3) == pytest.approx(1.0)


def test_a_graded_ranking_is_discounted_by_the_log_of_its_rank() -> None:
    bought = {"slacks": 2.0, "loafers": 1.0}

    score = ndcg_at(["tote", "slacks", "loafers"], bought, 3)

    found = 2 / math.log2(3) + 1 / math.log2(4)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert score == pytest.approx(found / ideal)
    assert dcg([0.0, 2.0, 1.0]) == pytest.approx(found)


def test_only_the_first_k_count() -> None:
    bought = {"blazer": 1.0}

    assert ndcg_at(["tote", "knit", "blazer"], bought, 2) == 0.0
    assert ndcg_at(["tote", "blazer", "knit"], bought, 2) == pytest.approx(1 / math.log2(3))


def test_a_product_listed_twice_earns_once() -> None:
    bought = {"blazer": 1.0, "coat": 1.0}

    twice = ndcg_at(["blazer", "blazer"], bought, 2)

    assert twice == pytest.approx(1.0 / (1.0 + 1 / math.log2(3)))


def test_nothing_bought_scores_zero_and_k_must_be_positive() -> None:
    assert ndcg_at(["tote"], {}, 20) == 0.0
    assert ndcg_at(["tote"], {"tote": 0.0}, 20) == 0.0
    with pytest.raises(ValueError, match="k must be positive"):
        ndcg_at(["tote"], {"tote": 1.0}, 0)


def test_the_ideal_takes_the_k_most_bought_even_when_more_were_bought() -> None:
    bought = {f"item-{n}": float(n) for n in range(1, 31)}
    best_first = sorted(bought, key=bought.__getitem__, reverse=True)

    assert ndcg_at(best_first, bought, 20) == pytest.approx(1.0)
    assert ndcg_at(list(reversed(best_first)), bought, 20) < 0.5


def test_mall_mix_counts_malls_and_the_shares_of_the_biggest() -> None:
    malls = ["basic-lab"] * 5 + ["blanche"] * 2 + ["grace-l"] * 2 + ["denim-lab"]

    mix = mall_mix(malls)

    assert (mix.items, mix.malls, mix.max_mall) == (10, 4, "basic-lab")
    assert mix.max_share == pytest.approx(0.5)
    assert mix.top3_share == pytest.approx(0.9)


def test_mall_mix_of_nothing() -> None:
    mix = mall_mix([])

    assert (mix.items, mix.malls, mix.top3_share, mix.max_share, mix.max_mall) == (0, 0, 0.0, 0.0, None)


def test_rank_by_keeps_the_candidates_order_among_ties() -> None:
    views = {"a": 1.0, "b": 3.0, "c": 1.0, "d": 0.0}

    assert rank_by(["a", "b", "c", "d"], lambda p: (views[p],), 3) == ["b", "a", "c"]


def test_the_gap_interval_is_zero_for_the_same_ranking_and_positive_for_a_clearly_better_one() -> None:
    purchases = ["coat"] * 5 + ["knit"] * 3 + ["tote"]
    better = ["coat", "knit", "tote"]
    worse = ["scarf", "socks", "tote"]

    assert gap_interval(better, [better], purchases, k=3, rounds=200) == (0.0, 0.0)
    low, high = gap_interval(better, [worse], purchases, k=3, rounds=200)
    assert 0.0 < low <= high <= 1.0
    assert gap_interval(better, [worse], [], k=3) == (0.0, 0.0)
