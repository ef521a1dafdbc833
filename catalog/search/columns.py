"""The catalog as the PostgreSQL search engine holds it in memory: one slot per product, a column per field.

Single-valued fields (mall, category, gender, price, stock …) are arrays indexed by slot, so a filter is one
array comparison and a facet one ``bincount``. Many-valued fields (styles, colours and sizes, together in one
:class:`~catalog.search.values.ValueBits`) are bit rows, one per value, so their facets' counts are one AND
and one popcount, however many products match (or, for few matches, a count of theirs alone). Text goes to two
:class:`~catalog.search.postings.TermPostings`: the search text and the name alone (for relevance).

Rows arrive from ``catalog.search.postgres``, each with the ``search_seq`` its trigger drew: a row older than the
one already held is ignored, so the order in which concurrent reads are applied does not matter.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Any, NamedTuple, get_args

import numpy as np

from catalog.models import MallStatus, ProductStatus
from catalog.schemas import AgeBandName
from catalog.search.engine import PRICE_BUCKETS
from catalog.search.postings import MIN_RECENT, PostingsBuilder, TermPostings
from catalog.search.values import Codes, ValueBits

if TYPE_CHECKING:
    import uuid
    from collections.abc import Iterable, Sequence

    from numpy.typing import NDArray

AGE_BANDS: tuple[str, ...] = get_args(AgeBandName)
GENDERS = ("female", "male", "unisex")
_INITIAL_CAPACITY = 1024
_LOW_64 = (1 << 64) - 1
_BUCKET_BOUNDS = [high for _, high in PRICE_BUCKETS if high is not None]
"""A price's bucket is how many of these it has reached."""


MANY_FIELDS = ("style", "color", "size")


def many_key(field: str, value: str) -> str:
    """A style, colour or size as ``CatalogColumns.many`` holds it. PostgreSQL text never holds a NUL."""
    return f"{field}\0{value}"


def _many_keys(row: ProductRow) -> list[str]:
    return [
        *(many_key("style", value) for value in row.style_tags),
        *(many_key("color", value) for value in row.colors),
        *(many_key("size", value) for value in row.sizes),
    ]


def _top(path: str) -> str:
    return path.split("/", 1)[0]


def _text_hash(text: str, name: str) -> int:
    return hash((text, name))


def _age_bits(bands: Iterable[str]) -> int:
    return sum(1 << AGE_BANDS.index(band) for band in set(bands) if band in AGE_BANDS)


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


class CatalogColumns:
    def __init__(self, *, min_recent: int = MIN_RECENT) -> None:
        capacity = _INITIAL_CAPACITY
        self.size = 0
        """Slots in use; arrays are longer (``capacity``), and only their first ``size`` entries mean anything."""
        self._slots: dict[int, int] = {}
        """Slot of each product id (as an integer). Nothing here holds an object per product that the garbage
        collector would scan: ids live in ``id_high`` and ``id_low``, text in lists of strings."""
        self.names: list[str] = []
        self.images: list[str] = []
        self.currencies: list[str] = []
        self.seq = np.zeros(capacity, np.int64)
        self.listed = np.zeros(capacity, np.bool_)
        """Present and not hidden by its mall (the mall's own status is ``mall_listed``)."""
        self.mall = np.zeros(capacity, np.int32)
        self.category = np.zeros(capacity, np.int32)
        self.top_category = np.zeros(capacity, np.int32)
        """The number of the category's top level (``상의`` for ``상의/셔츠``) in ``tops``."""
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
        self.text_hash = np.zeros(capacity, np.int64)
        """Of each slot's search text and name: a write that changed neither (a price, the stock, the popularity)
        leaves the term postings alone, so the worker's popularity updates never bring on a compaction."""
        self.categories = Codes()
        self.tops = Codes()
        self.many = ValueBits(capacity)
        """Styles, colours and sizes together (one AND and count for all three facets), as ``many_key``."""
        self.text = TermPostings(min_recent=min_recent)
        self.name_terms = TermPostings(min_recent=min_recent)
        self._text_loading, self._name_loading = PostingsBuilder(), PostingsBuilder()
        self.malls = Codes()
        self.mall_ids: list[uuid.UUID] = []
        self.mall_names: list[str] = []
        self.mall_seq: list[int] = []
        self.mall_listed = np.zeros(0, np.bool_)
        self._ranks: dict[str, NDArray[np.int64]] = {}
        self._shown: NDArray[np.bool_] | None = None

    @property
    def capacity(self) -> int:
        return int(self.seq.shape[0])

    def load(self, products: Sequence[ProductRow], malls: Sequence[MallRow]) -> None:
        """Add products never seen before, and malls: what :meth:`apply_product` does row by row, in
        whole-array operations. Text postings wait for :meth:`finish_load`, so a catalog loads part by part."""
        for mall in malls:
            self.apply_mall(mall)
        first, count = self.size, len(products)
        end = first + count
        while self.capacity <= end:
            self._grow(2 * self.capacity)
        self.size = end
        self._slots.update((row.id.int, slot) for slot, row in enumerate(products, first))
        self.names.extend(row.name for row in products)
        self.images.extend(row.image_url or "" for row in products)
        self.currencies.extend(row.currency for row in products)

        def column(values: Iterable[Any], dtype: type[np.generic]) -> NDArray[Any]:
            return np.fromiter(values, dtype, count)

        part = slice(first, end)
        self.seq[part] = column((row.search_seq for row in products), np.int64)
        self.listed[part] = column((row.status != ProductStatus.HIDDEN.value for row in products), np.bool_)
        self.mall[part] = column((self._mall_number(row.mall_id) for row in products), np.int32)
        self.category[part] = column((self.categories.number(row.category_path) for row in products), np.int32)
        self.top_category[part] = column((self.tops.number(_top(row.category_path)) for row in products), np.int32)
        self.gender[part] = column((GENDERS.index(row.target_gender) for row in products), np.int8)
        self.ages[part] = column((_age_bits(row.target_age_bands) for row in products), np.int16)
        self.price_min[part] = column((row.price_min for row in products), np.int64)
        self.price_from[part] = column((row.price_from for row in products), np.int64)
        self.bucket[part] = np.searchsorted(_BUCKET_BOUNDS, self.price_from[part], side="right")
        self.popularity[part] = column((row.popularity for row in products), np.float64)
        self.in_stock[part] = column((row.in_stock for row in products), np.bool_)
        self.exclusive[part] = column((row.exclusive for row in products), np.bool_)
        self.id_high[part] = column((row.id.int >> 64 for row in products), np.uint64)
        self.id_low[part] = column((row.id.int & _LOW_64 for row in products), np.uint64)
        self.text_hash[part] = column((_text_hash(row.search_text, row.search_name) for row in products), np.int64)
        self.many.add(first, [_many_keys(row) for row in products])
        for slot, row in enumerate(products, first):
            self._text_loading.add(slot, row.search_text)
            self._name_loading.add(slot, row.search_name)
        self._changed()

    def finish_load(self) -> None:
        self.text.load(self._text_loading, self.size)
        self.name_terms.load(self._name_loading, self.size)
        self._text_loading, self._name_loading = PostingsBuilder(), PostingsBuilder()

    def apply_product(self, row: ProductRow) -> None:
        """``row`` replaces what the slot held, unless it is older."""
        slot = self._slots.get(row.id.int)
        text_hash: int | None = _text_hash(row.search_text, row.search_name)
        if slot is None:
            slot = self._new_slot(row.id)
        elif row.search_seq <= self.seq[slot]:
            return
        elif text_hash == self.text_hash[slot]:
            text_hash = None  # the same words: the postings already hold them
        self.seq[slot] = row.search_seq
        self.names[slot] = row.name
        self.images[slot] = row.image_url or ""
        self.currencies[slot] = row.currency
        self.listed[slot] = row.status != ProductStatus.HIDDEN.value
        self.mall[slot] = self._mall_number(row.mall_id)
        self.category[slot] = self.categories.number(row.category_path)
        self.top_category[slot] = self.tops.number(_top(row.category_path))
        self.gender[slot] = GENDERS.index(row.target_gender)
        self.ages[slot] = _age_bits(row.target_age_bands)
        self.price_min[slot] = row.price_min
        self.price_from[slot] = row.price_from
        self.bucket[slot] = bisect.bisect_right(_BUCKET_BOUNDS, row.price_from)
        self.popularity[slot] = row.popularity
        self.in_stock[slot] = row.in_stock
        self.exclusive[slot] = row.exclusive
        self.many.set(slot, _many_keys(row))
        if text_hash is not None:
            self.text_hash[slot] = text_hash
            self.text.set(slot, row.search_text)
            self.name_terms.set(slot, row.search_name)
        self._changed()

    def remove_product(self, product_id: uuid.UUID, seq: int) -> None:
        """The row was deleted: its slot stays, empty and unlisted."""
        slot = self._slots.get(product_id.int)
        if slot is None or seq <= self.seq[slot]:
            return
        self.seq[slot] = seq
        self.listed[slot] = False
        self.text_hash[slot] = _text_hash("", "")
        self.text.set(slot, "")
        self.name_terms.set(slot, "")
        self._changed()

    def apply_mall(self, row: MallRow) -> None:
        number = self._mall_number(row.id)
        if row.search_seq <= self.mall_seq[number]:
            return
        self.mall_seq[number] = row.search_seq
        self.mall_names[number] = row.name
        self.mall_listed[number] = row.status == MallStatus.ACTIVE.value
        self._shown = None

    def shown(self) -> NDArray[np.bool_]:
        """Slots a shopper may see: listed, of a listed mall. Read-only: computed once per change."""
        if self._shown is None:
            size = self.size
            self._shown = self.listed[:size] & self.mall_listed[self.mall[:size]]
            self._shown.flags.writeable = False
        return self._shown

    def _changed(self) -> None:
        self._ranks.clear()
        self._shown = None

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
        self._slots[product_id.int] = slot
        self.names.append("")
        self.images.append("")
        self.currencies.append("")
        number = product_id.int
        self.id_high[slot] = number >> 64
        self.id_low[slot] = number & _LOW_64
        return slot

    def _grow(self, capacity: int) -> None:
        for name in (
            "seq", "listed", "mall", "category", "top_category", "gender", "ages", "price_min", "price_from",
            "bucket", "popularity", "in_stock", "exclusive", "id_high", "id_low", "text_hash",
        ):  # fmt: skip
            old: NDArray[Any] = getattr(self, name)
            new = np.zeros(capacity, old.dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)
        self.many.grow(capacity)

    def _mall_number(self, mall_id: uuid.UUID) -> int:
        number = self.malls.number(str(mall_id))
        if number == len(self.mall_ids):
            self.mall_ids.append(mall_id)
            self.mall_names.append("")
            self.mall_seq.append(-1)  # rows written before the triggers existed have 0
            self.mall_listed = np.append(self.mall_listed, False)
        return number
