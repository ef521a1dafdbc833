"""The catalog as the PostgreSQL search engine holds it in memory: one slot per product, a column per field.

Single-valued fields (mall, category, gender, price, stock …) are arrays indexed by slot, so a filter is one
array comparison and a facet one ``bincount``. Many-valued fields (styles, colours, sizes) are bit rows, one per
value, so a facet's counts are one AND and one popcount per value, however many products match. Text goes to
two :class:`~catalog.search.postings.TermPostings`: the search text and the name alone (for relevance).

Rows arrive from ``catalog.search.postgres``, each with the ``search_seq`` its trigger drew: a row older than the
one already held is ignored, so the order in which concurrent reads are applied does not matter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, get_args

import numpy as np

from catalog.models import MallStatus, ProductStatus
from catalog.schemas import AgeBandName
from catalog.search.engine import PRICE_BUCKETS
from catalog.search.postings import MIN_RECENT, TermPostings

if TYPE_CHECKING:
    import uuid
    from collections.abc import Iterable

    from numpy.typing import NDArray

AGE_BANDS: tuple[str, ...] = get_args(AgeBandName)
GENDERS = ("female", "male", "unisex")
_INITIAL_CAPACITY = 1024
_LOW_64 = (1 << 64) - 1


class ProductRow(NamedTuple):
    """A product as ``catalog.search.postgres`` reads it."""

    id: uuid.UUID
    mall_id: uuid.UUID
    name: str
    image_url: str | None
    category_path: str
    style_tags: list[str]
    colors: list[str]
    sizes: list[str]
    target_gender: str
    target_age_bands: list[str]
    price_min: int
    price_from: int
    currency: str
    in_stock: bool
    exclusive: bool
    status: str
    popularity: float
    search_name: str
    search_text: str
    search_seq: int


class MallRow(NamedTuple):
    id: uuid.UUID
    name: str
    status: str
    search_seq: int


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
    """For a many-valued field: which slots have each value, one row of bits per value."""

    def __init__(self, capacity: int) -> None:
        self.codes = Codes()
        self._bits: NDArray[np.uint8] = np.zeros((0, capacity // 8), np.uint8)

    def grow(self, capacity: int) -> None:
        wider = np.zeros((self._bits.shape[0], capacity // 8), np.uint8)
        wider[:, : self._bits.shape[1]] = self._bits
        self._bits = wider

    def set(self, slot: int, values: Iterable[str]) -> None:
        byte, bit = slot >> 3, np.uint8(0x80 >> (slot & 7))
        self._bits[:, byte] &= ~bit
        for value in values:
            row = self.codes.number(value)
            if row == self._bits.shape[0]:
                self._bits = np.vstack((self._bits, np.zeros((1, self._bits.shape[1]), np.uint8)))
            self._bits[row, byte] |= bit

    def any_of(self, values: Iterable[str], size: int) -> NDArray[np.bool_]:
        """Slots (of ``size``) with at least one of ``values``."""
        rows = [row for row in map(self.codes.get, values) if row is not None]
        if not rows:
            return np.zeros(size, np.bool_)
        combined = np.bitwise_or.reduce(self._bits[rows], axis=0)
        return np.unpackbits(combined, count=size).astype(np.bool_)

    def counts(self, matched: NDArray[np.bool_]) -> dict[str, int]:
        """How many of the ``matched`` slots have each value."""
        packed = np.packbits(matched)
        per_value = np.bitwise_count(self._bits[:, : packed.shape[0]] & packed).sum(axis=1, dtype=np.int64)
        return {self.codes.values[row]: int(count) for row, count in enumerate(per_value.tolist()) if count}


class CatalogColumns:
    def __init__(self, *, min_recent: int = MIN_RECENT) -> None:
        capacity = _INITIAL_CAPACITY
        self.size = 0
        """Slots in use; arrays are longer (``capacity``), and only their first ``size`` entries mean anything."""
        self._slots: dict[uuid.UUID, int] = {}
        self.ids: list[uuid.UUID] = []
        self.names: list[str] = []
        self.images: list[str] = []
        self.currencies: list[str] = []
        self.seq = np.zeros(capacity, np.int64)
        self.listed = np.zeros(capacity, np.bool_)
        """Present and not hidden by its mall (the mall's own status is ``mall_listed``)."""
        self.mall = np.zeros(capacity, np.int32)
        self.category = np.zeros(capacity, np.int32)
        self.gender = np.zeros(capacity, np.int8)
        self.ages = np.zeros(capacity, np.int16)
        """Bit ``i`` for ``AGE_BANDS[i]``; no bit: declared for no band in particular."""
        self.price_min = np.zeros(capacity, np.int64)
        self.price_from = np.zeros(capacity, np.int64)
        self.bucket = np.zeros(capacity, np.int8)
        """Index of its ``price_from`` in ``PRICE_BUCKETS``."""
        self.popularity = np.zeros(capacity, np.float64)
        self.in_stock = np.zeros(capacity, np.bool_)
        self.exclusive = np.zeros(capacity, np.bool_)
        self.id_high = np.zeros(capacity, np.uint64)
        self.id_low = np.zeros(capacity, np.uint64)
        self.categories = Codes()
        self.styles, self.colors, self.sizes = ValueBits(capacity), ValueBits(capacity), ValueBits(capacity)
        self.text = TermPostings(min_recent=min_recent)
        self.name_terms = TermPostings(min_recent=min_recent)
        self.malls = Codes()
        self.mall_ids: list[uuid.UUID] = []
        self.mall_names: list[str] = []
        self.mall_seq: list[int] = []
        self.mall_listed = np.zeros(0, np.bool_)
        self._ranks: dict[str, NDArray[np.int64]] = {}

    @property
    def capacity(self) -> int:
        return int(self.seq.shape[0])

    def apply_product(self, row: ProductRow, *, compact: bool = True) -> None:
        """``row`` replaces what the slot held, unless it is older. Without ``compact`` the text postings are
        left for :meth:`compact` (loading a whole catalog compacts once, at the end)."""
        slot = self._slots.get(row.id)
        if slot is None:
            slot = self._new_slot(row.id)
        elif row.search_seq <= self.seq[slot]:
            return
        self.seq[slot] = row.search_seq
        self.names[slot] = row.name
        self.images[slot] = row.image_url or ""
        self.currencies[slot] = row.currency
        self.listed[slot] = row.status != ProductStatus.HIDDEN.value
        self.mall[slot] = self._mall_number(row.mall_id)
        self.category[slot] = self.categories.number(row.category_path)
        self.gender[slot] = GENDERS.index(row.target_gender)
        self.ages[slot] = sum(1 << AGE_BANDS.index(band) for band in row.target_age_bands if band in AGE_BANDS)
        self.price_min[slot] = row.price_min
        self.price_from[slot] = row.price_from
        self.bucket[slot] = next(
            index for index, (_, high) in enumerate(PRICE_BUCKETS) if high is None or row.price_from < high
        )
        self.popularity[slot] = row.popularity
        self.in_stock[slot] = row.in_stock
        self.exclusive[slot] = row.exclusive
        self.styles.set(slot, row.style_tags)
        self.colors.set(slot, row.colors)
        self.sizes.set(slot, row.sizes)
        self.text.set(slot, row.search_text, compact=compact)
        self.name_terms.set(slot, row.search_name, compact=compact)
        self._ranks.clear()

    def compact(self) -> None:
        self.text.compact()
        self.name_terms.compact()

    def remove_product(self, product_id: uuid.UUID, seq: int) -> None:
        """The row was deleted: its slot stays, empty and unlisted."""
        slot = self._slots.get(product_id)
        if slot is None or seq <= self.seq[slot]:
            return
        self.seq[slot] = seq
        self.listed[slot] = False
        self.text.set(slot, "")
        self.name_terms.set(slot, "")

    def apply_mall(self, row: MallRow) -> None:
        number = self._mall_number(row.id)
        if row.search_seq <= self.mall_seq[number]:
            return
        self.mall_seq[number] = row.search_seq
        self.mall_names[number] = row.name
        self.mall_listed[number] = row.status == MallStatus.ACTIVE.value

    def shown(self) -> NDArray[np.bool_]:
        """Slots a shopper may see: listed, of a listed mall."""
        size = self.size
        return self.listed[:size] & self.mall_listed[self.mall[:size]]

    def rank(self, order: str) -> NDArray[np.int64]:
        """Each slot's place in ``order`` (``newest``, ``popularity``, ``price_asc``, ``price_desc``), newest
        first among equals; computed once per change of the catalog."""
        ranks = self._ranks.get(order)
        if ranks is None:
            size = self.size
            newest: list[NDArray[Any]] = [~self.id_low[:size], ~self.id_high[:size]]
            first: list[NDArray[Any]] = []
            if order == "popularity":
                first = [-self.popularity[:size]]
            elif order == "price_asc":
                first = [self.price_from[:size]]
            elif order == "price_desc":
                first = [-self.price_from[:size]]
            ordered = np.lexsort((*newest, *first))
            ranks = np.empty(size, np.int64)
            ranks[ordered] = np.arange(size, dtype=np.int64)
            self._ranks[order] = ranks
        return ranks

    def _new_slot(self, product_id: uuid.UUID) -> int:
        slot = self.size
        if slot == self.capacity:
            self._grow(2 * self.capacity)
        self.size += 1
        self._slots[product_id] = slot
        self.ids.append(product_id)
        self.names.append("")
        self.images.append("")
        self.currencies.append("")
        number = product_id.int
        self.id_high[slot] = number >> 64
        self.id_low[slot] = number & _LOW_64
        return slot

    def _grow(self, capacity: int) -> None:
        for name in (
            "seq", "listed", "mall", "category", "gender", "ages", "price_min", "price_from", "bucket", "popularity",
            "in_stock", "exclusive", "id_high", "id_low",
        ):  # fmt: skip
            old: NDArray[Any] = getattr(self, name)
            new = np.zeros(capacity, old.dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)
        for bits in (self.styles, self.colors, self.sizes):
            bits.grow(capacity)

    def _mall_number(self, mall_id: uuid.UUID) -> int:
        number = self.malls.number(str(mall_id))
        if number == len(self.mall_ids):
            self.mall_ids.append(mall_id)
            self.mall_names.append("")
            self.mall_seq.append(0)
            self.mall_listed = np.append(self.mall_listed, False)
        return number
