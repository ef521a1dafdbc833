"""The mall insights page as its staff read it: HTML made on the server from insights' structs, with SVG charts.

One period (Korean days, the last 30 by default) and one ranking sort, chosen in a small GET form: the totals, the
funnel from views to purchases, who comes at which hour (age band x hour, and day of the week x hour, in Korea's
time), the segments, the top products per segment and the days. Labels are Korean and every figure is written
out; a suppressed cell (fewer than 5 people) shows a dash, and the legend says why. No script: the page works
with JavaScript off, and its Content Security Policy allows only the stylesheet of :mod:`shoa_api.pages.layout`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, get_args

from accounts.segments import KOREA
from insights import service
from insights.age_hours import AGE_ROWS, UNKNOWN_AGE_LABEL, AgeHours, audience_by_age_and_hour
from insights.rollup import EPOCH
from insights.schemas import MIN_PEOPLE, SortKey
from shoa_api.pages import layout
from shoa_api.pages.charts import (
    SUPPRESSED_MARK,
    FunnelStep,
    HeatRow,
    funnel_svg,
    heatmap_svg,
    number,
    percent,
)
from shoa_api.pages.sign_in import PAGE_PATH

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from insights.schemas import Audience, Figures, ProductRanking, Summary
    from insights.service import Period

DEFAULT_DAYS = 30
TOP_PRODUCTS = 5
SORT_KEYS: tuple[SortKey, ...] = get_args(SortKey)
SORT_LABELS: dict[str, str] = {
    "views": "조회",
    "likes": "좋아요",
    "carts": "장바구니",
    "purchases": "구매",
    "revenue": "매출",
    "conversion": "전환율",
}
DEFAULT_SORT: SortKey = "views"
TIMES = "\N{MULTIPLICATION SIGN}"
WEEKDAYS = ("월", "화", "수", "목", "금", "토", "일")
SUPPRESSED_LEGEND = f"{SUPPRESSED_MARK} 표시: 방문자가 {MIN_PEOPLE}명 미만이라 개인 보호를 위해 숫자를 숨겼습니다."


@dataclass(frozen=True, kw_only=True)
class Choice:
    """What the staff asked for: a period and how to rank products."""

    period: Period
    sort: SortKey


@dataclass(frozen=True, kw_only=True)
class InsightsPage:
    mall_name: str
    choice: Choice
    summary: Summary
    audience: Audience
    age_hours: AgeHours
    rankings: list[tuple[str, ProductRanking]]
    """Everyone first, then each segment with enough people, with its label."""


def default_period(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The last ``DEFAULT_DAYS`` Korean days, today included."""
    return today - datetime.timedelta(days=DEFAULT_DAYS - 1), today


async def gather_insights_page(
    session: AsyncSession, *, mall_id: uuid.UUID, mall_name: str, choice: Choice
) -> InsightsPage:
    summary = await service.summary(session, mall_id, period=choice.period)
    audience = await service.audience(session, mall_id, period=choice.period)
    age_hours = await audience_by_age_and_hour(session, mall_id, period=choice.period)
    rankings = [("전체", await service.products(session, mall_id, period=choice.period, segment=None,
                                               sort=choice.sort, limit=TOP_PRODUCTS))]  # fmt: skip
    for cell in audience.segments:
        if not cell.suppressed:
            ranking = await service.products(
                session, mall_id, period=choice.period, segment=cell.segment, sort=choice.sort, limit=TOP_PRODUCTS
            )
            rankings.append((cell.label, ranking))
    return InsightsPage(
        mall_name=mall_name, choice=choice, summary=summary, audience=audience, age_hours=age_hours, rankings=rankings
    )


# --- The page --------------------------------------------------------------------------------------------------


def render_insights_page(page: InsightsPage) -> str:
    title = f"{page.mall_name} 인사이트"
    body = "".join([
        "<header>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="period">{_period_text(page.choice.period)} · {_as_of_text(page.summary.as_of)}</p>',
        "</header>",
        _period_form(page.choice.period.first, page.choice.period.last, page.choice.sort),
        "<main>",
        _totals_section(page.summary),
        _funnel_section(page.summary),
        _age_hour_section(page.age_hours),
        _weekday_hour_section(page.audience),
        _segments_section(page.audience),
        _rankings_section(page.rankings, page.choice.sort),
        _days_section(page.summary),
        "</main>",
        f'<footer><p class="legend">{escape(SUPPRESSED_LEGEND)} 시간은 모두 한국 시간(KST)입니다. '
        "다른 몰의 수치는 이 페이지에 나오지 않습니다.</p></footer>",
    ])  # fmt: skip
    return layout.document(title, body)


def render_refusal_page(*, heading: str, message: str, form: tuple[str, str, str] | None = None) -> str:
    """A page that explains what went wrong and what to do, optionally with the period form to try again
    (``form``: the from, to and sort as they were typed)."""
    return layout.refusal_page(heading=heading, message=message, after=_form_html(*form) if form is not None else "")


def _period_form(first: datetime.date, last: datetime.date, sort: str) -> str:
    return _form_html(first.isoformat(), last.isoformat(), sort)


def _form_html(first: str, last: str, sort: str) -> str:
    options = "".join(
        f'<option value="{key}"{" selected" if key == sort else ""}>{SORT_LABELS[key]}</option>' for key in SORT_KEYS
    )
    return (
        f'<form method="get" action="{PAGE_PATH}" aria-label="기간과 순위 기준">'
        f'<label>시작일 <input type="date" name="from" value="{escape(first)}" required></label>'
        f'<label>종료일 <input type="date" name="to" value="{escape(last)}" required></label>'
        f'<label>상품 순위 기준 <select name="sort">{options}</select></label>'
        '<button type="submit">보기</button></form>'
    )


def _period_text(period: Period) -> str:
    days = (period.last - period.first).days + 1
    return f"{period.first.isoformat()} ~ {period.last.isoformat()} ({days}일, 한국 시간)"


def _as_of_text(as_of: datetime.datetime) -> str:
    if as_of <= EPOCH:  # the roll-up has not run yet
        return "아직 집계된 이벤트가 없습니다 (집계는 매시간 실행됩니다)"
    return f"{as_of.astimezone(KOREA):%Y-%m-%d %H:%M} KST까지 집계"


def _totals_section(summary: Summary) -> str:
    figures = summary.total.figures
    labels = {
        "shoppers": "방문자",
        "views": "조회",
        "likes": "좋아요",
        "carts": "장바구니",
        "purchases": "구매",
        "units": "판매 수량",
        "revenue": "매출",
        "conversion": "전환율 (구매÷조회)",
    }
    shown = dict.fromkeys(labels, SUPPRESSED_MARK)
    if figures is not None:
        shown = {
            "shoppers": f"{number(figures.shoppers)}명",
            "views": number(figures.views),
            "likes": number(figures.likes),
            "carts": number(figures.carts),
            "purchases": number(figures.purchases),
            "units": f"{number(figures.units)}개",
            "revenue": f"{number(figures.revenue)}원",
            "conversion": _conversion(figures.conversion),
        }
    cards = "".join(
        f'<div><dt>{label}</dt><dd data-total="{key}">{shown[key]}</dd></div>' for key, label in labels.items()
    )
    note = "" if figures else f'<p class="note">{escape(SUPPRESSED_LEGEND)}</p>'
    return (
        '<section aria-labelledby="totals-h"><h2 id="totals-h">기간 합계</h2>'
        f'<dl class="totals">{cards}</dl>{note}</section>'
    )


def _funnel_section(summary: Summary) -> str:
    head = '<section aria-labelledby="funnel-h"><h2 id="funnel-h">구매 퍼널: 조회 → 좋아요 → 장바구니 → 구매</h2>'
    figures = summary.total.figures
    if figures is None:
        return f'{head}<p class="note" data-funnel="suppressed">{escape(SUPPRESSED_LEGEND)}</p></section>'
    steps = [
        FunnelStep(key="views", label="조회", value=figures.views),
        FunnelStep(key="likes", label="좋아요", value=figures.likes),
        FunnelStep(key="carts", label="장바구니", value=figures.carts),
        FunnelStep(key="purchases", label="구매", value=figures.purchases),
    ]
    said = ", ".join(f"{step.label} {number(step.value)}" for step in steps)
    chart = funnel_svg(steps, ident="funnel", title="구매 퍼널", description=f"기간 합계: {said}")
    rows = [[step.label, number(step.value), percent(step.value, figures.views)] for step in steps]
    table = layout.table(["단계", "횟수", "조회 대비"], rows, caption="구매 퍼널 (표)")
    return f'{head}<div class="scroll">{chart}</div><details><summary>표로 보기</summary>{table}</details></section>'


def _age_hour_section(age_hours: AgeHours) -> str:
    rows = []
    for band in AGE_ROWS:
        key = band.value if band is not None else "unknown"
        label = band.label if band is not None else UNKNOWN_AGE_LABEL
        cells = [cell for cell in age_hours.cells if cell.age_band == (band.value if band is not None else None)]
        rows.append(HeatRow(key=key, label=label, cells=[cell.people for cell in sorted(cells, key=lambda c: c.hour)]))
    columns = [str(at) for at in range(24)]
    chart = heatmap_svg(
        rows,
        ident="age-hour",
        columns=columns,
        column_title="시 (한국 시간)",
        column_suffix="시",
        measure="방문자",
        title=f"연령대 {TIMES} 시간대 방문자",
        description=(
            "연령대별, 한국 시간 시간대별로 이 몰의 상품을 보거나 좋아요·장바구니·구매한 사람 수(명). "
            f"기간의 모든 날을 합산. {SUPPRESSED_LEGEND}"
        ),
    )
    table = layout.table(
        ["연령대", *[f"{at}시" for at in range(24)]],
        [[row.label, *[_shown(value) for value in row.cells]] for row in rows],
        caption=f"연령대 {TIMES} 시간대 방문자 (명)",
    )
    return (
        f'<section aria-labelledby="age-hour-h"><h2 id="age-hour-h">연령대 {TIMES} 시간대 방문자 (명, 한국 시간)</h2>'
        '<p class="note">칸의 숫자는 그 시간대에 이 몰의 상품을 보거나 좋아요·장바구니·구매한 사람 수입니다 '
        "(기간의 모든 날 합산, 한 사람은 한 번). 색이 진할수록 많습니다.</p>"
        f'<div class="scroll">{chart}</div><p class="legend">{escape(SUPPRESSED_LEGEND)}</p>'
        f'<details><summary>표로 보기</summary><div class="scroll">{table}</div></details></section>'
    )


def _weekday_hour_section(audience: Audience) -> str:
    rows = [
        HeatRow(
            key=str(day),
            label=f"{WEEKDAYS[day - 1]}요일",
            cells=[
                cell.figures.shoppers if cell.figures is not None else None
                for cell in sorted((c for c in audience.hours if c.weekday == day), key=lambda c: c.hour)
            ],
        )
        for day in range(1, 8)
    ]
    chart = heatmap_svg(
        rows,
        ident="weekday-hour",
        columns=[str(at) for at in range(24)],
        column_title="시 (한국 시간)",
        column_suffix="시",
        measure="방문자",
        title=f"요일 {TIMES} 시간대 방문자",
        description=f"요일별, 한국 시간 시간대별 방문자 수(명). {SUPPRESSED_LEGEND}",
    )
    table = layout.table(
        ["요일", *[f"{at}시" for at in range(24)]],
        [[row.label, *[_shown(value) for value in row.cells]] for row in rows],
        caption=f"요일 {TIMES} 시간대 방문자 (명)",
    )
    return (
        f'<section aria-labelledby="weekday-hour-h"><h2 id="weekday-hour-h">요일 {TIMES} 시간대 방문자 '
        "(명, 한국 시간)</h2>"
        f'<div class="scroll">{chart}</div>'
        f'<details><summary>표로 보기</summary><div class="scroll">{table}</div></details></section>'
    )


def _segments_section(audience: Audience) -> str:
    rows = [[cell.label, *_figure_columns(cell.figures)] for cell in audience.segments]
    table = layout.table(
        ["고객층", *_FIGURE_HEADINGS], rows, caption=f"고객층(성별 {TIMES} 연령대)별 합계", ident="segments"
    )
    return (
        '<section aria-labelledby="segments-h"><h2 id="segments-h">고객층별 합계</h2>'
        f'<div class="scroll">{table}</div></section>'
    )


def _rankings_section(rankings: list[tuple[str, ProductRanking]], sort: str) -> str:
    parts = [
        '<section aria-labelledby="rankings-h">',
        f'<h2 id="rankings-h">고객층별 인기 상품 ({escape(SORT_LABELS[sort])} 순, 상위 {TOP_PRODUCTS}개)</h2>',
        f'<p class="note">방문자가 {MIN_PEOPLE}명 이상인 고객층만 보입니다.</p>',
    ]
    for label, ranking in rankings:
        rows = [
            [str(item.rank) if item.rank is not None else SUPPRESSED_MARK, item.name, *_figure_columns(item.figures)]
            for item in ranking.items
        ]
        segment = (ranking.segment or "all").replace(":", "-")
        table = (
            layout.table(
                ["순위", "상품", *_FIGURE_HEADINGS],
                rows,
                caption=f"{label} 인기 상품",
                ident=f"top-{segment}",
                row_header=1,
            )
            if rows
            else '<p class="note">이 기간에 본 상품이 없습니다.</p>'
        )
        hidden = (
            f'<p class="note">방문자가 {MIN_PEOPLE}명 미만이라 숨긴 상품 {ranking.suppressed_products}개</p>'
            if ranking.suppressed_products
            else ""
        )
        parts.append(f'<h3>{escape(label)}</h3><div class="scroll">{table}</div>{hidden}')
    parts.append("</section>")
    return "".join(parts)


def _days_section(summary: Summary) -> str:
    rows = [[day.day.isoformat(), *_figure_columns(day.figures)] for day in reversed(summary.days)]
    table = layout.table(["날짜", *_FIGURE_HEADINGS], rows, caption="일별 합계 (최근 날짜부터)", ident="days")
    return (
        '<section aria-labelledby="days-h"><h2 id="days-h">일별 합계</h2>'
        f'<details><summary>{len(summary.days)}일 보기</summary><div class="scroll">{table}</div></details></section>'
    )


_FIGURE_HEADINGS = ["방문자", "조회", "좋아요", "장바구니", "구매", "판매 수량", "매출(원)", "전환율"]


def _figure_columns(figures: Figures | None) -> list[str]:
    if figures is None:
        return [SUPPRESSED_MARK] * len(_FIGURE_HEADINGS)
    return [
        number(figures.shoppers),
        number(figures.views),
        number(figures.likes),
        number(figures.carts),
        number(figures.purchases),
        number(figures.units),
        number(figures.revenue),
        _conversion(figures.conversion),
    ]


def _conversion(value: float | None) -> str:
    return f"{value:.2%}" if value is not None else SUPPRESSED_MARK


def _shown(value: int | None) -> str:
    return number(value) if value is not None else SUPPRESSED_MARK
