"""The scheduler: the one module that builds APScheduler, and the lease that keeps it single.

Any number of scheduler processes may run (`hagukumi scheduler`, or inside `serve`); each builds
the same AsyncIOScheduler but starts it paused. Only the holder of the Redis lease resumes it,
renewing every ttl/3; a standby tries to take the lease every few seconds, so when the active
one dies another is running its jobs within ttl + standby interval (35 s by default). A holder
that cannot renew pauses at once, before its lease can have run out, so two never run together.
The jobs themselves live in `notifier.jobs` as plain functions of (context, now).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from redis.exceptions import RedisError

from notifier.jobs import JOBS, JobContext
from notifier.lease import Lease
from notifier.ops import record_heartbeat

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

TTL_S = 30.0
STANDBY_INTERVAL_S = 5.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def run_job(name: str, ctx: JobContext, clock: Clock = _utcnow) -> dict[str, Any] | None:
    """Run one job now and log its summary; a failure is logged, never raised (the next run
    tries again)."""
    started = time.monotonic()
    try:
        summary = await JOBS[name](ctx, clock())
    except Exception as exc:
        log.exception("job failed", extra={"job": name, "error": type(exc).__name__})
        return None
    elapsed = round(time.monotonic() - started, 3)
    log.info("job done", extra={"job": name, "summary": summary, "elapsed_s": elapsed})
    return summary


def build_scheduler(
    ctx: JobContext, *, timezone: tzinfo, clock: Clock = _utcnow
) -> AsyncIOScheduler:
    """The scheduler with every job; times are wall-clock times in `timezone` (people's zone)."""
    scheduler = AsyncIOScheduler(
        timezone=timezone,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )

    def add(name: str, trigger: CronTrigger, grace_s: int) -> None:
        # A late run within the grace time still happens, once (coalesce): a standby that takes
        # over at 06:00:30 runs the 06:00 sweep the dead scheduler missed.
        scheduler.add_job(
            run_job,
            trigger,
            args=[name, ctx, clock],
            id=name,
            name=name,
            misfire_grace_time=grace_s,
        )

    add("daily_sweep", CronTrigger(hour=6, minute=0, timezone=timezone), 3 * 3600)
    add("release_due", CronTrigger(minute="*", timezone=timezone), 50)
    if ctx.remind is not None:
        # Without a separate reminder pass the daily sweep records the reminders itself.
        add("deadline_reminders", CronTrigger(hour=6, minute=30, timezone=timezone), 3 * 3600)
    add("recover_stranded", CronTrigger(minute="*/5", timezone=timezone), 240)
    add("purge", CronTrigger(hour=3, minute=0, timezone=timezone), 6 * 3600)
    add("quota_check", CronTrigger(minute=5, timezone=timezone), 1800)
    return scheduler


class SchedulerRunner:
    """One scheduler process: a paused scheduler, resumed only while it holds the lease."""

    def __init__(
        self,
        ctx: JobContext,
        redis: Any,
        *,
        holder: str,
        ttl_s: float = TTL_S,
        standby_interval_s: float = STANDBY_INTERVAL_S,
        timezone: tzinfo | None = None,
        clock: Clock = _utcnow,
    ) -> None:
        self.lease = Lease(redis, holder=holder, ttl_s=ttl_s)
        self.scheduler = build_scheduler(ctx, timezone=timezone or ctx.zone, clock=clock)
        self.standby_interval_s = standby_interval_s
        self.active = False
        self.clock = clock

    @property
    def holder(self) -> str:
        """This process's name in the lease."""
        return self.lease.holder

    async def run(self, stop: asyncio.Event) -> None:
        """Hold or wait for the lease until `stop`; then pause, shut down and release."""
        self.scheduler.start(paused=True)
        log.info("scheduler standing by", extra={"holder": self.holder})
        try:
            while not stop.is_set():
                await self.step()
                interval = self.lease.ttl_s / 3 if self.active else self.standby_interval_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
        finally:
            self.active = False
            self.scheduler.shutdown(wait=False)
            with contextlib.suppress(RedisError, OSError):
                await self.lease.release()
            log.info("scheduler stopped", extra={"holder": self.holder})

    async def step(self) -> bool:
        """Renew (active) or try to take (standby) the lease, and run or pause to match."""
        try:
            held = await (self.lease.renew() if self.active else self.lease.acquire())
        except (RedisError, OSError) as exc:
            # Unable to tell whether the lease is still ours: assume not.
            log.warning("lease check failed", extra={"error": type(exc).__name__})
            held = False
        self._set_active(held)
        await record_heartbeat(self.lease.redis, "scheduler", self.holder, self.clock())
        return held

    def _set_active(self, active: bool) -> None:
        if active and not self.active:
            self.scheduler.resume()
            log.info("scheduler active", extra={"holder": self.holder})
        elif self.active and not active:
            self.scheduler.pause()
            log.warning("scheduler lease lost, paused", extra={"holder": self.holder})
        self.active = active


async def run_scheduler(
    ctx: JobContext,
    redis: Any,
    *,
    holder: str,
    stop: asyncio.Event,
    ttl_s: float = TTL_S,
    standby_interval_s: float = STANDBY_INTERVAL_S,
) -> None:
    """Run a scheduler process until `stop`: active only while holding the lease."""
    runner = SchedulerRunner(
        ctx, redis, holder=holder, ttl_s=ttl_s, standby_interval_s=standby_interval_s
    )
    await runner.run(stop)
