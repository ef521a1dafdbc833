"""Shopper accounts, their refresh tokens and social logins, and their marketing consents with the log that proves
them."""

from __future__ import annotations

import datetime
import enum
import uuid

import sqlalchemy as sa
from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy.orm import Mapped, mapped_column
from uuid_utils.compat import uuid7

from shoa_kernel.clock import utc_now


class Messenger(enum.StrEnum):
    ALIMTALK = "alimtalk"
    LINE = "line"
    INSTAGRAM = "instagram"
    TALKTALK = "talktalk"
    SMS = "sms"


class User(DefaultBase):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("gender IN ('female', 'male', 'other')", name="gender_known"),
        sa.CheckConstraint("locale IN ('ko', 'ja', 'en')", name="locale_known"),
        sa.CheckConstraint("status IN ('active', 'erased')", name="status_known"),
        sa.CheckConstraint(
            "preferred_messenger IN ('alimtalk', 'line', 'instagram', 'talktalk', 'sms')", name="messenger_known"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    email: Mapped[str | None] = mapped_column(sa.String(254), unique=True)
    """Lower-cased; the login identifier when given."""
    phone: Mapped[str | None] = mapped_column(sa.String(16), unique=True)
    """E.164 (+82…, +81…); a login identifier and the AlimTalk/SMS contact."""
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    """argon2id; None for accounts that only log in through a social provider."""
    display_name: Mapped[str | None] = mapped_column(sa.String(50))
    gender: Mapped[str | None] = mapped_column(sa.String(8))
    birth_date: Mapped[datetime.date | None] = mapped_column(sa.Date)
    birth_year: Mapped[int | None] = mapped_column(sa.SmallInteger)
    """From a social login that shares the year but not the day; a known birth date takes precedence."""
    age_range: Mapped[str | None] = mapped_column(sa.String(8))
    """Kakao's ``20~29`` style range, when that is all a social login shares."""
    locale: Mapped[str] = mapped_column(sa.String(2), server_default="ko")
    line_user_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    instagram_id: Mapped[str | None] = mapped_column(sa.String(64))
    talktalk_id: Mapped[str | None] = mapped_column(sa.String(64))
    preferred_messenger: Mapped[str | None] = mapped_column(sa.String(16))
    consent_alimtalk: Mapped[bool] = mapped_column(server_default=sa.false())
    consent_line: Mapped[bool] = mapped_column(server_default=sa.false())
    consent_instagram: Mapped[bool] = mapped_column(server_default=sa.false())
    consent_talktalk: Mapped[bool] = mapped_column(server_default=sa.false())
    consent_sms: Mapped[bool] = mapped_column(server_default=sa.false())
    status: Mapped[str] = mapped_column(sa.String(8), server_default="active")
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )
    updated_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, onupdate=utc_now, server_default=sa.func.now()
    )
    erased_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class RefreshToken(DefaultBase):
    """One link of a rotation chain. Only the SHA-256 of the token is stored."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (sa.Index("ix_refresh_tokens_family_id", "family_id"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    """Every token rotated from one login shares it; reuse of a spent token revokes the whole family."""
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )
    expires_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    revoked_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class OAuthIdentity(DefaultBase):
    """A social login (Kakao, Naver, LINE) that opens a shopper account: the provider's id for the person.

    One account may hold several; one provider account opens exactly one Shoa account.
    """

    __tablename__ = "oauth_identities"
    __table_args__ = (sa.UniqueConstraint("provider", "subject", name="uq_oauth_identities_provider_subject"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid7)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(sa.String(16))
    subject: Mapped[str] = mapped_column(sa.String(128))
    """Kakao's member number, Naver's per-app id, or LINE's user id (``sub``)."""
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTimeUTC(timezone=True), default=utc_now, server_default=sa.func.now()
    )


MARKETING_MEDIA = ("sms", "line", "talktalk", "instagram")
"""The media advertising may go on, each with its own prior consent (정보통신망법 제50조). No AlimTalk: Kakao allows
it information only, so there is nothing to consent to."""
NIGHT = "night"
"""The separate consent to advertising between 21:00 and 08:00 Korea time; it widens the media consents, alone it
reaches no one."""
MARKETING_CHANNELS = (*MARKETING_MEDIA, NIGHT)


class MarketingConsent(DefaultBase):
    """A shopper's standing consent to advertising on one channel (or at night), kept apart from the order
    messages' ``consent_<channel>``: the law asks for a consent of its own, per medium.

    Withdrawal deletes the row, so a withdrawn consent is gone at once; :class:`MarketingConsentLog` keeps the
    history. ``confirmed_at`` moves each time the consent is given again or its status is confirmed to the shopper,
    which the law asks for every two years (시행령 제62조의3)."""

    __tablename__ = "marketing_consents"
    __table_args__ = (
        sa.CheckConstraint("channel IN ('sms', 'line', 'talktalk', 'instagram', 'night')", name="channel_known"),
        sa.CheckConstraint("source IN ('app', 'chat', 'link')", name="source_known"),
        # The two-year confirmation job looks for the oldest confirmations first.
        sa.Index("ix_marketing_consents_confirmed_at", "confirmed_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    granted_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    """When the shopper first agreed; a repeated grant keeps it."""
    confirmed_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    """When the consent was last given or confirmed to the shopper; it counts for two years from then."""
    source: Mapped[str] = mapped_column(sa.String(8))
    """Where the shopper agreed: the app, a chat with Shoa's bot, or a message's link."""


class MarketingConsentLog(DefaultBase):
    """Every grant, withdrawal and confirmation of a marketing consent: the proof of consent, asked for in a dispute
    or an inspection. No foreign key: it outlives the account's erasure."""

    __tablename__ = "marketing_consent_log"
    __table_args__ = (
        sa.CheckConstraint("channel IN ('sms', 'line', 'talktalk', 'instagram', 'night')", name="channel_known"),
        sa.CheckConstraint("action IN ('granted', 'withdrawn', 'confirmed')", name="action_known"),
        sa.CheckConstraint("source IN ('app', 'chat', 'link', 'notice')", name="source_known"),
        sa.Index("ix_marketing_consent_log_user_id_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    channel: Mapped[str] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(9))
    at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True))
    source: Mapped[str] = mapped_column(sa.String(8))
    """As on the consent, or ``notice`` for a confirmation Shoa sent on its own (the two-yearly notice)."""
