"""Delivery statistics: notices counted by day, subject, channel and status (no family ids)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
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


async def delivery_counts(
    session: AsyncSession,
    *,
    since: date,
    until: date,
    issuers: Sequence[str] | None,
) -> list[DeliveryCount]:
    """Counts of notices created from `since` to `until` (Tokyo days, inclusive) by issuers
    (None = every issuer), ordered by day, subject, channel and status."""
    start = datetime.combine(since, time(0), tzinfo=TOKYO)
    end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=TOKYO)
    day = _tokyo_day(session).label("day")
    statement = (
        select(day, Notice.subject, Notice.channel, Notice.status, func.count())  # type: ignore[call-overload]
        .where(col(Notice.created_at) >= start, col(Notice.created_at) < end)
        .group_by(day, col(Notice.subject), col(Notice.channel), col(Notice.status))
        .order_by(day, col(Notice.subject), col(Notice.channel), col(Notice.status))
    )
    if issuers is not None:
        statement = statement.where(col(Notice.issuer).in_(list(issuers)))
    rows = (await session.exec(statement)).all()
    return [
        DeliveryCount(
            day=value if isinstance(value, date) else date.fromisoformat(str(value)),
            subject=subject,
            channel=channel,
            status=status,
            count=int(count),
        )
        for value, subject, channel, status, count in rows
    ]
