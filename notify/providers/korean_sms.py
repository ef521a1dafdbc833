"""What the Korean SMS/AlimTalk gateways (NHN Cloud, Solapi) share: numbers as they dial them, EUC-KR sizes.

Both gateways take a domestic number as digits with its trunk ``0`` (``01012345678``) and a foreign one as a
country code beside national digits; both send SMS/LMS text in EUC-KR, where an SMS holds 90 bytes and an LMS
subject 40. ``Rendered.address`` is E.164 (``+821012345678``), so each adapter translates it here.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

from notify.providers.limits import cut_text

KOREA = 82
SMS_BYTES = 90
"""An SMS body, in EUC-KR bytes; past it the message is an LMS."""
LMS_SUBJECT_BYTES = 40
"""An LMS subject, in EUC-KR bytes (20 Hangul syllables)."""


@dataclass(frozen=True)
class DialedNumber:
    country_code: int
    national: str
    """Digits as dialled inside the country: with the Korean trunk ``0`` for Korea (``01012345678``)."""

    @property
    def is_korean(self) -> bool:
        return self.country_code == KOREA

    @property
    def international(self) -> str:
        """Country code and national significant number, digits only (``819012345678``)."""
        return f"{self.country_code}{self.national.removeprefix('0') if self.is_korean else self.national}"


def dial(address: str) -> DialedNumber:
    """An E.164 address as the gateways want it; a malformed address is a programming error (routing checked it)."""
    try:
        number = phonenumbers.parse(address, None)
    except phonenumbers.NumberParseException as error:
        raise ValueError(f"not an E.164 phone number: {address!r}") from error
    if number.country_code is None or number.national_number is None:
        raise ValueError(f"not an E.164 phone number: {address!r}")
    leading_zeros = "0" * (number.number_of_leading_zeros or 0) if number.italian_leading_zero else ""
    significant = f"{leading_zeros}{number.national_number}"
    national = f"0{significant}" if number.country_code == KOREA else significant
    return DialedNumber(country_code=number.country_code, national=national)


def euc_kr_size(text: str) -> int:
    """Bytes the text takes in EUC-KR; a character EUC-KR cannot encode counts as two (the gateway refuses it)."""
    size = 0
    for char in text:
        try:
            size += len(char.encode("euc-kr"))
        except UnicodeEncodeError:
            size += 2
    return size


def sms_kind(text: str, declared: str | None) -> str:
    """``SMS`` or ``LMS``: the kind the renderer chose, else the one the text's EUC-KR size needs."""
    if declared is not None:
        kind = declared.upper()
        if kind not in {"SMS", "LMS"}:
            raise ValueError(f"unknown SMS kind {declared!r}: SMS or LMS")
        return kind
    return "SMS" if euc_kr_size(text) <= SMS_BYTES else "LMS"


def lms_subject(title: str | None, text: str) -> str:
    """An LMS needs a subject: the rendered title, else the text's first line, cut to 40 EUC-KR bytes."""
    candidate = title or next((line.strip() for line in text.splitlines() if line.strip()), "")
    return cut_text(candidate, LMS_SUBJECT_BYTES, size=euc_kr_size)
