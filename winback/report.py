"""A mall's win-back report: its own messages over a period, by kind, beside the hold-out's purchase rate.

Both groups are decided by the same rules (:mod:`winback.policy`): a held-out decision is one that would have
been sent. A purchase counts for a decision when the shopper bought the decision's product within 7 days of
it (from the event store's purchases), in either group, so the difference of the two rates is what the messages
changed. Its 95% interval is Newcombe's (from the two rates' Wilson intervals), sound for the small groups one
mall's hold-out often is.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import sqlalchemy as sa

from insights.models import Event
from winback.models import ADVERTISING, Kind, Outcome, Send
from winback.policy import PURCHASE_WINDOW
from winback.schemas import KindReport, Uplift, WinbackReport

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.ext.asyncio import AsyncSession

    from insights.service import Period

Z = 1.959964
"""The normal quantile of a two-sided 95% interval."""
NOTE = (
    "Purchases are of the message's product by its shopper within 7 days of the decision. The hold-out "
    "(a stable share of shoppers) gets no price-drop or cart-reminder messages; restock alerts were asked for and "
    "are never held out. No channel reports reads to a business, so `opened` is null."
)


async def winback_report(session: AsyncSession, mall_id: uuid.UUID, *, period: Period) -> WinbackReport:
    bought = (
        sa.exists()
        .where(
            Event.kind == "purchase",
            Event.shopper_id == Send.user_id,
            Event.product_id == Send.product_id,
            Event.at >= Send.decided_at,
            Event.at < Send.decided_at + sa.literal(PURCHASE_WINDOW, sa.Interval()),
        )
        .correlate(Send)
    )
    rows = (
        await session.execute(
            sa.select(
                Send.kind,
                Send.outcome,
                Send.reason,
                sa.func.count().label("decisions"),
                sa.func.count(Send.clicked_at).label("clicked"),
                sa.func.count().filter(bought).label("purchases"),
            )
            .where(Send.mall_id == mall_id, Send.decided_at >= period.start, Send.decided_at < period.end)
            .group_by(Send.kind, Send.outcome, Send.reason)
        )
    ).all()
    kinds: list[KindReport] = []
    for kind in Kind:
        mine = [row for row in rows if row.kind == kind.value]
        sent = [row for row in mine if row.outcome == Outcome.SENT.value]
        held = [row for row in mine if row.outcome == Outcome.HELD_OUT.value]
        n1, x1 = sum(row.decisions for row in sent), sum(row.purchases for row in sent)
        n0, x0 = sum(row.decisions for row in held), sum(row.purchases for row in held)
        kinds.append(
            KindReport(
                kind=kind.value,
                sent=n1,
                opened=None,
                clicked=sum(row.clicked for row in sent),
                purchases_7d=x1,
                purchase_rate=_rate(x1, n1),
                held_out=n0,
                held_out_purchases_7d=x0,
                held_out_purchase_rate=_rate(x0, n0),
                uplift=uplift(x1, n1, x0, n0) if kind in ADVERTISING else None,
                suppressed={
                    row.reason: row.decisions for row in mine if row.outcome == Outcome.SUPPRESSED.value and row.reason
                },
            )
        )
    return WinbackReport(mall_id=mall_id, period_from=period.first, period_to=period.last, kinds=kinds, note=NOTE)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def uplift(x1: int, n1: int, x0: int, n0: int) -> Uplift | None:
    """The difference of the two purchase rates in percentage points, with its 95% interval: Newcombe's, from the
    two rates' Wilson intervals, which stays inside [-100, 100] and does not shrink to a point when a small group
    bought nothing (or all bought), as the normal approximation does for a mall with a handful held out."""
    if not n1 or not n0:
        return None
    p1, p0 = x1 / n1, x0 / n0
    low1, high1 = _wilson(x1, n1)
    low0, high0 = _wilson(x0, n0)
    difference = p1 - p0
    low = difference - math.sqrt((p1 - low1) ** 2 + (high0 - p0) ** 2)
    high = difference + math.sqrt((high1 - p1) ** 2 + (p0 - low0) ** 2)
    return Uplift(points=round(100 * difference, 2), low=round(100 * low, 2), high=round(100 * high, 2))


def _wilson(part: int, whole: int) -> tuple[float, float]:
    """The 95% Wilson score interval of ``part`` out of ``whole``."""
    rate = part / whole
    centre = (rate + Z * Z / (2 * whole)) / (1 + Z * Z / whole)
    half = Z * math.sqrt(rate * (1 - rate) / whole + Z * Z / (4 * whole * whole)) / (1 + Z * Z / whole)
    return centre - half, centre + half
