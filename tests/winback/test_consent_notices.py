"""Every two years the worker tells each shopper who agreed to advertising what she agreed to and how to stop it
(정보통신망법 제50조 제8항, 시행령 제62조의3); her consent then counts from the notice. Before two years, nothing."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from notify.models import Message
from shoa_kernel.clock import utc_now
from tests.winback.conftest import agree_to_advertising
from winback.consents import send_confirmations

if TYPE_CHECKING:
    from tests.orders.conftest import Shopper
    from tests.winback.conftest import Jobs


async def _notices(jobs: Jobs, shopper: Shopper) -> list[Message]:
    async with jobs.sessions() as session:
        query = sa.select(Message).where(Message.user_id == shopper.user_id, Message.event == "marketing_consent_check")
        return list(await session.scalars(query))


async def test_two_years_after_her_consent_she_is_told_what_she_agreed_to(shopper: Shopper, jobs: Jobs) -> None:
    await agree_to_advertising(shopper, "sms", "night")
    almost = utc_now() + datetime.timedelta(days=729)
    await send_confirmations(jobs.sessions, jobs.kit, clock=lambda: almost)
    assert await _notices(jobs, shopper) == []

    later = utc_now() + datetime.timedelta(days=731)
    await send_confirmations(jobs.sessions, jobs.kit, clock=lambda: later)
    await send_confirmations(jobs.sessions, jobs.kit, clock=lambda: later)  # once, not every run
    [notice] = await _notices(jobs, shopper)
    assert notice.channel == "alimtalk"  # information about her consent: her order-message channel
    today = utc_now().astimezone(datetime.timezone(datetime.timedelta(hours=9))).date()
    assert f"{today.year}년 {today.month}월 {today.day}일" in notice.text
    assert "문자" in notice.text

    consents = (await shopper.call("GET", "/v1/me/marketing")).json()
    assert {c["channel"] for c in consents["channels"]} == {"sms"}
    assert consents["channels"][0]["confirmed_at"].startswith(later.date().isoformat())
