"""The feed's ranking: a segment's candidates re-scored for one shopper, then spread across malls.

A final score per candidate (its base score, plus the shopper's affinity to its mall and category, minus what
they already bought), then mall diversity: at most ``MAX_PER_MALL`` items of one mall in any
``DIVERSITY_WINDOW`` consecutive items. How lists are fixed and paged is ``personalization.feed_pages``; what a
shopper's taste is made of, ``personalization.taste``.
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
DIVERSITY_WINDOW = 10
PERSONAL_WEIGHT = 0.8
BOUGHT_PENALTY = 1.5


class Explanation(msgspec.Struct, kw_only=True):
    """Why the item is where it is: the parts of its score, and what mall diversity did to its rank."""

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
    """Final scores, best first (ties: newer product first), then mall diversity; at most ``FEED_LENGTH``."""
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


def diversify(ranked: list[Ranked], *, per_mall: int = MAX_PER_MALL, window: int = DIVERSITY_WINDOW) -> list[Ranked]:
    """Greedy: at each place, the best remaining item whose mall has fewer than ``per_mall`` items among the
    previous ``window - 1``; when no remaining item qualifies (few malls left), the best remaining one.

    Items passed over wait in one queue per mall, so each place looks at the next item and at most one waiting
    item per mall, instead of rescanning everything passed over (one mall holding half the candidates is common).
    """
    waiting: dict[uuid.UUID, deque[int]] = {}
    chosen: list[Ranked] = []
    recent: Counter[uuid.UUID] = Counter()
    position = 0
    while len(chosen) < FEED_LENGTH:
        # The best waiting item whose mall may come now, and the best waiting item at all.
        allowed = min((q[0] for mall, q in waiting.items() if q and recent[mall] < per_mall), default=None)
        best_waiting = min((q[0] for q in waiting.values() if q), default=None)
        # Walk on through the ranking until an item that may come now, or one ranked below the best allowed.
        while position < len(ranked) and (allowed is None or position < allowed):
            mall = ranked[position].candidate.mall_id
            if recent[mall] < per_mall:
                allowed = position
                break
            waiting.setdefault(mall, deque()).append(position)
            best_waiting = position if best_waiting is None else min(best_waiting, position)
            position += 1
        pick = allowed if allowed is not None else best_waiting
        if pick is None:
            break  # nothing left
        if pick == position:
            position += 1
        else:
            waiting[ranked[pick].candidate.mall_id].popleft()
        item = ranked[pick]
        chosen.append(item)
        recent[item.candidate.mall_id] += 1
        if len(chosen) >= window:
            recent[chosen[-window].candidate.mall_id] -= 1
    return chosen
