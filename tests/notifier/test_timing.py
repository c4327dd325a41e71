"""The time rules of planning: quiet hours, the daily digest, one push a day, urgency."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from notifier.timing import parse_digest_at, parse_quiet_hours, release_at

TOKYO = ZoneInfo("Asia/Tokyo")
QUIET = parse_quiet_hours("20:00-08:00")
DIGEST = time(9, 0)


def at(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=TOKYO)


def test_quiet_hours_hold_everything_until_they_end_even_urgent_notices() -> None:
    assert release_at(at(22), QUIET, DIGEST, urgent=True, pushed_today=False) == at(8, day=11)
    assert release_at(at(7), QUIET, None, urgent=False, pushed_today=True) == at(8)


def test_before_the_digest_the_notices_wait_for_it_unless_urgent() -> None:
    assert release_at(at(8, 30), QUIET, DIGEST, urgent=False, pushed_today=False) == at(9)
    assert release_at(at(8, 30), QUIET, DIGEST, urgent=True, pushed_today=False) is None
    assert release_at(at(9, 30), QUIET, DIGEST, urgent=False, pushed_today=False) is None
    assert release_at(at(8, 30), QUIET, None, urgent=False, pushed_today=False) is None


def test_a_family_pushed_today_waits_for_tomorrows_digest_or_its_allowed_start() -> None:
    assert release_at(at(12), QUIET, DIGEST, urgent=False, pushed_today=True) == at(9, day=11)
    # Without a digest: tomorrow's midnight falls in quiet hours, so their end.
    assert release_at(at(12), QUIET, None, urgent=False, pushed_today=True) == at(8, day=11)
    assert release_at(at(12), None, None, urgent=False, pushed_today=True) == at(0, day=11)


def test_settings_parse_or_say_what_they_expect() -> None:
    assert parse_quiet_hours("off") is None and parse_quiet_hours("08:00-08:00") is None
    assert parse_digest_at("off") is None and parse_digest_at("09:30") == time(9, 30)
    with pytest.raises(ValueError, match="20:00-08:00"):
        parse_quiet_hours("8pm")
    with pytest.raises(ValueError, match="09:00"):
        parse_digest_at("nine")
