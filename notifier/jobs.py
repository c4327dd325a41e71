"""The scheduler's jobs: plain async functions of a context and `now`, so tests call them directly.

Each returns a small summary (counts only, never personal data) that the scheduler logs. Every
job is safe to run twice: notices are keyed in the ledger, planning skips what is planned, the
queue skips ids in flight and purging finds nothing the second time. That is what lets a
standby scheduler that takes over re-run a job the dead one may already have run.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import String, and_, cast, or_, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier.models import SendRequest
from notifier.ops import record_quota
from notifier.queue import DeliveryQueue
from registry import families, hooks
from registry.db import transaction
from registry.models import Family

log = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]
SweepFn = Callable[..., Awaitable[Any]]
"""`sweep(sessions, *, now, zone)`: records the day's notices (eligibility and reminders)."""
PlanFn = Callable[..., Awaitable[list[int]]]
"""`plan(sessions, *, now, zone, quiet_hours, digest_at, max_requests[, line_budget])`: the
SendRequest ids ready to send."""
QuotaFn = Callable[[], Any]
"""Remaining LINE messages this month (e.g. `LineChannel.remaining_quota`): an int, a tuple
(remaining, limit), a mapping with those keys, or None when unlimited; may be a coroutine."""
LowQuotaFn = Callable[[int, int | None], Any]

RETENTION = timedelta(days=30)
STRANDED_AFTER = timedelta(minutes=2)
STRANDED_WITHIN = timedelta(hours=12)
"""A pending SendRequest this old was planned but never queued (the scheduler died between
the two, or in-process Redis was lost with a restart). After 12 hours it is left alone: with a
worker's six hours of retries it stays inside the 24 hours LINE honours its retry key."""
PURGE_BATCH = 200
LOW_QUOTA_RATIO = 0.1


@dataclass
class JobContext:
    """What the jobs work with: storage, the queue, time settings and the functions they call.

    `sweep` and `plan` default to `notifier.sweep.sweep` and `notifier.planning.plan`; `remind`
    is a separate reminder pass, absent when the daily sweep records reminders itself.
    """

    sessions: Sessions
    queue: DeliveryQueue
    zone: tzinfo
    quiet_hours: Any = "20:00-08:00"
    digest_at: Any = "09:00"
    sweep: SweepFn | None = None
    plan: PlanFn | None = None
    remind: SweepFn | None = None
    remaining_quota: QuotaFn | None = None
    on_low_quota: LowQuotaFn | None = None
    max_requests: int | None = None
    # The monthly message limit, when the quota reader tells only what is left.
    quota_limit: int | None = None
    blocked_retention: timedelta = RETENTION
    webhook_retention: timedelta = RETENTION
    low_quota_ratio: float = LOW_QUOTA_RATIO
    # Planning twice at once (06:00 sweep and the minute's release) could split one group.
    plan_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The families' rows kept between this process's daily sweeps (notifier.sweep.Population):
    # the next day re-reads only those that changed.
    population: Any = None

    def sweep_fn(self) -> SweepFn:
        """The sweep to call."""
        if self.sweep is not None:
            return self.sweep
        from notifier.sweep import sweep

        return sweep

    def plan_fn(self) -> PlanFn:
        """The planner to call."""
        if self.plan is not None:
            return self.plan
        from notifier.planning import plan

        return plan


async def release(ctx: JobContext, now: datetime) -> dict[str, Any]:
    """Plan whatever may be sent now and queue it: planned ids and how many were new.

    With a quota reader, LINE's remaining monthly budget is passed to the planner, so that when
    it cannot cover everything nearer deadlines go first and the rest waits for the next budget.
    """
    extra: dict[str, Any] = {}
    if ctx.remaining_quota is not None:
        try:
            remaining, limit = read_quota(await _resolve(ctx.remaining_quota()))
            extra["line_budget"] = remaining
            await record_quota(
                ctx.queue.redis, remaining, limit if limit is not None else ctx.quota_limit, now
            )
        except Exception as exc:
            log.warning(
                "LINE quota unreadable; planning without a budget",
                extra={"error": type(exc).__name__},
            )
    async with ctx.plan_lock:
        ids = await ctx.plan_fn()(
            ctx.sessions,
            now=now,
            zone=ctx.zone,
            quiet_hours=ctx.quiet_hours,
            digest_at=ctx.digest_at,
            max_requests=ctx.max_requests,
            **extra,
        )
        queued = await ctx.queue.enqueue(ids)
    return {"planned": len(ids), "queued": queued}


async def daily_sweep(ctx: JobContext, now: datetime) -> dict[str, Any]:
    """06:00: the sweep records the day's notices (eligibility and deadline reminders), then
    whatever may go out at once is queued."""
    if ctx.sweep is None:
        from notifier.sweep import Population, sweep

        if ctx.population is None:
            ctx.population = Population()
        report = await sweep(ctx.sessions, now=now, zone=ctx.zone, population=ctx.population)
    else:
        report = await ctx.sweep(ctx.sessions, now=now, zone=ctx.zone)
    return {"job": "daily_sweep", **sweep_summary(report), **await release(ctx, now)}


async def release_due(ctx: JobContext, now: datetime) -> dict[str, Any]:
    """Every minute: digests whose hour came and notices held back by quiet hours."""
    return {"job": "release_due", **await release(ctx, now)}


async def deadline_reminders(ctx: JobContext, now: datetime) -> dict[str, Any]:
    """Deadline reminders: the separate reminder pass if there is one, else the sweep (it
    records reminders too, and a second run records nothing twice)."""
    remind = ctx.remind or ctx.sweep_fn()
    report = await remind(ctx.sessions, now=now, zone=ctx.zone)
    return {"job": "deadline_reminders", **sweep_summary(report), **await release(ctx, now)}


async def recover_stranded(ctx: JobContext, now: datetime) -> dict[str, Any]:
    """Every five minutes: queue again pending SendRequests that are in no queue (ids in
    flight are skipped by the queue itself)."""
    async with ctx.sessions() as session:
        result = await session.exec(
            select(SendRequest.id).where(
                col(SendRequest.status) == "pending",
                col(SendRequest.created_at) >= now - STRANDED_WITHIN,
                col(SendRequest.created_at) <= now - STRANDED_AFTER,
            )
        )
        ids = [i for i in result.all() if i is not None]
    queued = await ctx.queue.enqueue(ids)
    if queued:
        log.warning("stranded send requests queued again", extra={"queued": queued})
    return {"job": "recover_stranded", "pending": len(ids), "queued": queued}


async def purge(ctx: JobContext, now: datetime) -> dict[str, Any]:
    """Delete the personal data of families blocked for 30 days (and of any deletion left
    unfinished), forget old webhook event ids and empty old request bodies."""
    blocked_before = now - ctx.blocked_retention
    leftover = and_(
        col(Family.state) == "deleted",
        or_(col(Family.line_user_id).is_not(None), col(Family.municipality).is_not(None)),
    )
    long_blocked = and_(col(Family.state) == "blocked", col(Family.blocked_at) <= blocked_before)
    purged = 0
    last_id = 0
    # Batches in their own transactions: a large purge holds no long lock.
    while True:
        async with transaction(ctx.sessions) as session:
            result = await session.exec(
                select(Family)
                .where(col(Family.id) > last_id, or_(long_blocked, leftover))
                .order_by(col(Family.id))
                .limit(PURGE_BATCH)
            )
            rows = list(result.all())
            for family in rows:
                await families.delete_personal_data(session, family)
        if not rows:
            break
        purged += len(rows)
        last_id = rows[-1].id or last_id
    async with transaction(ctx.sessions) as session:
        # Other packages' rows past retention, e.g. the bot's webhook event ids (`registry.hooks`).
        expired = {
            f"{table.__tablename__}s": await table.forget_before(
                session, now - ctx.webhook_retention
            )
            for table in hooks.tables_with(hooks.FORGET_BEFORE)
        }
        # A request body names its recipients (LINE user IDs); after the 24 hours in which
        # LINE honours its retry key it serves no retry, so it is not kept past retention.
        bodies = await session.exec(
            update(SendRequest)  # type: ignore[call-overload]
            .where(
                col(SendRequest.status).in_(("sent", "failed")),
                col(SendRequest.created_at) < now - ctx.webhook_retention,
                cast(SendRequest.body, String) != "{}",
            )
            .values(body={})
        )
    return {
        "job": "purge",
        "families": purged,
        **expired,
        "request_bodies": int(bodies.rowcount or 0),
    }


async def quota_check(ctx: JobContext, now: datetime) -> dict[str, Any]:
    """Hourly: how much of LINE's monthly message budget is left; below 10 % tell the
    operator (`on_low_quota`), since a push over the limit is refused, not delayed."""
    summary: dict[str, Any] = {"job": "quota_check", "remaining": None, "limit": None}
    if ctx.remaining_quota is None:
        return {**summary, "low": False}
    try:
        remaining, limit = read_quota(await _resolve(ctx.remaining_quota()))
    except Exception as exc:
        log.warning("LINE quota unreadable", extra={"error": type(exc).__name__})
        return {**summary, "low": False, "error": type(exc).__name__}
    limit = limit if limit is not None else ctx.quota_limit
    await record_quota(ctx.queue.redis, remaining, limit, now)
    low = remaining is not None and (
        remaining <= 0 or (limit is not None and remaining < ctx.low_quota_ratio * limit)
    )
    if low:
        assert remaining is not None
        log.warning("LINE message quota low", extra={"remaining": remaining, "limit": limit})
        if ctx.on_low_quota is not None:
            await _resolve(ctx.on_low_quota(remaining, limit))
    return {**summary, "remaining": remaining, "limit": limit, "low": low}


JOBS: dict[str, Callable[[JobContext, datetime], Awaitable[dict[str, Any]]]] = {
    "daily_sweep": daily_sweep,
    "release_due": release_due,
    "deadline_reminders": deadline_reminders,
    "recover_stranded": recover_stranded,
    "purge": purge,
    "quota_check": quota_check,
}
"""Every job by name (the scheduler's job ids)."""


def read_quota(reading: Any) -> tuple[int | None, int | None]:
    """(remaining, limit) from what a quota reader returned; None means unknown or unlimited."""
    if reading is None:
        return None, None
    if isinstance(reading, int):
        return reading, None
    if isinstance(reading, Mapping):
        remaining, limit = reading.get("remaining"), reading.get("limit")
    elif isinstance(reading, tuple):
        remaining, limit = reading
    else:
        remaining, limit = getattr(reading, "remaining", None), getattr(reading, "limit", None)
    return (
        None if remaining is None else int(remaining),
        None if limit is None else int(limit),
    )


def sweep_summary(report: Any) -> dict[str, Any]:
    """The counts of a sweep report (a SweepReport or a mapping), for logs."""
    names = ("families_scanned", "families_kept", "matches", "reminders", "new", "suppressed")
    if isinstance(report, Mapping):
        return {n: report[n] for n in names if isinstance(report.get(n), int)}
    return {n: getattr(report, n) for n in names if isinstance(getattr(report, n, None), int)}


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
