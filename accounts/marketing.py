"""Shoppers' consents to advertising, apart from the consents to order messages on the account.

정보통신망법 제50조 shapes them: a prior consent per medium (sms, line, talktalk, instagram; never AlimTalk, which
carries information only), a separate consent for 21:00-08:00 Korea time that means nothing without a medium, a
withdrawal that works at once and is never refused, and the consent's status confirmed to the shopper every two
years (시행령 제62조의3). A consent neither given again nor confirmed within two calendar years stops counting, so a
late notice stops the advertising rather than letting it run unconfirmed. Every grant, withdrawal and confirmation
is written to :class:`~accounts.models.MarketingConsentLog`, the proof of consent, which outlives the account.

Operations over a session the caller owns: they flush, never commit. A grant and a withdrawal of one shopper's
consents lock her account row, so that a night-time consent never outlives the last medium it was beside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import aliased

from accounts.errors import InvalidTokenError, NightConsentWithoutMediumError, UnknownMarketingChannelError
from accounts.messengers import why_advertising_unreachable
from accounts.models import MARKETING_CHANNELS, MARKETING_MEDIA, NIGHT, MarketingConsent, MarketingConsentLog, User
from accounts.schemas import ConsentSource, MarketingChannelConsent, MarketingConsents

if TYPE_CHECKING:
    import datetime
    import uuid
    from collections.abc import Iterable, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

CONSENT_YEARS = 2
"""How long a consent counts after it was given or last confirmed to the shopper."""


class AdvertisingChannels(NamedTuple):
    """What advertising may use for one shopper: consents only (whether she has the addresses is the caller's)."""

    media: frozenset[str]
    """Of ``sms``, ``line``, ``talktalk``, ``instagram``."""
    night: bool
    """Also between 21:00 and 08:00 Korea time; never without a medium."""


NO_ADVERTISING = AdvertisingChannels(frozenset(), night=False)


class DueConfirmation(NamedTuple):
    """A shopper owed the two-yearly notice of what she agreed to."""

    user_id: uuid.UUID
    channels: frozenset[str]
    """Every consent she has, ``night`` included: what the notice lists."""
    granted_since: datetime.datetime
    """Her oldest consent's ``granted_at``."""
    confirmed_since: datetime.datetime
    """Her oldest ``confirmed_at``: what the notice is owed for (two notices for one are one)."""


async def marketing_consents(session: AsyncSession, user_id: uuid.UUID, *, now: datetime.datetime) -> MarketingConsents:
    """The shopper's marketing consents as she sees them, each medium saying whether advertising can reach her on
    it at ``now`` and, if not, what she must do."""
    user = await session.get(User, user_id)
    if user is None or user.status != "active":
        raise InvalidTokenError("the account is closed")
    counted = (MarketingConsent.confirmed_at > _counted_since(now)).label("counted")
    confirm_by = (sa.func.min(MarketingConsent.confirmed_at).over() + _consent_years()).label("confirm_by")
    rows = (
        await session.execute(
            sa.select(
                MarketingConsent.channel,
                MarketingConsent.granted_at,
                MarketingConsent.confirmed_at,
                MarketingConsent.source,
                counted,
                confirm_by,
            ).where(MarketingConsent.user_id == user_id)
        )
    ).all()
    media = sorted((row for row in rows if row.channel != NIGHT), key=lambda row: MARKETING_MEDIA.index(row.channel))
    return MarketingConsents(
        channels=[
            MarketingChannelConsent(
                channel=row.channel,
                granted_at=row.granted_at,
                confirmed_at=row.confirmed_at,
                source=row.source,
                reachable=(why := why_advertising_unreachable(user, row.channel, confirmed=row.counted)) is None,
                why_unreachable=why,
            )
            for row in media
        ],
        night=next((row.granted_at for row in rows if row.channel == NIGHT), None),
        confirm_by=rows[0].confirm_by if rows else None,
    )


async def grant_marketing(
    session: AsyncSession,
    user_id: uuid.UUID,
    channel: str,
    *,
    now: datetime.datetime,
    source: ConsentSource = "app",
) -> bool:
    """The shopper agrees to advertising on ``channel`` (a medium, or ``night`` beside one); True when she had not.

    Agreeing again keeps the first ``granted_at`` and ``source`` and counts as a confirmation: the consent counts
    two years from ``now``. A grant needs no address: the answer of :func:`marketing_consents` says what is
    missing."""
    check_marketing_channel(channel)
    locked = await session.scalar(
        sa.select(User.id).where(User.id == user_id, User.status == "active").with_for_update(key_share=True)
    )
    if locked is None:
        raise InvalidTokenError("the account is closed")
    if channel == NIGHT and not await _has_a_medium(session, user_id):
        msg = "agree to advertising on a channel (sms, line, talktalk or instagram) before agreeing to get it at night"
        raise NightConsentWithoutMediumError(msg)
    where = (MarketingConsent.user_id == user_id, MarketingConsent.channel == channel)
    confirmed = await session.scalar(
        sa.update(MarketingConsent).where(*where).values(confirmed_at=now).returning(MarketingConsent.channel)
    )
    if confirmed is None:
        await session.execute(
            sa.insert(MarketingConsent).values(
                user_id=user_id, channel=channel, granted_at=now, confirmed_at=now, source=source
            )
        )
    await _log(session, user_id, [channel], "granted" if confirmed is None else "confirmed", now=now, source=source)
    await session.flush()
    return confirmed is None


async def withdraw_marketing(
    session: AsyncSession,
    user_id: uuid.UUID,
    channels: Iterable[str] | None = None,
    *,
    now: datetime.datetime,
    source: ConsentSource,
) -> list[str]:
    """The shopper withdraws her consent on ``channels`` (all of them, ``night`` included, when None), at once;
    the channels she had and no longer has. Withdrawing her last medium withdraws ``night`` too.

    Never refused, not even for a closed account (which has nothing left to withdraw)."""
    asked = MARKETING_CHANNELS if channels is None else tuple(dict.fromkeys(channels))
    for channel in asked:
        check_marketing_channel(channel)
    await session.execute(sa.select(User.id).where(User.id == user_id).with_for_update(key_share=True))
    withdrawn = set(
        await session.scalars(
            sa.delete(MarketingConsent)
            .where(MarketingConsent.user_id == user_id, MarketingConsent.channel.in_(asked))
            .returning(MarketingConsent.channel)
        )
    )
    if withdrawn - {NIGHT}:
        other = aliased(MarketingConsent)
        last_medium_gone = ~sa.exists().where(other.user_id == user_id, other.channel != NIGHT)
        night = await session.scalar(
            sa.delete(MarketingConsent)
            .where(MarketingConsent.user_id == user_id, MarketingConsent.channel == NIGHT, last_medium_gone)
            .returning(MarketingConsent.channel)
        )
        withdrawn.update([night] if night else [])
    ordered = [channel for channel in MARKETING_CHANNELS if channel in withdrawn]
    await _log(session, user_id, ordered, "withdrawn", now=now, source=source)
    await session.flush()
    return ordered


async def due_for_confirmation(session: AsyncSession, *, now: datetime.datetime, limit: int) -> list[DueConfirmation]:
    """Open accounts with a consent neither given nor confirmed for two years at ``now``, the longest unconfirmed
    first, at most ``limit``: whom the notice of their consents is owed (then :func:`confirm_marketing`). A job
    may pass a ``now`` ahead of the clock, to send the notices before the consents stop counting."""
    oldest = sa.func.min(MarketingConsent.confirmed_at)
    due = (
        sa.select(MarketingConsent.user_id, oldest.label("oldest"))
        .join(User, User.id == MarketingConsent.user_id)
        .where(MarketingConsent.confirmed_at <= _counted_since(now), User.status == "active")
        .group_by(MarketingConsent.user_id)
        .order_by(oldest, MarketingConsent.user_id)
        .limit(limit)
        .cte("due")
    )
    rows = await session.execute(
        sa.select(
            due.c.user_id,
            sa.func.array_agg(MarketingConsent.channel),
            sa.func.min(MarketingConsent.granted_at),
            due.c.oldest,
        )
        .select_from(due)
        .join(MarketingConsent, MarketingConsent.user_id == due.c.user_id)
        .group_by(due.c.user_id, due.c.oldest)
        .order_by(due.c.oldest, due.c.user_id)
    )
    return [
        DueConfirmation(user_id, frozenset(channels), granted_since, confirmed_since)
        for user_id, channels, granted_since, confirmed_since in rows
    ]


async def confirm_marketing(session: AsyncSession, user_id: uuid.UUID, *, now: datetime.datetime) -> list[str]:
    """The shopper was told what she agreed to (the two-yearly notice): each of her consents counts two years from
    ``now``. The channels confirmed."""
    confirmed = set(
        await session.scalars(
            sa.update(MarketingConsent)
            .where(MarketingConsent.user_id == user_id)
            .values(confirmed_at=now)
            .returning(MarketingConsent.channel)
        )
    )
    ordered = [channel for channel in MARKETING_CHANNELS if channel in confirmed]
    await _log(session, user_id, ordered, "confirmed", now=now, source="notice")
    await session.flush()
    return ordered


async def advertising_channels(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime.datetime
) -> AdvertisingChannels:
    """What advertising may use for one shopper at ``now``: the consents given or confirmed within two years
    (:data:`NO_ADVERTISING` for none, or for an unknown or closed account)."""
    return (await advertising_channels_by_user(session, [user_id], now=now)).get(user_id, NO_ADVERTISING)


async def advertising_channels_by_user(
    session: AsyncSession, user_ids: Sequence[uuid.UUID], *, now: datetime.datetime
) -> dict[uuid.UUID, AdvertisingChannels]:
    """:func:`advertising_channels` for many shoppers in one query; those with none are left out."""
    rows = await session.execute(
        sa.select(MarketingConsent.user_id, MarketingConsent.channel).where(
            MarketingConsent.user_id == sa.any_(sa.bindparam("user_ids", list(user_ids), type_=_UUIDS)),
            MarketingConsent.confirmed_at > _counted_since(now),
        )
    )
    found: dict[uuid.UUID, set[str]] = {}
    for user_id, channel in rows:
        found.setdefault(user_id, set()).add(channel)
    return {
        user_id: AdvertisingChannels(media=frozenset(channels - {NIGHT}), night=NIGHT in channels)
        for user_id, channels in found.items()
        if channels - {NIGHT}  # a night-time consent alone reaches no one
    }


def check_marketing_channel(channel: str) -> None:
    """Refuse a channel that takes no marketing consent, saying which do."""
    if channel in MARKETING_CHANNELS:
        return
    known = "sms, line, talktalk and instagram, and night (21:00-08:00 Korea time) beside one of them"
    if channel == "alimtalk":
        msg = f"AlimTalk carries order information only, never advertising; the marketing channels are {known}"
    else:
        msg = f"{channel[:32]!r} is not a marketing channel: they are {known} (AlimTalk carries no advertising)"
    raise UnknownMarketingChannelError(msg)


_UUIDS = postgresql.ARRAY(sa.Uuid)
"""One array parameter for any number of ids: the statement stays the same (and prepared), and no list is too long."""


def _consent_years() -> sa.ColumnElement[datetime.timedelta]:
    """Calendar years, as PostgreSQL counts them: 29 February plus two years is 28 February."""
    return sa.func.make_interval(CONSENT_YEARS, type_=sa.Interval)


def _counted_since(now: datetime.datetime) -> sa.ColumnElement[datetime.datetime]:
    """A consent last given or confirmed after this moment still counts at ``now``."""
    return sa.literal(now, DateTimeUTC(timezone=True)) - _consent_years()


async def _has_a_medium(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return bool(
        await session.scalar(
            sa.select(
                sa.exists().where(MarketingConsent.user_id == user_id, MarketingConsent.channel.in_(MARKETING_MEDIA))
            )
        )
    )


async def _log(
    session: AsyncSession,
    user_id: uuid.UUID,
    channels: Sequence[str],
    action: str,
    *,
    now: datetime.datetime,
    source: str,
) -> None:
    if channels:
        await session.execute(
            sa.insert(MarketingConsentLog),
            [
                {"user_id": user_id, "channel": channel, "action": action, "at": now, "source": source}
                for channel in channels
            ],
        )
