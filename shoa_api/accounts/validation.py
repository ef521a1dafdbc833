"""Identifiers and dates as a Korean or Japanese shopper gives them."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from personalization.segments import age_on
from shoa_api.accounts.errors import AccountError, InvalidSignupError

if TYPE_CHECKING:
    import datetime

MINIMUM_AGE = 14
"""Korea's Personal Information Protection Act needs a guardian's consent below 14; we do not collect it."""

MAX_EMAIL_LENGTH = 254
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
"""Embeddings, overrides, isolates and marks that change the direction text is shown in: U+202E turns
``gnp.exe`` around on screen. No email or name needs them, and they make one string look like another."""
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff")
"""Zero-width characters, which alone (or with spaces) make a name that shows as nothing."""

_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")
# Korean mobiles: 010 (and the legacy 011/016-019) → +82 1X; Japanese mobiles: 070/080/090 → +81 X0.
_MOBILE = re.compile(r"^(?:\+8210\d{8}|\+821[16789]\d{7,8}|\+81[789]0\d{8})$", re.ASCII)


def normalize_email(email: str, *, error: type[AccountError] = InvalidSignupError) -> str:
    """The one form an email is stored and looked up in: NFKC (the full-width letters and at sign a Korean or
    Japanese keyboard may type become ASCII), trimmed and lower-cased."""
    email = normalize_login(email).lower()
    if not BIDI_CONTROLS.isdisjoint(email):
        msg = "an email must not contain characters that change the text's direction (such as U+202E)"
        raise error(msg, field="email")
    if (
        len(email) > MAX_EMAIL_LENGTH  # NFKC may lengthen it (``㎏`` is ``kg``)
        or not _EMAIL.match(email)
        or any(unicodedata.category(char) in {"Cc", "Cf"} for char in email)
    ):
        msg = "an email looks like name@example.com"
        raise error(msg, field="email")
    return email


def normalize_login(login: str) -> str:
    """An email or phone as typed, in NFKC: full-width letters, digits, at and plus signs become ASCII."""
    return unicodedata.normalize("NFKC", login).strip()


def normalize_phone(phone: str, *, error: type[AccountError] = InvalidSignupError) -> str:
    compact = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", phone))
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


def check_display_name(name: str, *, error: type[AccountError] = InvalidSignupError) -> None:
    if not BIDI_CONTROLS.isdisjoint(name):
        msg = "a display name must not contain characters that change the text's direction (such as U+202E)"
        raise error(msg, field="display_name")
    if is_blank(name):
        msg = "a display name needs at least one visible character"
        raise error(msg, field="display_name")


def is_blank(text: str) -> bool:
    """Nothing but spaces and zero-width characters: it would show as nothing."""
    return all(char.isspace() or char in INVISIBLE for char in text)


def looks_like_phone(login: str) -> bool:
    return normalize_login(login).startswith("+")
