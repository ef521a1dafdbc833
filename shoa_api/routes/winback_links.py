"""The links in win-back messages: ``/w/<token>`` counts the shopper's tap and opens the product; its
``/opt-out`` page stops Shoa's advertising with one button, at once, free (정보통신망법 제50조).

These are opened from a messenger in a browser, so every answer is a page a person can read, never a JSON problem.
Opening the opt-out link changes nothing by itself (messengers open links to draw previews): its button does.
"""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.status_codes import HTTP_404_NOT_FOUND
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.marketing import withdraw_marketing
from notify.rendering import KOREA
from shoa_api.pages.layout import CONTENT_SECURITY_POLICY
from shoa_api.pages.opt_out import render_opt_out_page, render_opted_out_page, render_unknown_link_page
from shoa_api.settings import Settings
from shoa_kernel.clock import utc_now
from winback import service
from winback.consents import consent_changed
from winback.errors import LinkNotFoundError
from winback.jobs import WinbackKit

LINK_PREVIEWERS = ("facebookexternalhit", "kakaotalk-scrap", "line-poker", "Yeti", "Twitterbot", "Slackbot")
"""Crawlers messengers send to draw a link's preview (KakaoTalk's and LINE's go as ``facebookexternalhit``…;
Naver's is ``Yeti``): their fetch is not the shopper's tap, so it is not counted."""
_PAGE_HEADERS = {"content-security-policy": CONTENT_SECURITY_POLICY, "cache-control": "no-store"}
Token = FromPath[str]


def _page(html: str, status: int = 200) -> Response[str]:
    return Response(html, media_type=MediaType.HTML, status_code=status, headers=_PAGE_HEADERS)


@get("/w/{token:str}", include_in_schema=False)
async def follow_winback_link(
    request: Request[Any, Any, Any],
    db: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    token: Token,
) -> Response[str] | Redirect:
    agent = request.headers.get("user-agent", "")
    previewer = any(name.lower() in agent.lower() for name in LINK_PREVIEWERS)
    try:
        product_id = await service.follow_link(db, token[:32], now=utc_now(), count=not previewer)
    except LinkNotFoundError:
        return _page(render_unknown_link_page(), HTTP_404_NOT_FOUND)
    return Redirect(settings.winback.product_url.format(product_id=product_id), headers={"cache-control": "no-store"})


@get("/w/{token:str}/opt-out", include_in_schema=False)
async def opt_out_page(db: NamedDependency[AsyncSession], token: Token) -> Response[str]:
    try:
        await service.link_owner(db, token[:32])
    except LinkNotFoundError:
        return _page(render_unknown_link_page(), HTTP_404_NOT_FOUND)
    return _page(render_opt_out_page(f"/w/{token}/opt-out"))


@post("/w/{token:str}/opt-out", include_in_schema=False, status_code=200)
async def opt_out(
    db: NamedDependency[AsyncSession], winback: NamedDependency[WinbackKit], token: Token
) -> Response[str]:
    try:
        user_id = await service.link_owner(db, token[:32])
    except LinkNotFoundError:
        return _page(render_unknown_link_page(), HTTP_404_NOT_FOUND)
    now = utc_now()
    withdrawn = await withdraw_marketing(db, user_id, now=now, source="link")
    await consent_changed(db, winback, user_id, change="withdrawn", channels=withdrawn, now=now)
    return _page(render_opted_out_page(withdrawn, now.astimezone(KOREA)))
