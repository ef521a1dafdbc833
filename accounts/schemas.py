"""What crosses the accounts boundary: msgspec structs for requests and answers."""

from __future__ import annotations

import datetime
import uuid
from typing import Annotated, Literal

import msgspec

from accounts import passwords

Gender = Literal["female", "male", "other"]
Locale = Literal["ko", "ja", "en"]
MessengerName = Literal["alimtalk", "line", "instagram", "talktalk", "sms"]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
NewPassword = Annotated[str, msgspec.Meta(min_length=passwords.MIN_LENGTH, max_length=passwords.MAX_LENGTH)]
"""A password being chosen; its strength is checked too (docs/decisions/0004), which no schema can say."""
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
ContactId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class Signup(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: Annotated[str, msgspec.Meta(max_length=254)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    """A Korean or Japanese mobile number as the shopper writes it (010-1234-5678, +82 10 1234 5678,
    +81 90-1234-5678); without a country code it is read as Korean, or as Japanese when ``locale`` is ``ja``.
    Stored and answered in E.164. Landlines and internet phones are refused: messages need a mobile."""
    password: NewPassword
    display_name: Name | None = None
    gender: Gender | None = None
    birth_date: datetime.date | None = None
    locale: Locale = "ko"


class Login(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    login: Annotated[str, msgspec.Meta(min_length=1, max_length=254)]
    """The account's email, or its mobile number written any way (010-1234-5678, +821012345678)."""
    password: Password


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class Contacts(msgspec.Struct, kw_only=True):
    phone: str | None
    line_user_id: str | None
    """Set by LINE login; it is also the LINE messaging address."""
    instagram_id: str | None
    talktalk_id: str | None


class Consents(msgspec.Struct, kw_only=True):
    """Whether order messages may be sent on each channel."""

    alimtalk: bool
    line: bool
    instagram: bool
    talktalk: bool
    sms: bool


class Profile(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    email: str | None
    display_name: str | None
    gender: Gender | None
    birth_date: datetime.date | None
    locale: Locale
    age_band: str | None
    """``20s_late`` and the like, from the birth date in Korea's calendar."""
    segment: str
    """The feed segment: ``female:20s_late`` or ``anonymous`` when gender or birth date is unknown."""
    contacts: Contacts
    consents: Consents
    preferred_messenger: MessengerName | None
    created_at: datetime.datetime


class SessionTokens(msgspec.Struct, kw_only=True):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    """Seconds the access token stays valid."""
    refresh_token: str
    refresh_expires_in: int
    profile: Profile


class ConsentsUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    alimtalk: bool | msgspec.UnsetType = msgspec.UNSET
    line: bool | msgspec.UnsetType = msgspec.UNSET
    instagram: bool | msgspec.UnsetType = msgspec.UNSET
    talktalk: bool | msgspec.UnsetType = msgspec.UNSET
    sms: bool | msgspec.UnsetType = msgspec.UNSET


class ProfileUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Only the fields present change; ``null`` clears a field that may be empty."""

    display_name: Name | msgspec.UnsetType | None = msgspec.UNSET
    gender: Gender | msgspec.UnsetType | None = msgspec.UNSET
    birth_date: datetime.date | msgspec.UnsetType | None = msgspec.UNSET
    locale: Locale | msgspec.UnsetType = msgspec.UNSET
    phone: Annotated[str, msgspec.Meta(max_length=20)] | msgspec.UnsetType | None = msgspec.UNSET
    """As at signup; read in the account's locale (or the one given beside it)."""
    line_user_id: msgspec.UnsetType | None = msgspec.UNSET
    """May only be cleared here; LINE login sets it."""
    instagram_id: ContactId | msgspec.UnsetType | None = msgspec.UNSET
    talktalk_id: ContactId | msgspec.UnsetType | None = msgspec.UNSET
    preferred_messenger: MessengerName | msgspec.UnsetType | None = msgspec.UNSET
    """Only a channel with its contact and consent (a Korean mobile and the AlimTalk consent for ``alimtalk``, a
    mobile for ``sms``, a linked LINE for ``line``…). Removing what it needs clears it."""
    consents: ConsentsUpdate | msgspec.UnsetType = msgspec.UNSET


MarketingMedium = Literal["sms", "line", "talktalk", "instagram"]
ConsentSource = Literal["app", "chat", "link"]


class MarketingChannelConsent(msgspec.Struct, kw_only=True):
    """One medium the shopper agreed to get advertising on."""

    channel: MarketingMedium
    granted_at: datetime.datetime
    confirmed_at: datetime.datetime
    """When the consent was last given or confirmed to the shopper; it stands for two years from then."""
    source: ConsentSource
    """Where it was given: the app, a chat with Shoa's bot, or a message's link."""
    reachable: bool
    """Whether advertising can reach the shopper on it now."""
    why_unreachable: str | None
    """What the shopper must do first when it cannot: add the address, or agree again after two years."""


class MarketingConsents(msgspec.Struct, kw_only=True):
    """A shopper's consents to advertising, separate from the order messages' ``consents`` of the profile."""

    channels: list[MarketingChannelConsent]
    """The media agreed to, in the order sms, line, talktalk, instagram; an absent one gets no advertising."""
    night: datetime.datetime | None
    """When the shopper agreed to advertising between 21:00 and 08:00 Korea time too; ``null``: none then."""
    confirm_by: datetime.datetime | None
    """Two years after the oldest confirmation: by then Shoa tells the shopper what she agreed to, as the law
    asks, or that consent stops counting. ``null`` with no consent."""
