"""The scheduler lease, the scheduler processes and every job called directly with a fixed now."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING

from bot.models import WebhookEvent
from hagukumi.resources import make_redis
from notifier import jobs
from notifier.jobs import JobContext
from notifier.lease import LEASE_KEY, Lease
from notifier.models import SendRequest
from notifier.ops import read_heartbeats
from notifier.queue import DeliveryQueue
from notifier.scheduler import (
    STANDBY_INTERVAL_S,
    TTL_S,
    SchedulerRunner,
    build_scheduler,
    run_job,
)
from registry.db import transaction
from registry.models import Child, Family

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=TOKYO)


@pytest.fixture
async def redis_clients(redis_url: str) -> AsyncIterator[Callable[[], Any]]:
    """Clients of the test's Redis: one shared fakeredis, or a new connection pool each (as
    separate processes would have)."""
    made: list[Any] = []
    shared = make_redis(redis_url) if redis_url.startswith("memory://") else None

    def client() -> Any:
        if shared is not None:
            return shared
        made.append(make_redis(redis_url))
        return made[-1]

    yield client
    for c in [*made, *([shared] if shared is not None else [])]:
        await c.aclose()


class FakePlan:
    """Stands in for notifier.planning.plan: records its arguments, returns set ids."""

    def __init__(self, ids: list[int] | None = None) -> None:
        self.ids = ids or []
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, sessions: Any, **kwargs: Any) -> list[int]:
        self.calls.append(kwargs)
        return list(self.ids)


class FakeSweep:
    """Stands in for notifier.sweep.sweep: records its arguments, returns a report."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, sessions: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"families_scanned": 10, "matches": 4, "reminders": 1, "new": 3, "suppressed": 0}


def context(redis: Any, sessions: Any = None, **kwargs: Any) -> JobContext:
    kwargs.setdefault("plan", FakePlan())
    kwargs.setdefault("sweep", FakeSweep())
    return JobContext(sessions=sessions, queue=DeliveryQueue(redis), zone=TOKYO, **kwargs)


# -- the lease ----------------------------------------------------------------------------------


async def test_only_one_holder_acquires_and_only_it_renews(
    redis_clients: Callable[[], Any],
) -> None:
    a = Lease(redis_clients(), holder="a", ttl_s=1)
    b = Lease(redis_clients(), holder="b", ttl_s=1)
    assert await a.acquire()
    assert not await b.acquire()
    assert await a.acquire()  # already ours: renewed
    assert await a.renew()
    assert not await b.renew()
    assert not await b.release()
    assert await a.current_holder() == "a"
    # a stops renewing (it died): after the time to live, b takes over and a cannot renew.
    await asyncio.sleep(1.1)
    assert await b.acquire()
    assert not await a.renew()
    assert await b.current_holder() == "b"
    assert await b.release()
    assert await a.current_holder() is None


def test_a_standby_takes_over_within_a_minute() -> None:
    assert TTL_S + STANDBY_INTERVAL_S < 60


# -- scheduler processes ------------------------------------------------------------------------


async def _until(condition: Callable[[], bool], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.02)


def _probe(runner: SchedulerRunner, ran: Counter[str]) -> None:
    """A job every 50 ms on the runner's scheduler, counting runs by holder."""

    async def probe() -> None:
        ran[runner.holder] += 1

    runner.scheduler.add_job(probe, "interval", seconds=0.05, id="probe")


async def test_of_two_scheduler_processes_only_the_lease_holder_runs_jobs(
    redis_clients: Callable[[], Any],
) -> None:
    runners = [
        SchedulerRunner(
            context(redis_clients()),
            redis_clients(),
            holder=name,
            ttl_s=1,
            standby_interval_s=0.05,
        )
        for name in ("one", "two")
    ]
    ran: Counter[str] = Counter()
    for runner in runners:
        _probe(runner, ran)
    stops = {r.holder: asyncio.Event() for r in runners}
    tasks = {r.holder: asyncio.create_task(r.run(stops[r.holder])) for r in runners}
    await _until(lambda: any(r.active for r in runners), 2)
    await asyncio.sleep(0.3)
    active = [r for r in runners if r.active]
    assert len(active) == 1
    leader = active[0]
    standby = next(r for r in runners if r is not leader)
    assert leader.scheduler.state == STATE_RUNNING
    assert standby.scheduler.state == STATE_PAUSED
    assert ran[leader.holder] > 0 and ran[standby.holder] == 0
    # Both report alive to the operator's view, the standby too.
    beats = await read_heartbeats(redis_clients(), "scheduler", datetime.now(UTC))
    assert set(beats) == {"one", "two"}

    # The leader stops cleanly and releases: the standby takes over at its next try.
    stops[leader.holder].set()
    await tasks[leader.holder]
    await _until(lambda: standby.active, 1)
    before = ran[standby.holder]
    await asyncio.sleep(0.2)
    assert ran[standby.holder] > before
    assert await standby.lease.current_holder() == standby.holder

    stops[standby.holder].set()
    await tasks[standby.holder]
    assert await standby.lease.current_holder() is None


async def test_a_dead_leaders_lease_runs_out_and_a_standby_takes_over(
    redis_clients: Callable[[], Any],
) -> None:
    # A scheduler died holding the lease (no release): nobody may run until it expires.
    await redis_clients().set(LEASE_KEY, "dead", px=1000)
    runners = [
        SchedulerRunner(
            context(redis_clients()), redis_clients(), holder=n, ttl_s=1, standby_interval_s=0.05
        )
        for n in ("one", "two")
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in runners]
    await asyncio.sleep(0.4)
    assert not any(r.active for r in runners)
    await _until(lambda: any(r.active for r in runners), 2)
    await asyncio.sleep(0.2)
    assert sum(r.active for r in runners) == 1
    stop.set()
    await asyncio.gather(*tasks)


async def test_build_scheduler_schedules_every_job_in_tokyo_time() -> None:
    ctx = context(None)
    scheduler = build_scheduler(ctx, timezone=TOKYO)
    scheduler.start(paused=True)  # job defaults apply once started
    scheduler.shutdown(wait=False)
    jobs_by_id = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs_by_id) == {
        "daily_sweep",
        "release_due",
        "recover_stranded",
        "purge",
        "quota_check",
    }
    early = datetime(2026, 11, 26, 5, 59, 30, tzinfo=TOKYO)

    def next_run(job_id: str) -> datetime:
        return jobs_by_id[job_id].trigger.get_next_fire_time(None, early)

    assert next_run("daily_sweep") == datetime(2026, 11, 27, 6, 0, tzinfo=TOKYO) - timedelta(
        days=1
    )
    assert next_run("release_due") == datetime(2026, 11, 26, 6, 0, tzinfo=TOKYO)
    assert next_run("purge") == datetime(2026, 11, 27, 3, 0, tzinfo=TOKYO)
    assert next_run("quota_check") == datetime(2026, 11, 26, 6, 5, tzinfo=TOKYO)
    assert all(job.max_instances == 1 and job.coalesce for job in jobs_by_id.values())
    assert jobs_by_id["daily_sweep"].misfire_grace_time >= 3600

    with_reminders = build_scheduler(context(None, remind=FakeSweep()), timezone=TOKYO)
    reminder = with_reminders.get_job("deadline_reminders")
    assert reminder is not None
    assert reminder.trigger.get_next_fire_time(None, early) == datetime(
        2026, 11, 26, 6, 30, tzinfo=TOKYO
    )


async def test_run_job_logs_a_failure_instead_of_raising(
    redis_clients: Callable[[], Any],
) -> None:
    async def broken(sessions: Any, **kwargs: Any) -> list[int]:
        raise RuntimeError("database away")

    ctx = context(redis_clients(), plan=broken)
    assert await run_job("release_due", ctx, lambda: NOW) is None
    ctx.plan = FakePlan([1])
    assert await run_job("release_due", ctx, lambda: NOW) == {
        "job": "release_due",
        "planned": 1,
        "queued": 1,
    }


# -- the jobs, called directly ------------------------------------------------------------------


async def test_daily_sweep_sweeps_then_queues_what_may_go(
    redis_clients: Callable[[], Any],
) -> None:
    sweep, plan = FakeSweep(), FakePlan([11, 12, 13])
    ctx = context(redis_clients(), "SESSIONS", sweep=sweep, plan=plan, quiet_hours="21:00-07:00")
    summary = await jobs.daily_sweep(ctx, NOW)
    assert summary == {
        "job": "daily_sweep",
        "families_scanned": 10,
        "matches": 4,
        "reminders": 1,
        "new": 3,
        "suppressed": 0,
        "planned": 3,
        "queued": 3,
    }
    assert sweep.calls == [{"now": NOW, "zone": TOKYO}]
    assert plan.calls == [
        {
            "now": NOW,
            "zone": TOKYO,
            "quiet_hours": "21:00-07:00",
            "digest_at": "09:00",
            "max_requests": None,
        }
    ]
    # Run again (a standby re-running a missed job): nothing is queued twice.
    assert (await jobs.daily_sweep(ctx, NOW))["queued"] == 0
    assert (await ctx.queue.backlog())["inflight"] == 3


async def test_release_due_passes_the_line_budget_when_quota_is_known(
    redis_clients: Callable[[], Any],
) -> None:
    plan = FakePlan([5])

    async def remaining() -> int:
        return 1234

    ctx = context(redis_clients(), plan=plan, remaining_quota=remaining, max_requests=100)
    assert await jobs.release_due(ctx, NOW) == {"job": "release_due", "planned": 1, "queued": 1}
    assert plan.calls[0]["line_budget"] == 1234
    assert plan.calls[0]["max_requests"] == 100

    async def unreadable() -> int:
        raise OSError("LINE unreachable")

    ctx.remaining_quota = unreadable
    assert (await jobs.release_due(ctx, NOW))["planned"] == 1
    assert "line_budget" not in plan.calls[1]


async def test_deadline_reminders_use_the_reminder_pass_or_the_sweep(
    redis_clients: Callable[[], Any],
) -> None:
    sweep, remind = FakeSweep(), FakeSweep()
    ctx = context(redis_clients(), sweep=sweep, remind=remind, plan=FakePlan([1]))
    summary = await jobs.deadline_reminders(ctx, NOW)
    assert summary["job"] == "deadline_reminders"
    assert summary["reminders"] == 1 and summary["queued"] == 1
    assert len(remind.calls) == 1 and sweep.calls == []
    ctx.remind = None
    await jobs.deadline_reminders(ctx, NOW)
    assert len(sweep.calls) == 1


async def test_quota_check_tells_the_operator_below_ten_percent(
    redis_clients: Callable[[], Any],
) -> None:
    told: list[tuple[int, int | None]] = []
    readings: list[Any] = [(50, 1000), (500, 1000), 0, None, 300]

    async def remaining() -> Any:
        return readings.pop(0)

    ctx = context(
        redis_clients(),
        remaining_quota=remaining,
        on_low_quota=lambda r, limit: told.append((r, limit)),
    )
    results = [await jobs.quota_check(ctx, NOW) for _ in range(4)]
    assert [(r["remaining"], r["limit"], r["low"]) for r in results] == [
        (50, 1000, True),
        (500, 1000, False),
        (0, None, True),
        (None, None, False),
    ]
    assert told == [(50, 1000), (0, None)]
    ctx.quota_limit = 5000  # the reader tells only what is left
    assert (await jobs.quota_check(ctx, NOW))["low"] is True
    assert (await jobs.quota_check(context(redis_clients()), NOW))["low"] is False


async def test_purge_deletes_long_blocked_families_and_old_records(
    redis_clients: Callable[[], Any], sessions: Any
) -> None:
    now = datetime(2026, 11, 26, 3, 0, tzinfo=TOKYO)
    long_ago = now - timedelta(days=31)
    recently = now - timedelta(days=10)
    async with transaction(sessions) as session:
        rows = {
            "long_blocked": Family(
                line_user_id="U-long",
                state="blocked",
                blocked_at=long_ago,
                municipality="131130",
                consented_at=long_ago,
            ),
            "recently_blocked": Family(
                line_user_id="U-recent",
                state="blocked",
                blocked_at=recently,
                municipality="131130",
                consented_at=long_ago,
            ),
            "active": Family(line_user_id="U-active", state="active", municipality="131130"),
            "half_deleted": Family(line_user_id="U-half", state="deleted", municipality="131130"),
        }
        session.add_all(rows.values())
        await session.flush()
        session.add(Child(family_id=rows["long_blocked"].id, birth_date=date(2025, 1, 1)))
        session.add_all(
            [
                WebhookEvent(event_id="old", received_at=long_ago),
                WebhookEvent(event_id="new", received_at=recently),
                SendRequest(
                    channel="line",
                    retry_key="k-old",
                    body={"to": "U-long"},
                    status="sent",
                    created_at=long_ago,
                ),
                SendRequest(
                    channel="line",
                    retry_key="k-new",
                    body={"to": "U-recent"},
                    status="sent",
                    created_at=recently,
                ),
                SendRequest(
                    channel="line",
                    retry_key="k-pending",
                    body={"to": "U-active"},
                    status="pending",
                    created_at=long_ago,
                ),
            ]
        )
        ids = {name: family.id for name, family in rows.items()}

    ctx = context(redis_clients(), sessions)
    assert await jobs.purge(ctx, now) == {
        "job": "purge",
        "families": 2,
        "webhook_events": 1,
        "request_bodies": 1,
    }
    async with sessions() as session:
        found = {name: await session.get(Family, fid) for name, fid in ids.items()}
        assert found["long_blocked"].state == "deleted"
        assert found["long_blocked"].line_user_id is None
        assert found["long_blocked"].municipality is None
        assert found["half_deleted"].line_user_id is None
        assert found["recently_blocked"].line_user_id == "U-recent"
        assert found["active"].state == "active"
        assert await session.get(WebhookEvent, "old") is None
        assert await session.get(WebhookEvent, "new") is not None
        from sqlmodel import select

        bodies = {r.retry_key: r.body for r in (await session.exec(select(SendRequest))).all()}
        assert bodies == {
            "k-old": {},
            "k-new": {"to": "U-recent"},
            "k-pending": {"to": "U-active"},
        }
        children = (await session.exec(select(Child))).all()
        assert children == []
    # Nothing is left to purge the second time.
    assert await jobs.purge(ctx, now) == {
        "job": "purge",
        "families": 0,
        "webhook_events": 0,
        "request_bodies": 0,
    }


async def test_recover_stranded_queues_pending_requests_in_no_queue(
    redis_clients: Callable[[], Any], sessions: Any
) -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=TOKYO)
    ages = {"fresh": 1, "stranded": 10, "in_flight": 10, "too_old": 13 * 60}
    async with transaction(sessions) as session:
        rows = {
            name: SendRequest(
                channel="line", retry_key=f"k-{name}", created_at=now - timedelta(minutes=m)
            )
            for name, m in ages.items()
        }
        rows["sent"] = SendRequest(
            channel="line", retry_key="k-sent", status="sent", created_at=now - timedelta(hours=1)
        )
        session.add_all(rows.values())
    ctx = context(redis_clients(), sessions)
    await ctx.queue.enqueue([rows["in_flight"].id])
    assert await jobs.recover_stranded(ctx, now) == {
        "job": "recover_stranded",
        "pending": 2,
        "queued": 1,
    }
    await ctx.queue.ensure_group()
    entries = await ctx.queue.read("c", 10, 0)
    assert sorted(e.send_id for e in entries) == sorted(
        [rows["in_flight"].id, rows["stranded"].id]
    )
    assert (await jobs.recover_stranded(ctx, now))["queued"] == 0


def test_every_job_is_scheduled_or_folded() -> None:
    assert set(jobs.JOBS) == {
        "daily_sweep",
        "release_due",
        "deadline_reminders",
        "recover_stranded",
        "purge",
        "quota_check",
    }
    assert NOW.astimezone(UTC).hour == 21
