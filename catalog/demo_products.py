"""A realistic generated catalog for demos and benchmarks: Korean product names, options, prices and stock.

Deterministic for a given seed, so that benchmarks and demos see the same catalog every run. Products are
written through the partner sync itself (:func:`catalog.sync.upsert_products`), so demo data obeys every rule
a mall's data does.
"""

from __future__ import annotations

import datetime
import random
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa

from catalog.models import Mall, MallStatus, Product
from catalog.sync import upsert_products

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

BATCH = 500

# (category path, kinds of item, materials, sizes, price range in KRW)
_LINES: tuple[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[int, int]], ...] = (
    ("상의/블라우스", ("블라우스", "리본 블라우스", "셔링 블라우스", "프릴 블라우스"), ("쉬폰", "실크", "새틴", "코튼"), ("S", "M", "L"), (24000, 69000)),
    ("상의/셔츠", ("셔츠", "오버핏 셔츠", "스트라이프 셔츠", "크롭 셔츠"), ("린넨", "코튼", "옥스포드"), ("S", "M", "L"), (22000, 59000)),
    ("상의/티셔츠", ("반팔 티셔츠", "긴팔 티셔츠", "슬림 티셔츠", "레터링 티셔츠"), ("코튼", "모달", "텐셀"), ("FREE",), (9900, 29000)),
    ("상의/니트", ("라운드 니트", "브이넥 니트", "꽈배기 니트", "크롭 니트"), ("울", "캐시미어", "앙고라"), ("FREE",), (29000, 89000)),
    ("상의/가디건", ("가디건", "크롭 가디건", "롱 가디건"), ("울", "코튼", "모헤어"), ("FREE",), (29000, 79000)),
    ("원피스/미니원피스", ("미니 원피스", "플라워 미니원피스", "셔링 원피스"), ("쉬폰", "코튼", "트위드"), ("S", "M"), (29000, 79000)),
    ("원피스/롱원피스", ("롱 원피스", "플리츠 롱원피스", "랩 원피스"), ("린넨", "쉬폰", "새틴"), ("S", "M", "L"), (39000, 99000)),
    ("원피스/셔츠원피스", ("셔츠 원피스", "벨티드 셔츠원피스"), ("린넨", "코튼"), ("S", "M", "L"), (35000, 89000)),
    ("하의/슬랙스", ("와이드 슬랙스", "부츠컷 슬랙스", "일자 슬랙스", "밴딩 슬랙스"), ("울", "폴리", "린넨"), ("S", "M", "L", "XL"), (29000, 69000)),
    ("하의/청바지", ("와이드 데님", "부츠컷 청바지", "스트레이트 청바지", "스키니 진"), ("데님",), ("25", "26", "27", "28", "29"), (35000, 89000)),
    ("하의/스커트", ("플리츠 스커트", "머메이드 스커트", "미니 스커트", "롱 스커트"), ("쉬폰", "울", "데님"), ("S", "M", "L"), (25000, 69000)),
    ("아우터/자켓", ("트위드 자켓", "크롭 자켓", "데님 자켓", "린넨 자켓"), ("트위드", "데님", "린넨"), ("S", "M", "L"), (49000, 159000)),
    ("아우터/코트", ("핸드메이드 코트", "롱 코트", "하프 코트"), ("울", "캐시미어"), ("S", "M", "L"), (99000, 329000)),
    ("아우터/트렌치코트", ("트렌치코트", "숏 트렌치코트"), ("코튼", "개버딘"), ("S", "M", "L"), (89000, 219000)),
    ("아우터/블레이저", ("싱글 블레이저", "더블 블레이저", "오버핏 블레이저"), ("울", "린넨"), ("S", "M", "L"), (69000, 189000)),
    ("정장/정장세트", ("투피스 정장세트", "스커트 정장세트"), ("울", "폴리"), ("S", "M", "L"), (99000, 259000)),
    ("가방/숄더백", ("숄더백", "호보백", "버킷백"), ("소가죽", "캔버스", "나일론"), ("FREE",), (39000, 189000)),
    ("가방/토트백", ("토트백", "미니 토트백", "빅 토트백"), ("소가죽", "캔버스"), ("FREE",), (39000, 159000)),
    ("신발/로퍼", ("페니 로퍼", "체인 로퍼", "스퀘어 로퍼"), ("소가죽", "스웨이드"), ("225", "230", "235", "240", "245", "250"), (49000, 129000)),
    ("신발/스니커즈", ("캔버스 스니커즈", "러닝 스니커즈", "어글리 슈즈"), ("캔버스", "메쉬", "레더"), ("225", "230", "235", "240", "245", "250"), (39000, 119000)),
    ("액세서리/귀걸이", ("드롭 귀걸이", "링 귀걸이", "진주 귀걸이"), ("실버", "골드"), ("FREE",), (9900, 49000)),
    ("남성/셔츠", ("옥스포드 셔츠", "린넨 셔츠"), ("코튼", "린넨"), ("M", "L", "XL"), (29000, 69000)),
)  # fmt: skip
_PREFIXES = ("", "", "[데일리] ", "[자체제작] ", "[당일출고] ", "[하객룩] ", "[리오더] ", "[기획] ")
_MOODS = (
    "여리핏",
    "오버핏",
    "베이직",
    "빈티지",
    "모던",
    "심플",
    "러블리",
    "시크",
    "내추럴",
    "클래식",
    "데일리",
    "프렌치",
)
_COLORS = ("블랙", "화이트", "아이보리", "베이지", "네이비", "그레이", "카키", "핑크", "스카이블루", "브라운", "버건디")
_STYLE_BY_MOOD = {
    "여리핏": ("러블리", "페미닌"), "오버핏": ("오버핏", "캐주얼"), "베이직": ("베이직", "미니멀"),
    "빈티지": ("빈티지",), "모던": ("미니멀", "오피스룩"), "심플": ("미니멀", "베이직"), "러블리": ("러블리", "데이트룩"),
    "시크": ("시크",), "내추럴": ("내추럴", "여행룩"), "클래식": ("클래식", "오피스룩"), "데일리": ("캐주얼", "베이직"),
    "프렌치": ("페미닌", "데이트룩"),
}  # fmt: skip
_BANDS = ("10s", "20s_early", "20s_mid", "20s_late", "30s_early", "30s_mid", "30s_late", "40s_plus")


def generate_product(rng: random.Random, number: int, *, now: datetime.datetime) -> dict[str, Any]:
    """One product as a mall would send it to ``PUT /partner/v1/products``."""
    path, kinds, materials, sizes, (low, high) = rng.choice(_LINES)
    mood, material, kind = rng.choice(_MOODS), rng.choice(materials), rng.choice(kinds)
    name = f"{rng.choice(_PREFIXES)}{mood} {material} {kind}".strip()
    price = rng.randrange(low, high + 1, 1000) - rng.choice((0, 0, 100))
    on_sale = rng.random() < 0.35
    colors = rng.sample(_COLORS, k=rng.randint(1, 3))
    external_id = f"D{number:07d}"
    first_band = rng.randrange(len(_BANDS) - 2)
    variants = [
        {
            "sku": f"{external_id}-{ci}{si}",
            "color": color,
            "size": size,
            "options": {"색상": color, "사이즈": size},
            "price": price,
            "sale_price": int(price * 0.9) // 100 * 100 if on_sale else None,
            "stock": rng.choice((0, 0, 1, 3, 5, 8, 12, 20, 35, 50)),
        }
        for ci, color in enumerate(colors)
        for si, size in enumerate(sizes[:3])
    ]
    return {
        "external_id": external_id,
        "name": name,
        "description": f"{material} 소재의 {mood} {kind}입니다. 사이즈는 {', '.join(sizes)} 중에서 골라 주세요.",
        "category_path": path,
        "style_tags": list(_STYLE_BY_MOOD[mood]),
        "target_gender": "male" if path.startswith("남성") else "female",
        "target_age_bands": list(_BANDS[first_band : first_band + rng.randint(2, 3)]),
        "image_urls": [f"https://img.shoa.kr/demo/{external_id}/{n}.jpg" for n in range(1, rng.randint(2, 5))],
        "exclusive": rng.random() < 0.08,
        "status": "on_sale",
        "source_updated_at": (now - datetime.timedelta(minutes=rng.randrange(60 * 24 * 60))).isoformat(),
        "variants": variants,
    }


async def count_products(session: AsyncSession) -> int:
    return await session.scalar(sa.select(sa.func.count()).select_from(Product)) or 0


async def seed_demo_products(session: AsyncSession, *, products: int, seed: int = 20261129) -> int:
    """Spread ``products`` generated products over the listed malls; returns how many were created."""
    malls = list(
        await session.scalars(sa.select(Mall.id).where(Mall.status == MallStatus.ACTIVE.value).order_by(Mall.slug))
    )
    if not malls:
        return 0
    rng = random.Random(seed)
    now = datetime.datetime.now(datetime.UTC)
    existing = await count_products(session)
    created = 0
    for start in range(existing, existing + products, BATCH):
        count = min(BATCH, existing + products - start)
        by_mall: dict[int, list[msgspec.Raw]] = {}
        for number in range(start, start + count):
            # A few malls are big and most are small, as on a real marketplace.
            mall_index = min(int(rng.paretovariate(1.2)) - 1, len(malls) - 1)
            by_mall.setdefault(mall_index, []).append(
                msgspec.Raw(msgspec.json.encode(generate_product(rng, number, now=now)))
            )
        for mall_index, items in by_mall.items():
            result = await upsert_products(session, mall_id=malls[mall_index], items=items)
            created += result.created
        if (start - existing) % ANALYZE_EVERY == 0:
            # One long transaction grows the tables faster than autovacuum can follow (it only sees committed
            # rows): fresh statistics keep the sync's lookups on their indexes as the catalog grows.
            await session.execute(sa.text("ANALYZE products, variants"))
    return created


ANALYZE_EVERY = 10 * BATCH
