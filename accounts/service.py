"""Account operations over a session the caller owns: they flush, never commit."""

from __future__ import annotations

import datetime  # noqa: TC003 - Issuer is a Litestar dependency, its field types must exist at runtime
import uuid  # noqa: TC003
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from uuid_utils.compat import uuid7

from accounts.errors import (
    AccountExistsError,
    InvalidCredentialsError,
    InvalidProfileError,
    InvalidSignupError,
    InvalidTokenError,
)
from accounts.marketing import withdraw_marketing
from accounts.messengers import why_unreachable
from accounts.models import OAuthIdentity, RefreshToken, User

# Issuer is a Litestar dependency: its field types must exist at runtime.
from accounts.passwords import Passwords, check_password_rules
from accounts.schemas import Consents, Contacts, Profile, ProfileUpdate, SessionTokens, Signup
from accounts.segments import Audience, audience_for, band_for, korea_today, segment_for
from accounts.tokens import (
    AccessTokens,
    new_refresh_token,
    refresh_token_hash,
)
from accounts.validation import (
    check_birth_date,
    check_display_name,
    national_digits,
    normalize_email,
    normalize_login,
    normalize_phone,
    phone_for_login,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class Issuer:
    """What a session is issued with: hashing, token signing, lifetimes and the clock."""

    passwords: Passwords
    access_tokens: AccessTokens
    refresh_lifetime: datetime.timedelta
    now: datetime.datetime


@dataclass(frozen=True)
class RefreshReuse:
    """A spent refresh token came back: its family is revoked (commit this), and the caller gets a 401.

    The family's access tokens (the thief's among them) are still good until they expire: the caller ends them
    too, by ``login_id``."""

    user_id: uuid.UUID
    login_id: uuid.UUID


async def signup(session: AsyncSession, request: Signup, *, issuer: Issuer) -> SessionTokens:
    today = korea_today(issuer.now)
    email = normalize_email(request.email) if request.email else None
    phone = normalize_phone(request.phone, locale=request.locale) if request.phone else None
    if email is None and phone is None:
        msg = "sign up with an email or a mobile phone number"
        raise InvalidSignupError(msg, field="email")
    check_password_rules(
        request.password,
        identifiers=(email.split("@")[0] if email else None, national_digits(phone) if phone else None),
    )
    if request.birth_date is not None:
        check_birth_date(request.birth_date, today=today)
    if request.display_name is not None:
        check_display_name(request.display_name)
    same_identifier = [column == value for column, value in ((User.email, email), (User.phone, phone)) if value]
    taken = await session.scalar(sa.select(sa.func.count()).select_from(User).where(sa.or_(*same_identifier)))
    if taken:
        msg = "an account already uses that email or phone number; log in instead"
        raise AccountExistsError(msg)
    user = User(
        email=email,
        phone=phone,
        password_hash=await issuer.passwords.hash(request.password),
        display_name=request.display_name,
        gender=request.gender,
        birth_date=request.birth_date,
        locale=request.locale,
    )
    session.add(user)
    try:
        await session.flush()
    except sa.exc.IntegrityError as exc:  # a concurrent signup took the same email or phone
        msg = "an account already uses that email or phone number; log in instead"
        raise AccountExistsError(msg) from exc
    return await start_session(session, user, issuer=issuer, family_id=None)


async def login(session: AsyncSession, login_name: str, password: str, *, issuer: Issuer) -> SessionTokens:
    user = await _find_by_login(session, login_name)
    if user is None or user.password_hash is None:
        await issuer.passwords.burn_time(password)
        raise InvalidCredentialsError(_WRONG_LOGIN)
    if not await issuer.passwords.verify(user.password_hash, password):
        raise InvalidCredentialsError(_WRONG_LOGIN)
    if issuer.passwords.needs_rehash(user.password_hash):
        user.password_hash = await issuer.passwords.hash(password)
    return await start_session(session, user, issuer=issuer, family_id=None)


async def refresh(session: AsyncSession, token: str, *, issuer: Issuer) -> SessionTokens | RefreshReuse:
    """Rotate ``token``: it is spent, and a new one of the same family is issued with a fresh access token."""
    stored = await session.scalar(
        sa.select(RefreshToken).where(RefreshToken.token_hash == refresh_token_hash(token)).with_for_update()
    )
    if stored is None or stored.revoked_at is not None or stored.expires_at <= issuer.now:
        raise InvalidTokenError("the refresh token is unknown, expired or revoked; log in again")
    if stored.used_at is not None:
        await revoke_family(session, stored.family_id, now=issuer.now)
        return RefreshReuse(user_id=stored.user_id, login_id=stored.family_id)
    user = await session.get(User, stored.user_id)
    if user is None or user.status != "active":
        raise InvalidTokenError("the account is closed")
    stored.used_at = issuer.now
    return await start_session(session, user, issuer=issuer, family_id=stored.family_id)


async def logout(session: AsyncSession, token: str, *, user_id: uuid.UUID, now: datetime.datetime) -> uuid.UUID | None:
    """End the login ``token`` belongs to, if it is one of ``user_id``'s: the login's id, for its access tokens."""
    stored = await session.scalar(
        sa.select(RefreshToken).where(
            RefreshToken.token_hash == refresh_token_hash(token), RefreshToken.user_id == user_id
        )
    )
    if stored is None:
        return None
    await revoke_family(session, stored.family_id, now=now)
    return stored.family_id


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, *, now: datetime.datetime) -> None:
    await session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def profile(session: AsyncSession, user_id: uuid.UUID, *, now: datetime.datetime) -> Profile:
    return profile_of(await _active_user(session, user_id), now=now)


async def active_profile(session: AsyncSession, user_id: uuid.UUID, *, now: datetime.datetime) -> Profile | None:
    """An open account's profile (its contacts, consents and preferred messenger); None for an unknown or erased
    one, whom order messages no longer reach."""
    user = await session.get(User, user_id)
    if user is None or user.status != "active":
        return None
    return profile_of(user, now=now)


async def active_profiles(
    session: AsyncSession, user_ids: Sequence[uuid.UUID], *, now: datetime.datetime
) -> dict[uuid.UUID, Profile]:
    """:func:`active_profile` for many accounts in one query, by id; unknown and erased ones are left out."""
    users = await session.scalars(
        sa.select(User).where(
            User.id == sa.any_(sa.bindparam("user_ids", list(user_ids), type_=postgresql.ARRAY(sa.Uuid))),
            User.status == "active",
        )
    )
    return {user.id: profile_of(user, now=now) for user in users}


async def update_profile(
    session: AsyncSession, user_id: uuid.UUID, changes: ProfileUpdate, *, now: datetime.datetime
) -> Profile:
    """Apply the fields present in ``changes``.

    A ``preferred_messenger`` asked for must be one the shopper can be reached on once the changes are made
    (see :mod:`accounts.messengers`). A contact or consent removed while the preferred messenger needs it is
    removed all the same (a withdrawn consent is never refused) and the preference is cleared: order messages
    then go by what is linked."""
    user = await _active_user(session, user_id)
    fields = {name: value for name, value in msgspec.structs.asdict(changes).items() if value is not msgspec.UNSET}
    consents = fields.pop("consents", None)
    if fields.get("birth_date") is not None:
        check_birth_date(fields["birth_date"], today=korea_today(now), error=InvalidProfileError)
    if fields.get("phone") is not None:
        locale = fields.get("locale", user.locale)  # a number without a country code is read in it
        fields["phone"] = normalize_phone(fields["phone"], locale=locale, error=InvalidProfileError)
    if fields.get("display_name") is not None:
        check_display_name(fields["display_name"], error=InvalidProfileError)
    for name, value in fields.items():
        setattr(user, name, value)
    for channel, allowed in msgspec.structs.asdict(consents).items() if consents is not None else ():
        if allowed is not msgspec.UNSET:
            setattr(user, f"consent_{channel}", allowed)
    if user.phone is None and user.email is None and user.password_hash is not None:
        msg = "an account with a password keeps an email or a phone number to log in with"
        raise InvalidProfileError(msg, field="phone")
    if user.preferred_messenger is not None and (reason := why_unreachable(user, user.preferred_messenger)):
        if "preferred_messenger" in fields:
            raise InvalidProfileError(reason, field="preferred_messenger")
        user.preferred_messenger = None
    try:
        await session.flush()
    except sa.exc.IntegrityError as exc:
        msg = "another account already uses that phone number"
        raise AccountExistsError(msg, field="phone") from exc
    return profile_of(user, now=now)


async def erase(session: AsyncSession, user_id: uuid.UUID, *, now: datetime.datetime) -> None:
    """Forget the person: identifiers, profile, contacts and consents go; the row stays so orders keep a buyer id."""
    user = await _active_user(session, user_id)
    for name in (
        "email", "phone", "password_hash", "display_name", "gender", "birth_date", "birth_year", "age_range",
        "line_user_id", "instagram_id", "talktalk_id", "preferred_messenger",
    ):  # fmt: skip
        setattr(user, name, None)
    for channel in ("alimtalk", "line", "instagram", "talktalk", "sms"):
        setattr(user, f"consent_{channel}", False)
    user.status, user.erased_at = "erased", now
    await session.execute(sa.delete(OAuthIdentity).where(OAuthIdentity.user_id == user_id))
    # Advertising stops with the account; the consent log, the proof of what was agreed, stays (it has no key to
    # the account) and records the withdrawal.
    await withdraw_marketing(session, user_id, now=now, source="app")
    await session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await session.flush()


async def shopper_segment(session: AsyncSession, user_id: uuid.UUID, *, now: datetime.datetime) -> str:
    """The feed segment of a logged-in shopper as of ``now`` (``anonymous`` when gender or age is unknown)."""
    return (await shopper_audience(session, user_id, now=now)).segment


async def shopper_audience(session: AsyncSession, user_id: uuid.UUID, *, now: datetime.datetime) -> Audience:
    """A logged-in shopper's segment, gender and age band as of ``now``."""
    user = await _active_user(session, user_id)
    return audience_for(
        user.gender, user.birth_date, today=korea_today(now), birth_year=user.birth_year, age_range=user.age_range
    )


def profile_of(user: User, *, now: datetime.datetime) -> Profile:
    today = korea_today(now)
    band = band_for(user.birth_date, today=today, birth_year=user.birth_year, age_range=user.age_range)
    return Profile(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        gender=user.gender,  # type: ignore[arg-type]  # the column's CHECK constraint holds it to the literal
        birth_date=user.birth_date,
        locale=user.locale,  # type: ignore[arg-type]
        age_band=band.value if band is not None else None,
        segment=segment_for(
            user.gender, user.birth_date, today=today, birth_year=user.birth_year, age_range=user.age_range
        ),
        contacts=Contacts(
            phone=user.phone,
            line_user_id=user.line_user_id,
            instagram_id=user.instagram_id,
            talktalk_id=user.talktalk_id,
        ),
        consents=Consents(
            alimtalk=user.consent_alimtalk,
            line=user.consent_line,
            instagram=user.consent_instagram,
            talktalk=user.consent_talktalk,
            sms=user.consent_sms,
        ),
        preferred_messenger=user.preferred_messenger,  # type: ignore[arg-type]
        created_at=user.created_at,
    )


_WRONG_LOGIN = "the login or the password is wrong"


def login_key(login_name: str) -> str:
    """The one form of a login name, as it is stored: an email in NFKC and lower case, a phone number in E.164
    however it was typed (``010-1234-5678``, ``+82 10 1234 5678``). Lockouts count wrong passwords by it too."""
    login_name = normalize_login(login_name)
    if "@" not in login_name and (phone := phone_for_login(login_name)) is not None:
        return phone
    return login_name.lower()


async def _find_by_login(session: AsyncSession, login_name: str) -> User | None:
    key = login_key(login_name)
    column = User.email if "@" in key else User.phone
    return await session.scalar(sa.select(User).where(column == key, User.status == "active"))


async def _active_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None or user.status != "active":
        raise InvalidTokenError("the account is closed")
    return user


async def start_session(
    session: AsyncSession, user: User, *, issuer: Issuer, family_id: uuid.UUID | None
) -> SessionTokens:
    login_id = family_id or uuid7()
    access_token, _ = issuer.access_tokens.issue(user.id, now=issuer.now, login_id=login_id)
    refresh = new_refresh_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=login_id,
            token_hash=refresh_token_hash(refresh),
            expires_at=issuer.now + issuer.refresh_lifetime,
        )
    )
    await session.flush()
    return SessionTokens(
        access_token=access_token,
        expires_in=int(issuer.access_tokens.lifetime.total_seconds()),
        refresh_token=refresh,
        refresh_expires_in=int(issuer.refresh_lifetime.total_seconds()),
        profile=profile_of(user, now=issuer.now),
    )
