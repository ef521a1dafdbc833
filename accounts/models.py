"""Shopper accounts and their refresh tokens."""

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
