"""What an operator watches, read at the moment it is asked for (no family ids, no user ids).

`read_ops` counts the notice ledger by state, channel and reason, measures the delivery backlog
(the Redis stream and its retry set, and the requests stored but not yet sent), names the
scheduler that holds the lease, tells when each worker and scheduler last reported alive
(`record_heartbeat`) and reads the last LINE quota the scheduler saw. Everything
comes from the database and Redis, so any web process answers for the whole deployment.

The LINE quota is recorded in Redis by whichever job read it last (`record_quota`): reading it
from LINE at every scrape would put LINE's latency into `/metrics`.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier.lease import LEASE_KEY
from notifier.models import Notice, SendRequest
from notifier.queue import STREAM

log = logging.getLogger(__name__)

QUOTA_KEY = "hagukumi:line:quota"
HEARTBEAT_KEY = "hagukumi:heartbeat:"  # + worker or scheduler: a hash of name → Unix time
HEARTBEAT_FORGET_S = 24 * 3600  # a process silent for a day is gone, not unhealthy

STATES = {
    "pending": "planned",
    "scheduled": "planned",
    "sent": "sent",
    "failed": "failed",
    "suppressed": "suppressed",
}
"""Ledger statuses as the operator sees them: not yet sent (pending, scheduled) is planned."""

_WORD = re.compile(r"^[a-z][a-z0-9 _-]{0,31}$")
_HTTP = re.compile(r"^(\d{3})\b")


def reason_label(reason: str | None) -> str:
    """A short, bounded label for a notice's reason (failure messages are free text)."""
    if not reason:
        return ""
    text = reason.strip().lower()
    status = _HTTP.match(text)
    if status:
        return f"http_{status.group(1)}"
    if _WORD.match(text):
        return re.sub(r"[ -]+", "_", text)
    return "other"


@dataclass
class OpsSnapshot:
    """One reading of the operator's numbers; a source that failed is named in `errors`."""

    notices: dict[tuple[str, str, str], int] = field(default_factory=dict)
    pending_requests: int | None = None
    oldest_pending_s: float | None = None
    stream_backlog: int | None = None
    retry_backlog: int | None = None
    leader: str | None = None
    leader_ttl_s: float | None = None
    quota_remaining: float | None = None
    quota_limit: float | None = None
    quota_checked_at: float | None = None
    # Seconds since each process last reported alive, by name (host-pid).
    workers: dict[str, float] = field(default_factory=dict)
    schedulers: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def quota_used(self) -> float | None:
        """Messages used this month, when both the limit and what is left are known."""
        if self.quota_limit is None or self.quota_remaining is None:
            return None
        if math.isinf(self.quota_remaining):
            return None
        return max(0.0, self.quota_limit - self.quota_remaining)


async def read_ops(
    sessions: async_sessionmaker[AsyncSession], redis: Any, now: datetime
) -> OpsSnapshot:
    """Read every number now; a database or Redis failure leaves its part empty."""
    snapshot = OpsSnapshot()
    try:
        async with sessions() as session:
            await _read_database(session, snapshot, now)
    except Exception as exc:  # a scrape reports, it does not fail
        log.warning("metrics: database unreadable", extra={"error": type(exc).__name__})
        snapshot.errors.append("database")
    try:
        await _read_redis(redis, snapshot, now)
    except Exception as exc:
        log.warning("metrics: redis unreadable", extra={"error": type(exc).__name__})
        snapshot.errors.append("redis")
    return snapshot


async def _read_database(session: AsyncSession, snapshot: OpsSnapshot, now: datetime) -> None:
    statement = select(  # type: ignore[call-overload]
        Notice.status, Notice.channel, Notice.reason, func.count()
    ).group_by(col(Notice.status), col(Notice.channel), col(Notice.reason))
    for status, channel, reason, count in (await session.exec(statement)).all():
        key = (STATES.get(status, status), channel, reason_label(reason))
        snapshot.notices[key] = snapshot.notices.get(key, 0) + int(count)
    pending = await session.exec(
        select(func.count(), func.min(col(SendRequest.created_at))).where(  # type: ignore[call-overload]
            col(SendRequest.status) == "pending"
        )
    )
    count, oldest = pending.one()
    snapshot.pending_requests = int(count)
    if oldest is not None:
        if isinstance(oldest, str):  # SQLite without the column type's conversion
            oldest = datetime.fromisoformat(oldest)
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        snapshot.oldest_pending_s = max(0.0, (now - oldest).total_seconds())
    else:
        snapshot.oldest_pending_s = 0.0


async def _read_redis(redis: Any, snapshot: OpsSnapshot, now: datetime) -> None:
    snapshot.stream_backlog = int(await redis.xlen(STREAM))
    snapshot.retry_backlog = int(await redis.zcard(f"{STREAM}:delayed"))
    holder = await redis.get(LEASE_KEY)
    if holder is not None:
        snapshot.leader = holder.decode() if isinstance(holder, bytes) else str(holder)
        ttl_ms = await redis.pttl(LEASE_KEY)
        snapshot.leader_ttl_s = max(0, int(ttl_ms)) / 1000
    await read_quota_into(redis, snapshot)
    snapshot.workers = await read_heartbeats(redis, "worker", now)
    snapshot.schedulers = await read_heartbeats(redis, "scheduler", now)


async def read_quota_into(redis: Any, snapshot: OpsSnapshot) -> None:
    """The LINE quota last recorded (`record_quota`), if any, into the snapshot."""
    raw = await redis.get(QUOTA_KEY)
    if raw is not None:
        reading = json.loads(raw)
        remaining = reading.get("remaining")
        snapshot.quota_remaining = math.inf if remaining is None else float(remaining)
        limit = reading.get("limit")
        snapshot.quota_limit = None if limit is None else float(limit)
        snapshot.quota_checked_at = float(reading["at"])


async def record_heartbeat(redis: Any, role: str, name: str, now: datetime) -> None:
    """A worker or scheduler (`role`) named `name` is alive now; a failure is only logged."""
    try:
        await redis.hset(HEARTBEAT_KEY + role, name, str(now.timestamp()))
        await redis.expire(HEARTBEAT_KEY + role, HEARTBEAT_FORGET_S)
    except Exception as exc:  # a heartbeat never stops the work it reports on
        log.warning("heartbeat not recorded", extra={"error": type(exc).__name__})


async def read_heartbeats(redis: Any, role: str, now: datetime) -> dict[str, float]:
    """Seconds since each process of `role` last reported alive; a day's silence forgets it."""
    raw = await redis.hgetall(HEARTBEAT_KEY + role)
    ages: dict[str, float] = {}
    gone: list[Any] = []
    for name, value in raw.items():
        age = max(0.0, now.timestamp() - float(value))
        if age > HEARTBEAT_FORGET_S:
            gone.append(name)
            continue
        ages[name.decode() if isinstance(name, bytes) else str(name)] = age
    if gone:
        await redis.hdel(HEARTBEAT_KEY + role, *gone)
    return dict(sorted(ages.items()))


async def record_quota(
    redis: Any, remaining: int | None, limit: int | None, now: datetime
) -> None:
    """Keep the LINE quota just read for `/metrics` (remaining None = no monthly limit)."""
    try:
        await redis.set(
            QUOTA_KEY,
            json.dumps({"remaining": remaining, "limit": limit, "at": now.timestamp()}),
            ex=7 * 24 * 3600,
        )
    except Exception as exc:  # metrics never stop a job
        log.warning("LINE quota not recorded", extra={"error": type(exc).__name__})
