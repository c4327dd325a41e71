"""The send loop: plan, then deliver every new request inline with bounded retries.

For tests, benchmarks and the embedded shape without a worker; in production the worker
(`notifier.worker`) delivers what `plan` queued. Both wait between tries by `notifier.retry`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier.channels.base import Channel, RetryableSendError
from notifier.delivering import Deliverer, QuotaHook, QuotaReport, tell_operator
from notifier.planning import plan
from notifier.retry import retry_delay

log = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]


async def send_due(
    sessions: Sessions,
    channels: Mapping[str, Channel],
    *,
    now: datetime,
    zone: tzinfo | str,
    quiet_hours: str,
    digest_at: str,
    max_requests: int | None = None,
    max_attempts: int = 8,
    backoff: float = 0.5,
    max_backoff: float = 30.0,
    concurrency: int = 8,
    on_quota_exhausted: QuotaHook | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> Counter[str]:
    """Plan, then deliver every new request inline with bounded retries; statuses counted.

    For tests and the embedded shape without a worker. LINE's remaining budget is read first
    (GET quota and quota/consumption) so that, when it cannot cover everything, nearer deadlines
    go first and the rest stays pending for the next budget.
    """
    budget: int | None = None
    line = channels.get("line")
    remaining = getattr(line, "remaining_quota", None)
    if remaining is not None:
        try:
            budget = await remaining()
        except RetryableSendError as exc:
            log.warning(
                "LINE quota unreadable; planning without a budget", extra={"error": str(exc)}
            )
    bodies: dict[int, dict[str, Any]] = {}
    ids = await plan(
        sessions,
        now=now,
        zone=zone,
        quiet_hours=quiet_hours,
        digest_at=digest_at,
        max_requests=max_requests,
        line_budget=budget,
        bodies=bodies,
    )
    told = False

    async def tell_once(report: QuotaReport) -> None:
        nonlocal told
        if not told:
            told = True
            await tell_operator(on_quota_exhausted, report)

    gate = asyncio.Semaphore(max(1, concurrency))
    deliver_one = Deliverer(sessions, channels, on_quota_exhausted=tell_once, known_bodies=bodies)

    async def one(send_id: int) -> str:
        async with gate:
            for attempt in range(1, max_attempts + 1):
                try:
                    return await deliver_one(send_id, now=now)
                except RetryableSendError as exc:
                    if attempt == max_attempts:
                        break
                    wait = retry_delay(attempt, exc.retry_after, base=backoff, cap=max_backoff)
                    await sleep(min(max_backoff, wait))
            return "pending"

    statuses = await asyncio.gather(*(one(i) for i in ids))
    return Counter(statuses)
