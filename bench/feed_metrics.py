"""How good a ranked list is for ``python -m bench feed-quality``: NDCG against held-out purchases, and mall mix."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

Item = TypeVar("Item", bound=Hashable)


def dcg(gains: Iterable[float]) -> float:
    """Discounted cumulative gain of gains in rank order: rank r (from 1) is discounted by log2(r + 1)."""
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))


def ndcg_at(ranked: Sequence[Item], relevance: Mapping[Item, float], k: int) -> float:
    """NDCG@k of ``ranked`` where ``relevance`` grades the relevant items (here: how many times bought).

    The ideal is the ``k`` most relevant items in order, so 1.0 means nothing better fits in the first ``k``.
    An item listed twice counts once, at its first rank (a list cannot earn twice from one purchase). With no
    relevant item at all the score is 0.0: nothing to find is not a success.
    """
    if k <= 0:
        msg = f"k must be positive, got {k}"
        raise ValueError(msg)
    ideal = dcg(sorted((g for g in relevance.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    seen: set[Item] = set()
    gains = []
    for item in ranked[:k]:
        gains.append(0.0 if item in seen else max(relevance.get(item, 0.0), 0.0))
        seen.add(item)
    return dcg(gains) / ideal


@dataclass(frozen=True)
class MallMix:
    """Which malls fill a list: how many, and how much the biggest ones take."""

    items: int
    malls: int
    top3_share: float
    max_share: float
    max_mall: str | None


def mall_mix(malls: Sequence[str]) -> MallMix:
    """The mix of ``malls``, one entry per listed item, in order (pass the first 100 to judge a first screen)."""
    if not malls:
        return MallMix(items=0, malls=0, top3_share=0.0, max_share=0.0, max_mall=None)
    counts = Counter(malls).most_common()
    top3 = sum(count for _, count in counts[:3])
    biggest, biggest_count = counts[0]
    return MallMix(
        items=len(malls),
        malls=len(counts),
        top3_share=top3 / len(malls),
        max_share=biggest_count / len(malls),
        max_mall=biggest,
    )


def rank_by(candidates: Iterable[str], key: Callable[[str], tuple[float, ...]], limit: int) -> list[str]:
    """The ``limit`` candidates with the highest ``key``; ties keep the candidates' order."""
    return sorted(candidates, key=key, reverse=True)[:limit]


def gap_interval(
    ranked: Sequence[str],
    baselines: Sequence[Sequence[str]],
    purchases: Sequence[str],
    *,
    k: int,
    rounds: int = 1000,
    coverage: float = 0.9,
    seed: int = 0,
) -> tuple[float, float]:
    """How sure the lead of ``ranked`` over the best of ``baselines`` is: NDCG@k of ``ranked`` minus the best
    baseline's, over ``rounds`` resamples (with replacement) of ``purchases``; the central ``coverage`` interval.

    It shows how much of a lead or a shortfall the luck of which products were bought could explain; it does
    not cover the luck of the browsing the rankings learned from.
    """
    if not purchases:
        return (0.0, 0.0)
    rng = random.Random(seed)
    gaps = []
    for _ in range(rounds):
        relevance: dict[str, float] = dict(Counter(rng.choices(purchases, k=len(purchases))))
        best = max((ndcg_at(baseline, relevance, k) for baseline in baselines), default=0.0)
        gaps.append(ndcg_at(ranked, relevance, k) - best)
    gaps.sort()
    tail = (1.0 - coverage) / 2
    return gaps[int(tail * (rounds - 1))], gaps[int((1.0 - tail) * (rounds - 1))]
