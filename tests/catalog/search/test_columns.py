"""Many-valued fields (styles, colours, sizes): filters and facet counts agree with the values each slot has."""

from __future__ import annotations

import random

import numpy as np
import pytest

from catalog.search.values import ValueBits, packed

COLORS = ("블랙", "화이트", "베이지", "네이비", "그레이", "블루", "레드", "카키", "아이보리")


@pytest.mark.parametrize("seed", range(3))
def test_counts_over_few_and_many_matches_and_filters_agree_with_the_values(seed: int) -> None:
    rng = random.Random(seed)
    size = 3000
    held = [rng.sample(COLORS, rng.randint(0, 4)) for _ in range(size)]
    bits = ValueBits(4096)
    bits.add(0, held[:1000])
    bits.add(1000, held[1000:])
    for _ in range(300):  # rewrites, some with more values than any slot had
        slot = rng.randrange(size)
        held[slot] = rng.sample(COLORS, rng.randint(0, 6))
        bits.set(slot, held[slot])
    for share in (0.001, 0.01, 0.3, 1.0):  # few matches are gathered, many are counted in bits
        matched = np.array([rng.random() < share for _ in range(size)])
        found = np.flatnonzero(matched)
        expected: dict[str, int] = {}
        for slot in found.tolist():
            for color in held[slot]:
                expected[color] = expected.get(color, 0) + 1
        assert bits.counts(packed(matched, 4096), found) == expected, share
    for wanted in (["블랙"], ["레드", "카키"], ["없는색"]):
        assert bits.any_of(wanted, size).tolist() == [bool(set(wanted) & set(colors)) for colors in held]
