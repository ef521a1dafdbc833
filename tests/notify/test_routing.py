"""The routing table: the preferred messenger when it can reach the shopper now, else the next that can, never a
channel without consent, SMS last, nobody reachable means no route."""

from __future__ import annotations

import datetime
from typing import Literal

import pytest

from notify.providers.base import Channel
from notify.routing import Stop, after_failure, plan_route
from notify.schemas import Recipient

NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)
EVERYTHING = frozenset(Channel)
OPEN_WINDOW = NOW + datetime.timedelta(hours=3)


def linked(
    consents: frozenset[Channel] = EVERYTHING,
    *,
    preferred: Channel | None = None,
    locale: Literal["ko", "ja", "en"] = "ko",
    instagram_window_until: datetime.datetime | None = None,
) -> Recipient:
    """A shopper who linked every channel: a Korean mobile, LINE, Instagram and TalkTalk."""
    return Recipient(
        phone="+821012345678",
        line_user_id="U4af4980629d4f3c0a1b2c3d4e5f60718",
        instagram_id="17841400000000001",
        talktalk_id="tt-user-1",
        consents=consents,
        preferred=preferred,
        locale=locale,
        instagram_window_until=instagram_window_until,
    )


def channels(recipient: Recipient, locale: str = "ko") -> list[Channel]:
    return [stop.channel for stop in plan_route(recipient, locale=locale, now=NOW)]  # type: ignore[arg-type]


def test_a_korean_shopper_gets_alimtalk_first_and_sms_last() -> None:
    recipient = linked()

    assert channels(recipient) == [Channel.ALIMTALK, Channel.TALKTALK, Channel.LINE, Channel.SMS]


def test_a_japanese_shopper_gets_line_first() -> None:
    recipient = linked(locale="ja")

    assert channels(recipient, "ja")[0] is Channel.LINE


def test_the_preferred_messenger_comes_first_when_it_can_reach_the_shopper() -> None:
    recipient = linked(preferred=Channel.TALKTALK)

    assert channels(recipient) == [Channel.TALKTALK, Channel.ALIMTALK, Channel.LINE, Channel.SMS]


def test_a_preferred_messenger_that_cannot_reach_the_shopper_is_passed_over() -> None:
    recipient = Recipient(phone="+821012345678", consents=frozenset({Channel.ALIMTALK}), preferred=Channel.LINE)

    assert channels(recipient) == [Channel.ALIMTALK]


@pytest.mark.parametrize("channel", list(Channel))
def test_no_channel_without_consent(channel: Channel) -> None:
    assert channel not in channels(linked(EVERYTHING - {channel}, instagram_window_until=OPEN_WINDOW))
    assert channel in channels(linked(EVERYTHING, instagram_window_until=OPEN_WINDOW))


def test_alimtalk_reaches_korean_mobiles_only_and_sms_any_mobile() -> None:
    japanese = Recipient(phone="+819012345678", consents=EVERYTHING)

    assert channels(japanese) == [Channel.SMS]


def test_instagram_only_inside_the_24_hours_after_the_shoppers_last_message() -> None:
    def instagram(window_until: datetime.datetime | None) -> Recipient:
        consents = frozenset({Channel.INSTAGRAM})
        return Recipient(instagram_id="17841400000000001", consents=consents, instagram_window_until=window_until)

    assert channels(instagram(NOW + datetime.timedelta(hours=2))) == [Channel.INSTAGRAM]
    assert channels(instagram(NOW - datetime.timedelta(seconds=1))) == []
    assert channels(instagram(None)) == []  # a window nobody knows is closed


def test_talktalk_only_for_a_shopper_who_opened_a_chat() -> None:
    assert channels(Recipient(consents=frozenset({Channel.TALKTALK}))) == []
    assert channels(Recipient(talktalk_id="tt-1", consents=frozenset({Channel.TALKTALK}))) == [Channel.TALKTALK]


def test_nobody_reachable_means_an_empty_route() -> None:
    assert channels(linked(frozenset())) == []


def test_a_failed_alimtalk_falls_back_to_the_sms_of_the_same_phone_first() -> None:
    route = plan_route(linked(), locale="ko", now=NOW)

    rest = after_failure(route)

    assert rest[0] == Stop(channel=Channel.SMS, address="+821012345678")
    assert [stop.channel for stop in rest] == [Channel.SMS, Channel.TALKTALK, Channel.LINE]
    assert [stop.channel for stop in after_failure(rest)] == [Channel.TALKTALK, Channel.LINE]
