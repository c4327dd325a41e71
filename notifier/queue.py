"""The delivery queue: SendRequest ids on a Redis stream read by a consumer group of workers.

Keys (all under one prefix):

* `<stream>`: entries `{"send_id", "attempt", "first_failed_ms"}`; read with XREADGROUP, so an
  entry a worker read but never acknowledged (it died mid-batch) stays pending and another
  worker claims it with XAUTOCLAIM after a time-out.
* `<stream>:inflight`: a set of the send ids now in the stream or waiting for a retry. Enqueueing
  an id already in flight adds nothing, so the minute-by-minute release and the sweep may both
  hand over the same ids without doubling the work.
* `<stream>:delayed`: a sorted set of retries, scored by their not-before time (ms since the
  epoch). `promote_due` moves the due ones back onto the stream.

Every step that moves an id between these keys is atomic (a Lua script or MULTI/EXEC), so an id
in flight is always either in the stream or in the delayed set, whatever process dies when.
Acknowledged entries are deleted from the stream too: nothing reads them again, and the stream
stays as small as the backlog.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from redis.exceptions import ResponseError

STREAM = "hagukumi:deliveries"
GROUP = "workers"

_ENQUEUE = """
local added = 0
for i = 1, #ARGV do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[1], '*', 'send_id', ARGV[i])
    added = added + 1
  end
end
return added
"""

_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local send_id, attempt, first = string.match(member, '^(%d+):(%d+):(%d+)$')
  if send_id then
    redis.call('XADD', KEYS[1], '*', 'send_id', send_id, 'attempt', attempt,
      'first_failed_ms', first)
  end
  redis.call('ZREM', KEYS[2], member)
end
return #due
"""


class Entry(NamedTuple):
    """One stream entry: a SendRequest to deliver, and how many times it failed before."""

    entry_id: str
    send_id: int
    attempt: int = 0
    first_failed_ms: int | None = None


def epoch_ms(moment: datetime) -> int:
    """A timezone-aware moment as milliseconds since the epoch."""
    return math.floor(moment.timestamp() * 1000)


class DeliveryQueue:
    """SendRequest ids waiting for a worker, on a Redis stream with one consumer group."""

    def __init__(self, redis: Any, stream: str = STREAM, group: str = GROUP) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.inflight_key = f"{stream}:inflight"
        self.delayed_key = f"{stream}:delayed"
        # Wakes workers of this process at once after an enqueue; in-process fakeredis never
        # blocks in XREADGROUP, and a real Redis wakes other processes by itself.
        self.wakeup = asyncio.Event()

    async def ensure_group(self) -> None:
        """Create the stream and its consumer group unless they exist."""
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def enqueue(self, send_ids: Iterable[int]) -> int:
        """Queue SendRequests for delivery; ids already in flight are skipped. Returns how many
        were added."""
        ids = [str(int(i)) for i in send_ids]
        added = 0
        # Chunks keep a single script from holding Redis for long on a huge sweep.
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            added += int(
                await self.redis.eval(_ENQUEUE, 2, self.stream, self.inflight_key, *chunk)
            )
        if added:
            self.wakeup.set()
        return added

    async def read(self, consumer: str, count: int, block_ms: int | None = None) -> list[Entry]:
        """New entries for this consumer; blocks up to block_ms when there are none (0 or None:
        do not block)."""
        block = block_ms if block_ms and block_ms > 0 else None
        reply = await self.redis.xreadgroup(
            self.group, consumer, {self.stream: ">"}, count=count, block=block
        )
        entries: list[Entry] = []
        for _stream, messages in reply or []:
            entries.extend(_entries(messages))
        return entries

    async def claim_stale(self, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
        """Take over entries another consumer read but left unacknowledged for min_idle_ms."""
        reply = await self.redis.xautoclaim(
            self.stream,
            self.group,
            consumer,
            min_idle_time=min_idle_ms,
            start_id="0-0",
            count=count,
        )
        return _entries(reply[1])

    async def ack(self, entries: Iterable[Entry]) -> None:
        """Done with these entries (delivered, or given up): forget them for good."""
        entries = list(entries)
        if not entries:
            return
        entry_ids = [e.entry_id for e in entries]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, self.group, *entry_ids)
            pipe.xdel(self.stream, *entry_ids)
            pipe.srem(self.inflight_key, *[str(e.send_id) for e in entries])
            await pipe.execute()

    async def retry_later(self, entry: Entry, delay_s: float, *, now: datetime) -> None:
        """Acknowledge the entry and queue its send id again once delay_s has passed.

        A delayed set rather than leaving the entry pending: pending entries come back only after
        the claim time-out, whereas a retry wants its own back-off (or LINE's Retry-After).
        """
        attempt = entry.attempt + 1
        first = entry.first_failed_ms if entry.first_failed_ms is not None else epoch_ms(now)
        due = epoch_ms(now) + max(0, math.ceil(delay_s * 1000))
        member = f"{entry.send_id}:{attempt}:{first}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self.delayed_key, {member: due})
            pipe.xack(self.stream, self.group, entry.entry_id)
            pipe.xdel(self.stream, entry.entry_id)
            await pipe.execute()

    async def promote_due(self, now: datetime, count: int = 500) -> int:
        """Move retries whose time has come back onto the stream; returns how many moved."""
        moved = int(
            await self.redis.eval(_PROMOTE, 2, self.stream, self.delayed_key, epoch_ms(now), count)
        )
        if moved:
            self.wakeup.set()
        return moved

    async def pending_count(self) -> int:
        """Entries read by some worker and not yet acknowledged."""
        try:
            summary = await self.redis.xpending(self.stream, self.group)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):
                return 0  # nothing was ever read
            raise
        return int(summary["pending"])

    async def backlog(self) -> dict[str, int]:
        """Sizes for health checks and metrics: in flight, pending, waiting for a retry."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.scard(self.inflight_key)
            pipe.zcard(self.delayed_key)
            inflight, delayed = await pipe.execute()
        return {
            "inflight": int(inflight),
            "pending": await self.pending_count(),
            "delayed": int(delayed),
        }

    async def remove_consumer(self, consumer: str) -> bool:
        """Forget a consumer that holds no pending entry (a worker stopping cleanly)."""
        for info in await self.redis.xinfo_consumers(self.stream, self.group):
            if info["name"] == consumer and int(info["pending"]) == 0:
                await self.redis.xgroup_delconsumer(self.stream, self.group, consumer)
                return True
        return False


def _entries(messages: Iterable[Any]) -> list[Entry]:
    entries = []
    for entry_id, fields in messages:
        # An entry deleted while pending comes back without fields (Redis < 7): nothing to do.
        if not fields or "send_id" not in fields:
            continue
        first = fields.get("first_failed_ms")
        entries.append(
            Entry(
                entry_id=entry_id,
                send_id=int(fields["send_id"]),
                attempt=int(fields.get("attempt", 0)),
                first_failed_ms=int(first) if first is not None else None,
            )
        )
    return entries
