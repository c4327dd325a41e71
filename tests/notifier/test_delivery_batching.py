"""Group commit in delivery: MicroBatch, starting many requests at once, the Deliverer, and the
requests `plan` stores.

MicroBatch's timer is the event loop's own; the tests never wait on it for an assertion: they
let the loop turn (`settle`) and use `max_delay=0` or an hour where its firing must not matter.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from notifier import delivering
from notifier.channels.base import Channel, Outgoing, Sendable, SendOutcome
from notifier.delivering import Deliverer, MicroBatch, _start_many
from notifier.models import Notice, SendRequest
from notifier.planning import plan
from registry.db import transaction
from registry.models import AppSubscription, Family

JST = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=JST)
FAR = date(2027, 3, 31)
TEXT = {"type": "text", "text": "はぐくみからのお知らせ"}


async def settle(turns: int = 20) -> None:
    """Let the event loop run everything that is ready, without waiting on any clock."""
    for _ in range(turns):
        await asyncio.sleep(0)


class Recorder:
    """A `run` for MicroBatch that records each batch and answers `item * 10`."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()
        self.active = 0
        self.most_active = 0

    async def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        self.started.set()
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            if self.gate is not None:
                await self.gate.wait()
            return [item * 10 for item in items]
        finally:
            self.active -= 1


# -- MicroBatch ---------------------------------------------------------------------------------


async def test_fifty_concurrent_calls_make_one_run_and_each_gets_its_own_result() -> None:
    run = Recorder()
    batch: MicroBatch[int, int] = MicroBatch(run, max_delay=0.005, max_items=500)
    results = await asyncio.gather(*(batch(i) for i in range(50)))
    assert results == [i * 10 for i in range(50)]
    assert run.batches == [list(range(50))]


async def test_calls_made_while_a_run_is_in_progress_go_together_in_the_next_run() -> None:
    run = Recorder()
    run.gate = asyncio.Event()
    batch: MicroBatch[int, int] = MicroBatch(run, max_delay=0, max_items=500)
    first = asyncio.create_task(batch(0))
    await run.started.wait()
    waiting = [asyncio.create_task(batch(i)) for i in range(1, 11)]
    await settle()
    # max_delay is 0: a timer per call would have started runs by now; none may start.
    assert run.batches == [[0]]
    assert not first.done() and not any(task.done() for task in waiting)

    run.gate.set()
    await settle()
    assert first.done() and all(task.done() for task in waiting)
    assert first.result() == 0
    assert [task.result() for task in waiting] == [i * 10 for i in range(1, 11)]
    assert run.batches == [[0], list(range(1, 11))]

    # And the batcher is ready for the next round: a lone call runs on its own.
    lone = asyncio.create_task(batch(99))
    await settle()
    assert lone.done() and lone.result() == 990
    assert run.batches == [[0], list(range(1, 11)), [99]]


async def test_calls_arriving_during_each_run_form_one_batch_per_run() -> None:
    run = Recorder()
    run.gate = asyncio.Event()
    batch: MicroBatch[int, int] = MicroBatch(run, max_delay=0, max_items=500)
    tasks = [asyncio.create_task(batch(0))]
    await run.started.wait()
    tasks += [asyncio.create_task(batch(i)) for i in (1, 2, 3)]
    await settle()
    # Let the first run end but hold the second one, then add more calls meanwhile.
    gate, run.gate = run.gate, asyncio.Event()
    gate.set()
    await settle()
    assert run.batches == [[0], [1, 2, 3]]
    tasks += [asyncio.create_task(batch(i)) for i in (4, 5, 6, 7)]
    await settle()
    assert run.batches == [[0], [1, 2, 3]]
    run.gate.set()
    await settle()
    assert all(task.done() for task in tasks)
    assert [task.result() for task in tasks] == [i * 10 for i in range(8)]
    assert run.batches == [[0], [1, 2, 3], [4, 5, 6, 7]]
    assert run.most_active == 1


async def test_max_items_starts_a_run_at_once() -> None:
    run = Recorder()
    # An hour's delay: only max_items can start a run while the test looks.
    batch: MicroBatch[int, int] = MicroBatch(run, max_delay=3600, max_items=10)
    tasks = [asyncio.create_task(batch(i)) for i in range(3)]
    await settle()
    assert run.batches == [] and not any(task.done() for task in tasks)
    tasks += [asyncio.create_task(batch(i)) for i in range(3, 10)]
    await settle()
    assert all(task.done() for task in tasks)
    assert [task.result() for task in tasks] == [i * 10 for i in range(10)]
    assert run.batches == [list(range(10))]


async def test_max_items_splits_a_crowd_into_full_batches_and_the_rest() -> None:
    run = Recorder()
    batch: MicroBatch[int, int] = MicroBatch(run, max_delay=3600, max_items=10)
    tasks = [asyncio.create_task(batch(i)) for i in range(25)]
    await settle()
    # The calls left over when a full batch ends go next, without waiting for the delay.
    assert all(task.done() for task in tasks)
    assert [task.result() for task in tasks] == [i * 10 for i in range(25)]
    assert run.batches == [list(range(0, 10)), list(range(10, 20)), list(range(20, 25))]


async def test_a_full_batch_waits_for_the_running_one_to_end() -> None:
    run = Recorder()
    run.gate = asyncio.Event()
    batch: MicroBatch[int, int] = MicroBatch(run, max_delay=3600, max_items=3)
    tasks = [asyncio.create_task(batch(i)) for i in range(3)]
    await run.started.wait()
    tasks += [asyncio.create_task(batch(i)) for i in range(3, 10)]
    await settle()
    # Seven calls waiting, more than max_items, yet no second run while the first holds.
    assert run.batches == [[0, 1, 2]]
    run.gate.set()
    await settle()
    assert all(task.done() for task in tasks)
    assert [task.result() for task in tasks] == [i * 10 for i in range(10)]
    assert run.batches == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert run.most_active == 1


async def test_an_exception_result_goes_only_to_its_caller() -> None:
    problem = LookupError("no send request 2")

    async def run(items: list[int]) -> list[int | BaseException]:
        return [problem if item == 2 else item * 10 for item in items]

    batch: MicroBatch[int, int] = MicroBatch(run, max_delay=0)
    results = await asyncio.gather(*(batch(i) for i in range(5)), return_exceptions=True)
    assert results == [0, 10, problem, 30, 40]
    assert results[2] is problem


async def test_a_failing_run_fails_every_caller_of_its_batch_and_later_batches_work() -> None:
    calls: list[list[int]] = []
    broken = RuntimeError("database went away")

    async def run(items: list[int]) -> list[int | BaseException]:
        calls.append(list(items))
        if len(calls) == 1:
            raise broken
        return [item * 10 for item in items]

    batch: MicroBatch[int, int] = MicroBatch(run, max_delay=0)
    first = await asyncio.gather(*(batch(i) for i in range(4)), return_exceptions=True)
    assert first == [broken] * 4
    assert all(result is broken for result in first)
    assert await asyncio.gather(*(batch(i) for i in range(4, 7))) == [40, 50, 60]
    assert calls == [[0, 1, 2, 3], [4, 5, 6]]


# -- the database -------------------------------------------------------------------------------


def user(index: int) -> str:
    return f"U{index:032x}"


async def add_family(sessions: Any, index: int, **fields: Any) -> int:
    async with transaction(sessions) as session:
        family = Family(
            line_user_id=user(index),
            state="active",
            consented_at=datetime(2026, 11, 1, tzinfo=UTC),
            language="ja",
            municipality="131130",
            **fields,
        )
        session.add(family)
        await session.flush()
        assert family.id is not None
        return family.id


async def add_request(
    sessions: Any,
    family_id: int,
    *,
    status: str = "pending",
    channel: str = "line",
    attempts: int = 0,
    notices: Sequence[str] = ("scheduled",),
) -> int:
    """A stored SendRequest and notices (of the given statuses) pointing at it."""
    key = str(uuid.uuid4())
    async with transaction(sessions) as session:
        request = SendRequest(
            channel=channel,
            retry_key=key,
            body={"kind": "push", "to": user(family_id), "messages": [TEXT]},
            status=status,
            attempts=attempts,
        )
        session.add(request)
        await session.flush()
        assert request.id is not None
        for index, notice_status in enumerate(notices):
            session.add(
                Notice(
                    family_id=family_id,
                    subject=f"program:{request.id}-{index}",
                    kind="eligible",
                    cycle="2026",
                    issuer="131130",
                    category="allowance",
                    status=notice_status,
                    send_id=request.id,
                    retry_key=key,
                    payload={"name": {"ja": "テスト手当"}},
                )
            )
        return request.id


async def stored(sessions: Any, send_id: int) -> tuple[SendRequest, list[Notice]]:
    async with sessions() as session:
        request = await session.get(SendRequest, send_id)
        assert request is not None
        rows = await session.exec(
            select(Notice).where(col(Notice.send_id) == send_id).order_by(col(Notice.id))
        )
        return request, list(rows.all())


class FakeLine(Channel):
    """A LINE channel that accepts everything and remembers what it was given."""

    name = "line"

    def __init__(self) -> None:
        self.sent: list[Sendable] = []

    async def send(self, request: Sendable) -> SendOutcome:
        self.sent.append(request)
        await asyncio.sleep(0)
        return SendOutcome(accepted_request_id=f"accepted-{request.id}")


async def test_start_many_answers_each_id_in_order_and_counts_attempts(sessions: Any) -> None:
    family = await add_family(sessions, 1)
    fresh = await add_request(sessions, family, notices=("scheduled", "scheduled"))
    retried = await add_request(sessions, family, attempts=2, notices=("scheduled", "sent"))
    done = await add_request(sessions, family, status="sent", attempts=1, notices=("sent",))
    failed = await add_request(sessions, family, status="failed", attempts=3, notices=("failed",))
    withdrawn = await add_request(sessions, family, notices=("suppressed", "failed"))
    empty = await add_request(sessions, family, notices=())
    app = await add_request(sessions, family, channel="app")
    missing = max(fresh, retried, done, failed, withdrawn, empty, app) + 1000
    ids = [retried, missing, done, fresh, app, failed, withdrawn, empty]

    results = await _start_many(sessions, ids, {"line": FakeLine()})

    assert len(results) == len(ids)
    by_id = dict(zip(ids, results, strict=True))
    for send_id, attempts in ((fresh, 1), (retried, 3)):
        request, _ = await stored(sessions, send_id)
        assert by_id[send_id] == (
            Outgoing(send_id, "line", request.retry_key, request.body, attempts),
            None,
        )
    assert isinstance(by_id[missing], LookupError)
    assert str(missing) in str(by_id[missing])
    assert by_id[done] == (None, "sent")
    assert by_id[failed] == (None, "failed")
    assert isinstance(by_id[app], LookupError)
    assert "app" in str(by_id[app])
    assert by_id[withdrawn] == (None, "suppressed")
    assert by_id[empty] == (None, "suppressed")

    # The attempt is counted on the request and on its notices still to be sent.
    request, notices = await stored(sessions, fresh)
    assert (request.status, request.attempts) == ("pending", 1)
    assert [(n.status, n.attempts) for n in notices] == [("scheduled", 1), ("scheduled", 1)]
    request, notices = await stored(sessions, retried)
    assert (request.status, request.attempts) == ("pending", 3)
    assert [(n.status, n.attempts) for n in notices] == [("scheduled", 1), ("sent", 0)]
    # Requests not started are left as they were.
    for send_id, status, attempts in (
        (done, "sent", 1),
        (failed, "failed", 3),
        (app, "pending", 0),
    ):
        request, notices = await stored(sessions, send_id)
        assert (request.status, request.attempts) == (status, attempts)
        assert all(n.attempts == 0 for n in notices)
    # Nobody is left to tell: suppressed, with a reason, and no attempt counted.
    for send_id in (withdrawn, empty):
        request, notices = await stored(sessions, send_id)
        assert (request.status, request.attempts) == ("suppressed", 0)
        assert request.last_error
        assert all(n.attempts == 0 for n in notices)


async def test_a_second_start_counts_a_second_attempt_with_the_same_key_and_body(
    sessions: Any,
) -> None:
    family = await add_family(sessions, 1)
    send_id = await add_request(sessions, family)
    [first] = await _start_many(sessions, [send_id], {"line": FakeLine()})
    assert not isinstance(first, LookupError)
    outgoing, status = first
    assert status is None and outgoing is not None and outgoing.attempts == 1
    # A second start (a retry) counts a second attempt on the same key and body.
    [again] = await _start_many(sessions, [send_id], {"line": FakeLine()})
    assert not isinstance(again, LookupError)
    assert again[0] == Outgoing(send_id, "line", outgoing.retry_key, outgoing.body, 2)
    request, [notice] = await stored(sessions, send_id)
    assert (request.attempts, notice.attempts) == (2, 2)


async def test_bodies_known_from_plan_and_bodies_read_back_go_out_alike(sessions: Any) -> None:
    family = await add_family(sessions, 1)
    planned = await add_request(sessions, family)
    older = await add_request(sessions, family)
    stored_planned, _ = await stored(sessions, planned)
    known = {planned: stored_planned.body}  # what plan just stored; `older` is not in it
    results = await _start_many(sessions, [older, planned], {"line": FakeLine()}, known)
    for send_id, result in zip([older, planned], results, strict=True):
        request, _ = await stored(sessions, send_id)
        assert result == (Outgoing(send_id, "line", request.retry_key, request.body, 1), None)


async def test_deliverer_sends_thirty_concurrent_requests_once_each(
    sessions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[list[int]] = []
    recorded: list[list[int]] = []
    real_start, real_record = delivering._start_many, delivering._record_sent

    async def start_many(sessions: Any, ids: Sequence[int], *args: Any, **kwargs: Any) -> Any:
        started.append(list(ids))
        return await real_start(sessions, ids, *args, **kwargs)

    async def record_sent(
        sessions: Any, outcomes: Sequence[Any], *args: Any, **kwargs: Any
    ) -> Any:
        recorded.append([outcome[0] for outcome in outcomes])
        return await real_record(sessions, outcomes, *args, **kwargs)

    monkeypatch.setattr(delivering, "_start_many", start_many)
    monkeypatch.setattr(delivering, "_record_sent", record_sent)

    ids = []
    for index in range(1, 31):
        family = await add_family(sessions, index)
        ids.append(await add_request(sessions, family, notices=("scheduled", "scheduled")))
    line = FakeLine()
    deliverer = Deliverer(sessions, {"line": line})

    statuses = await asyncio.gather(*(deliverer(send_id, now=NOW) for send_id in ids))

    assert statuses == ["sent"] * 30
    assert Counter(r.id for r in line.sent) == Counter(ids)
    async with sessions() as session:
        requests = {
            r.id: r
            for r in (await session.exec(select(SendRequest).order_by(col(SendRequest.id)))).all()
        }
        notices = list((await session.exec(select(Notice))).all())
    for outgoing in line.sent:
        assert isinstance(outgoing, Outgoing)
        request = requests[outgoing.id]
        assert (outgoing.channel, outgoing.retry_key, outgoing.body) == (
            "line",
            request.retry_key,
            request.body,
        )
        assert outgoing.attempts == 1
    for send_id in ids:
        request = requests[send_id]
        assert (request.status, request.attempts) == ("sent", 1)
        assert request.accepted_request_id == f"accepted-{send_id}"
        assert request.sent_at == NOW
    assert len(notices) == 60
    assert {(n.status, n.attempts, n.sent_at) for n in notices} == {("sent", 1, NOW)}
    # Group commit: the thirty starts share one transaction, and successes share a few.
    assert [sorted(batch) for batch in started] == [sorted(ids)]
    assert sorted(i for batch in recorded for i in batch) == sorted(ids)
    assert len(recorded) < len(ids)


async def test_deliverer_leaves_requests_that_cannot_go_as_they_are(sessions: Any) -> None:
    family = await add_family(sessions, 1)
    going = await add_request(sessions, family)
    done = await add_request(sessions, family, status="sent", attempts=1, notices=("sent",))
    withdrawn = await add_request(sessions, family, notices=("suppressed",))
    missing = going + 1000
    line = FakeLine()
    deliverer = Deliverer(sessions, {"line": line})
    results = await asyncio.gather(
        deliverer(going, now=NOW),
        deliverer(done, now=NOW),
        deliverer(withdrawn, now=NOW),
        deliverer(missing, now=NOW),
        return_exceptions=True,
    )
    assert results[:3] == ["sent", "sent", "suppressed"]
    assert isinstance(results[3], LookupError)
    assert [r.id for r in line.sent] == [going]


# -- plan stores its requests -------------------------------------------------------------------


async def add_notice(
    sessions: Any, family_id: int, program: int, *, child: str | None = None
) -> int:
    async with transaction(sessions) as session:
        notice = Notice(
            family_id=family_id,
            subject=f"program:{program}",
            child_key="2025-06-01" if child else "",
            kind="eligible",
            cycle="2026",
            issuer="131130",
            category="allowance",
            channel="line",
            deadline=FAR,
            payload={
                "program": {"id": program, "version": 1, "issuer": "131130"},
                "name": {"ja": f"テスト手当{program}", "en": f"Test allowance {program}"},
                "category": ["allowance"],
                "kind": "eligible",
                "deadline": FAR.isoformat(),
                "child": {"ja": f"{child}生まれのお子さま", "en": f"born {child}"}
                if child
                else None,
            },
            due_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
        session.add(notice)
        await session.flush()
        assert notice.id is not None
        return notice.id


async def test_plan_points_every_notice_at_its_request_and_key(sessions: Any) -> None:
    notice_ids: list[int] = []
    for index in range(1, 6):  # five pushes: each family's carousel differs
        family = await add_family(sessions, index)
        notice_ids.append(await add_notice(sessions, family, 1, child=f"{2020 + index}年4月"))
        notice_ids.append(await add_notice(sessions, family, 2, child=f"{2020 + index}年5月"))
    for index in range(6, 10):  # one multicast: identical bodies
        family = await add_family(sessions, index)
        notice_ids.append(await add_notice(sessions, family, 3))
    app_family = await add_family(sessions, 10, preferences={"channel": "app"})
    async with transaction(sessions) as session:
        session.add(
            AppSubscription(
                family_id=app_family, issuer="131130", token_hash=uuid.uuid4().hex, secret="s"
            )
        )
    notice_ids.append(await add_notice(sessions, app_family, 4))
    notice_ids.append(await add_notice(sessions, app_family, 5))

    ids = await plan(sessions, now=NOW, zone=JST, quiet_hours="", digest_at="off")

    async with sessions() as session:
        requests = {
            r.id: r for r in (await session.exec(select(SendRequest))).all() if r.id is not None
        }
        notices = list((await session.exec(select(Notice).order_by(col(Notice.id)))).all())
    assert sorted(ids) == sorted(requests) and len(ids) == len(set(ids))
    kinds = Counter(requests[i].body["kind"] for i in ids)
    assert kinds == Counter(push=5, multicast=1, app=2)
    assert sorted(n.id for n in notices) == sorted(notice_ids)
    for notice in notices:
        assert notice.status == "scheduled"
        assert notice.send_id in requests
        assert notice.retry_key == requests[notice.send_id].retry_key
    keys = [r.retry_key for r in requests.values()]
    assert len(set(keys)) == len(keys)
    assert all(uuid.UUID(key).version == 4 for key in keys)
    for request in requests.values():
        assert (request.status, request.attempts) == ("pending", 0)
        assert request.created_at == NOW
    carried = Counter(n.send_id for n in notices)
    assert sorted(carried.values()) == [1, 1, 2, 2, 2, 2, 2, 4]
    multicast = next(r for r in requests.values() if r.body["kind"] == "multicast")
    assert carried[multicast.id] == 4 and len(multicast.body["to"]) == 4


async def test_micro_batch_never_leaves_a_caller_waiting() -> None:
    """A run that answers too few results, or is cancelled, fails its callers instead of
    leaving them waiting for ever."""
    from notifier.delivering import MicroBatch

    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    batch: MicroBatch[int, int] = MicroBatch(short, max_delay=0)
    outcomes = await asyncio.gather(batch(1), batch(2), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)

    async def cancelled(items: list[int]) -> list[int]:
        raise asyncio.CancelledError

    batch = MicroBatch(cancelled, max_delay=0)
    outcomes = await asyncio.gather(batch(1), batch(2), return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
