"""Kakao's and Naver's user-info answers, mapped to a :class:`ProviderIdentity`."""

from __future__ import annotations

import datetime
import logging
import re
from typing import TYPE_CHECKING, Any

import msgspec

from accounts.errors import (
    AccountError,
    OAuthProviderUnavailableError,
)
from accounts.oauth.providers import ProviderIdentity
from accounts.validation import BIDI_CONTROLS, is_blank, normalize_email, normalize_phone

if TYPE_CHECKING:
    from accounts.schemas import Gender

logger = logging.getLogger(__name__)

_GENDERS: dict[str, Gender] = {"female": "female", "male": "male", "F": "female", "M": "male"}


class KakaoProfile(msgspec.Struct, kw_only=True):
    nickname: str | None = None


class KakaoAccount(msgspec.Struct, kw_only=True):
    profile: KakaoProfile | None = None
    email: str | None = None
    is_email_valid: bool | None = None
    is_email_verified: bool | None = None
    gender: str | None = None
    """``female`` or ``male``."""
    age_range: str | None = None
    """``20~29`` and the like."""
    birthyear: str | None = None
    """``YYYY``."""
    birthday: str | None = None
    """``MMDD``, solar or lunar as ``birthday_type`` says."""
    birthday_type: str | None = None
    phone_number: str | None = None
    """``+82 10-1234-5678``."""


class KakaoUser(msgspec.Struct, kw_only=True):
    id: int
    kakao_account: KakaoAccount | None = None


def kakao_identity(user: KakaoUser) -> ProviderIdentity:
    account = user.kakao_account or KakaoAccount()
    vouched = account.is_email_valid is True and account.is_email_verified is True
    # A lunar birthday is not a calendar date; converting it would store a date the shopper never gave.
    solar = account.birthday_type in {None, "SOLAR"}
    return ProviderIdentity(
        provider="kakao",
        subject=str(user.id),
        email=clean_email(account.email) if vouched else None,
        display_name=clean_display_name(account.profile.nickname if account.profile else None),
        gender=_GENDERS.get(account.gender or ""),
        birth_date=birth_date_from(account.birthyear, account.birthday) if solar else None,
        birth_year=birth_year_from(account.birthyear),
        age_range=clean_age_range(account.age_range),
        phone=clean_phone(account.phone_number),
    )


# --- Naver: GET /v1/nid/me ----------------------------------------------------------------------------------


class NaverProfile(msgspec.Struct, kw_only=True):
    id: str
    email: str | None = None
    nickname: str | None = None
    name: str | None = None
    gender: str | None = None
    """``F``, ``M`` or ``U`` (unknown)."""
    age: str | None = None
    """``20-29`` and the like."""
    birthyear: str | None = None
    birthday: str | None = None
    """``MM-DD``."""
    mobile_e164: str | None = None


class NaverMe(msgspec.Struct, kw_only=True):
    resultcode: str
    message: str | None = None
    response: NaverProfile | None = None


def naver_identity(me: NaverMe) -> ProviderIdentity:
    if me.resultcode != "00" or me.response is None:
        logger.warning("the Naver user-info endpoint answered resultcode %s", me.resultcode)
        raise OAuthProviderUnavailableError("Naver is not answering properly; try again shortly")
    person = me.response
    return ProviderIdentity(
        provider="naver",
        subject=person.id,
        email=clean_email(person.email),
        display_name=clean_display_name(person.nickname or person.name),
        gender=_GENDERS.get(person.gender or ""),
        birth_date=birth_date_from(person.birthyear, person.birthday),
        birth_year=birth_year_from(person.birthyear),
        age_range=clean_age_range(person.age.replace("-", "~") if person.age else None),
        phone=clean_phone(person.mobile_e164),
    )


# --- LINE: the ID token of the token response ---------------------------------------------------------------


def clean_email(value: str | None) -> str | None:
    return _quietly(normalize_email, value)


def clean_phone(value: str | None) -> str | None:
    """Korean or Japanese mobiles only, as signup accepts them; anything else is left out."""
    return _quietly(normalize_phone, value)


def _quietly(normalize: Any, value: str | None) -> str | None:
    if not value:
        return None
    try:
        normalized: str = normalize(value)
    except AccountError:
        return None
    return normalized


def clean_display_name(value: str | None) -> str | None:
    """The provider's nickname without direction controls (refused when a shopper types them, dropped here: the
    login must not fail over a nickname); ``None`` when nothing visible is left."""
    name = "".join(char for char in value or "" if char not in BIDI_CONTROLS).strip()[:50]  # the column's length
    return None if is_blank(name) else name


def birth_date_from(year: str | None, month_day: str | None) -> datetime.date | None:
    """A date only from a year and a month-day both given (``0415`` or ``04-15``); a year alone is no date."""
    digits = (month_day or "").replace("-", "")
    if not year or len(digits) != 4:
        return None
    try:
        return datetime.date(int(year), int(digits[:2]), int(digits[2:]))
    except ValueError:
        return None


# --- Accounts ------------------------------------------------------------------------------------------------


_AGE_RANGE = re.compile(r"^\d{1,2}~(\d{1,2})?$")


def birth_year_from(year: str | None) -> int | None:
    if year is None or not year.isdigit() or not 1900 <= int(year) <= 2100:
        return None
    return int(year)


def clean_age_range(value: str | None) -> str | None:
    return value if value is not None and _AGE_RANGE.match(value) else None
