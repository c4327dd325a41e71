"""Ages, fiscal years and class ages, counted the way Japanese law counts them.

Age rises at the START of the birthday: 年齢計算ニ関スル法律 counts age from the day of birth, and
民法143条 ends a period counted in months or years at the end of the day before the day that
corresponds to the starting day; where the final month has no such day (born on the 29th-31st, or
on February 29), the period ends on the last day of that month, so the new age starts on the 1st
of the following month. Results are therefore never clamped back to the 28th/30th.
"""

from __future__ import annotations

import calendar
from datetime import date

GRADE_FIRST_CLASS_AGE = 6
"""School grade 1 (小学1年) is class age 6 (学校教育法17条: from the April after turning six)."""
GRADE_LAST = 12
"""Grade 12 is the third year of high school (class age 17)."""


def _anniversary(birth: date, months: int) -> date:
    """The day on which `months` full months since `birth` are complete (民法143条2項)."""
    y, m0 = divmod(birth.month - 1 + months, 12)
    year, month = birth.year + y, m0 + 1
    if birth.day <= calendar.monthrange(year, month)[1]:
        return date(year, month, birth.day)
    # No corresponding day in that month: the period ends on its last day, so the new month of
    # age begins on the 1st of the next month (民法143条2項ただし書).
    return date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)


def _check_born(birth: date, on: date) -> None:
    if on < birth:
        raise ValueError(f"not born yet on {on.isoformat()} (birth date {birth.isoformat()})")


def age_months(birth: date, on: date) -> int:
    """Full months of age at the start of day `on`; raises ValueError before birth."""
    _check_born(birth, on)
    n = (on.year - birth.year) * 12 + (on.month - birth.month)
    return n if on >= _anniversary(birth, n) else n - 1


def age_years(birth: date, on: date) -> int:
    """Full years of age at the start of day `on`; raises ValueError before birth."""
    _check_born(birth, on)
    n = on.year - birth.year
    return n if on >= _anniversary(birth, 12 * n) else n - 1


def fiscal_year(d: date) -> int:
    """The fiscal year (年度, April 1 to March 31) that contains `d`."""
    return d.year if d.month >= 4 else d.year - 1


def class_age(birth: date, fy: int) -> int:
    """Class age (クラス年齢) in fiscal year `fy`: the age reached by April 1 of that year.

    A child born on April 1 turns a year older at the start of April 1 (年齢計算ニ関スル法律), i.e.
    within the previous school year, so it belongs to the earlier grade (学校教育法17条).
    """
    return fy - birth.year - (1 if (birth.month, birth.day) > (4, 1) else 0)


def grade(class_age: int) -> int | None:
    """School grade 1-12 (小1 … 高3) for a class age, or None outside school years (6-17)."""
    g = class_age - GRADE_FIRST_CLASS_AGE + 1
    return g if 1 <= g <= GRADE_LAST else None
