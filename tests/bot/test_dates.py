"""Dates as parents type them (no network)."""

from __future__ import annotations

from datetime import date

import pytest

from bot.dates import parse_typed_date

TODAY = date(2026, 11, 26)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2024年4月1日", date(2024, 4, 1)),
        ("2024/4/1", date(2024, 4, 1)),
        ("2024-04-01", date(2024, 4, 1)),
        ("2024.4.1", date(2024, 4, 1)),
        ("20240401", date(2024, 4, 1)),
        ("R6.4.1", date(2024, 4, 1)),
        ("r6/4/1", date(2024, 4, 1)),
        ("令和6年4月1日", date(2024, 4, 1)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("H31.4.1", date(2019, 4, 1)),
        ("平成30年12月31日", date(2018, 12, 31)),
        ("２０２４年４月１日", date(2024, 4, 1)),  # full-width digits
        ("Ｒ６．４．１", date(2024, 4, 1)),
        ("2024年4月1日生まれです", date(2024, 4, 1)),
        ("1 April 2024", date(2024, 4, 1)),
        ("April 1, 2024", date(2024, 4, 1)),
        ("13/4/2024", date(2024, 4, 13)),
        ("4/13/2024", date(2024, 4, 13)),
        # Without a year: the nearest such day (test day 2026-11-26).
        ("11/20", date(2026, 11, 20)),
        ("12月5日", date(2026, 12, 5)),
        ("4/1", date(2027, 4, 1)),
        ("1/10", date(2027, 1, 10)),
    ],
)
def test_typed_dates_are_understood(typed: str, expected: date) -> None:
    assert parse_typed_date(typed, TODAY) == expected


def test_a_year_less_date_can_prefer_a_side() -> None:
    assert parse_typed_date("4/1", TODAY, prefer="past") == date(2026, 4, 1)
    assert parse_typed_date("11/20", TODAY, prefer="future") == date(2027, 11, 20)


@pytest.mark.parametrize(
    "typed",
    [
        "こんにちは",
        "渋谷区",
        "2025/2/30",  # no such day
        "4/1/2024",  # day-first or month-first: not guessed
        "H35.1.1",  # 平成 ended in its 31st year
        "令和0年1月1日",
        "13/13",
        "",
    ],
)
def test_non_dates_are_not_guessed(typed: str) -> None:
    assert parse_typed_date(typed, TODAY) is None
