"""The feed's ranking: a segment's candidates re-scored for one shopper, then spread across malls and categories.

A final score per candidate (its base score, plus the shopper's affinity to its mall and category, minus what
they already bought), then diversity: at most ``MAX_PER_MALL`` items of one mall and ``MAX_PER_CATEGORY`` of one
category in any ``DIVERSITY_WINDOW`` consecutive items. How lists are fixed and paged is
``personalization.feed_pages``; what a shopper's taste is made of, ``personalization.taste``.
"""

from __future__ import annotations

import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from personalization.candidates import Candidate

FEED_LENGTH = 300
"""Items in one feed session: 15 pages of 20."""
MAX_PER_MALL = 2
MAX_PER_CATEGORY = 4
"""Of one top-level category (상의, 원피스 …) in any ``DIVERSITY_WINDOW``: a liked item cannot fill the page with
its kind."""
DIVERSITY_WINDOW = 10
PERSONAL_WEIGHT = 0.8
BOUGHT_PENALTY = 1.5


class Explanation(msgspec.Struct, kw_only=True):
    """Why the item is where it is: the parts of its score, and what diversity did to its rank."""

    target: float
    popularity: float
    everyone: float
    freshness: float
    base: float
    mall_affinity: float
    category_affinity: float
    bought: bool
    score: float
    rank_by_score: int
    """Its place (from 1) by score alone; its place in the feed differs when diversity moved it."""


class MallBrief(msgspec.Struct, frozen=True):
    id: uuid.UUID
    name: str


class FeedItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: uuid.UUID
    name: str
    image_url: str
    price_from: int
    currency: str
    in_stock: bool
    category_path: str
    mall: MallBrief
    explain: Explanation | None = None


class FeedPage(msgspec.Struct, kw_only=True):
    segment: str
    """The segment the feed was made for: ``anonymous`` when the shopper gave no gender or birth date."""
    personalized: bool
    """Whether the shopper's own likes and engagement re-ranked it."""
    items: list[FeedItem]
    next_cursor: str | None


@dataclass(frozen=True)
class ShopperTaste:
    """What re-ranks a segment's candidates for one shopper, each affinity from 0 to 1."""

    malls: dict[uuid.UUID, float] = field(default_factory=dict)
    categories: dict[str, float] = field(default_factory=dict)
    bought: frozenset[uuid.UUID] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.malls or self.categories or self.bought)


@dataclass(slots=True)
class Ranked:
    candidate: Candidate
    mall_affinity: float
    category_affinity: float
    bought: bool
    score: float
    rank_by_score: int


RANK_DEPTH = 800
"""Candidates carried into diversity: enough for ``FEED_LENGTH`` places even when one mall holds most of them."""


def rank(candidates: list[Candidate], taste: ShopperTaste) -> list[Ranked]:
    """Final scores, best first (ties: newer product first), then diversity; at most ``FEED_LENGTH``."""
    keyed = []
    for candidate in candidates:
        mall = taste.malls.get(candidate.mall_id, 0.0)
        category = taste.categories.get(candidate.category, 0.0)
        bought = candidate.product_id in taste.bought
        personal = PERSONAL_WEIGHT * (0.5 * mall + 0.5 * category) - (BOUGHT_PENALTY if bought else 0.0)
        # Product ids are unique, so the comparison never reaches the candidate itself.
        keyed.append((candidate.base + personal, candidate.product_id.int, candidate, mall, category, bought))
    keyed.sort(reverse=True)
    ranked = [
        Ranked(candidate, mall, category, bought, round(score, 4), position)
        for position, (score, _, candidate, mall, category, bought) in enumerate(keyed[:RANK_DEPTH], start=1)
    ]
    return diversify(ranked)


def diversify(
    ranked: list[Ranked],
    *,
    per_mall: int = MAX_PER_MALL,
    per_category: int = MAX_PER_CATEGORY,
    window: int = DIVERSITY_WINDOW,
) -> list[Ranked]:
    """Greedy: at each place, the best remaining item whose mall has fewer than ``per_mall`` items and whose
    category fewer than ``per_category`` among the previous ``window - 1``; when none qualifies, the best remaining
    one whose mall may come (few categories left); when none of those either (few malls left), the best remaining.

    Items passed over wait in one queue per mall and category, so each place looks at the next item and at most
    one waiting item per pair, instead of rescanning everything passed over (one mall holding half the candidates
    is common).
    """
    waiting: dict[uuid.UUID, dict[str, deque[int]]] = {}
    chosen: list[Ranked] = []
    malls: Counter[uuid.UUID] = Counter()
    categories: Counter[str] = Counter()
    position = 0
    while len(chosen) < FEED_LENGTH:
        # The best waiting item that may come now (a mall at its limit is skipped whole).
        allowed = min(
            (q[0] for mall, queues in waiting.items() if malls[mall] < per_mall
             for category, q in queues.items() if q and categories[category] < per_category),
            default=None,
        )  # fmt: skip
        # Walk on through the ranking until an item that may come now, or one ranked below the best allowed.
        while position < len(ranked) and (allowed is None or position < allowed):
            candidate = ranked[position].candidate
            if malls[candidate.mall_id] < per_mall and categories[candidate.category] < per_category:
                allowed = position
                break
            waiting.setdefault(candidate.mall_id, {}).setdefault(candidate.category, deque()).append(position)
            position += 1
        pick = allowed
        if pick is None:  # the whole ranking is waiting: the mall rule alone, then none
            heads = [(q[0], mall) for mall, queues in waiting.items() for q in queues.values() if q]
            pick = min((head for head, mall in heads if malls[mall] < per_mall), default=None)
            if pick is None:
                pick = min((head for head, _ in heads), default=None)
            if pick is None:
                break  # nothing left
        if pick == position:
            position += 1
        else:
            candidate = ranked[pick].candidate
            waiting[candidate.mall_id][candidate.category].popleft()
        item = ranked[pick]
        chosen.append(item)
        malls[item.candidate.mall_id] += 1
        categories[item.candidate.category] += 1
        if len(chosen) >= window:
            gone = chosen[-window].candidate
            malls[gone.mall_id] -= 1
            categories[gone.category] -= 1
    return chosen
