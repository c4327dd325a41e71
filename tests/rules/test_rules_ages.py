from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rules import age_months, age_years, class_age, fiscal_year, grade

births = st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31))
spans = st.integers(min_value=0, max_value=40 * 366)


# -- the examples in DOMAIN.md ------------------------------------------------------------


def test_born_jan_31_is_one_month_old_on_march_1_not_feb_29() -> None:
    born = date(2024, 1, 31)
    assert age_months(born, date(2024, 2, 29)) == 0
    assert age_months(born, date(2024, 3, 1)) == 1
    # never clamped back: the second month completes on March 31, not on March 30
    assert age_months(born, date(2024, 3, 30)) == 1
    assert age_months(born, date(2024, 3, 31)) == 2


def test_born_feb_29_turns_one_on_march_1_in_a_common_year() -> None:
    born = date(2020, 2, 29)
    assert age_years(born, date(2021, 2, 28)) == 0
    assert age_years(born, date(2021, 3, 1)) == 1
    assert age_years(born, date(2024, 2, 28)) == 3
    assert age_years(born, date(2024, 2, 29)) == 4  # leap year: the birthday itself


def test_age_rises_at_the_start_of_the_birthday() -> None:
    born = date(2023, 6, 15)
    assert age_years(born, date(2026, 6, 14)) == 2
    assert age_years(born, date(2026, 6, 15)) == 3
    assert age_months(born, date(2023, 6, 15)) == 0  # day of birth
    assert age_months(born, date(2023, 7, 15)) == 1


def test_before_birth_is_an_error_not_zero() -> None:
    with pytest.raises(ValueError, match="not born yet"):
        age_years(date(2026, 5, 2), date(2026, 5, 1))
    with pytest.raises(ValueError, match="not born yet"):
        age_months(date(2026, 5, 2), date(2026, 5, 1))


def test_fiscal_year_turns_on_april_1() -> None:
    assert fiscal_year(date(2026, 3, 31)) == 2025
    assert fiscal_year(date(2026, 4, 1)) == 2026
    assert fiscal_year(date(2026, 12, 31)) == 2026


def test_april_1_birth_belongs_to_the_earlier_grade() -> None:
    assert class_age(date(2020, 4, 1), 2026) == 6  # 小学1年 in FY2026
    assert class_age(date(2020, 4, 2), 2026) == 5  # still in daycare's 5-year-old class
    assert class_age(date(2019, 4, 2), 2026) == 6  # same grade as the April 1 child
    assert class_age(date(2021, 3, 31), 2026) == 5
    assert grade(class_age(date(2020, 4, 1), 2026)) == 1
    assert grade(class_age(date(2020, 4, 2), 2026)) is None


def test_grade_bounds() -> None:
    assert [grade(a) for a in (5, 6, 11, 12, 14, 15, 17, 18)] == [None, 1, 6, 7, 9, 10, 12, None]


def test_until_the_fiscal_year_end_after_turning_18() -> None:
    # 18歳到達後最初の年度末: born 2008-04-02 turns 18 on 2026-04-02, so is covered through
    # March 2027 (FY2026, class age 17) and not in FY2027 (class age 18). Class age is the age
    # on April 1, so the rule is class_age <= 17 (high school year 3 = class age 17); DOMAIN.md's
    # "class_age <= 18" is one year too many.
    born = date(2008, 4, 2)
    assert class_age(born, 2026) == 17
    assert class_age(born, 2027) == 18
    assert class_age(born, 2028) == 19


# -- properties ---------------------------------------------------------------------------


@given(births, spans)
def test_age_months_is_monotone_and_steps_by_at_most_one(born: date, days: int) -> None:
    on = born + timedelta(days=days)
    step = age_months(born, on + timedelta(days=1)) - age_months(born, on)
    assert step in (0, 1)


@given(births, spans)
def test_age_years_is_full_months_divided_by_12(born: date, days: int) -> None:
    # Holds because the n-year anniversary is the 12n-month anniversary (same 民法143条 rule).
    on = born + timedelta(days=days)
    assert age_years(born, on) == age_months(born, on) // 12


@given(births, st.integers(min_value=1, max_value=80))
def test_n_years_old_exactly_from_the_birthday(born: date, n: int) -> None:
    year = born.year + n
    try:
        birthday = born.replace(year=year)
    except ValueError:  # Feb 29 in a common year: the age comes on March 1
        birthday = date(year, 3, 1)
    assert age_years(born, birthday) == n
    assert age_years(born, birthday - timedelta(days=1)) == n - 1


@given(births, st.integers(min_value=1, max_value=240))
def test_n_months_old_exactly_from_the_corresponding_day(born: date, n: int) -> None:
    y, m0 = divmod(born.month - 1 + n, 12)
    try:
        day = date(born.year + y, m0 + 1, born.day)
    except ValueError:  # no such day (29th-31st): the 1st of the following month
        day = date(born.year + y + (m0 == 11), 1 if m0 == 11 else m0 + 2, 1)
    assert age_months(born, day) == n
    assert age_months(born, day - timedelta(days=1)) == n - 1


@given(births, st.integers(min_value=1990, max_value=2060))
def test_class_age_is_the_age_at_the_start_of_april_1(born: date, fy: int) -> None:
    april_1 = date(fy, 4, 1)
    assume(born <= april_1)
    assert class_age(born, fy) == age_years(born, april_1)


@given(st.integers(min_value=1990, max_value=2040), st.integers(min_value=0, max_value=364))
def test_one_school_year_is_april_2_to_april_1(year: int, offset: int) -> None:
    born = date(year, 4, 2) + timedelta(days=offset)
    assume(born <= date(year + 1, 4, 1))
    assert class_age(born, 2045) == class_age(date(year, 4, 2), 2045)
    assert class_age(date(year, 4, 1), 2045) == class_age(born, 2045) + 1
