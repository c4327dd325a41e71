"""The one deadline rule shared by the bot and the sweep."""

from datetime import date

from rules.deadlines import application_deadline


def test_fixed_deadline_wins() -> None:
    assert application_deadline(date(2027, 3, 31), None, date(2026, 6, 1)) == date(2027, 3, 31)


def test_days_after_birth_count_from_the_day_after() -> None:
    # 児童手当's 15日特例: born June 1, due June 16.
    assert application_deadline(None, 15, date(2026, 6, 1)) == date(2026, 6, 16)


def test_no_deadline_without_a_birth_or_a_rule() -> None:
    assert application_deadline(None, 15, None) is None
    assert application_deadline(None, None, date(2026, 6, 1)) is None
