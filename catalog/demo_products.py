"""A realistic generated catalog for demos and benchmarks: Korean product names, options, prices and stock.

Each demo mall (``catalog.demo``) sells the lines its profile names; each line (``catalog.demo_lines``) gives
the words, materials, sizes, colours, prices and looks of one kind of product for one gender. Product ``n``'s
mall and line come from a low-discrepancy sequence over the lines' shares, so even a small catalog reaches every
category and every mall holds its share; everything else about it comes from a seeded RNG. The same seed gives
the same catalog every run. Products are written through the partner sync itself
(:func:`catalog.sync.upsert_products`), so demo data obeys every rule a mall's data does.
"""

from __future__ import annotations

import bisect
import datetime
import itertools
import math
import random
import re
import typing
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import sqlalchemy as sa

from catalog.demo import DEMO_MALLS, DemoMall, Sells
from catalog.demo_lines import APPAREL_COLORS, FREE, LINES, WOMEN_ONLY_STYLES
from catalog.models import Mall, MallStatus, Product
from catalog.schemas import AgeBandName
from catalog.sync import upsert_products

if TYPE_CHECKING:
    import uuid
    from collections.abc import Callable, Iterator

    from sqlalchemy.ext.asyncio import AsyncSession

BATCH = 500
ANALYZE_EVERY = 10 * BATCH
DEFAULT_SEED = 20261129

_BANDS: tuple[str, ...] = typing.get_args(AgeBandName)
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
_WORD = re.compile(r"[^\s\[\]()]+")
_T = typing.TypeVar("_T")


class DemoProduct(NamedTuple):
    mall_slug: str
    item: dict[str, Any]
    """As the mall would send it to ``PUT /partner/v1/products``."""


class _Schedule(NamedTuple):
    cells: tuple[tuple[DemoMall, Sells], ...]
    """Every (mall, line) pair, lines of one category path next to each other."""
    bounds: tuple[float, ...]
    """Where each cell's share of the catalog ends, from 0 to 1."""


def _schedule() -> _Schedule:
    total = sum(mall.size for mall in DEMO_MALLS)
    shares = [
        (
            sells.path,
            sells.gender,
            mall.slug,
            mall.size * sells.weight / sum(s.weight for s in mall.sells) / total,
            mall,
            sells,
        )
        for mall in DEMO_MALLS
        for sells in mall.sells
    ]
    shares.sort(key=lambda share: share[:3])
    return _Schedule(
        tuple((mall, sells) for *_, mall, sells in shares), tuple(itertools.accumulate(share[3] for share in shares))
    )


_SCHEDULE = _schedule()


def demo_line_of(number: int, *, seed: int = DEFAULT_SEED) -> tuple[DemoMall, Sells]:
    """The mall and line of product ``number``: a golden-ratio (Weyl) sequence over the cells' shares, whatever
    the seed. Any ``n`` products in a row hold each line's share to within a few products, and, a category
    path's cells lying side by side, every path with more than 1.9/n of the catalog (the widest gap between
    ``n`` points of the sequence) has products among them."""
    position = (seed * (math.sqrt(2.0) - 1.0) + number * _GOLDEN) % 1.0 * _SCHEDULE.bounds[-1]
    return _SCHEDULE.cells[min(bisect.bisect_right(_SCHEDULE.bounds, position), len(_SCHEDULE.cells) - 1)]


def words_of(name: str) -> list[str]:
    """The words of a product name, brackets and parentheses aside: ``[자체제작] 셔츠 (3color)`` has 자체제작, 셔츠, 3color."""
    return _WORD.findall(name)


def compose_name(*, item: str, material: str = "", detail: str = "", tag: str = "", suffix: str = "") -> str:
    """``[tag] detail material item (suffix)``, leaving out any part that would say a word twice: a part is
    dropped when one of its words is, or contains, or is contained in, a word already used (``린넨`` beside
    ``린넨셔츠``, ``오버핏`` beside ``세미오버핏``). The item always stays; then material, detail, tag, suffix."""
    used = words_of(item)
    kept: dict[str, str] = {}
    for key, part in (("material", material), ("detail", detail), ("tag", tag), ("suffix", suffix)):
        words = words_of(part)
        if words and not any(word in other or other in word for word in words for other in used):
            kept[key] = part
            used += words
    parts = (kept.get("tag"), kept.get("detail"), kept.get("material"), item, kept.get("suffix"))
    return " ".join(part for part in parts if part)


def generate_product(
    rng: random.Random, number: int, *, now: datetime.datetime, seed: int = DEFAULT_SEED
) -> dict[str, Any]:
    """Product ``number`` of the demo catalog, as its mall would send it to ``PUT /partner/v1/products``."""
    mall, sells = demo_line_of(number, seed=seed)
    return _product(rng, number, mall, sells, now=now)


def generate_catalog(
    products: int, *, now: datetime.datetime, seed: int = DEFAULT_SEED, start: int = 0
) -> Iterator[DemoProduct]:
    """Products ``start`` to ``start + products - 1`` of the demo catalog for ``seed``, with their malls."""
    rng = random.Random(seed)
    for number in range(start, start + products):
        mall, sells = demo_line_of(number, seed=seed)
        yield DemoProduct(mall.slug, _product(rng, number, mall, sells, now=now))


def _product(
    rng: random.Random, number: int, mall: DemoMall, sells: Sells, *, now: datetime.datetime
) -> dict[str, Any]:
    line = LINES[sells.path, sells.gender]
    item = _pick(rng, line.items)
    materials = sells.materials or line.materials
    material = _pick(rng, materials) if materials and (sells.materials or rng.random() < 0.6) else ""
    detail = _pick(rng, line.details) if rng.random() < 0.55 else ""
    palette = mall.palette if mall.palette and line.colors in APPAREL_COLORS else line.colors
    colors = _sample(rng, palette, 1 + _below(rng, min(3, len(palette))))
    suffix = f"({len(colors)}color)" if len(colors) > 1 and rng.random() < 0.4 else ""
    tag = _pick(rng, mall.tags) if rng.random() < 0.35 else ""
    name = compose_name(item=item, material=material, detail=detail, tag=tag, suffix=suffix)
    sizes = line.sizes
    if len(sizes) > 3:
        first_size = _below(rng, len(sizes) - 2)
        sizes = sizes[first_size : first_size + 3]
    low, high = (int(bound * mall.price_level) // 1000 * 1000 for bound in line.price)
    price = low + 1000 * _below(rng, (high - low) // 1000 + 1) - _pick(rng, (0, 0, 100))
    sale_price = int(price * _pick(rng, (0.9, 0.85, 0.8))) // 100 * 100 if rng.random() < 0.35 else None
    external_id = f"D{number:07d}"
    variants = [
        {
            "sku": f"{external_id}-{ci}{si}",
            "color": color,
            "size": size,
            "options": {"색상": color, "사이즈": size},
            "price": price,
            "sale_price": sale_price,
            "stock": _pick(rng, (0, 0, 1, 3, 5, 8, 12, 20, 35, 50)),
        }
        for ci, color in enumerate(colors)
        for si, size in enumerate(sizes)
    ]
    about = compose_name(item=item, material=material, detail=detail)
    size_text = "프리사이즈" if sizes == FREE else ", ".join(sizes)
    return {
        "external_id": external_id,
        "name": name,
        "description": f"{about}입니다. 색상: {', '.join(colors)} / 사이즈: {size_text}",
        "category_path": sells.path,
        "style_tags": _style_tags(rng, mall, sells),
        "target_gender": sells.gender,
        "target_age_bands": _age_bands(rng, mall),
        "image_urls": [f"https://img.shoa.kr/demo/{external_id}/{n}.jpg" for n in range(1, 2 + _below(rng, 4))],
        "exclusive": rng.random() < 0.08,
        "status": "on_sale",
        "source_updated_at": (now - datetime.timedelta(minutes=_below(rng, 60 * 24 * 60))).isoformat(),
        "variants": variants,
    }


def _style_tags(rng: random.Random, mall: DemoMall, sells: Sells) -> list[str]:
    """Two or three of the line's looks, the mall's own first where they suit the line."""
    styles = LINES[sells.path, sells.gender].styles
    if sells.gender != "female":
        styles = tuple(style for style in styles if style not in WOMEN_ONLY_STYLES)
    wanted = _pick(rng, (2, 2, 3))
    own = [look for look in mall.looks if look in styles]
    tags = _sample(rng, own, 1 + _below(rng, 2))
    others = [style for style in styles if style not in tags]
    return tags + _sample(rng, others, wanted - len(tags))


def _age_bands(rng: random.Random, mall: DemoMall) -> list[str]:
    youngest, oldest = (_BANDS.index(band) for band in mall.bands)
    count = min(oldest - youngest + 1, 2 + _below(rng, 2))
    first = youngest + _below(rng, oldest - count - youngest + 2)
    return list(_BANDS[first : first + count])


# ``random.Random``'s choice, sample and randrange draw bits in a loop and check their arguments; at tens of
# thousands of products on every first start, one float per draw is enough and several times faster.
def _below(rng: random.Random, count: int) -> int:
    return int(rng.random() * count)


def _pick(rng: random.Random, options: typing.Sequence[_T]) -> _T:
    return options[int(rng.random() * len(options))]


def _sample(rng: random.Random, options: typing.Sequence[_T], count: int) -> list[_T]:
    """Up to ``count`` different options, in random order."""
    pool = list(options)
    return [pool.pop(int(rng.random() * len(pool))) for _ in range(min(count, len(pool)))]


async def count_products(session: AsyncSession) -> int:
    return await session.scalar(sa.select(sa.func.count()).select_from(Product)) or 0


async def seed_demo_products(
    session: AsyncSession,
    *,
    products: int,
    seed: int = DEFAULT_SEED,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Add ``products`` products of the demo catalog, numbered after those already there, each to its demo mall
    (or, in a database without that mall listed, to a listed mall); returns how many were created. ``progress``
    hears how many of the ``products`` have been written, after each batch."""
    query = sa.select(Mall.slug, Mall.id).where(Mall.status == MallStatus.ACTIVE.value).order_by(Mall.slug)
    listed: dict[str, uuid.UUID] = {row.slug: row.id for row in await session.execute(query)}
    if not listed:
        return 0
    stand_ins = list(listed.values())
    now = datetime.datetime.now(datetime.UTC)
    existing = await count_products(session)
    catalog = generate_catalog(products, now=now, seed=seed, start=existing)
    created = 0
    for start in range(0, products, BATCH):
        by_mall: dict[uuid.UUID, list[msgspec.Raw]] = {}
        for number, product in enumerate(itertools.islice(catalog, BATCH), start=existing + start):
            mall_id = listed.get(product.mall_slug) or stand_ins[number % len(stand_ins)]
            by_mall.setdefault(mall_id, []).append(msgspec.Raw(msgspec.json.encode(product.item)))
        for mall_id, items in by_mall.items():
            result = await upsert_products(session, mall_id=mall_id, items=items)
            created += result.created
        if progress is not None:
            progress(min(start + BATCH, products))
        if start % ANALYZE_EVERY == 0:
            # One long transaction grows the tables faster than autovacuum can follow (it only sees committed
            # rows): fresh statistics keep the sync's lookups on their indexes as the catalog grows.
            await session.execute(sa.text("ANALYZE products, variants"))
    return created
