"""Which order-message channels a shopper can be reached on, from the contacts and consents on their account.

Each channel needs an address and the shopper's consent to order messages on it (``consent_<channel>``): a
Korean mobile for AlimTalk (Kakao delivers it to the KakaoTalk account of a +82 number), any kept mobile for SMS,
the LINE user id that LINE login sets, the Instagram or Naver TalkTalk id the shopper gave.
``preferred_messenger`` may only name a channel that has both.

Advertising needs the same addresses, with a marketing consent of its own instead (:mod:`accounts.marketing`),
never on AlimTalk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from accounts.models import Messenger

if TYPE_CHECKING:
    from accounts.models import User


@dataclass(frozen=True)
class Channel:
    name: str
    """As the shopper knows it."""
    address: str
    """The account's field holding the address messages go to."""
    add_address: str
    """What to do when that field is empty."""
    address_prefix: str = ""
    """An address must start with it (AlimTalk: +82)."""
    other_address: str = ""
    """What to do when the address does not."""


CHANNELS = {
    Messenger.ALIMTALK: Channel(
        "AlimTalk",
        "phone",
        "add your Korean mobile number",
        address_prefix="+82",
        other_address="add a Korean mobile number (AlimTalk reaches +82 numbers only)",
    ),
    Messenger.SMS: Channel("SMS", "phone", "add your mobile number"),
    Messenger.LINE: Channel("LINE", "line_user_id", "link LINE (log in with LINE once)"),
    Messenger.INSTAGRAM: Channel("Instagram", "instagram_id", "add your Instagram id"),
    Messenger.TALKTALK: Channel("Naver TalkTalk", "talktalk_id", "add your Naver TalkTalk id"),
}


def why_unreachable(user: User, messenger: str) -> str | None:
    """What the shopper must do before order messages can reach them on ``messenger``; None when they can."""
    channel = CHANNELS[Messenger(messenger)]
    steps = [step] if (step := _address_step(user, channel)) else []
    if not getattr(user, f"consent_{messenger}"):
        steps.append(f"agree to {channel.name} messages")
    if not steps:
        return None
    return f"to get order messages on {channel.name}, {' and '.join(steps)} first"


def why_advertising_unreachable(user: User, medium: str, *, confirmed: bool) -> str | None:
    """What the shopper must do before the advertising she agreed to can reach her on ``medium`` (sms, line,
    talktalk, instagram); None when it can. ``confirmed``: the consent was given or confirmed within two years."""
    channel = CHANNELS[Messenger(medium)]
    steps = [step] if (step := _address_step(user, channel)) else []
    if not confirmed:
        steps.append(f"agree to {channel.name} advertising again (a consent counts for two years)")
    if not steps:
        return None
    return f"to get advertising on {channel.name}, {' and '.join(steps)} first"


def _address_step(user: User, channel: Channel) -> str | None:
    address: str | None = getattr(user, channel.address)
    if address is None:
        return channel.add_address
    if not address.startswith(channel.address_prefix):
        return channel.other_address
    return None
