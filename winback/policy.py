"""The rules every win-back decision follows, the same for every mall: there is no mall field, setting or price
in any of them (``tests/winback/test_invariance.py``).

- Restock alerts inform a shopper who asked: every waiting shopper gets one, in the order they asked, on the
  channels she takes order messages on. Never held out, never capped.
- Price drops and cart reminders advertise: only to shoppers whose marketing consent reaches them (notify holds
  them until 08:00 Korea time without the night consent), at most ``weekly_cap`` in any 7 days across all malls,
  never two about one product in 7 days, none for 30 days after three in a row were ignored, and none at all to
  the hold-out (``holdout_percent`` of shoppers, stable per shopper), whose would-be messages are recorded so
  that the uplift can be measured.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from insights.models import Event
from notify.routing import plan_route
from winback.models import ADVERTISING, Outcome, Reason, Send

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from notify.schemas import Recipient

WEEK = datetime.timedelta(days=7)
IGNORED_AFTER = datetime.timedelta(days=3)
"""A message not tapped (and its product not bought) within 3 days was ignored."""
FATIGUE_RUN = 3
FATIGUE_PAUSE = datetime.timedelta(days=30)
PURCHASE_WINDOW = datetime.timedelta(days=7)
"""A purchase of the message's product within 7 days of it is counted as the message's."""


@dataclass(frozen=True, kw_only=True)
class Rules:
    weekly_cap: int = 2
    holdout_percent: int = 10
    holdout_salt: str = "shoa-winback-1"
    link_base_url: str = "https://shoa.kr"
    product_url: str = "https://shoa.kr/products/{product_id}"

    def link(self, token: str) -> str:
        return f"{self.link_base_url.rstrip('/')}/w/{token}"

    def opt_out_link(self, token: str) -> str:
        return f"{self.link(token)}/opt-out"


def in_holdout(user_id: uuid.UUID, rules: Rules) -> bool:
    """Whether the shopper is in the hold-out: a hash of her id and the salt, so the same shopper always is (or
    is not), whatever the mall, the product or the day."""
    digest = hashlib.sha256(f"{rules.holdout_salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < rules.holdout_percent


def advertising_reaches(recipient: Recipient | None, *, now: datetime.datetime) -> bool:
    """Whether an advertising message could reach the shopper: a channel with her address and her marketing
    consent (notify's routing for advertising, which never uses AlimTalk)."""
    return recipient is not None and bool(plan_route(recipient, locale=recipient.locale, now=now, advertising=True))


@dataclass(frozen=True, kw_only=True)
class Verdict:
    outcome: Outcome
    reason: Reason | None = None


async def advertising_verdict(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    product_id: uuid.UUID,
    reachable: bool,
    enabled: bool,
    rules: Rules,
    now: datetime.datetime,
) -> Verdict:
    """Whether an advertising message about ``product_id`` goes to the shopper now, is held out, or is suppressed
    (and why). Held-out decisions count toward the caps as sent ones do, so both groups meet the same rules."""
    if not enabled:
        return Verdict(outcome=Outcome.SUPPRESSED, reason=Reason.TURNED_OFF)
    if not reachable:
        return Verdict(outcome=Outcome.SUPPRESSED, reason=Reason.NO_CONSENT)
    if (reason := await _capped(session, user_id=user_id, product_id=product_id, rules=rules, now=now)) is not None:
        return Verdict(outcome=Outcome.SUPPRESSED, reason=reason)
    if in_holdout(user_id, rules):
        return Verdict(outcome=Outcome.HELD_OUT)
    return Verdict(outcome=Outcome.SENT)


async def _capped(
    session: AsyncSession, *, user_id: uuid.UUID, product_id: uuid.UUID, rules: Rules, now: datetime.datetime
) -> Reason | None:
    """Which cap, if any, keeps one more advertising message about ``product_id`` from the shopper now."""
    recent = (
        await session.execute(
            sa.select(Send.product_id, Send.decided_at, Send.clicked_at)
            .where(
                Send.user_id == user_id,
                Send.kind.in_([kind.value for kind in ADVERTISING]),
                Send.outcome.in_([Outcome.SENT.value, Outcome.HELD_OUT.value]),
            )
            .order_by(Send.decided_at.desc())
            .limit(max(rules.weekly_cap, FATIGUE_RUN) + 1)
        )
    ).all()
    this_week = [row for row in recent if row.decided_at > now - WEEK]
    if len(this_week) >= rules.weekly_cap:
        return Reason.WEEKLY_CAP
    if any(row.product_id == product_id for row in this_week):
        return Reason.PRODUCT_CAP
    last = recent[:FATIGUE_RUN]
    if (
        len(last) == FATIGUE_RUN
        and last[0].decided_at > now - FATIGUE_PAUSE
        and all(row.clicked_at is None and row.decided_at <= now - IGNORED_AFTER for row in last)
        and not await _bought_after_any(session, user_id, [(row.product_id, row.decided_at) for row in last])
    ):
        return Reason.FATIGUE
    return None


async def _bought_after_any(
    session: AsyncSession, user_id: uuid.UUID, messages: list[tuple[uuid.UUID, datetime.datetime]]
) -> bool:
    """Whether the shopper bought any of the messages' products within their windows: a message whose product
    was bought was not ignored, tapped or not."""
    conditions = [
        sa.and_(Event.product_id == product_id, Event.at >= at, Event.at < at + PURCHASE_WINDOW)
        for product_id, at in messages
    ]
    found = await session.scalar(
        sa.select(sa.literal(1))
        .where(Event.kind == "purchase", Event.shopper_id == user_id, sa.or_(*conditions))
        .limit(1)
    )
    return found is not None
