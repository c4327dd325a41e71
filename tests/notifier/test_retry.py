"""The one retry back-off of the worker and the send loop."""

from __future__ import annotations

from notifier.retry import backoff, retry_delay


def test_a_wait_asked_for_wins_over_the_back_off() -> None:
    assert retry_delay(3) == backoff(3) == 4.0
    assert retry_delay(3, 42.0) == 42.0
    assert retry_delay(1, None, base=0.5, cap=30.0) == 0.5
    assert retry_delay(10, None, base=0.5, cap=30.0) == 30.0
