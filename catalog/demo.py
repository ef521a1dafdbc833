"""Demo catalog for ``shoa dev``: malls a Korean shopper would recognise the like of."""

from __future__ import annotations

from typing import TYPE_CHECKING

from catalog import repository
from catalog.models import Mall, MallStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

DEMO_MALLS: tuple[tuple[str, str, str], ...] = (
    ("haru-ilsang", "하루일상", "출근길부터 주말까지, 매일 손이 가는 오피스룩과 데일리룩"),
    ("modern-robe", "모던로브", "군더더기 없는 미니멀 셔츠와 슬랙스, 20대 후반~30대 직장인을 위한 옷장"),
    ("daily-and-more", "데일리앤모어", "기본 티셔츠부터 니트까지, 데일리 캐주얼 전문"),
    ("blanche", "블랑쉬", "화이트와 아이보리 톤의 블라우스, 원피스 셀렉트숍"),
    ("sonyeo-gamsung", "소녀감성", "러블리한 플라워 원피스와 리본 블라우스"),
    ("oneului-otjang", "오늘의옷장", "오늘 주문하면 내일 도착, 빠른배송 데일리룩"),
    ("linen-house", "린넨하우스", "여름 린넨셔츠, 린넨팬츠, 린넨 원피스 전문몰"),
    ("maybe-baby", "메이비베이비", "10대 20대 초반을 위한 트렌디 캐주얼과 Y2K 무드"),
    ("cozy-mood", "코지무드", "포근한 니트와 가디건, 홈웨어까지"),
    ("urban-chic", "어반시크", "시크한 블랙 자켓과 트렌치코트, 도시의 아우터"),
    ("lovely-jane", "러블리제인", "페미닌 스커트와 블라우스, 데이트룩 코디"),
    ("grace-l", "그레이스엘", "40대 이상을 위한 우아한 정장과 실크 블라우스"),
    ("dandy-homme", "댄디옴므", "남성 셔츠, 슬랙스, 블레이저 — 깔끔한 남친룩"),
    ("denim-lab", "데님랩", "청바지와 데님 자켓, 핏별로 고르는 데님 전문몰"),
    ("tokyo-closet", "도쿄클로젯", "일본 직수입 내추럴 무드 원피스와 가방"),
    ("silk-road", "실크로드", "실크 블라우스와 새틴 스커트, 하객룩 전문"),
    ("mood-and-fit", "무드앤핏", "체형 보완 슬랙스와 와이드팬츠, 핏으로 고르는 하의"),
    ("cotton-candy", "코튼캔디", "파스텔 톤 맨투맨과 후드, 10대 20대 캐주얼"),
    ("black-label", "블랙라벨", "올블랙 시크 무드, 자켓과 롱코트"),
    ("sunday-morning", "선데이모닝", "주말 여행룩, 린넨 원피스와 라탄백"),
    ("office-mate", "오피스메이트", "출근룩 정장세트와 블레이저, 30대 직장인 셀렉트"),
    ("petit-muse", "쁘띠뮤즈", "키 작은 여성을 위한 기장 맞춤 원피스와 스커트"),
    ("knit-factory", "니트팩토리", "자체 제작 니트와 가디건, 울 100% 라인"),
    ("urban-walker", "어반워커", "스니커즈와 로퍼, 편하게 오래 걷는 신발"),
    ("moonlight-bag", "달빛가방", "데일리 숄더백과 토트백, 가죽 가방 전문"),
    ("haneul-jewel", "하늘주얼리", "데일리 귀걸이와 목걸이, 925 실버"),
    ("basic-lab", "베이직랩", "흰 티셔츠부터 슬랙스까지 베이직 아이템 연구소"),
    ("vintage-seoul", "빈티지서울", "빈티지 무드 청바지와 데님 자켓"),
    ("lounge-day", "라운지데이", "집에서도 예쁜 라운지웨어와 잠옷"),
    ("pure-line", "퓨어라인", "내추럴 소재 원피스와 블라우스, 40대 이상 추천"),
)

PAUSED_DEMO_MALL = ("on-vacation", "휴가중인상점", "여름 휴가로 잠시 쉬어갑니다")
"""A paused mall, so the demo shows that shoppers only see listed malls."""


async def seed_demo_malls(session: AsyncSession) -> int:
    """Add the demo malls when the catalog has none; returns how many were added."""
    if await repository.count_malls(session) > 0:
        return 0
    malls = [
        Mall(slug=slug, name=name, description=description, logo_url=f"https://img.shoa.kr/malls/{slug}.png")
        for slug, name, description in DEMO_MALLS
    ]
    slug, name, description = PAUSED_DEMO_MALL
    malls.append(Mall(slug=slug, name=name, description=description, logo_url=None, status=MallStatus.PAUSED))
    repository.add_malls(session, malls)
    await session.flush()
    return len(malls)
