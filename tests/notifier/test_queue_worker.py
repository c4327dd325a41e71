"""The delivery queue and its workers, on fakeredis and on a real Redis (both shapes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hagukumi.resources import make_redis
from notifier.ops import read_heartbeats
from notifier.queue import DeliveryQueue
from notifier.retry import backoff
from notifier.worker import Worker

T0 = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


class Retryable(Exception):
    """Stands in for notifier.channels.base.RetryableSendError."""

    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("try again")
        self.retry_after = retry_after


class FakeLine:
    """LINE's side of a push: a reused retry key is answered 409 and delivers nothing."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.delivered: Counter[str] = Counter()

    def push(self, retry_key: str) -> int:
        self.requests[retry_key] += 1
        if self.delivered[retry_key]:
            return 409
        self.delivered[retry_key] += 1
        return 200


class FakeDelivery:
    """`deliver` as notifier.delivering does it: idempotent by the SendRequest's stored state."""

    def __init__(self, line: FakeLine) -> None:
        self.line = line
        self.state: dict[int, str] = {}
        self.calls: Counter[int] = Counter()
        self.before_send: Callable[[int], Awaitable[None]] | None = None
        self.after_send: Callable[[int], Awaitable[None]] | None = None
        self.failures: dict[int, list[BaseException]] = {}

    async def deliver(self, send_id: int) -> str:
        self.calls[send_id] += 1
        if self.state.get(send_id) == "sent":
            return "sent"
        if self.failures.get(send_id):
            raise self.failures[send_id].pop(0)
        if self.before_send:
            await self.before_send(send_id)
        self.line.push(f"key-{send_id}")
        if self.after_send:
            await self.after_send(send_id)
        self.state[send_id] = "sent"
        return "sent"


@pytest.fixture
async def redis_clients(redis_url: str) -> AsyncIterator[Callable[[], Any]]:
    """Clients of the test's Redis: one shared fakeredis, or a new connection pool each."""
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


def worker(queue: DeliveryQueue, delivery: FakeDelivery, name: str, **kwargs: Any) -> Worker:
    kwargs.setdefault("block_ms", 0)
    return Worker(queue, delivery.deliver, consumer=name, retryable=(Retryable,), **kwargs)


async def test_enqueue_skips_ids_in_flight(redis_clients: Callable[[], Any]) -> None:
    queue = DeliveryQueue(redis_clients())
    await queue.ensure_group()
    await queue.ensure_group()  # BUSYGROUP is fine
    assert await queue.enqueue([1, 2, 3]) == 3
    assert await queue.enqueue([2, 3, 4]) == 1
    assert await queue.enqueue([]) == 0
    entries = await queue.read("c1", 10, 0)
    assert [e.send_id for e in entries] == [1, 2, 3, 4]
    assert await queue.pending_count() == 4
    await queue.ack(entries[:2])
    assert await queue.pending_count() == 2
    # Acknowledged ids may be queued again (a later send); unacknowledged ones may not.
    assert await queue.enqueue([1, 3]) == 1
    assert await queue.backlog() == {"inflight": 3, "pending": 2, "delayed": 0}


async def test_enqueue_before_the_group_exists_loses_nothing(
    redis_clients: Callable[[], Any],
) -> None:
    queue = DeliveryQueue(redis_clients())
    await queue.enqueue([7, 8])
    await queue.ensure_group()
    assert [e.send_id for e in await queue.read("c1", 10, 0)] == [7, 8]


async def test_two_workers_deliver_each_request_once(redis_clients: Callable[[], Any]) -> None:
    line = FakeLine()
    delivery = FakeDelivery(line)
    await DeliveryQueue(redis_clients()).enqueue(range(1, 101))
    workers = [
        worker(
            DeliveryQueue(redis_clients()), delivery, f"w{i}", batch=10, concurrency=4, block_ms=50
        )
        for i in (1, 2)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    async with asyncio.timeout(10):
        while len(delivery.state) < 100:
            await asyncio.sleep(0.02)
    stop.set()
    await asyncio.gather(*tasks)
    assert set(delivery.calls) == set(range(1, 101))
    assert set(delivery.calls.values()) == {1}
    assert set(line.requests.values()) == {1}
    assert sum(w.counts["delivered"] for w in workers) == 100
    assert await workers[0].queue.backlog() == {"inflight": 0, "pending": 0, "delayed": 0}


async def test_a_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    redis_clients: Callable[[], Any],
) -> None:
    line = FakeLine()
    delivery = FakeDelivery(line)
    ids = list(range(1, 21))
    await DeliveryQueue(redis_clients()).enqueue(ids)
    forever = asyncio.Event()
    started: set[int] = set()

    # Worker A: a third of its sends hang before reaching LINE, a third after LINE accepted
    # them but before the outcome was recorded; then A is killed.
    async def hang_before(send_id: int) -> None:
        started.add(send_id)
        if send_id % 3 == 0:
            await forever.wait()

    async def hang_after(send_id: int) -> None:
        if send_id % 3 == 1:
            await forever.wait()

    delivery.before_send, delivery.after_send = hang_before, hang_after
    a = worker(DeliveryQueue(redis_clients()), delivery, "a", batch=20, concurrency=20)
    task = asyncio.create_task(a.run_once(T0))
    done = [i for i in ids if i % 3 == 2]
    async with asyncio.timeout(5):
        while len(started) < len(ids) or a.counts["delivered"] < len(done):
            await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    hung = [i for i in ids if i % 3 in (0, 1)]
    assert sorted(i for i in ids if delivery.state.get(i) != "sent") == hung
    queue_b = DeliveryQueue(redis_clients())
    assert await queue_b.pending_count() == len(hung)

    # Worker B (the same database, so the same delivery state) claims them after 1 s idle (long
    # enough that a loaded machine still asks before they are idle).
    delivery.before_send = delivery.after_send = None
    b = worker(queue_b, delivery, "b", batch=50, claim_idle_ms=1000)
    assert await b.run_once(T0) == 0  # not idle long enough yet
    await asyncio.sleep(1.05)
    assert await b.run_once(T0) == len(hung)

    assert all(delivery.state[i] == "sent" for i in ids)
    # Each message reached the family once; only the ones LINE had accepted before the kill
    # were asked for again, with the same retry key (answered 409).
    assert line.delivered == Counter({f"key-{i}": 1 for i in ids})
    assert line.requests == Counter({f"key-{i}": 2 if i % 3 == 1 else 1 for i in ids})
    assert await queue_b.backlog() == {"inflight": 0, "pending": 0, "delayed": 0}


async def test_retryable_failures_back_off_then_deliver_once(
    redis_clients: Callable[[], Any],
) -> None:
    line = FakeLine()
    delivery = FakeDelivery(line)
    delivery.failures = {
        1: [Retryable(), Retryable()],  # exponential back-off: 1 s, then 2 s
        2: [Retryable(retry_after=10)],  # LINE said when
        3: [RuntimeError("database away")],  # unexpected: backs off the same way
    }
    queue = DeliveryQueue(redis_clients())
    await queue.enqueue([1, 2, 3, 4])
    w = worker(queue, delivery, "w")

    def at(seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    assert await w.run_once(at(0)) == 4
    assert delivery.state == {4: "sent"}
    assert await queue.backlog() == {"inflight": 3, "pending": 0, "delayed": 3}
    assert await w.run_once(at(0.5)) == 0
    assert await w.run_once(at(1)) == 2  # 1 fails again, 3 goes
    assert set(delivery.state) == {3, 4}
    assert await w.run_once(at(2.9)) == 0
    assert await w.run_once(at(3)) == 1
    assert await w.run_once(at(9.9)) == 0
    assert await w.run_once(at(10)) == 1
    assert set(delivery.state) == {1, 2, 3, 4}
    assert delivery.calls == Counter({1: 3, 2: 2, 3: 2, 4: 1})
    assert set(line.delivered.values()) == {1}
    assert w.counts == {"delivered": 4, "retried": 4, "abandoned": 0}
    assert await queue.backlog() == {"inflight": 0, "pending": 0, "delayed": 0}


async def test_retries_stop_after_the_give_up_time(redis_clients: Callable[[], Any]) -> None:
    delivery = FakeDelivery(FakeLine())
    delivery.failures = {1: [Retryable() for _ in range(10)]}
    queue = DeliveryQueue(redis_clients())
    await queue.enqueue([1])
    w = worker(queue, delivery, "w", give_up_after_s=5)
    for second in (0, 1, 3, 7):
        assert await w.run_once(T0 + timedelta(seconds=second)) == 1
    assert w.counts == {"delivered": 0, "retried": 3, "abandoned": 1}
    assert delivery.calls[1] == 4
    assert await queue.backlog() == {"inflight": 0, "pending": 0, "delayed": 0}


async def test_run_wakes_on_enqueue_and_stops(redis_clients: Callable[[], Any]) -> None:
    delivery = FakeDelivery(FakeLine())
    queue = DeliveryQueue(redis_clients())
    w = worker(queue, delivery, "w", block_ms=5000)
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop))
    await asyncio.sleep(0.05)
    await queue.enqueue([5])
    async with asyncio.timeout(3):
        while delivery.state.get(5) != "sent":
            await asyncio.sleep(0.01)
    # The running worker reports alive to the operator's view.
    assert "w" in await read_heartbeats(queue.redis, "worker", datetime.now(UTC))
    stop.set()
    async with asyncio.timeout(6):
        await task


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff(30) == 300.0


async def test_default_retryable_error_is_the_channels_one(
    redis_clients: Callable[[], Any],
) -> None:
    from notifier.channels.base import RetryableSendError

    queue = DeliveryQueue(redis_clients())
    error = RetryableSendError("busy")

    async def deliver(send_id: int) -> str:
        raise error

    w = Worker(queue, deliver, consumer="w", block_ms=0)
    await queue.enqueue([1])
    assert await w.run_once(T0) == 1
    assert w.counts["retried"] == 1


async def test_workers_drive_the_real_deliver_with_one_retry_key(
    redis_clients: Callable[[], Any], sessions: Any
) -> None:
    from notifier.channels.base import Channel, RetryableSendError, SendOutcome
    from notifier.models import Notice, SendRequest
    from notifier.worker import bind_deliver
    from registry.db import transaction
    from registry.models import Family

    class FlakyLine(Channel):
        name = "line"

        def __init__(self) -> None:
            self.keys: list[str] = []

        async def send(self, request: SendRequest) -> SendOutcome:
            self.keys.append(request.retry_key)
            if len(self.keys) == 1:
                raise RetryableSendError("LINE answered 500")
            return SendOutcome(accepted_request_id="req-1")

    async with transaction(sessions) as session:
        family = Family(line_user_id="U-1", state="active", consented_at=T0)
        request = SendRequest(channel="line", retry_key="key-1", body={"kind": "push"})
        session.add_all([family, request])
        await session.flush()
        session.add(
            Notice(
                family_id=family.id,
                subject="program:1",
                kind="eligible",
                cycle="2026",
                issuer="131130",
                status="scheduled",
                send_id=request.id,
                retry_key="key-1",
            )
        )
        send_id = request.id

    line = FlakyLine()
    queue = DeliveryQueue(redis_clients())
    await queue.enqueue([send_id])
    w = Worker(queue, bind_deliver(sessions, {"line": line}), consumer="w", block_ms=0)
    assert await w.run_once(T0) == 1
    assert await w.run_once(T0 + timedelta(seconds=1)) == 1
    assert line.keys == ["key-1", "key-1"]
    async with sessions() as session:
        stored = await session.get(SendRequest, send_id)
        assert (stored.status, stored.attempts) == ("sent", 2)
    # The entry is gone: queueing the id again delivers nothing more (already sent).
    await queue.enqueue([send_id])
    assert await w.run_once(T0 + timedelta(seconds=2)) == 1
    assert line.keys == ["key-1", "key-1"]
