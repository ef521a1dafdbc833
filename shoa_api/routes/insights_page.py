"""The mall insights page for a mall's staff, and the partner API call that makes its sign-in link.

A mall's server (``POST /partner/v1/insights/links``, scope ``insights:read``) or an operator (``shoa malls
insights-link``) makes a link that works once within 15 minutes; opening it sets a session cookie for the page
alone and redirects to the page's clean address, so the link leaves the address bar at once. Every refusal here
is a page a person can read (401 for a link or session that opens nothing, 400 for a period that cannot be
shown), never a JSON problem nor a 500. See docs/decisions/0038-insights-page.md.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_201_CREATED
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.segments import korea_today
from catalog.keys import PartnerIdentity
from catalog.models import Mall
from insights import service
from insights.errors import InsightsError
from shoa_api.auth import require_partner_key
from shoa_api.pages.insights import (
    DEFAULT_SORT,
    SORT_KEYS,
    Choice,
    default_period,
    gather_insights_page,
    render_insights_page,
    render_refusal_page,
)
from shoa_api.pages.layout import CONTENT_SECURITY_POLICY, signed_in_page
from shoa_api.pages.sign_in import (
    COOKIE_NAME,
    PAGE_PATH,
    InsightsSignIn,
    SignInRefusedError,
    link_url,
    sign_in_from,
    spend_link,
)
from shoa_api.settings import Settings
from shoa_kernel.clock import utc_now

PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
"""The page's own protective headers, beside those every answer carries (``x-content-type-options``)."""
MAX_TOKEN_LENGTH = 2048
NEW_LINK = (
    "새 로그인 링크를 받아 주세요: 몰의 시스템 담당자가 파트너 API(POST /partner/v1/insights/links, insights:read "
    "권한 키)로, 또는 Shoa 운영자가 shoa malls insights-link --mall <몰 슬러그> 명령으로 만들 수 있습니다."
)
_REFUSALS = {
    "expired": ("링크가 만료되었습니다", "로그인 링크는 만든 뒤 15분 동안만 열 수 있습니다."),
    "spent": ("이미 사용된 링크입니다", "로그인 링크는 한 번만 열 수 있습니다."),
    "invalid": ("올바르지 않은 링크입니다", "링크가 잘렸거나 바뀌었습니다."),
}
_SESSION_REFUSALS = {
    "expired": ("로그인이 만료되었습니다", "인사이트 페이지 로그인은 8시간 동안 유지됩니다."),
    "invalid": ("로그인이 필요합니다", "이 페이지는 로그인 링크로 열어야 합니다."),
    "spent": ("로그인이 필요합니다", "이 페이지는 로그인 링크로 열어야 합니다."),
}


class InsightsLink(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    """Open it in a browser: it signs in to the mall's insights page once, then stops working."""
    expires_at: datetime.datetime
    """It must be opened before this time (UTC); the session it starts lasts 8 hours."""


class InsightsLinkController(Controller):
    path = "/partner/v1/insights"
    tags = ["partner"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [require_partner_key]  # noqa: RUF012

    @post(
        "/links",
        operation_id="partner_create_insights_link",
        summary="A sign-in link to my mall's insights page, for its staff: it works once, within 15 minutes",
        opt={"scope": "insights:read"},
        status_code=HTTP_201_CREATED,
    )
    async def create_link(
        self,
        request: Request[Any, Any, Any],
        partner: NamedDependency[PartnerIdentity],
        settings: NamedDependency[Settings],
    ) -> InsightsLink:
        token, link = sign_in_from(settings.security).issue_link(partner.mall_id, now=utc_now())
        return InsightsLink(url=link_url(str(request.base_url), token), expires_at=link.expires_at)


@get(PAGE_PATH, operation_id="insights_page", include_in_schema=False, cache=False, media_type=MediaType.HTML)
async def insights_page(
    *,
    request: Request[Any, Any, Any],
    db_read: NamedDependency[AsyncSession],
    redis: NamedDependency[Redis],
    settings: NamedDependency[Settings],
    token: FromQuery[str | None] = None,
    first: Annotated[str | None, QueryParameter(name="from")] = None,
    last: Annotated[str | None, QueryParameter(name="to")] = None,
    sort: FromQuery[str | None] = None,
) -> Response[str]:
    sign_in, now = sign_in_from(settings.security), utc_now()
    if token is not None:
        return await _open_link(request, db_read, redis, sign_in, token=token, now=now)
    try:
        visit = sign_in.verify_session(request.cookies.get(COOKIE_NAME) or "", now=now)
    except SignInRefusedError as refused:
        heading, why = _SESSION_REFUSALS[refused.reason]
        return _page(render_refusal_page(heading=heading, message=f"{why} {NEW_LINK}"), status_code=401)
    mall = await db_read.get(Mall, visit.mall_id)
    if mall is None:
        return _page(render_refusal_page(heading="몰을 찾을 수 없습니다", message=NEW_LINK), status_code=401)
    today = korea_today(now)
    default_first, default_last = default_period(today)
    typed = (first or default_first.isoformat(), last or default_last.isoformat(), sort or DEFAULT_SORT)
    retention = settings.insights.retention_days
    try:
        choice = _choice(*typed, today=today, retention_days=retention)
    except InsightsError as refused:
        rules = f"기간은 최대 {service.MAX_DAYS}일, 오늘(한국 시간)까지, 최근 {retention}일 안에서 고를 수 있습니다."
        message = refused.detail if isinstance(refused, _ChoiceError) else f"{rules} ({refused.detail})"
        return _page(
            render_refusal_page(heading="이 기간은 볼 수 없습니다", message=message, form=typed), status_code=400
        )
    page = await gather_insights_page(db_read, mall_id=mall.id, mall_name=mall.name, choice=choice)
    return _page(render_insights_page(page))


async def _open_link(
    request: Request[Any, Any, Any],
    db_read: AsyncSession,
    redis: Redis,
    sign_in: InsightsSignIn,
    *,
    token: str,
    now: datetime.datetime,
) -> Response[str]:
    """Spend the link and start a session, or say why the link opens nothing."""
    try:
        if len(token) > MAX_TOKEN_LENGTH:
            raise SignInRefusedError("invalid")
        link = sign_in.verify_link(token, now=now)
        await spend_link(redis, link, now=now)
    except SignInRefusedError as refused:
        heading, why = _REFUSALS[refused.reason]
        return _page(render_refusal_page(heading=heading, message=f"{why} {NEW_LINK}"), status_code=401)
    if await db_read.get(Mall, link.mall_id) is None:
        return _page(render_refusal_page(heading="몰을 찾을 수 없습니다", message=NEW_LINK), status_code=401)
    session_token, _ = sign_in.issue_session(link.mall_id, now=now)
    cookie = Cookie(
        key=COOKIE_NAME,
        value=session_token,
        path=PAGE_PATH,
        max_age=int(sign_in.session_lifetime.total_seconds()),
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )
    if request.headers.get("sec-fetch-site") == "cross-site":
        # Opened from another site (a webmail, a messenger's web app): browsers do not send a SameSite=Strict cookie
        # on the redirects of a navigation another site started, so the page itself moves on, as a navigation of
        # our own.
        return _page(signed_in_page(), cookies=[cookie])
    return Redirect(path=PAGE_PATH, status_code=303, cookies=[cookie], headers=PAGE_HEADERS)


def _choice(first: str, last: str, sort: str, *, today: datetime.date, retention_days: int) -> Choice:
    try:
        first_day, last_day = datetime.date.fromisoformat(first), datetime.date.fromisoformat(last)
    except ValueError:
        msg = f"날짜는 2026-12-01처럼 연-월-일로 적어 주세요 (받은 값: {first[:20]!r}, {last[:20]!r})."
        raise _ChoiceError(msg) from None
    sort_key = next((key for key in SORT_KEYS if key == sort), None)
    if sort_key is None:
        msg = f"순위 기준 {sort[:20]!r}은(는) 없습니다."
        raise _ChoiceError(msg)
    period = service.period(first_day, last_day, today=today, retention_days=retention_days)
    return Choice(period=period, sort=sort_key)


class _ChoiceError(InsightsError):
    """The form's values cannot be read (said in Korean, for the page)."""


def _page(html: str, *, status_code: int = 200, cookies: list[Cookie] | None = None) -> Response[str]:
    return Response(html, status_code=status_code, media_type=MediaType.HTML, headers=PAGE_HEADERS, cookies=cookies)
