"""Segments: who a feed is for. Computed here and only here, so feeds, signals, profiles and reports agree.

A segment is ``anonymous`` (the career-women default) or gender x age band, from the birth date as it is in
Korea today (Korea keeps UTC+9 all year) and the international age (만 나이) Korea uses since 2023.

It is a fact about the shopper's account (the profile shows it, and signup checks the age with the same
arithmetic), so it lives with accounts; personalization reads it from here (``accounts.service.shopper_segment``).
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass

KOREA = datetime.timezone(datetime.timedelta(hours=9), "KST")


class AgeBand(enum.StrEnum):
    TEENS = "10s"
    EARLY_20S = "20s_early"
    MID_20S = "20s_mid"
    LATE_20S = "20s_late"
    EARLY_30S = "30s_early"
    MID_30S = "30s_mid"
    LATE_30S = "30s_late"
    FORTIES_PLUS = "40s_plus"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    AgeBand.TEENS: "10대",
    AgeBand.EARLY_20S: "20대 초반",
    AgeBand.MID_20S: "20대 중반",
    AgeBand.LATE_20S: "20대 후반",
    AgeBand.EARLY_30S: "30대 초반",
    AgeBand.MID_30S: "30대 중반",
    AgeBand.LATE_30S: "30대 후반",
    AgeBand.FORTIES_PLUS: "40대 이상",
}

# (youngest age in the band, band), oldest band first; 20-23 early, 24-26 mid, 27-29 late, likewise for the 30s.
_BANDS = (
    (40, AgeBand.FORTIES_PLUS),
    (37, AgeBand.LATE_30S),
    (34, AgeBand.MID_30S),
    (30, AgeBand.EARLY_30S),
    (27, AgeBand.LATE_20S),
    (24, AgeBand.MID_20S),
    (20, AgeBand.EARLY_20S),
)

ANONYMOUS = "anonymous"
SEGMENT_GENDERS = ("female", "male")


def korea_today(now: datetime.datetime | None = None) -> datetime.date:
    return (now or datetime.datetime.now(datetime.UTC)).astimezone(KOREA).date()


def age_on(birth_date: datetime.date, today: datetime.date) -> int:
    """International age: full years since birth (a 29 February birthday turns over on 1 March)."""
    had_birthday = (today.month, today.day) >= (birth_date.month, birth_date.day)
    return today.year - birth_date.year - (0 if had_birthday else 1)


def age_band(birth_date: datetime.date, today: datetime.date) -> AgeBand:
    age = age_on(birth_date, today)
    for youngest, band in _BANDS:
        if age >= youngest:
            return band
    return AgeBand.TEENS


def band_for(
    birth_date: datetime.date | None,
    *,
    today: datetime.date,
    birth_year: int | None = None,
    age_range: str | None = None,
) -> AgeBand | None:
    """The age band from the best thing known: the birth date, else the birth year, else a decade range.

    With only a birth year the age is taken as the one reached at mid-year (off by one for some shoppers near
    a band's edge). A range such as Kakao's ``20~29`` settles only the bands it does not straddle.
    """
    if birth_date is not None:
        return age_band(birth_date, today)
    if birth_year is not None:
        midyear_birthday = datetime.date(birth_year, 7, 1)
        return age_band(midyear_birthday, today)
    if age_range is not None:
        return _RANGE_BANDS.get(age_range)
    return None


_RANGE_BANDS = {"15~19": AgeBand.TEENS, "10~14": AgeBand.TEENS, "90~": AgeBand.FORTIES_PLUS} | {
    f"{decade}~{decade + 9}": AgeBand.FORTIES_PLUS for decade in range(40, 90, 10)
}


def segment_for(
    gender: str | None,
    birth_date: datetime.date | None,
    *,
    today: datetime.date,
    birth_year: int | None = None,
    age_range: str | None = None,
) -> str:
    """``female:20s_late`` and the like, or ``anonymous`` when gender or age band is unknown."""
    return audience_for(gender, birth_date, today=today, birth_year=birth_year, age_range=age_range).segment


@dataclass(frozen=True, kw_only=True)
class Audience:
    """Who a shopper is to the feed and to insights: the segment, and its parts as far as they are known (a
    shopper with a gender but no age is in the ``anonymous`` segment, yet still counts under that gender)."""

    segment: str
    gender: str | None = None
    age_band: AgeBand | None = None


ANONYMOUS_AUDIENCE = Audience(segment=ANONYMOUS)


def audience_for(
    gender: str | None,
    birth_date: datetime.date | None,
    *,
    today: datetime.date,
    birth_year: int | None = None,
    age_range: str | None = None,
) -> Audience:
    """The shopper's segment, with the gender and age band as far as they are known."""
    band = band_for(birth_date, today=today, birth_year=birth_year, age_range=age_range)
    known_gender = gender if gender in SEGMENT_GENDERS else None
    segment = ANONYMOUS if known_gender is None or band is None else f"{known_gender}:{band.value}"
    return Audience(segment=segment, gender=known_gender, age_band=band)
