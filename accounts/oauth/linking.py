"""Find or create the Shoa account behind a provider identity, linking by verified email."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from uuid_utils.compat import uuid7

from accounts.errors import (
    OAuthAccountConflictError,
    UnderageShopperError,
)
from accounts.models import OAuthIdentity, User
from accounts.segments import age_on
from accounts.validation import MINIMUM_AGE

if TYPE_CHECKING:
    import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from accounts.oauth.providers import ProviderIdentity


async def find_or_create_user(session: AsyncSession, identity: ProviderIdentity, *, today: datetime.date) -> User:
    """The account this provider account opens: the linked one, else the active one with the same vouched-for
    e-mail (linked now), else a new one without a password."""
    linked = await session.scalar(
        sa.select(OAuthIdentity).where(
            OAuthIdentity.provider == identity.provider, OAuthIdentity.subject == identity.subject
        )
    )
    if linked is not None:
        user = await session.get(User, linked.user_id)
        if user is not None and user.status == "active":
            return user
        # The account was erased: the person is forgotten, so this login opens a fresh account.
        await session.delete(linked)
        await session.flush()
    birth_date = _plausible_birth_date(identity.birth_date, today=today)
    if birth_date is None and identity.birth_year is not None and today.year - identity.birth_year < MINIMUM_AGE:
        msg = f"Shoa accounts are for shoppers aged {MINIMUM_AGE} or over"
        raise UnderageShopperError(msg)
    user = None
    if identity.email is not None:
        user = await session.scalar(sa.select(User).where(User.email == identity.email, User.status == "active"))
    if user is None:
        user = User(id=uuid7(), locale="ko")
        session.add(user)
    await _fill_missing_fields(session, user, identity, birth_date=birth_date)
    try:
        # The account's row first: nothing relates the two models, so one flush may write the identity before it.
        await session.flush()
        session.add(OAuthIdentity(user_id=user.id, provider=identity.provider, subject=identity.subject))
        await session.flush()
    except sa.exc.IntegrityError as exc:  # a concurrent login of the same person won the race
        msg = "another login changed this account at the same moment; try again"
        raise OAuthAccountConflictError(msg) from exc
    return user


def _plausible_birth_date(birth_date: datetime.date | None, *, today: datetime.date) -> datetime.date | None:
    if birth_date is None or birth_date > today or birth_date.year < 1900:
        return None
    if age_on(birth_date, today) < MINIMUM_AGE:
        msg = f"Shoa accounts are for shoppers aged {MINIMUM_AGE} or over"
        raise UnderageShopperError(msg)
    return birth_date


_UNIQUE_FIELDS = {"email": User.email, "phone": User.phone, "line_user_id": User.line_user_id}


async def _fill_missing_fields(
    session: AsyncSession, user: User, identity: ProviderIdentity, *, birth_date: datetime.date | None
) -> None:
    offered: dict[str, object] = {
        "email": identity.email,
        "display_name": identity.display_name,
        "gender": identity.gender,
        "birth_date": birth_date,
        "birth_year": birth_date.year if birth_date is not None else identity.birth_year,
        "age_range": identity.age_range,
        "phone": identity.phone,
        "line_user_id": identity.line_user_id,
    }
    for name, value in offered.items():
        if value is None or getattr(user, name) is not None:
            continue
        column = _UNIQUE_FIELDS.get(name)
        # Another account already uses this phone (or LINE id): it stays theirs, and this one goes without.
        if column is not None and await session.scalar(sa.select(sa.func.count()).where(column == value)):
            continue
        setattr(user, name, value)
