"""Identifiers and dates as a Korean or Japanese shopper gives them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from personalization.segments import age_on
from shoa_api.accounts.errors import AccountError, InvalidSignupError

if TYPE_CHECKING:
    import datetime

MINIMUM_AGE = 14
"""Korea's Personal Information Protection Act needs a guardian's consent below 14; we do not collect it."""

_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")
# Korean mobiles: 010 (and the legacy 011/016-019) → +82 1X; Japanese mobiles: 070/080/090 → +81 X0.
_MOBILE = re.compile(r"^(?:\+8210\d{8}|\+821[16789]\d{7,8}|\+81[789]0\d{8})$")


def normalize_email(email: str, *, error: type[AccountError] = InvalidSignupError) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        msg = "an email looks like name@example.com"
        raise error(msg, field="email")
    return email


def normalize_phone(phone: str, *, error: type[AccountError] = InvalidSignupError) -> str:
    compact = re.sub(r"[\s-]", "", phone)
    if not _MOBILE.match(compact):
        msg = "a phone number is a Korean or Japanese mobile in E.164, such as +821012345678 or +819012345678"
        raise error(msg, field="phone")
    return compact


def check_birth_date(
    birth_date: datetime.date, *, today: datetime.date, error: type[AccountError] = InvalidSignupError
) -> None:
    if birth_date > today or birth_date.year < 1900:
        msg = "the birth date must be a real date in the past"
        raise error(msg, field="birth_date")
    if age_on(birth_date, today) < MINIMUM_AGE:
        msg = f"Shoa accounts are for shoppers aged {MINIMUM_AGE} or over"
        raise error(msg, field="birth_date")


def looks_like_phone(login: str) -> bool:
    return login.strip().startswith("+")
