"""Delivery statistics: notices counted by day, subject, channel and status (no family ids).

A notice belongs to the municipality that issued it (`Notice.issuer`: the program's issuer, the
broadcasting municipality, the daycare round's or facility's municipality), so the REST
statistics and the console count the same notices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier.models import Notice

TOKYO = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True, slots=True)
class DeliveryCount:
    """Notices created on one Tokyo day about one subject, by channel and status."""

    day: date
    subject: str
    channel: str
    status: str
    count: int


def _tokyo_day(session: AsyncSession) -> Any:
    """SQL for the Asia/Tokyo date of Notice.created_at (stored in UTC)."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "postgresql":
        return func.date(func.timezone("Asia/Tokyo", col(Notice.created_at)))
    if dialect == "sqlite":
        # SQLite stores the UTC time as text; Japan has no daylight saving time.
        return func.date(col(Notice.created_at), "+9 hours")
    raise RuntimeError(f"statistics need SQLite or PostgreSQL, not {dialect!r}")


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _within(statement: Any, since: date, until: date, issuers: Sequence[str] | None) -> Any:
    """Notices created from `since` to `until` (Tokyo days, inclusive) by `issuers`."""
    start = datetime.combine(since, time(0), tzinfo=TOKYO)
    end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=TOKYO)
    statement = statement.where(col(Notice.created_at) >= start, col(Notice.created_at) < end)
    if issuers is not None:
        statement = statement.where(col(Notice.issuer).in_(list(issuers)))
    return statement


async def delivery_counts(
    session: AsyncSession,
    *,
    since: date,
    until: date,
    issuers: Sequence[str] | None,
) -> list[DeliveryCount]:
    """Counts of notices created from `since` to `until` (Tokyo days, inclusive) by issuers
    (None = every issuer), ordered by day, subject, channel and status."""
    day = _tokyo_day(session).label("day")
    statement = (
        select(day, Notice.subject, Notice.channel, Notice.status, func.count())  # type: ignore[call-overload]
        .group_by(day, col(Notice.subject), col(Notice.channel), col(Notice.status))
        .order_by(day, col(Notice.subject), col(Notice.channel), col(Notice.status))
    )
    statement = _within(statement, since, until, issuers)
    rows = (await session.exec(statement)).all()
    return [
        DeliveryCount(
            day=_as_date(value),
            subject=subject,
            channel=channel,
            status=status,
            count=int(count),
        )
        for value, subject, channel, status, count in rows
    ]


STATES = ("sent", "pending", "failed", "suppressed")
"""The states a person reads: pending and scheduled (not sent yet) are both pending."""
_STATE_OF = {"scheduled": "pending"}


def state_of(status: str) -> str:
    """A ledger status as one of STATES."""
    return _STATE_OF.get(status, status)


@dataclass(frozen=True, slots=True)
class NoticeTally:
    """Notices created on one Tokyo day by one issuer, of one kind, channel and status; the
    reason (a bounded label, see `notifier.ops.reason_label`) only for failed and suppressed."""

    day: date
    issuer: str
    kind: str
    channel: str
    status: str
    reason: str
    count: int


async def notice_tallies(
    session: AsyncSession,
    *,
    since: date,
    until: date,
    issuers: Sequence[str] | None,
) -> list[NoticeTally]:
    """The same notices as `delivery_counts`, counted by day, issuer, kind, channel, status and
    (for failed and suppressed ones) reason."""
    from notifier.ops import reason_label

    day = _tokyo_day(session).label("day")
    reason = case(
        (col(Notice.status).in_(["failed", "suppressed"]), col(Notice.reason)), else_=None
    ).label("reason")
    statement = select(  # type: ignore[call-overload]
        day, Notice.issuer, Notice.kind, Notice.channel, Notice.status, reason, func.count()
    ).group_by(
        day, col(Notice.issuer), col(Notice.kind), col(Notice.channel), col(Notice.status), reason
    )
    statement = _within(statement, since, until, issuers)
    merged: dict[tuple[date, str, str, str, str, str], int] = {}
    for value, issuer, kind, channel, status, why, count in (await session.exec(statement)).all():
        key = (_as_date(value), issuer, kind, channel, status, reason_label(why))
        merged[key] = merged.get(key, 0) + int(count)
    return [NoticeTally(*key, count) for key, count in sorted(merged.items())]


async def line_messages_since(
    session: AsyncSession, since: datetime, issuers: Sequence[str] | None
) -> int:
    """LINE messages sent since `since` that carried notices of `issuers`, per recipient.

    LINE counts a message once per recipient; the planner bundles one family's notices into
    one message, so a message is a (request, family) pair. A bundle may carry notices of other
    issuers too (Tokyo's, the nation's): each issuer counts it. Notices shown in the chat were
    never pushed and cost nothing.
    """
    statement = (
        select(Notice.send_id, Notice.family_id)
        .where(
            col(Notice.channel) == "line",
            col(Notice.status) == "sent",
            col(Notice.send_id).is_not(None),
            col(Notice.sent_at) >= since,
        )
        .distinct()
    )
    if issuers is not None:
        statement = statement.where(col(Notice.issuer).in_(list(issuers)))
    counted = select(func.count()).select_from(statement.subquery())
    return int((await session.exec(counted)).one())


@dataclass
class DeliverySummary:
    """Tallies gathered for a page: per day, per reason, channel, kind and issuer, by state."""

    days: list[date]
    by_day: dict[date, dict[str, int]]
    totals: dict[str, int]
    suppressed_by_reason: dict[str, int]
    failed_by_reason: dict[str, int]
    # Pending notices split: `pending` (due, waiting for the planner) and `scheduled` (held
    # for quiet hours, the morning digest or a broadcast's send time).
    pending_by_status: dict[str, int]
    by_channel: dict[str, dict[str, int]]
    by_kind: dict[str, dict[str, int]]
    by_issuer: dict[str, dict[str, int]]

    @property
    def total(self) -> int:
        """Every notice counted."""
        return sum(self.totals.values())


def _zero() -> dict[str, int]:
    return dict.fromkeys(STATES, 0)


def summarize(tallies: Sequence[NoticeTally], since: date, until: date) -> DeliverySummary:
    """Gather tallies into a page's figures; every day of the window is there, even empty."""
    days = [since + timedelta(days=i) for i in range((until - since).days + 1)]
    summary = DeliverySummary(
        days=days,
        by_day={d: _zero() for d in days},
        totals=_zero(),
        suppressed_by_reason={},
        failed_by_reason={},
        pending_by_status={},
        by_channel={},
        by_kind={},
        by_issuer={},
    )
    for tally in tallies:
        state = state_of(tally.status)
        if state not in summary.totals:
            continue
        summary.by_day.setdefault(tally.day, _zero())[state] += tally.count
        summary.totals[state] += tally.count
        for table, key in (
            (summary.by_channel, tally.channel),
            (summary.by_kind, tally.kind),
            (summary.by_issuer, tally.issuer),
        ):
            table.setdefault(key, _zero())[state] += tally.count
        if state == "pending":
            waiting = summary.pending_by_status
            waiting[tally.status] = waiting.get(tally.status, 0) + tally.count
        if state in ("suppressed", "failed"):
            reasons = (
                summary.suppressed_by_reason if state == "suppressed" else summary.failed_by_reason
            )
            reasons[tally.reason] = reasons.get(tally.reason, 0) + tally.count
    return summary
