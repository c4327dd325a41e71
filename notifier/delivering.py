"""Send stored SendRequests and record what happened: `deliver`, and `Deliverer` for many.

`deliver` sends one stored request with its stored retry key and body, as often as the worker
asks, and records the outcome; the exception type of the channel decides between retrying
(re-raised for the caller's back-off, `notifier.retry`), failing for good and stopping LINE for
the month. `Deliverer` does the same for many requests in flight, sharing the database's
transactions between them through `MicroBatch` (group commit).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, bindparam, or_, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier import ledger
from notifier.channels.base import (
    Channel,
    Outgoing,
    PermanentSendError,
    QuotaExhausted,
    RetryableSendError,
)
from notifier.models import Notice, SendRequest
from notifier.planning import chunks
from notifier.timing import as_utc

log = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]
ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

MAX_ERROR = 500  # SendRequest.last_error
MAX_REASON = 200  # Notice.reason


@dataclass(frozen=True, slots=True)
class QuotaReport:
    """LINE's monthly limit was reached: what was stopped (for the operator's log and metric)."""

    send_id: int
    requests: int
    notices: int
    reason: str
    at: datetime


QuotaHook = Callable[[QuotaReport], Awaitable[None] | None]


async def _notices_of(session: AsyncSession, send_ids: Sequence[int]) -> list[Notice]:
    found: list[Notice] = []
    for chunk in chunks(send_ids):
        rows = await session.exec(select(Notice).where(col(Notice.send_id).in_(list(chunk))))
        found.extend(rows.all())
    return found


Started = tuple[Outgoing | None, str | None]
"""A request to send now (the attempt counted), or None and the status that says why not."""


async def _start_many(
    sessions: Sessions,
    send_ids: Sequence[int],
    channels: Mapping[str, Channel],
    known: Mapping[int, dict[str, Any]] | None = None,
) -> list[Started | LookupError]:
    """Count one more attempt for each request, in one transaction; aligned with `send_ids`.

    A request no longer pending says its status; one whose notices were all withdrawn meanwhile
    (blocked, deleted) is suppressed, as nobody is left to tell. Plain SQL, no ORM objects:
    at LINE's push rate this runs for hundreds of requests every few milliseconds. Bodies in
    `known` (what `plan` just stored) are not read back.
    """
    request_table = SendRequest.__table__  # type: ignore[attr-defined]
    notice_table = Notice.__table__  # type: ignore[attr-defined]
    unique = list(dict.fromkeys(send_ids))
    async with sessions() as session, session.begin():
        connection = await session.connection()
        rows: dict[int, Any] = {}
        read_bodies = known is None
        columns = [
            request_table.c.id,
            request_table.c.channel,
            request_table.c.retry_key,
            request_table.c.status,
            request_table.c.attempts,
        ]
        for chunk in chunks(unique):
            found = await connection.execute(
                select(  # type: ignore[call-overload]
                    *columns, *([request_table.c.body] if read_bodies else [])
                )
                .where(request_table.c.id.in_(list(chunk)))
                .with_for_update()
            )
            rows.update((row.id, row) for row in found.all())
        body_of: dict[int, dict[str, Any]] = (
            {i: row.body for i, row in rows.items()} if read_bodies else dict(known or {})
        )
        unknown = [i for i in rows if i not in body_of]
        for chunk in chunks(unknown):
            found = await connection.execute(
                select(request_table.c.id, request_table.c.body).where(  # type: ignore[call-overload]
                    request_table.c.id.in_(list(chunk))
                )
            )
            body_of.update((row.id, row.body) for row in found.all())
        pending = [
            i
            for i in unique
            if i in rows and rows[i].status == "pending" and rows[i].channel in channels
        ]
        live: set[int] = set()
        for chunk in chunks(pending):
            found = await connection.execute(
                select(notice_table.c.send_id)  # type: ignore[call-overload]
                .where(
                    notice_table.c.send_id.in_(list(chunk)),
                    notice_table.c.status == "scheduled",
                )
                .distinct()
            )
            live.update(found.scalars().all())
        empty = [i for i in pending if i not in live]
        going = [i for i in pending if i in live]
        for chunk in chunks(empty):
            await connection.execute(
                update(request_table)
                .where(request_table.c.id.in_(list(chunk)))
                .values(status="suppressed", last_error="no notice left to send")
            )
        for chunk in chunks(going):
            await connection.execute(
                update(request_table)
                .where(request_table.c.id.in_(list(chunk)))
                .values(attempts=request_table.c.attempts + 1)
            )
            await connection.execute(
                update(notice_table)
                .where(
                    notice_table.c.send_id.in_(list(chunk)),
                    notice_table.c.status == "scheduled",
                )
                .values(attempts=notice_table.c.attempts + 1)
            )
    gone = set(empty)
    results: list[Started | LookupError] = []
    for send_id in send_ids:
        row = rows.get(send_id)
        if row is None:
            results.append(LookupError(f"no send request {send_id}"))
        elif row.status != "pending":
            results.append((None, row.status))
        elif row.channel not in channels:
            results.append(
                LookupError(f"no channel {row.channel!r} to deliver send request {send_id}")
            )
        elif send_id in gone:
            results.append((None, "suppressed"))
        else:
            outgoing = Outgoing(
                row.id, row.channel, row.retry_key, body_of[row.id], row.attempts + 1
            )
            results.append((outgoing, None))
    return results


async def _start(sessions: Sessions, send_id: int, channels: Mapping[str, Channel]) -> Started:
    result = (await _start_many(sessions, [send_id], channels))[0]
    if isinstance(result, LookupError):
        raise result
    return result


class MicroBatch(Generic[ItemT, ResultT]):
    """Gathers concurrent calls into one `run` (group commit).

    At LINE's rates (2,000 pushes a second) a transaction per request would make the database,
    not LINE, the limit. A batch starts `max_delay` seconds after its first call, or at once
    when `max_items` are waiting; while a batch runs, the calls arriving meanwhile wait and go
    together in the next one, so the batches grow as the database gets busier instead of
    queueing up one small transaction after another. Each caller still waits for its own
    result: `run` returns one per item, in order, an exception instance meaning "raise this to
    that caller".
    """

    def __init__(
        self,
        run: Callable[[list[ItemT]], Awaitable[Sequence[ResultT | BaseException]]],
        *,
        max_delay: float = 0.005,
        max_items: int = 500,
    ) -> None:
        self.run = run
        self.max_delay = max_delay
        self.max_items = max_items
        self._items: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: asyncio.Task[None] | None = None

    async def __call__(self, item: ItemT) -> ResultT:
        """`run`'s result for `item`, once the batch it joined has run."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[ResultT] = loop.create_future()
        self._items.append((item, done))
        if len(self._items) >= self.max_items:
            self._start_run()
        elif self._timer is None and self._running is None:
            self._timer = loop.call_later(self.max_delay, self._start_run)
        return await done

    def _start_run(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._running is not None or not self._items:
            return  # the running batch starts the next one when it ends
        items = self._items[: self.max_items]
        del self._items[: self.max_items]
        task = asyncio.get_running_loop().create_task(self._run(items))
        self._running = task
        task.add_done_callback(self._ended)

    def _ended(self, _task: asyncio.Task[None]) -> None:
        self._running = None
        if self._items:
            self._start_run()

    async def _run(self, items: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        try:
            results = list(await self.run([item for item, _ in items]))
            if len(results) != len(items):
                raise RuntimeError(f"a batch of {len(items)} got {len(results)} results")
        except BaseException as exc:
            # Nobody may be left waiting: every caller of the batch gets the failure (a
            # cancelled batch, too, as a CancelledError).
            for _, done in items:
                if not done.done():
                    done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, done), result in zip(items, results, strict=True):
            if done.done():
                continue
            if isinstance(result, BaseException):
                done.set_exception(result)
            else:
                done.set_result(result)


async def _finish_sent(
    sessions: Sessions, send_id: int, accepted: str | None, now: datetime
) -> None:
    await _record_sent(sessions, [(send_id, accepted, now)])


FinishSent = Callable[[tuple[int, str | None, datetime]], Awaitable[None]]
StartFn = Callable[[int], Awaitable[Started]]


async def _record_sent(
    sessions: Sessions, outcomes: Sequence[tuple[int, str | None, datetime]]
) -> list[None]:
    """Mark requests and their notices sent, in one transaction."""
    request_table = SendRequest.__table__  # type: ignore[attr-defined]
    notice_table = Notice.__table__  # type: ignore[attr-defined]
    async with sessions() as session, session.begin():
        await session.execute(
            update(request_table)
            .where(request_table.c.id == bindparam("b_id"))
            .values(
                status="sent",
                sent_at=bindparam("b_now"),
                accepted_request_id=bindparam("b_accepted"),
                last_error=None,
            ),
            [
                {"b_id": send_id, "b_now": now, "b_accepted": (accepted or "")[:64] or None}
                for send_id, accepted, now in outcomes
            ],
        )
        by_time: dict[datetime, list[int]] = defaultdict(list)
        for send_id, _accepted, now in outcomes:
            by_time[now].append(send_id)
        for now, ids in by_time.items():
            for chunk in chunks(ids):
                # LINE took it: that is the truth, even if a quota stop marked it meanwhile.
                await session.execute(
                    update(notice_table)
                    .where(
                        notice_table.c.send_id.in_(list(chunk)),
                        or_(
                            notice_table.c.status == "scheduled",
                            and_(
                                notice_table.c.status == "suppressed",
                                notice_table.c.reason == "quota",
                            ),
                        ),
                    )
                    .values(status="sent", reason=None, sent_at=now, updated_at=now)
                )
    return [None] * len(outcomes)


async def _finish_failed(sessions: Sessions, send_id: int, reason: str, now: datetime) -> None:
    async with sessions() as session, session.begin():
        request = await session.get(SendRequest, send_id, with_for_update=True)
        assert request is not None
        request.status = "failed"
        request.last_error = reason[:MAX_ERROR]
        for notice in await _notices_of(session, [send_id]):
            if notice.status == "scheduled":
                ledger.mark(notice, "failed", reason[:MAX_REASON])
                notice.updated_at = now


async def _note_error(sessions: Sessions, send_id: int, error: str) -> None:
    async with sessions() as session, session.begin():
        request = await session.get(SendRequest, send_id)
        if request is not None:
            request.last_error = error[:MAX_ERROR]


async def stop_line(sessions: Sessions, reason: str, now: datetime) -> tuple[int, int]:
    """Suppress (reason quota) every LINE request not yet sent; (requests, notices) stopped."""
    async with sessions() as session, session.begin():
        rows = await session.exec(
            select(SendRequest)
            .where(col(SendRequest.channel) == "line", col(SendRequest.status) == "pending")
            .with_for_update()
        )
        requests = list(rows.all())
        ids = [r.id for r in requests if r.id is not None]
        for request in requests:
            request.status = "suppressed"
            request.last_error = reason[:MAX_ERROR]
        stopped = 0
        notice_table = Notice.__table__  # type: ignore[attr-defined]
        for chunk in chunks(ids):
            result = await session.execute(
                update(notice_table)
                .where(
                    notice_table.c.send_id.in_(list(chunk)),
                    notice_table.c.status == "scheduled",
                )
                .values(status="suppressed", reason="quota", updated_at=now)
            )
            stopped += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return len(ids), stopped


async def tell_operator(hook: QuotaHook | None, report: QuotaReport) -> None:
    """Call the operator's hook (sync or async); its failure must not undo the stop."""
    if hook is None:
        return
    try:
        result = hook(report)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("the quota hook failed", extra={"send_id": report.send_id})


async def deliver(
    sessions: Sessions,
    send_id: int,
    channels: Mapping[str, Channel],
    *,
    now: datetime,
    on_quota_exhausted: QuotaHook | None = None,
    start: StartFn | None = None,
    finish_sent: FinishSent | None = None,
) -> str:
    """Send one stored request (same key, same body) and record the outcome; its final status.

    Idempotent: a request already sent, failed or suppressed is left alone. A
    RetryableSendError is recorded and re-raised for the worker to retry with back-off.
    `start` and `finish_sent` replace the one-request transactions (a Deliverer's batches).
    """
    now = as_utc(now)
    if start is not None:
        request, status = await start(send_id)
    else:
        request, status = await _start(sessions, send_id, channels)
    if request is None:
        return status or "pending"
    channel = channels[request.channel]
    try:
        outcome = await channel.send(request)
    except RetryableSendError as exc:
        await _note_error(sessions, send_id, str(exc))
        log.info(
            "send will be retried",
            extra={"send_id": send_id, "attempts": request.attempts, "error": str(exc)[:120]},
        )
        raise
    except QuotaExhausted as exc:
        requests, notices = await stop_line(sessions, exc.reason, now)
        if requests == 0:
            # Another request in flight met the limit first and stopped the rest (this one
            # included): the operator has been told.
            log.info("LINE monthly limit: sends already stopped", extra={"send_id": send_id})
            return "suppressed"
        report = QuotaReport(send_id, requests, notices, exc.reason, now)
        log.error(
            "LINE monthly limit reached: LINE pushes stopped until the next budget",
            extra={"send_id": send_id, "requests": requests, "notices": notices},
        )
        await tell_operator(on_quota_exhausted, report)
        return "suppressed"
    except PermanentSendError as exc:
        await _finish_failed(sessions, send_id, exc.reason, now)
        log.warning("send failed for good", extra={"send_id": send_id, "reason": exc.reason[:200]})
        return "failed"
    if finish_sent is not None:
        await finish_sent((send_id, outcome.accepted_request_id, now))
    else:
        await _finish_sent(sessions, send_id, outcome.accepted_request_id, now)
    return "sent"


class Deliverer:
    """`deliver` for many requests at once (a worker's batch, a large send).

    Starting requests (counting the attempt) and recording successes share transactions across
    the requests in flight, so the database keeps up with LINE's push rate; failures, rare, are
    recorded one by one as before.
    """

    def __init__(
        self,
        sessions: Sessions,
        channels: Mapping[str, Channel],
        *,
        on_quota_exhausted: QuotaHook | None = None,
        max_items: int = 500,
        known_bodies: Mapping[int, dict[str, Any]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.channels = channels
        self.on_quota_exhausted = on_quota_exhausted

        async def start_many(ids: list[int]) -> list[Started | LookupError]:
            return await _start_many(sessions, ids, channels, known_bodies)

        async def record_sent(
            outcomes: list[tuple[int, str | None, datetime]],
        ) -> list[None]:
            return await _record_sent(sessions, outcomes)

        self._start: MicroBatch[int, Started] = MicroBatch(
            start_many, max_delay=0.005, max_items=max_items
        )
        self._sent: MicroBatch[tuple[int, str | None, datetime], None] = MicroBatch(
            record_sent, max_delay=0.02, max_items=max_items
        )

    async def __call__(self, send_id: int, *, now: datetime) -> str:
        """Deliver one request as `deliver` does; its final status."""
        return await deliver(
            self.sessions,
            send_id,
            self.channels,
            now=now,
            on_quota_exhausted=self.on_quota_exhausted,
            start=self._start,
            finish_sent=self._sent,
        )
