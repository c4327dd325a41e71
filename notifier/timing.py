"""When a notice may go: quiet hours, the daily digest, one push a day, and urgency.

Pure time rules, no database: `plan` (`notifier.planning`) asks `release_at` whether a family's
due notices go now or are held, and until when.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from notifier.messages import deadline_of
from notifier.models import Notice
from registry.models import Family

log = logging.getLogger(__name__)

URGENT_DAYS = 2  # a deadline this near is never held for the digest or the daily limit
NO_QUIET = frozenset({"", "none", "off"})


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window (local time) in which nothing is pushed; may run over midnight."""

    start: time
    end: time

    def end_if_inside(self, local: datetime) -> datetime | None:
        """When the window that `local` falls in ends, or None when `local` is outside."""
        now, today = local.time().replace(tzinfo=None), local.date()
        zone = local.tzinfo
        if self.start < self.end:
            inside = self.start <= now < self.end
            return datetime.combine(today, self.end, tzinfo=zone) if inside else None
        if now >= self.start:
            return datetime.combine(today + timedelta(days=1), self.end, tzinfo=zone)
        if now < self.end:
            return datetime.combine(today, self.end, tzinfo=zone)
        return None


def _clock(value: str) -> time:
    hours, _, minutes = value.strip().partition(":")
    return time(int(hours), int(minutes or 0))


def parse_quiet_hours(value: str | None) -> QuietHours | None:
    """`20:00-08:00` → a window; empty, `none` or `off` (or start = end) → no quiet hours."""
    if value is None or value.strip().lower() in NO_QUIET:
        return None
    start, sep, end = value.partition("-")
    if not sep:
        raise ValueError(f"quiet hours must look like 20:00-08:00, not {value!r}")
    try:
        window = QuietHours(_clock(start), _clock(end))
    except ValueError as exc:
        raise ValueError(f"quiet hours must look like 20:00-08:00, not {value!r}") from exc
    return None if window.start == window.end else window


def parse_digest_at(value: str | None) -> time | None:
    """`09:00` → the daily digest time; `off` (or empty) → each notice as soon as allowed."""
    if value is None or value.strip().lower() in {"", "off", "none"}:
        return None
    try:
        return _clock(value)
    except ValueError as exc:
        raise ValueError(f"the digest time must look like 09:00 or be off, not {value!r}") from exc


def family_quiet_hours(family: Family, default: QuietHours | None) -> QuietHours | None:
    """The family's own quiet hours (`none` for none), else the operator's default."""
    chosen = (family.preferences or {}).get("quiet_hours")
    # The bot stores `none` for "no quiet hours"; empty or absent means the operator's default.
    if not isinstance(chosen, str) or not chosen.strip():
        return default
    try:
        return parse_quiet_hours(chosen)
    except ValueError:
        log.warning("unreadable quiet hours preference", extra={"family": family.id})
        return default


def allowed_from(moment: datetime, quiet: QuietHours | None) -> datetime:
    """The first moment at or after `moment` (local) outside quiet hours."""
    end = quiet.end_if_inside(moment) if quiet else None
    return end or moment


def is_urgent(notice: Notice, today: date) -> bool:
    """A deadline within two days: sent at the next allowed moment, never held for a digest."""
    deadline = deadline_of(notice)
    return deadline is not None and deadline <= today + timedelta(days=URGENT_DAYS)


def as_zone(zone: tzinfo | str) -> tzinfo:
    """A time zone from its name (`Asia/Tokyo`) or as given."""
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def as_utc(now: datetime) -> datetime:
    """`now` in UTC; a naive datetime is refused."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def release_at(
    local: datetime,
    quiet: QuietHours | None,
    digest: time | None,
    *,
    urgent: bool,
    pushed_today: bool,
) -> datetime | None:
    """When a family's due notices may go (local time), or None when they go now.

    Quiet hours hold everything until they end. Outside them a near deadline goes at once,
    whatever the digest and the daily limit say; a family already pushed today waits for
    tomorrow's digest (or tomorrow's start); before the digest time, the rest waits for it.
    """
    quiet_end = quiet.end_if_inside(local) if quiet else None
    if quiet_end is not None:
        return quiet_end
    if urgent:
        return None
    zone, today = local.tzinfo, local.date()
    hold_until: datetime | None = None
    if pushed_today:
        # One push a day: the rest waits for tomorrow's digest (or tomorrow's start).
        tomorrow = today + timedelta(days=1)
        hold_until = datetime.combine(tomorrow, digest or time(0), tzinfo=zone)
    elif digest is not None and local.time().replace(tzinfo=None) < digest:
        hold_until = datetime.combine(today, digest, tzinfo=zone)
    return allowed_from(hold_until, quiet) if hold_until is not None else None
