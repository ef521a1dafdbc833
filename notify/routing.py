"""Which channels may carry a message, in which order: a rule table, applied once, when a message is enqueued.

A channel can carry a message when the recipient has its address *and* consented to order messages on it
(:data:`RULES`): AlimTalk reaches a Korean mobile (+82 1x), SMS/LMS any mobile, LINE a LINE user id, TalkTalk a
shopper who opened a chat with us, and Instagram only inside the 24 hours after the shopper last wrote to us.
The recipient's preferred messenger comes first when it can carry the message; the others follow in the order
of the message's locale (:data:`ORDER`), SMS always last. The route is stored with the message: a permanent
failure moves to the next stop (an AlimTalk to the SMS of the same phone first, with the same content), and an
empty route is an ``unreachable`` message, recorded rather than dropped.

Advertising (a template of ``kind = "advertising"``) follows the same table with the recipient's marketing
consents instead (``advertising_consents``, given per medium apart from the order messages'), and never AlimTalk,
which carries information only. When it may go is :mod:`notify.quiet_hours`' business, not the route's.
"""

from __future__ import annotations

import datetime  # noqa: TC003 - the rule table's lambdas are annotated with it
from dataclasses import dataclass
from typing import TYPE_CHECKING

from notify.providers.base import Channel

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from notify.schemas import Locale, Recipient


@dataclass(frozen=True, kw_only=True)
class Stop:
    channel: Channel
    address: str

    def as_json(self) -> dict[str, str]:
        return {"channel": self.channel.value, "address": self.address}

    @classmethod
    def from_json(cls, value: Mapping[str, str]) -> Stop:
        return cls(channel=Channel(value["channel"]), address=value["address"])


@dataclass(frozen=True, kw_only=True)
class Rule:
    address: Callable[[Recipient], str | None]
    """Where this channel reaches the recipient, if it does."""
    open_now: Callable[[Recipient, datetime.datetime], bool] = lambda recipient, now: True
    """Whether the channel may carry a message to them now (Instagram's reply window)."""


def _korean_mobile(recipient: Recipient) -> str | None:
    # Korean mobiles are 01x numbers: +82 1x in E.164. Kakao delivers AlimTalk to the KakaoTalk of such a number.
    return recipient.phone if recipient.phone and recipient.phone.startswith("+821") else None


RULES: Mapping[Channel, Rule] = {
    Channel.ALIMTALK: Rule(address=_korean_mobile),
    Channel.LINE: Rule(address=lambda recipient: recipient.line_user_id),
    Channel.INSTAGRAM: Rule(
        address=lambda recipient: recipient.instagram_id,
        open_now=lambda recipient, now: (
            recipient.instagram_window_until is not None and recipient.instagram_window_until > now
        ),
    ),
    Channel.TALKTALK: Rule(address=lambda recipient: recipient.talktalk_id),
    Channel.SMS: Rule(address=lambda recipient: recipient.phone),
}
"""What each channel needs besides the recipient's consent to it."""

ORDER: Mapping[str, Sequence[Channel]] = {
    "ko": (Channel.ALIMTALK, Channel.TALKTALK, Channel.LINE, Channel.INSTAGRAM, Channel.SMS),
    # Japanese shoppers live on LINE; a +82 number may still reach one by AlimTalk.
    "ja": (Channel.LINE, Channel.ALIMTALK, Channel.INSTAGRAM, Channel.TALKTALK, Channel.SMS),
    "en": (Channel.ALIMTALK, Channel.LINE, Channel.INSTAGRAM, Channel.TALKTALK, Channel.SMS),
}
"""The order channels are tried in, after the recipient's preferred one; SMS, which costs per message and
carries no buttons, is the last resort everywhere."""


def plan_route(
    recipient: Recipient, *, locale: Locale, now: datetime.datetime, advertising: bool = False
) -> list[Stop]:
    """Every channel that may carry a message to ``recipient`` now, best first; empty when none may. An
    ``advertising`` message needs the recipient's marketing consent to the channel, and never goes by AlimTalk."""
    consents = recipient.advertising_consents - {Channel.ALIMTALK} if advertising else recipient.consents
    order = list(ORDER[locale])
    if recipient.preferred is not None and recipient.preferred in order:
        order.remove(recipient.preferred)
        order.insert(0, recipient.preferred)
    stops: list[Stop] = []
    for channel in order:
        rule = RULES[channel]
        address = rule.address(recipient)
        if address and channel in consents and rule.open_now(recipient, now):
            stops.append(Stop(channel=channel, address=address))
    return stops


def after_failure(route: Sequence[Stop]) -> list[Stop]:
    """The route once its first stop failed for good: an AlimTalk falls back to the SMS of the same content
    when the SMS may carry it, whatever else the route holds; any other stop gives way to the next."""
    failed, rest = route[0], list(route[1:])
    if failed.channel is Channel.ALIMTALK:
        sms = [stop for stop in rest if stop.channel is Channel.SMS]
        rest = sms + [stop for stop in rest if stop.channel is not Channel.SMS]
    return rest
