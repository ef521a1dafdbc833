"""The informational notices Korean law asks of a sender of advertising (정보통신망법 제50조 제7항 and 제8항,
시행령 제62조의3): the result of every change to a shopper's marketing consent, and every two years a reminder of
what she agreed to and how to stop it. Both are information about her own consent, so they go on the channels she
takes order messages on (AlimTalk included), never counted as advertising."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from accounts.marketing import confirm_marketing, due_for_confirmation
from notify.providers.base import Channel
from notify.rendering import KOREA
from notify.schemas import OutgoingMessage
from notify.service import withdraw_advertising

if TYPE_CHECKING:
    import datetime
    import uuid
    from collections.abc import Callable, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from winback.jobs import WinbackKit

Change = Literal["granted", "withdrawn"]
CHANGE_WORDS = {
    "ko": {"granted": "광고성 정보 수신 동의", "withdrawn": "광고성 정보 수신 거부"},
    "ja": {"granted": "広告配信への同意", "withdrawn": "広告配信の停止"},
    "en": {"granted": "agreed to advertising", "withdrawn": "stopped advertising"},
}
CHANNEL_WORDS = {
    "ko": {"sms": "문자", "line": "LINE", "talktalk": "네이버 톡톡", "instagram": "Instagram", "night": "야간 수신"},
    "ja": {"sms": "SMS", "line": "LINE", "talktalk": "NAVER TalkTalk", "instagram": "Instagram", "night": "夜間配信"},
    "en": {"sms": "SMS", "line": "LINE", "talktalk": "Naver TalkTalk", "instagram": "Instagram", "night": "at night"},
}
MEDIA = frozenset({"sms", "line", "talktalk", "instagram"})
"""The marketing consents that name a channel (``night`` names a time)."""
CONFIRMATIONS_PER_RUN = 500
SETTINGS_URL = "https://shoa.kr/settings/marketing"
"""Where the app's marketing settings open: the notice's button."""


def _moment(at: datetime.datetime, locale: str) -> str:
    """The moment with its year, in Korea's time: the notice of a consent change states year, month and day."""
    at = at.astimezone(KOREA)
    if locale == "ja":
        return f"{at.year}年{at.month}月{at.day}日 {at:%H:%M}"
    if locale == "en":
        return f"{at.day} {at:%b} {at.year} {at:%H:%M} KST"
    return f"{at.year}년 {at.month}월 {at.day}일 {at:%H:%M}"


def _day(day: datetime.date, locale: str) -> str:
    if locale == "ja":
        return f"{day.year}年{day.month}月{day.day}日"
    if locale == "en":
        return f"{day.day} {day:%b} {day.year}"
    return f"{day.year}년 {day.month}월 {day.day}일"


def _channels(locale: str, channels: Sequence[str]) -> str:
    words = CHANNEL_WORDS.get(locale, CHANNEL_WORDS["ko"])
    return ", ".join(words.get(channel, channel) for channel in channels)[:60]


async def consent_changed(
    session: AsyncSession,
    kit: WinbackKit,
    user_id: uuid.UUID,
    *,
    change: Change,
    channels: Sequence[str],
    now: datetime.datetime,
) -> None:
    """Tell the shopper what her consent change did and when, in the change's transaction; nothing when nothing
    changed. A withdrawal also stops the advertising still waiting for her on those channels (a price drop held
    until the morning would otherwise reach her after she said stop)."""
    if not channels:
        return
    if change == "withdrawn":
        media = [Channel(channel) for channel in channels if channel in MEDIA]
        await withdraw_advertising(session, kit.outbox.templates, user_id, channels=media, now=now)
    recipient = (await kit.recipients(session, [user_id])).get(user_id)
    locale = recipient.locale if recipient is not None else "ko"
    await kit.outbox.enqueue(
        session,
        OutgoingMessage(
            event="marketing_consent_changed",
            idempotency_key=f"marketing:{user_id}:{change}:{now.isoformat()}",
            parameters={
                "change": CHANGE_WORDS[locale][change],
                "channels": _channels(locale, channels),
                "changed_at": _moment(now, locale),
            },
            user_id=user_id,
        ),
        now=now,
    )


async def send_confirmations(
    session_maker: async_sessionmaker[AsyncSession], kit: WinbackKit, *, clock: Callable[[], datetime.datetime]
) -> bool:
    """Send the two-yearly notice to every shopper whose consent is due, and count it from now; whether work was
    left. A notice and its confirmation commit together: a crash sends neither, the next run both."""
    async with session_maker() as session, session.begin():
        now = clock()
        due = await due_for_confirmation(session, now=now, limit=CONFIRMATIONS_PER_RUN)
        recipients = await kit.recipients(session, [row.user_id for row in due])
        for row in due:
            recipient = recipients.get(row.user_id)
            locale = recipient.locale if recipient is not None else "ko"
            granted = row.granted_since.astimezone(KOREA).date()
            await kit.outbox.enqueue(
                session,
                OutgoingMessage(
                    event="marketing_consent_check",
                    # Keyed on what is confirmed, not on the day: two workers on either side of midnight send one.
                    idempotency_key=f"marketing:{row.user_id}:confirm:{row.confirmed_since.isoformat()}",
                    parameters={
                        "consented_on": _day(granted, locale),
                        "channels": _channels(locale, sorted(row.channels)),
                        "settings_url": SETTINGS_URL,
                    },
                    user_id=row.user_id,
                ),
                now=now,
            )
            await confirm_marketing(session, row.user_id, now=now)
    return len(due) == CONFIRMATIONS_PER_RUN
