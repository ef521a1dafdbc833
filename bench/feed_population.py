"""A synthetic shopper population for ``python -m bench feed-quality``: what each segment browses, and buys next.

Each segment has a latent taste written here from plain fashion-shop intuition (the categories, styles, price
range and malls its shoppers lean to, and how much a product's declared gender and age bands matter to them),
not from the feed's ranking code. How strongly a product draws a shopper is the product of those preferences,
a personal twist of the shopper's own, and a hidden appeal of the product (some items are simply hits, for
everyone). Shoppers browse by that draw, plus some aimless browsing; each shopper's later purchases come from
the same draw, over products in stock, and are never sent anywhere: they are what the feed is judged against.
"""

from __future__ import annotations

import bisect
import datetime
import itertools
import math
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

EventKind = Literal["view", "click", "like", "add_to_cart"]

APPEAL_SIGMA = 1.3
"""Spread of the products' hidden appeal (log-normal): a few hits, a long tail."""
AIMLESS_SHARE = 0.15
"""Views that follow no taste at all: ads, a friend's link, scrolling past."""
UNLISTED_CATEGORY = 0.12
UNLISTED_STYLE = 0.45
FAVOURITE_MALL = 3.0
PERSONAL_MALL = 2.0
PERSONAL_CATEGORY_SIGMA = 0.5
DECLARED_BAND, NEIGHBOUR_BAND, OTHER_BAND = 2.5, 1.3, 0.6
UNDECLARED_BAND = 1.0
BROWSING_DAYS = 6.5
"""Within the API's one-week window for events, with room for the time the benchmark itself takes."""
# Given a view that followed the shopper's taste: how likely each deeper step is. Aimless views rarely go further.
FOLLOW_UP: dict[EventKind, float] = {"click": 0.35, "like": 0.10, "add_to_cart": 0.06}
AIMLESS_FOLLOW_UP = 0.1
SESSIONS = (1, 1, 2, 2, 3, 4)
VIEWS_PER_SESSION = (4, 25)
PURCHASES = (1, 1, 1, 2, 2, 3)
BUYERS_PER_SHOPPER = 4

_BANDS = ("10s", "20s_early", "20s_mid", "20s_late", "30s_early", "30s_mid", "30s_late", "40s_plus")


@dataclass(frozen=True)
class CatalogItem:
    """A product on show, as the population sees it."""

    id: str
    external_id: str
    mall_id: str
    mall_slug: str
    category_path: str
    style_tags: tuple[str, ...]
    target_gender: str
    target_age_bands: tuple[str, ...]
    price_from: int
    in_stock: bool


@dataclass(frozen=True)
class Taste:
    segment: str
    """As the API names it: ``anonymous`` or ``female:20s_late``."""
    gender: Literal["female", "male"] | None
    age: int | None
    """Of the shoppers signing up (``None``: anonymous devices)."""
    categories: Mapping[str, float]
    """Category path, or a top level for all its children; an unlisted category gets ``UNLISTED_CATEGORY``."""
    styles: Mapping[str, float]
    price_range: tuple[int, int]
    """Prices (KRW, paid today) that feel right; beyond them the draw fades."""
    malls: tuple[str, ...]
    """Favourite malls (slugs)."""
    other_gender: float
    """How much products declared for the other gender still draw them (gifts, unisex cuts)."""

    @property
    def band(self) -> str | None:
        return self.segment.partition(":")[2] or None


TASTES: tuple[Taste, ...] = (
    # Devices browsing without an account: first visits from ads and links, price-conscious, daily basics.
    Taste(
        segment="anonymous", gender=None, age=None,
        categories={"상의/티셔츠": 1.6, "상의/셔츠": 1.3, "하의/청바지": 1.4, "하의/슬랙스": 1.2, "상의/니트": 1.0,
                    "원피스/미니원피스": 0.9, "신발/스니커즈": 0.9, "상의/가디건": 0.7, "가방/숄더백": 0.5},
        styles={"베이직": 1.6, "캐주얼": 1.5, "미니멀": 1.1, "오버핏": 0.9},
        price_range=(9_000, 50_000), malls=("oneului-otjang", "daily-and-more"), other_gender=0.05,
    ),
    # University students: cheap, cute and trendy; mini dresses, skirts, crop tops, hoodies, sneakers.
    Taste(
        segment="female:20s_early", gender="female", age=21,
        categories={"원피스/미니원피스": 1.8, "하의/스커트": 1.5, "상의/티셔츠": 1.4, "하의/청바지": 1.3,
                    "신발/스니커즈": 1.2, "상의/맨투맨": 1.0, "상의/가디건": 1.0, "액세서리/귀걸이": 0.9,
                    "상의/후드": 0.8, "하의/반바지": 0.8, "상의/니트": 0.6},
        styles={"러블리": 1.8, "데이트룩": 1.4, "오버핏": 1.3, "캐주얼": 1.3, "Y2K": 1.2, "빈티지": 1.0},
        price_range=(9_000, 45_000), malls=("maybe-baby", "cotton-candy", "sonyeo-gamsung"), other_gender=0.03,
    ),
    # Young office workers: blouses, shirts and slacks for work, a dress for the weekend.
    Taste(
        segment="female:20s_late", gender="female", age=28,
        categories={"상의/블라우스": 1.7, "하의/슬랙스": 1.6, "상의/셔츠": 1.4, "원피스/셔츠원피스": 1.0,
                    "원피스/미디원피스": 1.0, "아우터/블레이저": 1.0, "원피스/롱원피스": 0.8, "가방/숄더백": 0.7,
                    "신발/로퍼": 0.7},
        styles={"오피스룩": 1.7, "미니멀": 1.6, "페미닌": 1.0, "데이트룩": 0.9, "베이직": 0.8},
        price_range=(25_000, 80_000), malls=("modern-robe", "haru-ilsang", "blanche"), other_gender=0.03,
    ),
    # Settled careers, bigger budgets: tailoring, outerwear, leather goods.
    Taste(
        segment="female:30s_mid", gender="female", age=35,
        categories={"아우터/블레이저": 1.6, "아우터/트렌치코트": 1.4, "아우터/코트": 1.3, "하의/슬랙스": 1.4,
                    "상의/니트": 1.1, "가방/토트백": 1.2, "신발/로퍼": 1.0, "정장/정장세트": 0.8, "정장/정장자켓": 0.6},
        styles={"클래식": 1.7, "미니멀": 1.5, "오피스룩": 1.4, "시크": 0.9},
        price_range=(45_000, 200_000), malls=("office-mate", "urban-chic", "black-label"), other_gender=0.03,
    ),
    # Elegant and comfortable: suits for occasions, silk blouses, long dresses, cardigans, a good scarf.
    Taste(
        segment="female:40s_plus", gender="female", age=46,
        categories={"정장/정장세트": 1.6, "상의/블라우스": 1.5, "원피스/롱원피스": 1.4, "아우터/코트": 1.2,
                    "상의/가디건": 1.1, "정장/정장스커트": 1.0, "가방/숄더백": 0.9, "하의/슬랙스": 0.8,
                    "액세서리/스카프": 0.7},
        styles={"클래식": 1.8, "페미닌": 1.3, "내추럴": 1.2, "오피스룩": 0.8},
        price_range=(40_000, 250_000), malls=("grace-l", "pure-line", "silk-road"), other_gender=0.02,
    ),
    # Men in their late 20s: tees, sweatshirts and jeans, a jumper, sneakers and a cap; unisex street brands too.
    Taste(
        segment="male:20s_late", gender="male", age=28,
        categories={"남성/티셔츠": 1.8, "하의/청바지": 1.7, "상의/맨투맨": 1.5, "신발/스니커즈": 1.5, "상의/후드": 1.3,
                    "남성/셔츠": 1.2, "아우터/점퍼": 1.2, "하의/와이드팬츠": 1.1, "아우터/패딩": 0.9,
                    "액세서리/모자": 0.9, "가방/크로스백": 0.8, "가방/백팩": 0.8, "남성/니트": 0.7},
        styles={"캐주얼": 1.5, "스트릿": 1.4, "오버핏": 1.3, "베이직": 1.2, "빈티지": 0.8},
        price_range=(20_000, 80_000), malls=("mans-daily", "street-garage", "urban-walker"), other_gender=0.06,
    ),
    # Men in their early 30s: shirts, slacks and knits for the office, a blazer or coat, loafers and a work bag.
    Taste(
        segment="male:30s_early", gender="male", age=32,
        categories={"남성/셔츠": 2.0, "남성/슬랙스": 1.8, "남성/니트": 1.5, "아우터/블레이저": 1.3, "아우터/코트": 1.2,
                    "신발/로퍼": 1.3, "남성/자켓": 1.0, "가방/토트백": 1.0, "정장/정장세트": 0.9,
                    "액세서리/벨트": 0.7, "남성/티셔츠": 0.6},
        styles={"댄디": 1.7, "클래식": 1.5, "미니멀": 1.4, "베이직": 1.0},
        price_range=(30_000, 180_000), malls=("dandy-homme", "mans-daily", "moonlight-bag"), other_gender=0.05,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Interaction:
    kind: EventKind
    product_id: str
    occurred_at: datetime.datetime
    id: uuid.UUID


@dataclass
class Shopper:
    taste: Taste
    number: int
    interactions: list[Interaction] = field(default_factory=list)
    purchases: list[str] = field(default_factory=list)
    """Held out: never sent to the API."""

    @property
    def name(self) -> str:
        return f"{self.taste.segment.replace(':', '-')}-{self.number:03d}"


@dataclass(frozen=True)
class Population:
    shoppers: list[Shopper]
    appeal: Mapping[str, float] = field(default_factory=dict)
    """Each product's hidden appeal, by id: with ``taste_draw``, the truth no ranking is shown."""

    def expected_draw(self, taste: Taste, item: CatalogItem) -> float:
        """How strongly ``item`` draws the segment's shoppers on average: what their purchases follow."""
        return self.appeal.get(item.id, 0.0) * taste_draw(taste, item)

    def purchases(self, segment: str) -> Counter[str]:
        return Counter(p for shopper in self.shoppers if shopper.taste.segment == segment for p in shopper.purchases)

    def interactions(self, segment: str | None = None) -> list[Interaction]:
        return [
            interaction
            for shopper in self.shoppers
            if segment is None or shopper.taste.segment == segment
            for interaction in shopper.interactions
        ]


def build_population(
    catalog: Sequence[CatalogItem],
    tastes: Sequence[Taste] = TASTES,
    *,
    shoppers_per_segment: int,
    seed: int,
    now: datetime.datetime,
) -> Population:
    """Every segment's shoppers with their browsing (last ``BROWSING_DAYS`` days) and held-out purchases."""
    rng = random.Random(seed)
    items = sorted(catalog, key=lambda item: item.external_id)  # a stable order, whatever ids the seeding made
    appeal = [rng.lognormvariate(0.0, APPEAL_SIGMA) for _ in items]
    categories = sorted({item.category_path for item in items})
    mall_slugs = sorted({item.mall_slug for item in items})
    shoppers: list[Shopper] = []
    for taste in tastes:
        weights = [a * taste_draw(taste, item) for a, item in zip(appeal, items, strict=True)]
        browsing = _GroupedDraw(items, weights)
        buying = _GroupedDraw(items, [w if item.in_stock else 0.0 for w, item in zip(weights, items, strict=True)])
        segment = [Shopper(taste, number) for number in range(shoppers_per_segment)]
        for shopper in segment:
            twist = _PersonalTwist.draw(rng, categories, mall_slugs)
            shopper.interactions = _browse(rng, items, browsing.for_shopper(twist), now=now)
        # Later buyers: the shoppers above and others of the segment who sent nothing this week.
        for number in range(BUYERS_PER_SHOPPER * shoppers_per_segment):
            twist = _PersonalTwist.draw(rng, categories, mall_slugs)
            draw = buying.for_shopper(twist)
            segment[number % len(segment)].purchases += [items[draw.pick(rng)].id for _ in range(rng.choice(PURCHASES))]
        shoppers += segment
    return Population(shoppers, appeal={item.id: a for item, a in zip(items, appeal, strict=True)})


@dataclass(frozen=True)
class _PersonalTwist:
    """One shopper's leanings within her segment's taste: categories liked more or less, and a mall of her own."""

    categories: dict[str, float]
    mall: str

    @classmethod
    def draw(cls, rng: random.Random, categories: Sequence[str], malls: Sequence[str]) -> _PersonalTwist:
        return cls({c: rng.lognormvariate(0.0, PERSONAL_CATEGORY_SIGMA) for c in categories}, rng.choice(malls))

    def factor(self, category: str, mall: str) -> float:
        return self.categories[category] * (PERSONAL_MALL if mall == self.mall else 1.0)


class _GroupedDraw:
    """Weights over the catalog, grouped by category and mall: a personal twist scales whole groups, so a
    shopper's draw costs a few hundred multiplications instead of one per product (the same distribution)."""

    def __init__(self, items: Sequence[CatalogItem], weights: Sequence[float]) -> None:
        groups: dict[tuple[str, str], list[int]] = {}
        for index, item in enumerate(items):
            groups.setdefault((item.category_path, item.mall_slug), []).append(index)
        self.keys = list(groups)
        self.members = [groups[key] for key in self.keys]
        self.cumulative = [list(itertools.accumulate(weights[i] for i in members)) for members in self.members]

    def for_shopper(self, twist: _PersonalTwist) -> _ShopperDraw:
        totals = [c[-1] * twist.factor(*key) for key, c in zip(self.keys, self.cumulative, strict=True)]
        return _ShopperDraw(self, list(itertools.accumulate(totals)))


@dataclass(frozen=True)
class _ShopperDraw:
    grouped: _GroupedDraw
    cumulative: list[float]

    def pick(self, rng: random.Random) -> int:
        """An index into the catalog, drawn by this shopper's weights."""
        group = _pick(rng, self.cumulative)
        return self.grouped.members[group][_pick(rng, self.grouped.cumulative[group])]


def taste_draw(taste: Taste, item: CatalogItem) -> float:
    """How strongly ``item`` draws a shopper of ``taste``, before the item's own appeal and personal twists."""
    category = taste.categories.get(
        item.category_path, taste.categories.get(item.category_path.split("/")[0], UNLISTED_CATEGORY)
    )
    style = max((taste.styles.get(tag, UNLISTED_STYLE) for tag in item.style_tags), default=UNLISTED_STYLE)
    wanted = taste.gender or "female"
    gender = 1.0 if item.target_gender in (wanted, "unisex") else taste.other_gender
    mall = FAVOURITE_MALL if item.mall_slug in taste.malls else 1.0
    return category * style * gender * mall * _band_fit(taste.band, item.target_age_bands) * _price_fit(taste, item)


def _band_fit(band: str | None, declared: tuple[str, ...]) -> float:
    if band is None or not declared:
        return UNDECLARED_BAND
    if band in declared:
        return DECLARED_BAND
    position = _BANDS.index(band)
    if any(abs(_BANDS.index(other) - position) == 1 for other in declared if other in _BANDS):
        return NEIGHBOUR_BAND
    return OTHER_BAND


def _price_fit(taste: Taste, item: CatalogItem) -> float:
    low, high = taste.price_range
    price = max(item.price_from, 1)
    if price > high:
        return math.exp(-2.5 * (price / high - 1.0))
    if price < low:
        return math.exp(-1.0 * (low / price - 1.0))
    return 1.0


def _browse(
    rng: random.Random, items: Sequence[CatalogItem], draw: _ShopperDraw, *, now: datetime.datetime
) -> list[Interaction]:
    interactions: list[Interaction] = []
    for _ in range(rng.choice(SESSIONS)):
        at = now - datetime.timedelta(seconds=rng.uniform(600, BROWSING_DAYS * 86400))
        for _ in range(rng.randint(*VIEWS_PER_SESSION)):
            aimless = rng.random() < AIMLESS_SHARE
            item = rng.choice(items) if aimless else items[draw.pick(rng)]
            at += datetime.timedelta(seconds=rng.uniform(15, 90))
            interactions.append(Interaction("view", item.id, min(at, now), _event_id(rng)))
            for kind, chance in FOLLOW_UP.items():
                if rng.random() < chance * (AIMLESS_FOLLOW_UP if aimless else 1.0):
                    at += datetime.timedelta(seconds=rng.uniform(5, 40))
                    interactions.append(Interaction(kind, item.id, min(at, now), _event_id(rng)))
    return interactions


def _pick(rng: random.Random, cumulative: Sequence[float]) -> int:
    return min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)


def _event_id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)
