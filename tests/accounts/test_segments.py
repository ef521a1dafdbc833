"""Age bands follow Korea's calendar and 만 나이; the segment needs both gender and birth date."""

from __future__ import annotations

import datetime

import pytest

from accounts.segments import ANONYMOUS, AgeBand, age_band, age_on, korea_today, segment_for

TODAY = datetime.date(2026, 11, 29)


@pytest.mark.parametrize(
    ("birth_date", "band"),
    [
        (datetime.date(2010, 1, 1), AgeBand.TEENS),
        (datetime.date(2006, 11, 30), AgeBand.TEENS),  # 19 until tomorrow
        (datetime.date(2006, 11, 29), AgeBand.EARLY_20S),  # 20 today
        (datetime.date(2003, 1, 1), AgeBand.EARLY_20S),  # 23
        (datetime.date(2002, 11, 29), AgeBand.MID_20S),  # 24
        (datetime.date(2000, 1, 1), AgeBand.MID_20S),  # 26
        (datetime.date(1999, 6, 1), AgeBand.LATE_20S),  # 27
        (datetime.date(1997, 1, 1), AgeBand.LATE_20S),  # 29
        (datetime.date(1996, 1, 1), AgeBand.EARLY_30S),  # 30
        (datetime.date(1992, 1, 1), AgeBand.MID_30S),  # 34
        (datetime.date(1989, 1, 1), AgeBand.LATE_30S),  # 37
        (datetime.date(1986, 11, 30), AgeBand.LATE_30S),  # 39 until tomorrow
        (datetime.date(1986, 11, 29), AgeBand.FORTIES_PLUS),
        (datetime.date(1950, 5, 5), AgeBand.FORTIES_PLUS),
    ],
)
def test_age_bands(birth_date: datetime.date, band: AgeBand) -> None:
    assert age_band(birth_date, TODAY) == band


def test_a_leap_day_birthday_turns_over_on_the_first_of_march() -> None:
    born = datetime.date(2004, 2, 29)

    assert age_on(born, datetime.date(2025, 2, 28)) == 20
    assert age_on(born, datetime.date(2025, 3, 1)) == 21


def test_today_is_korea_s_date_not_utc_s() -> None:
    # 16:00 UTC on 28 November is already 01:00 on 29 November in Seoul.
    late_evening_utc = datetime.datetime(2026, 11, 28, 16, 0, tzinfo=datetime.UTC)

    assert korea_today(late_evening_utc) == datetime.date(2026, 11, 29)


def test_segment_is_gender_and_band() -> None:
    assert segment_for("female", datetime.date(1998, 3, 3), today=TODAY) == "female:20s_late"
    assert segment_for("male", datetime.date(2008, 3, 3), today=TODAY) == "male:10s"


@pytest.mark.parametrize(
    ("gender", "birth_date"),
    [(None, datetime.date(1998, 3, 3)), ("female", None), ("other", datetime.date(1998, 3, 3))],
)
def test_without_gender_or_birth_date_the_segment_is_the_default(
    gender: str | None, birth_date: datetime.date | None
) -> None:
    assert segment_for(gender, birth_date, today=TODAY) == ANONYMOUS


def test_band_labels_are_korean() -> None:
    assert AgeBand.LATE_20S.label == "20대 후반"
    assert AgeBand.FORTIES_PLUS.label == "40대 이상"


def test_a_birth_year_alone_places_the_shopper_by_the_age_reached_at_mid_year() -> None:
    assert segment_for("female", None, today=TODAY, birth_year=1998) == "female:20s_late"
    assert segment_for("male", None, today=TODAY, birth_year=2006) == "male:20s_early"


@pytest.mark.parametrize(
    ("age_range", "segment"),
    [("15~19", "female:10s"), ("40~49", "female:40s_plus"), ("60~69", "female:40s_plus"), ("20~29", ANONYMOUS)],
)
def test_a_decade_range_settles_only_the_bands_it_does_not_straddle(age_range: str, segment: str) -> None:
    assert segment_for("female", None, today=TODAY, age_range=age_range) == segment


def test_a_birth_date_wins_over_year_and_range() -> None:
    born = datetime.date(1993, 12, 31)

    assert segment_for("female", born, today=TODAY, birth_year=1999, age_range="40~49") == "female:30s_early"
