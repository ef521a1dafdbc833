"""Values numbered in order of first sight, and which product slots have each value of a many-valued field."""

from __future__ import annotations

import array
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from numpy.typing import NDArray


class Codes:
    """Values numbered in order of first sight."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._numbers: dict[str, int] = {}

    def number(self, value: str) -> int:
        found = self._numbers.get(value)
        if found is None:
            found = self._numbers[value] = len(self.values)
            self.values.append(value)
        return found

    def get(self, value: str) -> int | None:
        return self._numbers.get(value)

    def __len__(self) -> int:
        return len(self.values)


class ValueBits:
    """For a many-valued field: which slots have each value, twice over. One row of bits per value answers
    filters, and facet counts over many matches; each slot's own value numbers (a row per slot, ``-1`` past its
    last) answer facet counts over few matches, by gathering only theirs."""

    def __init__(self, capacity: int) -> None:
        self.codes = Codes()
        self._bits: NDArray[np.uint8] = np.zeros((0, capacity // 8), np.uint8)
        self._held: NDArray[np.int32] = np.full((capacity, 0), -1, np.int32)

    def grow(self, capacity: int) -> None:
        wider = np.zeros((self._bits.shape[0], capacity // 8), np.uint8)
        wider[:, : self._bits.shape[1]] = self._bits
        self._bits = wider
        longer = np.full((capacity, self._held.shape[1]), -1, np.int32)
        longer[: self._held.shape[0]] = self._held
        self._held = longer

    def add(self, first: int, per_slot: Sequence[Iterable[str]]) -> None:
        """Slots ``first``, ``first + 1`` … (none set before) have these values."""
        numbered = [[self.codes.number(value) for value in dict.fromkeys(values)] for values in per_slot]
        self._room(len(self.codes), max(map(len, numbered), default=0))
        width = self._held.shape[1]
        padded = [numbers + [-1] * (width - len(numbers)) for numbers in numbered]
        if padded:
            self._held[first : first + len(padded)] = np.array(padded, np.int32).reshape(len(padded), width)
        rows, slots = array.array("q"), array.array("q")
        for slot, numbers in enumerate(numbered, first):
            rows.extend(numbers)
            slots.extend([slot] * len(numbers))
        row_numbers, slot_numbers = np.frombuffer(rows, np.int64), np.frombuffer(slots, np.int64)
        bits = (0x80 >> (slot_numbers & 7)).astype(np.uint8)
        np.bitwise_or.at(self._bits, (row_numbers, slot_numbers >> 3), bits)

    def set(self, slot: int, values: Iterable[str]) -> None:
        numbers = [self.codes.number(value) for value in dict.fromkeys(values)]
        self._room(len(self.codes), len(numbers))
        byte, bit = slot >> 3, np.uint8(0x80 >> (slot & 7))
        self._bits[:, byte] &= ~bit
        self._bits[numbers, byte] |= bit
        self._held[slot] = -1
        self._held[slot, : len(numbers)] = numbers

    def _room(self, values: int, per_slot: int) -> None:
        """Bit rows for ``values`` values, and room for ``per_slot`` values in each slot's row."""
        if values > self._bits.shape[0]:
            more = np.zeros((values - self._bits.shape[0], self._bits.shape[1]), np.uint8)
            self._bits = np.vstack((self._bits, more))
        if per_slot > self._held.shape[1]:
            wider = np.full((self._held.shape[0], per_slot), -1, np.int32)
            wider[:, : self._held.shape[1]] = self._held
            self._held = wider

    def any_of(self, values: Iterable[str], size: int) -> NDArray[np.bool_]:
        """Slots (of ``size``) with at least one of ``values``."""
        rows = [row for row in map(self.codes.get, values) if row is not None]
        if not rows:
            return np.zeros(size, np.bool_)
        combined = np.bitwise_or.reduce(self._bits[rows], axis=0)
        return np.unpackbits(combined, count=size).astype(np.bool_)

    def counts(self, matched: NDArray[np.uint64], found: NDArray[np.int64]) -> dict[str, int]:
        """How many matching slots have each value: ``matched`` is :func:`packed` (the matches as bits),
        ``found`` the same slots as numbers."""
        if found.shape[0] * self._held.shape[1] * 32 < self._bits.size:
            # Few matches: their own value numbers, gathered and counted (gathering costs about 30 times as
            # much per number as counting costs per byte of bits).
            numbers = self._held[found].ravel()
            per_value = np.bincount(numbers[numbers >= 0], minlength=len(self.codes))
        else:
            words = self._bits.view(np.uint64) & matched[: self._bits.shape[1] // 8]
            per_value = np.bitwise_count(words).sum(axis=1, dtype=np.int64)
        return {self.codes.values[row]: count for row, count in enumerate(per_value.tolist()) if count}


def packed(matched: NDArray[np.bool_], capacity: int) -> NDArray[np.uint64]:
    """``matched`` (a flag per slot) as bits in 64-bit words, padded to ``capacity`` slots, as
    :meth:`ValueBits.counts` takes it: eight times fewer elements to AND and count than bytes."""
    bits = np.zeros(capacity // 8, np.uint8)
    bits[: (matched.shape[0] + 7) // 8] = np.packbits(matched)
    return bits.view(np.uint64)
