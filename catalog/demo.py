# ruff: noqa: E501  (a table of malls reads best one row per line of goods)
"""Demo malls for ``shoa dev``: malls a Korean shopper would recognise the like of, each selling what its name and
description say.

Each mall's profile says what it sells (category path, target gender, and how much of its catalog that is), how
big it is beside the others (a few big malls, many small ones, none above ``MAX_MALL_SHARE``), the age bands it
dresses and the looks it is known for. ``catalog.demo_products`` generates their products from these profiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from catalog import repository
from catalog.models import Mall, MallStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from catalog.demo_lines import Gender

MAX_MALL_SHARE = 0.15
"""No demo mall holds more of the catalog than this: a marketplace of many malls, not one mall and its friends."""


class Sells(NamedTuple):
    path: str
    gender: Gender
    weight: int
    """Its part of the mall's catalog, against the mall's other lines."""
    materials: tuple[str, ...] = ()
    """The mall's own materials for this line (a linen shop's linen), instead of the line's."""


@dataclass(frozen=True, kw_only=True)
class DemoMall:
    slug: str
    name: str
    description: str
    size: int
    """Its share of the demo catalog, against the other malls' sizes."""
    bands: tuple[str, str]
    """The youngest and oldest age band it dresses."""
    looks: tuple[str, ...]
    """Style tags it is known for; a product carries them where they suit its kind."""
    sells: tuple[Sells, ...]
    tags: tuple[str, ...] = ("[자체제작]", "[당일출고]", "[리오더]")
    """The bracketed words it starts some product names with."""
    palette: tuple[str, ...] = ()
    """Its own colours for clothes (an all-white shop), instead of the line's."""
    price_level: float = 1.0
    """Its prices against the line's usual range."""


_LINEN = ("린넨", "린넨 코튼", "프렌치 린넨")
_WOOL = ("울", "캐시미어", "램스울", "메리노 울")
_SILVER = ("925 실버",)

DEMO_MALLS: tuple[DemoMall, ...] = (
    DemoMall(
        slug="haru-ilsang", name="하루일상", description="출근길부터 주말까지, 매일 손이 가는 오피스룩과 데일리룩",
        size=110, bands=("20s_mid", "30s_late"), looks=("오피스룩", "미니멀", "베이직", "데이트룩"),
        sells=(Sells("상의/블라우스", "female", 12), Sells("상의/셔츠", "female", 10), Sells("상의/티셔츠", "female", 8), Sells("상의/니트", "female", 9),
               Sells("상의/가디건", "female", 6), Sells("하의/슬랙스", "female", 10), Sells("하의/와이드팬츠", "female", 6), Sells("하의/스커트", "female", 6),
               Sells("하의/청바지", "female", 5), Sells("원피스/미디원피스", "female", 7), Sells("원피스/셔츠원피스", "female", 4), Sells("아우터/블레이저", "female", 5),
               Sells("아우터/자켓", "female", 4), Sells("아우터/트렌치코트", "female", 3), Sells("아우터/코트", "female", 4), Sells("가방/숄더백", "female", 2),
               Sells("신발/로퍼", "female", 2)),
    ),
    DemoMall(
        slug="oneului-otjang", name="오늘의옷장", description="오늘 주문하면 내일 도착, 빠른배송 데일리룩",
        size=95, bands=("20s_early", "30s_mid"), looks=("캐주얼", "베이직", "데이트룩", "트렌디"), tags=("[오늘출발]", "[당일출고]", "[주문폭주]"),
        sells=(Sells("상의/티셔츠", "female", 10), Sells("상의/맨투맨", "female", 6), Sells("상의/후드", "female", 4), Sells("상의/니트", "female", 7),
               Sells("상의/가디건", "female", 5), Sells("상의/셔츠", "female", 5), Sells("상의/블라우스", "female", 5), Sells("하의/청바지", "female", 8),
               Sells("하의/슬랙스", "female", 6), Sells("하의/스커트", "female", 6), Sells("하의/반바지", "female", 4), Sells("하의/레깅스", "female", 3),
               Sells("원피스/미니원피스", "female", 6), Sells("원피스/롱원피스", "female", 4), Sells("아우터/점퍼", "female", 3), Sells("아우터/패딩", "female", 3),
               Sells("신발/스니커즈", "female", 3), Sells("신발/플랫", "female", 2), Sells("가방/크로스백", "female", 2)),
    ),
    DemoMall(
        slug="daily-and-more", name="데일리앤모어", description="기본 티셔츠부터 니트, 청바지까지 데일리 캐주얼 전문",
        size=70, bands=("20s_early", "30s_mid"), looks=("캐주얼", "베이직", "미니멀"),
        sells=(Sells("상의/티셔츠", "female", 14), Sells("상의/맨투맨", "female", 7), Sells("상의/후드", "female", 5), Sells("상의/니트", "female", 10),
               Sells("상의/가디건", "female", 6), Sells("상의/조끼", "female", 3), Sells("상의/셔츠", "female", 5), Sells("하의/청바지", "female", 10),
               Sells("하의/와이드팬츠", "female", 4), Sells("하의/반바지", "female", 3), Sells("상의/티셔츠", "unisex", 3)),
    ),
    DemoMall(
        slug="mans-daily", name="맨즈데일리", description="남자 데일리룩 전문몰: 맨투맨과 청바지, 점퍼부터 스니커즈까지 남친룩 캐주얼",
        size=65, bands=("20s_early", "30s_mid"), looks=("캐주얼", "베이직", "미니멀", "스트릿"), tags=("[자체제작]", "[당일발송]", "[MADE]"),
        sells=(Sells("남성/티셔츠", "male", 12), Sells("남성/셔츠", "male", 8), Sells("남성/니트", "male", 7), Sells("남성/슬랙스", "male", 6),
               Sells("남성/자켓", "male", 5), Sells("상의/맨투맨", "male", 8), Sells("상의/후드", "male", 6), Sells("상의/가디건", "male", 3),
               Sells("상의/조끼", "male", 2), Sells("하의/청바지", "male", 9), Sells("하의/와이드팬츠", "male", 5), Sells("하의/반바지", "male", 4),
               Sells("아우터/점퍼", "male", 5), Sells("아우터/패딩", "male", 4), Sells("아우터/코트", "male", 3), Sells("신발/스니커즈", "male", 4),
               Sells("가방/크로스백", "male", 2), Sells("가방/백팩", "male", 2), Sells("액세서리/모자", "male", 3), Sells("액세서리/목걸이", "male", 1),
               Sells("액세서리/반지", "male", 1)),
    ),
    DemoMall(
        slug="modern-robe", name="모던로브", description="군더더기 없는 미니멀 셔츠와 슬랙스, 20대 후반~30대 직장인을 위한 옷장",
        size=60, bands=("20s_late", "30s_late"), looks=("미니멀", "오피스룩", "클래식"), price_level=1.1,
        sells=(Sells("상의/셔츠", "female", 14), Sells("상의/블라우스", "female", 8), Sells("하의/슬랙스", "female", 14), Sells("하의/와이드팬츠", "female", 5),
               Sells("상의/니트", "female", 7), Sells("아우터/블레이저", "female", 6), Sells("아우터/코트", "female", 4), Sells("아우터/트렌치코트", "female", 3),
               Sells("원피스/셔츠원피스", "female", 5), Sells("원피스/미디원피스", "female", 4), Sells("가방/토트백", "female", 2)),
    ),
    DemoMall(
        slug="maybe-baby", name="메이비베이비", description="10대 20대 초반을 위한 트렌디 캐주얼과 Y2K 무드",
        size=55, bands=("10s", "20s_mid"), looks=("Y2K", "트렌디", "캐주얼", "러블리"), price_level=0.85, tags=("[자체제작]", "[주문폭주]", "[단독]"),
        sells=(Sells("상의/티셔츠", "female", 10), Sells("상의/맨투맨", "female", 5), Sells("상의/후드", "female", 5), Sells("상의/니트", "female", 4),
               Sells("상의/가디건", "female", 4), Sells("원피스/미니원피스", "female", 9), Sells("하의/스커트", "female", 8), Sells("하의/청바지", "female", 7),
               Sells("하의/반바지", "female", 5), Sells("아우터/점퍼", "female", 4), Sells("신발/스니커즈", "female", 4), Sells("가방/크로스백", "female", 3),
               Sells("가방/백팩", "female", 2), Sells("액세서리/모자", "female", 3), Sells("액세서리/귀걸이", "female", 2)),
    ),
    DemoMall(
        slug="street-garage", name="스트릿개러지", description="남녀공용 오버핏 후드와 카고팬츠, 스트릿 캐주얼",
        size=50, bands=("10s", "20s_late"), looks=("스트릿", "오버핏", "캐주얼"), tags=("[자체제작]", "[MADE]", "[단독]"),
        sells=(Sells("상의/티셔츠", "unisex", 10), Sells("상의/맨투맨", "unisex", 8), Sells("상의/후드", "unisex", 9), Sells("상의/셔츠", "unisex", 3),
               Sells("하의/와이드팬츠", "unisex", 8), Sells("하의/반바지", "unisex", 4), Sells("하의/청바지", "unisex", 5), Sells("아우터/점퍼", "unisex", 6),
               Sells("아우터/패딩", "unisex", 4), Sells("아우터/자켓", "unisex", 4), Sells("가방/백팩", "unisex", 3), Sells("가방/크로스백", "unisex", 3),
               Sells("액세서리/모자", "unisex", 4), Sells("신발/스니커즈", "unisex", 3)),
    ),
    DemoMall(
        slug="basic-lab", name="베이직랩", description="남녀 흰 티셔츠부터 슬랙스까지, 베이직 아이템 연구소",
        size=45, bands=("20s_early", "30s_late"), looks=("베이직", "미니멀", "캐주얼"),
        sells=(Sells("상의/티셔츠", "unisex", 14), Sells("상의/맨투맨", "unisex", 6), Sells("상의/셔츠", "unisex", 5), Sells("하의/와이드팬츠", "unisex", 4),
               Sells("상의/티셔츠", "female", 5), Sells("하의/슬랙스", "female", 5), Sells("남성/티셔츠", "male", 6), Sells("남성/슬랙스", "male", 5),
               Sells("남성/셔츠", "male", 3)),
    ),
    DemoMall(
        slug="dandy-homme", name="댄디옴므", description="남성 셔츠와 슬랙스, 블레이저부터 로퍼까지 — 깔끔한 남자 출근룩",
        size=45, bands=("20s_late", "40s_plus"), looks=("댄디", "클래식", "미니멀"), price_level=1.1, tags=("[자체제작]", "[MADE]", "[단독]"),
        sells=(Sells("남성/셔츠", "male", 12), Sells("남성/슬랙스", "male", 10), Sells("남성/니트", "male", 7), Sells("남성/자켓", "male", 4),
               Sells("아우터/블레이저", "male", 6), Sells("아우터/코트", "male", 5), Sells("아우터/트렌치코트", "male", 3), Sells("상의/가디건", "male", 3),
               Sells("상의/조끼", "male", 2), Sells("정장/정장세트", "male", 4), Sells("정장/정장자켓", "male", 3), Sells("정장/정장바지", "male", 3),
               Sells("신발/로퍼", "male", 4), Sells("신발/부츠", "male", 2), Sells("가방/토트백", "male", 3), Sells("액세서리/벨트", "male", 3),
               Sells("액세서리/스카프", "male", 2)),
    ),
    DemoMall(
        slug="urban-walker", name="어반워커", description="스니커즈와 로퍼, 편하게 오래 걷는 남녀 신발",
        size=40, bands=("20s_early", "40s_plus"), looks=("캐주얼", "베이직", "스포티", "미니멀"),
        sells=(Sells("신발/스니커즈", "female", 10), Sells("신발/로퍼", "female", 6), Sells("신발/샌들", "female", 4), Sells("신발/부츠", "female", 3),
               Sells("신발/플랫", "female", 2), Sells("신발/스니커즈", "male", 8), Sells("신발/로퍼", "male", 5), Sells("신발/샌들", "male", 3),
               Sells("신발/부츠", "male", 3), Sells("신발/스니커즈", "unisex", 6), Sells("신발/샌들", "unisex", 3)),
    ),
    DemoMall(
        slug="denim-lab", name="데님랩", description="청바지와 데님 자켓, 핏별로 고르는 남녀 데님 전문몰",
        size=38, bands=("20s_early", "30s_mid"), looks=("캐주얼", "빈티지", "베이직"),
        sells=(Sells("하의/청바지", "female", 16), Sells("아우터/자켓", "female", 4, ("데님",)), Sells("하의/스커트", "female", 4, ("데님",)),
               Sells("하의/반바지", "female", 3, ("데님",)), Sells("하의/청바지", "male", 12), Sells("남성/자켓", "male", 3, ("데님",)),
               Sells("남성/셔츠", "male", 2, ("데님",)), Sells("하의/반바지", "male", 2, ("데님",)), Sells("하의/청바지", "unisex", 3),
               Sells("아우터/자켓", "unisex", 2, ("데님",))),
    ),
    DemoMall(
        slug="moonlight-bag", name="달빛가방", description="데일리 숄더백과 토트백, 남녀 가죽 가방 전문",
        size=35, bands=("20s_mid", "40s_plus"), looks=("미니멀", "클래식", "캐주얼"),
        sells=(Sells("가방/숄더백", "female", 12, ("소가죽", "스웨이드")), Sells("가방/토트백", "female", 9, ("소가죽",)),
               Sells("가방/크로스백", "female", 7, ("소가죽", "레더")), Sells("가방/클러치", "female", 4, ("소가죽",)), Sells("가방/백팩", "female", 2, ("레더",)),
               Sells("가방/토트백", "male", 4, ("소가죽",)), Sells("가방/크로스백", "male", 3, ("레더",)), Sells("가방/백팩", "male", 3, ("레더",)),
               Sells("가방/백팩", "unisex", 2), Sells("가방/크로스백", "unisex", 2)),
    ),
    DemoMall(
        slug="mood-and-fit", name="무드앤핏", description="체형 보완 슬랙스와 와이드팬츠, 핏으로 고르는 하의",
        size=32, bands=("20s_mid", "40s_plus"), looks=("미니멀", "베이직", "오피스룩"),
        sells=(Sells("하의/슬랙스", "female", 12), Sells("하의/와이드팬츠", "female", 10), Sells("하의/청바지", "female", 6), Sells("하의/스커트", "female", 5),
               Sells("하의/레깅스", "female", 3), Sells("하의/반바지", "female", 3)),
    ),
    DemoMall(
        slug="urban-chic", name="어반시크", description="시크한 블랙 자켓과 트렌치코트, 도시의 아우터",
        size=30, bands=("20s_late", "40s_plus"), looks=("시크", "미니멀", "클래식"), price_level=1.1,
        palette=("블랙", "차콜", "네이비", "그레이", "베이지"),
        sells=(Sells("아우터/자켓", "female", 8), Sells("아우터/트렌치코트", "female", 7), Sells("아우터/코트", "female", 7), Sells("아우터/블레이저", "female", 5),
               Sells("아우터/패딩", "female", 4), Sells("아우터/점퍼", "female", 3)),
    ),
    DemoMall(
        slug="grace-l", name="그레이스엘", description="40대 이상을 위한 우아한 정장과 실크 블라우스, 원피스",
        size=28, bands=("30s_late", "40s_plus"), looks=("클래식", "페미닌", "오피스룩"), price_level=1.2,
        sells=(Sells("정장/정장세트", "female", 8), Sells("정장/정장자켓", "female", 5), Sells("정장/정장바지", "female", 4), Sells("정장/정장스커트", "female", 6),
               Sells("상의/블라우스", "female", 8, ("실크", "새틴")), Sells("원피스/롱원피스", "female", 4), Sells("원피스/미디원피스", "female", 3)),
    ),
    DemoMall(
        slug="haneul-jewel", name="하늘주얼리", description="데일리 귀걸이와 목걸이, 커플링까지 925 실버",
        size=26, bands=("20s_early", "30s_late"), looks=("미니멀", "데이트룩", "러블리", "페미닌"), tags=("[925실버]", "[당일출고]", "[선물포장]"),
        sells=(Sells("액세서리/귀걸이", "female", 12, _SILVER), Sells("액세서리/목걸이", "female", 8, _SILVER), Sells("액세서리/반지", "female", 6, _SILVER),
               Sells("액세서리/반지", "male", 2, _SILVER), Sells("액세서리/목걸이", "male", 2, _SILVER), Sells("액세서리/반지", "unisex", 3, _SILVER)),
    ),
    DemoMall(
        slug="sonyeo-gamsung", name="소녀감성", description="러블리한 플라워 원피스와 리본 블라우스",
        size=24, bands=("10s", "20s_mid"), looks=("러블리", "페미닌", "데이트룩"),
        sells=(Sells("원피스/미니원피스", "female", 10), Sells("원피스/미디원피스", "female", 6), Sells("상의/블라우스", "female", 7)),
    ),
    DemoMall(
        slug="blanche", name="블랑쉬", description="화이트와 아이보리 톤의 블라우스, 원피스 셀렉트숍",
        size=22, bands=("20s_mid", "30s_late"), looks=("페미닌", "미니멀", "하객룩"), palette=("화이트", "아이보리", "크림", "오트밀"),
        sells=(Sells("상의/블라우스", "female", 10), Sells("원피스/미디원피스", "female", 5), Sells("원피스/롱원피스", "female", 5),
               Sells("원피스/미니원피스", "female", 3), Sells("원피스/셔츠원피스", "female", 3)),
    ),
    DemoMall(
        slug="office-mate", name="오피스메이트", description="출근룩 정장세트와 블레이저, 30대 직장인 셀렉트",
        size=22, bands=("20s_late", "30s_late"), looks=("오피스룩", "클래식", "미니멀"), tags=("[출근룩]", "[당일출고]", "[리오더]"),
        sells=(Sells("정장/정장세트", "female", 7), Sells("정장/정장자켓", "female", 4), Sells("정장/정장바지", "female", 4), Sells("정장/정장스커트", "female", 5),
               Sells("아우터/블레이저", "female", 6), Sells("상의/블라우스", "female", 4), Sells("하의/슬랙스", "female", 3)),
    ),
    DemoMall(
        slug="cotton-candy", name="코튼캔디", description="파스텔 톤 맨투맨과 후드, 10대 20대 캐주얼",
        size=20, bands=("10s", "20s_mid"), looks=("캐주얼", "러블리", "Y2K"), price_level=0.9,
        palette=("핑크", "라벤더", "민트", "스카이블루", "레몬", "아이보리"),
        sells=(Sells("상의/맨투맨", "female", 9), Sells("상의/후드", "female", 8), Sells("상의/티셔츠", "female", 4), Sells("상의/맨투맨", "unisex", 2),
               Sells("상의/후드", "unisex", 2)),
    ),
    DemoMall(
        slug="mary-shoes", name="메리슈즈", description="출근길 힐과 플랫슈즈, 부츠까지 여성 구두 전문",
        size=20, bands=("20s_mid", "40s_plus"), looks=("페미닌", "클래식", "오피스룩"), tags=("[수제화]", "[당일출고]", "[리오더]"),
        sells=(Sells("신발/힐", "female", 9), Sells("신발/플랫", "female", 8), Sells("신발/로퍼", "female", 4), Sells("신발/부츠", "female", 4),
               Sells("신발/샌들", "female", 3)),
    ),
    DemoMall(
        slug="knit-factory", name="니트팩토리", description="자체 제작 니트와 가디건, 남녀 울 100% 라인",
        size=18, bands=("20s_mid", "40s_plus"), looks=("클래식", "베이직", "미니멀", "댄디"), tags=("[자체제작]", "[울100]"),
        sells=(Sells("상의/니트", "female", 10, _WOOL), Sells("상의/가디건", "female", 7, _WOOL), Sells("상의/조끼", "female", 3, _WOOL),
               Sells("남성/니트", "male", 5, _WOOL), Sells("상의/가디건", "male", 2, _WOOL)),
    ),
    DemoMall(
        slug="linen-house", name="린넨하우스", description="여름 린넨셔츠, 린넨팬츠, 린넨 원피스 전문몰",
        size=17, bands=("20s_mid", "40s_plus"), looks=("내추럴", "여행룩", "미니멀"),
        sells=(Sells("상의/셔츠", "female", 8, _LINEN), Sells("하의/와이드팬츠", "female", 5, _LINEN), Sells("하의/슬랙스", "female", 3, _LINEN),
               Sells("원피스/롱원피스", "female", 5, _LINEN), Sells("원피스/셔츠원피스", "female", 4, _LINEN), Sells("하의/반바지", "female", 2, _LINEN),
               Sells("남성/셔츠", "male", 3, _LINEN), Sells("상의/셔츠", "unisex", 2, _LINEN)),
    ),
    DemoMall(
        slug="tokyo-closet", name="도쿄클로젯", description="일본 직수입 내추럴 무드 원피스와 가방",
        size=15, bands=("20s_mid", "30s_late"), looks=("내추럴", "미니멀", "여행룩"), tags=("[일본직수입]", "[재입고]"),
        sells=(Sells("원피스/롱원피스", "female", 7), Sells("원피스/미디원피스", "female", 5), Sells("원피스/셔츠원피스", "female", 3),
               Sells("가방/토트백", "female", 3, ("캔버스", "코튼")), Sells("가방/숄더백", "female", 2, ("캔버스", "나일론")), Sells("가방/크로스백", "female", 2, ("캔버스", "나일론"))),
    ),
    DemoMall(
        slug="lovely-jane", name="러블리제인", description="페미닌 스커트와 블라우스, 원피스까지 데이트룩 코디",
        size=15, bands=("20s_early", "30s_early"), looks=("페미닌", "러블리", "데이트룩"),
        sells=(Sells("하의/스커트", "female", 9), Sells("상의/블라우스", "female", 8), Sells("원피스/미니원피스", "female", 3)),
    ),
    DemoMall(
        slug="cozy-mood", name="코지무드", description="포근한 니트와 가디건, 홈웨어까지",
        size=14, bands=("20s_mid", "40s_plus"), looks=("내추럴", "베이직", "캐주얼", "홈웨어"),
        sells=(Sells("상의/니트", "female", 6), Sells("상의/가디건", "female", 5), Sells("상의/조끼", "female", 2), Sells("홈웨어/잠옷", "female", 3),
               Sells("홈웨어/라운지웨어", "female", 4)),
    ),
    DemoMall(
        slug="sunday-morning", name="선데이모닝", description="주말 여행룩, 린넨 원피스와 라탄백, 샌들과 모자까지",
        size=13, bands=("20s_mid", "30s_late"), looks=("여행룩", "내추럴"),
        sells=(Sells("원피스/롱원피스", "female", 6, _LINEN), Sells("원피스/미디원피스", "female", 3, _LINEN), Sells("가방/토트백", "female", 3, ("라탄",)),
               Sells("신발/샌들", "female", 2), Sells("액세서리/모자", "female", 2, ("라피아",))),
    ),
    DemoMall(
        slug="silk-road", name="실크로드", description="실크 블라우스와 새틴 스커트, 클러치까지 하객룩 전문",
        size=12, bands=("20s_late", "40s_plus"), looks=("하객룩", "페미닌", "클래식"), price_level=1.15,
        sells=(Sells("상의/블라우스", "female", 6, ("실크", "새틴")), Sells("하의/스커트", "female", 4, ("새틴", "실크")),
               Sells("원피스/미디원피스", "female", 4, ("새틴", "실크")), Sells("가방/클러치", "female", 3)),
    ),
    DemoMall(
        slug="sopum-house", name="소품하우스", description="모자와 스카프, 벨트까지 코디를 완성하는 남녀 패션 소품",
        size=12, bands=("20s_early", "40s_plus"), looks=("캐주얼", "클래식", "미니멀"), tags=("[당일출고]", "[선물포장]"),
        sells=(Sells("액세서리/스카프", "female", 6), Sells("액세서리/모자", "female", 4), Sells("액세서리/벨트", "female", 4), Sells("액세서리/모자", "male", 3),
               Sells("액세서리/벨트", "male", 3), Sells("액세서리/스카프", "male", 2), Sells("액세서리/모자", "unisex", 4)),
    ),
    DemoMall(
        slug="black-label", name="블랙라벨", description="올블랙 시크 무드, 자켓과 롱코트",
        size=11, bands=("20s_mid", "30s_late"), looks=("시크", "미니멀"), palette=("블랙", "차콜"), price_level=1.15,
        sells=(Sells("아우터/자켓", "female", 6), Sells("아우터/코트", "female", 6), Sells("아우터/블레이저", "female", 3), Sells("아우터/트렌치코트", "female", 2)),
    ),
    DemoMall(
        slug="fit-and-move", name="핏앤무브", description="요가·필라테스 레깅스와 운동복, 일상에서도 입는 애슬레저",
        size=10, bands=("20s_early", "30s_late"), looks=("스포티", "캐주얼"),
        sells=(Sells("하의/레깅스", "female", 9), Sells("상의/티셔츠", "female", 5), Sells("아우터/점퍼", "female", 3), Sells("하의/반바지", "female", 2),
               Sells("상의/후드", "female", 2)),
    ),
    DemoMall(
        slug="vintage-seoul", name="빈티지서울", description="빈티지 무드 청바지와 데님 자켓, 워싱 맨투맨과 볼캡",
        size=10, bands=("10s", "20s_late"), looks=("빈티지", "스트릿", "캐주얼"),
        sells=(Sells("하의/청바지", "female", 3), Sells("하의/청바지", "male", 3), Sells("남성/자켓", "male", 2, ("데님",)),
               Sells("아우터/자켓", "unisex", 2, ("데님",)), Sells("상의/맨투맨", "unisex", 3), Sells("액세서리/모자", "unisex", 2)),
    ),
    DemoMall(
        slug="lounge-day", name="라운지데이", description="집에서도 예쁜 라운지웨어와 잠옷, 커플 파자마까지",
        size=9, bands=("20s_early", "40s_plus"), looks=("홈웨어", "베이직"),
        sells=(Sells("홈웨어/라운지웨어", "female", 6), Sells("홈웨어/잠옷", "female", 6), Sells("홈웨어/잠옷", "male", 2), Sells("홈웨어/잠옷", "unisex", 2),
               Sells("홈웨어/라운지웨어", "unisex", 2)),
    ),
    DemoMall(
        slug="petit-muse", name="쁘띠뮤즈", description="키 작은 여성을 위한 기장 맞춤 원피스와 스커트",
        size=8, bands=("20s_early", "30s_mid"), looks=("페미닌", "러블리", "데이트룩"), tags=("[키작녀]", "[기장맞춤]"),
        sells=(Sells("원피스/미니원피스", "female", 4), Sells("원피스/미디원피스", "female", 4), Sells("원피스/롱원피스", "female", 2), Sells("하의/스커트", "female", 4)),
    ),
    DemoMall(
        slug="pure-line", name="퓨어라인", description="내추럴 소재 원피스와 블라우스, 40대 이상 추천",
        size=7, bands=("30s_late", "40s_plus"), looks=("내추럴", "클래식"),
        sells=(Sells("원피스/롱원피스", "female", 4, ("린넨", "코튼", "실크")), Sells("원피스/미디원피스", "female", 3, ("린넨", "코튼", "실크")),
               Sells("상의/블라우스", "female", 4, ("린넨", "코튼", "실크")), Sells("원피스/셔츠원피스", "female", 2, ("린넨", "코튼"))),
    ),
)  # fmt: skip
"""The listed demo malls."""

PAUSED_DEMO_MALL = ("on-vacation", "휴가중인상점", "여름 휴가로 잠시 쉬어갑니다")
"""A paused mall, so the demo shows that shoppers only see listed malls."""


async def seed_demo_malls(session: AsyncSession) -> int:
    """Add the demo malls when the catalog has none; returns how many were added."""
    if await repository.count_malls(session) > 0:
        return 0
    malls = [
        Mall(
            slug=mall.slug,
            name=mall.name,
            description=mall.description,
            logo_url=f"https://img.shoa.kr/malls/{mall.slug}.png",
        )
        for mall in DEMO_MALLS
    ]
    slug, name, description = PAUSED_DEMO_MALL
    malls.append(Mall(slug=slug, name=name, description=description, logo_url=None, status=MallStatus.PAUSED))
    repository.add_malls(session, malls)
    await session.flush()
    return len(malls)
