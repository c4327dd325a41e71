"""Dates as parents type them: 2024年4月1日, 2024/4/1, 2024-04-01, R6.4.1, 令和6年4月1日, H31.4.1,
4/1 (the nearest such day), 1 April 2024, full-width digits.

Japanese eras (元号) are counted from their first year: 令和 began on 2019-05-01 (year 1 = 2019),
平成 on 1989-01-08 (year 1 = 1989), 昭和 on 1926-12-25 (year 1 = 1926). A date written in an era
just past its end (H31.5.1) is still read as the calendar day it names, as offices do.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

# Era name or initial -> the calendar year of its year 1.
_ERAS = {
    "令和": 2019,
    "r": 2019,
    "平成": 1989,
    "h": 1989,
    "昭和": 1926,
    "s": 1926,
}
_ERA_MAX_YEAR = {2019: 99, 1989: 31, 1926: 64}
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
_SEP = r"\s*[/\-.]\s*"

_ERA_DATE = re.compile(
    r"(令和|平成|昭和|(?<![a-z])[rhs])\s*(\d{1,2}|元)\s*(?:年|" + _SEP + r")\s*(\d{1,2})\s*"
    r"(?:月|" + _SEP + r")\s*(\d{1,2})"
)
_YEAR_FIRST = re.compile(
    r"(?<!\d)(\d{4})\s*(?:年|" + _SEP + r")\s*(\d{1,2})\s*(?:月|" + _SEP + r")\s*(\d{1,2})(?!\d)"
)
_COMPACT = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")
_YEAR_LAST = re.compile(r"(?<!\d)(\d{1,2})" + _SEP + r"(\d{1,2})" + _SEP + r"(\d{4})(?!\d)")
_NAMED_DAY_FIRST = re.compile(
    r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?\s+(" + _MONTH_NAMES + r")\.?,?\s+(\d{4})(?!\d)"
)
_NAMED_MONTH_FIRST = re.compile(
    r"\b(" + _MONTH_NAMES + r")\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)"
)
_MONTH_DAY = re.compile(r"(?<![\d/\-.])(\d{1,2})\s*(?:月|/|-)\s*(\d{1,2})\s*日?(?![\d/\-.])")


def _normalize(text: str) -> str:
    """Full-width digits and letters as ASCII, lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def _day(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _nearest(month: int, day: int, today: date, prefer: str) -> date | None:
    """The day with this month and day nearest to today (last year, this year or next); with
    `prefer` "past" or "future" the nearest on that side of today."""
    options = [d for d in (_day(today.year + k, month, day) for k in (-1, 0, 1)) if d]
    if prefer == "past":
        options = [d for d in options if d <= today]
    elif prefer == "future":
        options = [d for d in options if d >= today]
    if not options:
        return None
    return min(options, key=lambda d: (abs((d - today).days), d > today))


def parse_typed_date(text: str, today: date, *, prefer: str = "nearest") -> date | None:
    """The calendar date in what a parent typed, or None when there is none (or it is not a
    real day, such as 2025/2/30). A date without a year is the nearest such day to today
    (`prefer` "past" or "future": the nearest on that side)."""
    normalized = _normalize(text)
    match = _ERA_DATE.search(normalized)
    if match:
        era, year_text, month, day = match.groups()
        start = _ERAS[era]
        era_year = 1 if year_text == "元" else int(year_text)
        if not 1 <= era_year <= _ERA_MAX_YEAR[start]:
            return None
        return _day(start + era_year - 1, int(month), int(day))
    for pattern in (_YEAR_FIRST, _COMPACT):
        match = pattern.search(normalized)
        if match:
            year, month, day = (int(g) for g in match.groups())
            return _day(year, month, day)
    match = _NAMED_DAY_FIRST.search(normalized)
    if match:
        return _day(int(match.group(3)), _MONTHS[match.group(2)], int(match.group(1)))
    match = _NAMED_MONTH_FIRST.search(normalized)
    if match:
        return _day(int(match.group(3)), _MONTHS[match.group(1)], int(match.group(2)))
    match = _YEAR_LAST.search(normalized)
    if match:
        first, second, year = (int(g) for g in match.groups())
        # 13/4/2024 is day-first, 4/13/2024 month-first; 4/1/2024 could be either: not guessed.
        if first > 12 >= second:
            return _day(year, second, first)
        if second > 12 >= first or first == second:
            return _day(year, first, second)
        return None
    match = _MONTH_DAY.search(normalized)
    if match:
        return _nearest(int(match.group(1)), int(match.group(2)), today, prefer)
    return None
