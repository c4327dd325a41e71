"""Delivery workers: read SendRequest ids from the queue, deliver each, acknowledge the final ones.

Any number of workers share one consumer group. Delivery is idempotent by the SendRequest's
state and its stored retry key (a SendRequest already sent is not sent again; a resend reuses
`X-Line-Retry-Key`, which LINE answers with 409 "already accepted"), so reading an entry twice
is harmless. That is what makes a dead worker cheap: its unacknowledged entries are claimed by
another after `claim_idle_ms` and delivered with the same key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from notifier.queue import DeliveryQueue, Entry, epoch_ms
from notifier.retry import retry_delay

log = logging.getLogger(__name__)

DeliverFn = Callable[[int], Awaitable[str]]
"""Deliver one SendRequest by id; returns its final status, raises a retryable error."""

HEARTBEAT_EVERY_S = 10.0
"""How often a running worker tells the operator's view it is alive."""

GIVE_UP_AFTER_S = 6 * 3600.0
"""Stop retrying six hours after the first failure: well inside the 24 hours during which LINE
honours a retry key, so a late retry can never become a second message."""


def default_consumer() -> str:
    """A consumer name unique to this process: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _retryable_errors() -> tuple[type[BaseException], ...]:
    from notifier.channels.base import RetryableSendError

    return (RetryableSendError,)


class Worker:
    """One delivery worker: a consumer of the group, delivering with bounded concurrency."""

    def __init__(
        self,
        queue: DeliveryQueue,
        deliver: DeliverFn,
        *,
        consumer: str,
        # Enough in flight to keep up with LINE's push rate (2,000 requests a second at some
        # 10-100 ms each); the LINE channel paces them and its connection pool bounds them.
        batch: int = 500,
        concurrency: int = 256,
        claim_idle_ms: int = 60_000,
        block_ms: int = 1000,
        retryable: tuple[type[BaseException], ...] | None = None,
        give_up_after_s: float = GIVE_UP_AFTER_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.queue = queue
        self.deliver = deliver
        self.consumer = consumer
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.retryable = retryable if retryable is not None else _retryable_errors()
        self.give_up_after_s = give_up_after_s
        self.clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        self.counts: dict[str, int] = {"delivered": 0, "retried": 0, "abandoned": 0}
        self._group_ready = False

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; the batch in hand is finished first."""
        from notifier.ops import record_heartbeat

        log.info("delivery worker started", extra={"consumer": self.consumer})
        beat_at = -HEARTBEAT_EVERY_S
        while not stop.is_set():
            started = time.monotonic()
            redis = getattr(self.queue, "redis", None)
            if redis is not None and started - beat_at >= HEARTBEAT_EVERY_S:
                beat_at = started
                await record_heartbeat(redis, "worker", self.consumer, self.clock())
            try:
                handled = await self.run_once()
            except (RedisError, OSError) as exc:
                # Redis gone for a moment (or restarted empty): wait and try again, group and
                # all, rather than die.
                self._group_ready = False
                log.warning("delivery queue unreachable", extra={"error": type(exc).__name__})
                await _wait(stop, 1.0)
                continue
            except Exception as exc:
                log.exception("delivery pass failed", extra={"error": type(exc).__name__})
                await _wait(stop, 1.0)
                continue
            if handled == 0:
                # XREADGROUP BLOCK already waited on a real Redis; fakeredis answers at once,
                # so wait out the rest here (an enqueue in this process wakes us early).
                rest = self.block_ms / 1000 - (time.monotonic() - started)
                if rest > 0:
                    await _wait(stop, rest, self.queue.wakeup)
        with contextlib.suppress(Exception):
            await self.queue.remove_consumer(self.consumer)
        log.info("delivery worker stopped", extra={"consumer": self.consumer, **self.counts})

    async def run_once(self, now: datetime | None = None, *, block_ms: int | None = None) -> int:
        """One pass: due retries back on the stream, stale entries claimed, new ones read, all
        delivered. Returns the number of entries handled."""
        now = now or self.clock()
        if not self._group_ready:
            await self.queue.ensure_group()
            self._group_ready = True
        self.queue.wakeup.clear()
        await self.queue.promote_due(now)
        entries = await self.queue.claim_stale(self.consumer, self.claim_idle_ms, self.batch)
        if len(entries) < self.batch:
            # Block for new work only when there is nothing in hand already.
            wait = 0 if entries else (self.block_ms if block_ms is None else block_ms)
            entries += await self.queue.read(self.consumer, self.batch - len(entries), wait)
        if entries:
            # Every entry finishes before the pass ends, even when one hits a Redis error.
            results = await asyncio.gather(
                *(self._handle(entry, now) for entry in entries), return_exceptions=True
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                raise errors[0]
        return len(entries)

    async def _handle(self, entry: Entry, now: datetime) -> None:
        async with self._slots:
            try:
                status = await self.deliver(entry.send_id)
            except self.retryable as exc:
                delay = getattr(exc, "retry_after", None)
                await self._retry(entry, now, delay, type(exc).__name__)
                return
            except Exception as exc:
                # A bug or the database away: back off like a retryable failure, so one bad
                # entry neither spins nor blocks the others; give-up bounds it.
                log.exception(
                    "delivery raised",
                    extra={"send_id": entry.send_id, "error": type(exc).__name__},
                )
                await self._retry(entry, now, None, type(exc).__name__)
                return
            await self.queue.ack([entry])
            self.counts["delivered"] += 1
            log.debug("delivered", extra={"send_id": entry.send_id, "status": status})

    async def _retry(
        self, entry: Entry, now: datetime, retry_after: float | None, error: str
    ) -> None:
        first_ms = entry.first_failed_ms if entry.first_failed_ms is not None else epoch_ms(now)
        if (epoch_ms(now) - first_ms) / 1000 >= self.give_up_after_s:
            await self.queue.ack([entry])
            self.counts["abandoned"] += 1
            log.error(
                "delivery abandoned",
                extra={"send_id": entry.send_id, "attempts": entry.attempt + 1, "error": error},
            )
            return
        delay = retry_delay(entry.attempt + 1, retry_after)
        await self.queue.retry_later(entry, delay, now=now)
        self.counts["retried"] += 1
        log.info(
            "delivery retry scheduled",
            extra={"send_id": entry.send_id, "attempt": entry.attempt + 1, "delay_s": delay},
        )


def bind_deliver(
    sessions: Any,
    channels: Any,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_quota_exhausted: Callable[..., Any] | None = None,
) -> DeliverFn:
    """A `notifier.delivering.Deliverer` bound to its resources, as a worker wants it: the
    entries of a batch are started and recorded in shared transactions."""
    from notifier.delivering import Deliverer

    deliverer = Deliverer(sessions, channels, on_quota_exhausted=on_quota_exhausted)

    async def deliver_one(send_id: int) -> str:
        return await deliverer(send_id, now=clock())

    return deliver_one


async def _wait(stop: asyncio.Event, seconds: float, wakeup: asyncio.Event | None = None) -> None:
    """Sleep up to `seconds`, returning early when stop (or wakeup) is set."""
    events = [stop] if wakeup is None else [stop, wakeup]
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
