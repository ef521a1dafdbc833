"""The shared category tree every mall files its products under (paths joined with ``/``)."""

from __future__ import annotations

CATEGORY_TREE: dict[str, tuple[str, ...]] = {
    "상의": ("블라우스", "셔츠", "티셔츠", "니트", "맨투맨", "후드", "가디건", "조끼"),
    "원피스": ("미니원피스", "미디원피스", "롱원피스", "셔츠원피스"),
    "하의": ("슬랙스", "청바지", "스커트", "반바지", "레깅스", "와이드팬츠"),
    "아우터": ("자켓", "코트", "트렌치코트", "패딩", "점퍼", "블레이저"),
    "정장": ("정장세트", "정장자켓", "정장바지", "정장스커트"),
    "홈웨어": ("잠옷", "라운지웨어"),
    "가방": ("숄더백", "토트백", "크로스백", "백팩", "클러치"),
    "신발": ("플랫", "힐", "로퍼", "스니커즈", "샌들", "부츠"),
    "액세서리": ("귀걸이", "목걸이", "반지", "모자", "스카프", "벨트"),
    "남성": ("셔츠", "티셔츠", "니트", "슬랙스", "자켓"),
}
"""Top level → its children. A product sits at a top level (``원피스``) or one level down (``상의/블라우스``)."""

CATEGORY_PATHS: frozenset[str] = frozenset(
    [*CATEGORY_TREE, *(f"{top}/{child}" for top, children in CATEGORY_TREE.items() for child in children)]
)

STYLE_TAGS: frozenset[str] = frozenset(
    {
        "오피스룩", "미니멀", "캐주얼", "러블리", "페미닌", "시크", "스트릿", "빈티지", "데이트룩", "하객룩",
        "여행룩", "홈웨어", "스포티", "댄디", "클래식", "내추럴", "Y2K", "오버핏", "베이직", "트렌디",
    }
)  # fmt: skip
