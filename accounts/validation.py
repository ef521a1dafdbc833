"""Identifiers and dates as a Korean or Japanese shopper gives them."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from accounts.errors import AccountError, InvalidSignupError
from accounts.segments import age_on

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

MOBILE_COUNTRIES = ("KR", "JP")
"""Where Shoa sells, so the mobiles it keeps: order messages go by AlimTalk or SMS to a number of these."""
PHONE_PUNCTUATION = frozenset(" -.()/\u3000\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc")
"""What shoppers write between digits: spaces, brackets, dots, slashes and dashes, with the minus sign and the
katakana prolonged sound mark (``ー``) that Japanese keyboards often type for a hyphen."""


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


def normalize_phone(phone: str, *, locale: str = "ko", error: type[AccountError] = InvalidSignupError) -> str:
    """The mobile number ``phone`` is, in E.164 (``+821012345678``), however it is written: ``010-1234-5678``,
    ``01012345678``, ``+82 10 1234 5678``, in full-width digits.

    Without a country code it is read as Korean, or as Japanese when the shopper's ``locale`` is ``ja``. When that
    reading is no number at all, the other country's is taken (``090-1234-5678`` from a Korean-locale shopper is
    a Japanese mobile): written without a country code, a Korean mobile (``01X``) is never a Japanese one
    (``070``/``080``/``090``) nor the other way round. A reading that is a number but not a mobile is refused,
    never read again: ``070-1234-5678`` from a Korean-locale shopper is a Korean internet phone.
    """
    text = _phone_text(phone, error)
    here, other = ("JP", "KR") if locale == "ja" else ("KR", "JP")
    number = _parse_phone(text, here)
    if number is None or not phonenumbers.is_valid_number(number):
        elsewhere = _parse_phone(text, other)
        if elsewhere is not None and phonenumbers.is_valid_number(elsewhere):
            number = elsewhere
    if number is None or not phonenumbers.is_valid_number(number):
        msg = "this is not a valid phone number; write your mobile number, such as 010-1234-5678 or +81 90-1234-5678"
        raise error(msg, field="phone")
    if phonenumbers.region_code_for_number(number) not in MOBILE_COUNTRIES:
        msg = "Shoa sends order messages to Korean (+82) and Japanese (+81) mobile numbers only"
        raise error(msg, field="phone")
    if not _is_mobile(number):
        kind = _NOT_MOBILE.get(phonenumbers.number_type(number), "not a mobile number")
        msg = f"this is {kind}: order messages go by AlimTalk or SMS, which need a mobile number"
        if (elsewhere := _parse_phone(text, other)) is not None and _is_mobile(elsewhere):
            msg += f"; for a {_NATIONALITY[other]} mobile, write it with +{elsewhere.country_code}"
        raise error(msg, field="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_for_login(login: str) -> str | None:
    """The stored (E.164) form of a phone number typed at login, or None when it names no number.

    A login carries no locale: the number is the first of its Korean and Japanese readings that is a mobile (the
    two never share one, see :func:`normalize_phone`), so it is the number signup stored whatever the shopper's
    locale. A number written with its country code that is no mobile today is still looked up as written, so
    that one stored under older rules keeps logging in.
    """
    try:
        text = _phone_text(login, InvalidSignupError)
    except InvalidSignupError:
        return None
    readings = [number for region in MOBILE_COUNTRIES if (number := _parse_phone(text, region)) is not None]
    chosen = next((number for number in readings if _is_mobile(number)), None)
    if chosen is None and text.lstrip().startswith("+") and readings:
        chosen = readings[0]
    return phonenumbers.format_number(chosen, phonenumbers.PhoneNumberFormat.E164) if chosen else None


def national_digits(e164: str) -> str:
    """``1012345678`` for ``+821012345678``: the digits a shopper's own writings of the number all contain."""
    return str(phonenumbers.parse(e164).national_number)


_NATIONALITY = {"KR": "Korean", "JP": "Japanese"}
_NOT_MOBILE = {
    PhoneNumberType.FIXED_LINE: "a landline number",
    PhoneNumberType.VOIP: "an internet phone number (such as 070 in Korea or 050 in Japan)",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.UAN: "a company's representative number (such as 1588)",
    PhoneNumberType.PAGER: "a pager number",
    PhoneNumberType.PERSONAL_NUMBER: "a personal forwarding number",
}


def _phone_text(phone: str, error: type[AccountError]) -> str:
    """``phone`` in NFKC (full-width digits become ASCII), holding only ASCII digits, the plus of a country code
    and the punctuation people write between digits. Other scripts' digits are refused, as for emails: a number must
    read the same to the shopper and to the message provider."""
    text = unicodedata.normalize("NFKC", phone).strip()
    if not any("0" <= char <= "9" for char in text) or any(
        not ("0" <= char <= "9" or char == "+" or char in PHONE_PUNCTUATION) for char in text
    ):
        msg = "write a phone number with the digits 0-9 (spaces, hyphens and a leading + are fine)"
        raise error(msg, field="phone")
    return text


def _parse_phone(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None


def _is_mobile(number: phonenumbers.PhoneNumber) -> bool:
    return (
        phonenumbers.region_code_for_number(number) in MOBILE_COUNTRIES
        and phonenumbers.number_type(number) == PhoneNumberType.MOBILE
    )


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
