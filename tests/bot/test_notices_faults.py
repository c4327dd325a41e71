"""Proactive notices through the real LINE channel when things go wrong.

LINE failing a third of its requests, a worker killed mid-batch, the monthly limit reached
mid-send, families who blocked the account or turned a category off, two schedulers sharing one
Redis, and identical notices grouped into multicasts. Everything goes over real HTTP: the app's
`LineChannel` (line-bot-sdk) against the LINE platform emulator of `line_world`. The assertions
are what a parent or an operator would see: the messages in each user's chat, the requests LINE
accepted per `X-Line-Retry-Key`, and the statuses of the notices in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hagukumi.app import NOTICES
from hagukumi.resources import make_redis
from notifier import jobs
from notifier.channels.base import Channel, Sendable, SendOutcome
from notifier.channels.line import LineChannel
from notifier.delivering import Deliverer, QuotaReport
from notifier.jobs import JobContext
from notifier.ledger import NoticeDraft, record_notices
from notifier.models import Notice, SendRequest
from notifier.queue import DeliveryQueue
from notifier.scheduler import SchedulerRunner, run_job
from notifier.sending import send_due
from notifier.worker import Worker, bind_deliver
from registry import families
from registry.db import create_engine, transaction
from registry.models import Family
from tests.bot.conftest import NOW, TOKEN, LineWorld
from tests.bot.parent import Parent, texts_of

PUSH = "/v2/bot/message/push"
MULTICAST = "/v2/bot/message/multicast"
FAR = date(2027, 3, 31)
CONSENTED = datetime(2026, 11, 1, tzinfo=UTC)
EMPTY = {"inflight": 0, "pending": 0, "delayed": 0}


# -- families and their notices, inserted directly -------------------------------------------


@dataclass(frozen=True)
class Home:
    """A consented, active LINE family: its row id and its LINE user id."""

    family_id: int
    user_id: str


def user_of(index: int) -> str:
    """A LINE user id (U and 32 lowercase hex digits) of an inserted family."""
    return f"U{0xFA17 << 64 | index:032x}"


async def add_families(
    world: LineWorld, count: int, *, start: int = 0, language: str = "ja"
) -> list[Home]:
    """`count` consented, active LINE families in Shibuya."""
    async with transaction(world.sessions) as session:
        rows = [
            Family(
                line_user_id=user_of(index),
                state="active",
                consented_at=CONSENTED,
                onboarded_at=CONSENTED,
                municipality="131130",
                language=language,
                preferences={},
            )
            for index in range(start, start + count)
        ]
        session.add_all(rows)
        await session.flush()
        return [Home(row.id, row.line_user_id) for row in rows]  # type: ignore[arg-type]


def own_notice(
    home: Home,
    *,
    program: int = 101,
    name: str = "テスト子育て手当",
    category: str = "allowance",
    deadline: date = FAR,
) -> NoticeDraft:
    """A notice only this family gets: its own child and its own application link (a push)."""
    birth = date(2024, 1, 1) + timedelta(days=home.family_id % 700)
    payload = {
        "program": {"id": program, "version": 1, "issuer": "131130"},
        "name": {"ja": name, "en": f"Test program {program}"},
        "summary": {"ja": "渋谷区の子育て家庭に", "en": "For families in Shibuya"},
        "benefit": "月額5,000円",
        "reference_url": None,
        "application_url": f"https://apply.example.lg.jp/131130/{program}?ref={home.family_id}",
        "category": [category],
        "why": ["渋谷区にお住まい"],
        "kind": "eligible",
        "deadline": deadline.isoformat(),
        "child": {
            "ja": f"{birth.year}年{birth.month}月生まれのお子さま",
            "en": f"your child born {birth.strftime('%B %Y')}",
        },
    }
    return NoticeDraft(
        family_id=home.family_id,
        subject=f"program:{program}",
        program_id=None,  # the payload names the program; no program row is needed
        child_key=birth.isoformat(),
        kind="eligible",
        cycle="2026",
        issuer="131130",
        category=category,
        channel="line",
        deadline=deadline,
        due_at=NOW,
        payload=payload,
    )


def shared_notice(home: Home) -> NoticeDraft:
    """Tokyo's campaign, word for word the same for every family (grouped into multicasts)."""
    payload = {
        "program": {"id": 9001, "version": 1, "issuer": "130001"},
        "name": {"ja": "子育て応援キャンペーンのお知らせ", "en": "Childcare support campaign"},
        "summary": {
            "ja": "東京都の子育て世帯向け応援キャンペーンの申込を受け付けています",
            "en": "Tokyo's campaign for families with children is open for applications",
        },
        "benefit": None,
        "reference_url": "https://www.example.metro.tokyo.lg.jp/kosodate/campaign",
        "application_url": None,
        "category": ["gift"],
        "why": [],
        "kind": "eligible",
        "deadline": FAR.isoformat(),
        "child": None,
    }
    return NoticeDraft(
        family_id=home.family_id,
        subject="program:9001",
        program_id=None,
        child_key="",
        kind="eligible",
        cycle="2026",
        issuer="130001",
        category="gift",
        channel="line",
        deadline=FAR,
        due_at=NOW,
        payload=payload,
    )


async def home_of(world: LineWorld, user_id: str) -> Home:
    """The family a parent registered through the chat."""
    async with world.sessions() as session:
        family = await families.by_line_user(session, user_id)
    assert family is not None and family.id is not None
    return Home(family.id, user_id)


async def record(world: LineWorld, drafts: list[NoticeDraft]) -> None:
    """Write pending notices to the ledger, as a trigger would."""
    async with transaction(world.sessions) as session:
        assert await record_notices(session, drafts) == len(drafts)


# -- what the database says ------------------------------------------------------------------


async def all_notices(world: LineWorld) -> list[Notice]:
    async with world.sessions() as session:
        return list((await session.exec(select(Notice).order_by(col(Notice.id)))).all())


async def statuses_by_user(world: LineWorld, homes: list[Home]) -> dict[str, set[tuple]]:
    """{user id: {(status, reason), ...}} of every notice of these families."""
    users = {h.family_id: h.user_id for h in homes}
    found: dict[str, set[tuple]] = {h.user_id: set() for h in homes}
    for notice in await all_notices(world):
        if notice.family_id in users:
            found[users[notice.family_id]].add((notice.status, notice.reason))
    return found


async def send_requests(world: LineWorld) -> list[SendRequest]:
    async with world.sessions() as session:
        rows = await session.exec(select(SendRequest).order_by(col(SendRequest.id)))
        return list(rows.all())


# -- what LINE (the emulator) saw ------------------------------------------------------------


async def configure(world: LineWorld, **settings: Any) -> dict[str, Any]:
    """Change the emulator's faults or budget through its control endpoint."""
    async with world.http.post(f"{world.emulator_url}/_emulator/config", json=settings) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def emulator_stats(world: LineWorld) -> dict[str, Any]:
    async with world.http.get(f"{world.emulator_url}/_emulator/stats") as response:
        assert response.status == 200
        return await response.json()


async def sends(world: LineWorld) -> list[dict[str, Any]]:
    """Every push and multicast request the emulator answered, in order."""
    return [r for r in await world.requests() if r["path"] in {PUSH, MULTICAST}]


def retry_key(entry: dict[str, Any]) -> str:
    key = entry["headers"].get("X-Line-Retry-Key")
    assert key, f"a {entry['path']} without X-Line-Retry-Key"
    return str(key)


def _to(body: dict[str, Any]) -> list[str]:
    to = body["to"]
    return list(to) if isinstance(to, list) else [to]


def recipients(entry: dict[str, Any]) -> list[str]:
    """The user ids a logged push or multicast was addressed to."""
    return _to(entry["body"])


def statuses_by_key(entries: list[dict[str, Any]]) -> dict[str, list[int]]:
    """{retry key: [status of each try, in order]}."""
    found: dict[str, list[int]] = {}
    for entry in entries:
        found.setdefault(retry_key(entry), []).append(int(entry["status"]))
    return found


async def chat_sizes(world: LineWorld, users: list[str]) -> dict[str, int]:
    """How many messages reached each user's chat."""
    return {user: len(await world.messages(user)) for user in users}


async def assert_each_told_once(world: LineWorld, homes: list[Home]) -> None:
    """Every family's chat holds exactly one message; LINE accepted every retry key once; the
    keys LINE accepted are exactly those of the requests recorded sent."""
    assert await chat_sizes(world, [h.user_id for h in homes]) == {h.user_id: 1 for h in homes}
    accepted = Counter(retry_key(e) for e in await sends(world) if e["status"] == 200)
    assert accepted, "nothing was accepted"
    assert max(accepted.values()) == 1, "a retry key was accepted twice"
    stored = await send_requests(world)
    assert set(accepted) == {r.retry_key for r in stored if r.status == "sent"}


# -- other processes: their own Redis clients and LINE channel ---------------------------------


@pytest.fixture
async def redis_for(line_world: LineWorld) -> AsyncIterator[Callable[[], Any]]:
    """Redis clients of other processes: the app's in-process fakeredis (embedded shape, one
    Redis per process), or new connection pools to the same real Redis (services shape)."""
    notices = line_world.app[NOTICES]
    url = notices.settings.redis_url
    made: list[Any] = []

    def client() -> Any:
        if url.startswith("memory://"):
            return notices.redis
        made.append(make_redis(url))
        return made[-1]

    yield client
    for redis in made:
        await redis.aclose()


@contextlib.asynccontextmanager
async def line_channel(world: LineWorld) -> AsyncIterator[LineChannel]:
    """Another process's own LINE channel to the same emulator."""
    channel = LineChannel(world.emulator_url, TOKEN, timeout=5)
    await channel.open()
    try:
        yield channel
    finally:
        await channel.close()


async def drain(*workers: Worker, start: datetime = NOW, passes: int = 60) -> None:
    """Run the workers' passes side by side, moving their clock past every back-off, until
    their queue is empty."""
    now = start
    for _ in range(passes):
        await asyncio.gather(*(w.run_once(now, block_ms=0) for w in workers))
        if await workers[0].queue.backlog() == EMPTY:
            return
        now += timedelta(seconds=301)  # beyond the longest back-off (300 s)
    raise AssertionError(f"the queue did not drain: {await workers[0].queue.backlog()}")


async def until(condition: Callable[[], Any], seconds: float = 10) -> None:
    """Wait for a condition (sync or async) to hold."""
    async with asyncio.timeout(seconds):
        while True:
            value = condition()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return
            await asyncio.sleep(0.01)


async def _send_due(world: LineWorld, **options: Any) -> Counter[str]:
    notices = world.app[NOTICES]
    settings = {"quiet_hours": "20:00-08:00", "digest_at": "09:00", "backoff": 0.001, **options}
    return await send_due(
        notices.sessions, notices.channels, now=NOW, zone=notices.settings.zone, **settings
    )


# -- 1. LINE failing 30 % of requests --------------------------------------------------------


async def test_line_failing_a_third_of_requests_still_tells_each_family_once(
    line_world: LineWorld,
) -> None:
    own = await add_families(line_world, 40)
    shared = await add_families(line_world, 12, start=100)
    await record(line_world, [own_notice(h) for h in own] + [shared_notice(h) for h in shared])
    await configure(line_world, fail_rate=0.3)

    counts = await _send_due(line_world, max_attempts=40, max_backoff=0.01)

    assert counts == Counter(sent=41)  # 40 pushes and one multicast of 12
    await assert_each_told_once(line_world, own + shared)
    logged = await sends(line_world)
    # 41 requests at 30 %: that none failed has a chance of 0.7**41, about 4e-7.
    assert any(e["status"] == 500 for e in logged), "LINE was meant to fail some requests"
    # Every retry went with its first try's key and body; only 500s were retried.
    tries = statuses_by_key(logged)
    assert all(s[-1] == 200 and set(s[:-1]) <= {500} for s in tries.values()), tries
    bodies: dict[str, set[str]] = {}
    for entry in logged:
        bodies.setdefault(retry_key(entry), set()).add(repr(sorted(entry["body"].items())))
    assert all(len(b) == 1 for b in bodies.values()), "a retry changed its body"
    assert {n.status for n in await all_notices(line_world)} == {"sent"}
    # The next run finds nothing to send.
    assert await _send_due(line_world) == Counter()
    assert len(await sends(line_world)) == len(logged)


async def test_workers_retrying_through_the_queue_tell_each_family_once(
    line_world: LineWorld, redis_for: Callable[[], Any]
) -> None:
    notices = line_world.app[NOTICES]
    own = await add_families(line_world, 16)
    shared = await add_families(line_world, 8, start=100)
    await record(line_world, [own_notice(h) for h in own] + [shared_notice(h) for h in shared])
    await configure(line_world, fail_rate=0.3)
    # The quota read may meet a 500 too: the pass then plans without a budget.
    assert await jobs.release(notices.job_context(), NOW) == {"planned": 17, "queued": 17}

    workers = [
        Worker(
            DeliveryQueue(redis_for()),
            bind_deliver(notices.sessions, notices.channels, clock=lambda: NOW),
            consumer=f"worker-{name}",
            batch=5,
            block_ms=0,
        )
        for name in ("a", "b")
    ]
    await drain(*workers)

    await assert_each_told_once(line_world, own + shared)
    assert sum(w.counts["delivered"] for w in workers) == 17
    # Each 500 LINE answered was retried through the delayed set, nothing else was.
    failed = sum(1 for e in await sends(line_world) if e["status"] == 500)
    assert sum(w.counts["retried"] for w in workers) == failed
    assert sum(w.counts["abandoned"] for w in workers) == 0
    assert {n.status for n in await all_notices(line_world)} == {"sent"}


# -- 2. a worker killed mid-batch ------------------------------------------------------------


class DiesAfterLineAccepts(Channel):
    """The app's real LINE channel in a worker that dies right after LINE accepted some
    requests, before it could record them: nothing after the send runs for those."""

    name = "line"

    def __init__(self, inner: Channel, doomed: set[int]) -> None:
        self.inner = inner
        self.doomed = doomed
        self.accepted: set[int] = set()

    async def send(self, request: Sendable) -> SendOutcome:
        outcome = await self.inner.send(request)
        if request.id in self.doomed:
            self.accepted.add(request.id)
            await asyncio.Event().wait()  # the process is gone
        return outcome


async def test_a_worker_killed_mid_batch_is_taken_over_and_nobody_is_told_twice(
    line_world: LineWorld, redis_for: Callable[[], Any]
) -> None:
    notices = line_world.app[NOTICES]
    own = await add_families(line_world, 12)
    shared = await add_families(line_world, 5, start=100)
    await record(line_world, [own_notice(h) for h in own] + [shared_notice(h) for h in shared])
    assert await jobs.release(notices.job_context(), NOW) == {"planned": 13, "queued": 13}
    planned = await send_requests(line_world)
    [multicast] = [r.id for r in planned if r.body["kind"] == "multicast"]
    pushes = [r.id for r in planned if r.body["kind"] == "push"]
    # Worker A reads all 13. LINE accepts 5 of them (the multicast among them) but A dies
    # before recording them; 4 never reach LINE; 4 are sent, recorded and acknowledged.
    doomed = {multicast, *pushes[:4]}
    unsent = set(pushes[4:8])
    done = set(pushes[8:])
    line = DiesAfterLineAccepts(notices.line, doomed)
    deliverer = Deliverer(notices.sessions, {"line": line, "app": notices.app})
    reached: set[int] = set()

    async def deliver_a(send_id: int) -> str:
        if send_id in unsent:
            reached.add(send_id)
            await asyncio.Event().wait()  # dies before this one reaches LINE
        return await deliverer(send_id, now=NOW)

    queue_a = DeliveryQueue(redis_for())
    a = Worker(queue_a, deliver_a, consumer="worker-a", batch=50, concurrency=50, block_ms=0)
    task = asyncio.create_task(a.run_once(NOW))
    await until(
        lambda: line.accepted == doomed and reached == unsent and a.counts["delivered"] == 4
    )
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    # What A left behind: LINE delivered 5 requests that the database still calls pending.
    by_id = {r.id: r for r in await send_requests(line_world)}
    assert {i for i, r in by_id.items() if r.status == "pending"} == doomed | unsent
    chats = await chat_sizes(line_world, [h.user_id for h in own + shared])
    first_200 = {retry_key(e): e["requestId"] for e in await sends(line_world)}
    assert {by_id[i].retry_key for i in doomed | done} == set(first_200)
    assert {u for u, n in chats.items() if n} == {
        u for i in doomed | done for u in _to(by_id[i].body)
    }
    queue_b = DeliveryQueue(redis_for())
    assert await queue_b.pending_count() == len(doomed | unsent)

    # Worker B (another process, its own database connections) claims them once idle long
    # enough, and delivers them with the same keys: LINE answers 409 for the five it took.
    b = Worker(
        queue_b,
        bind_deliver(line_world.sessions, notices.channels, clock=lambda: NOW),
        consumer="worker-b",
        claim_idle_ms=300,
        block_ms=0,
    )
    handled = 0

    async def b_pass() -> bool:
        nonlocal handled
        handled += await b.run_once(NOW)
        return await queue_b.backlog() == EMPTY

    await until(b_pass)
    assert handled == len(doomed | unsent)

    await assert_each_told_once(line_world, own + shared)
    tries = statuses_by_key(await sends(line_world))
    keys = {i: by_id[i].retry_key for i in by_id}
    assert {i: tries[keys[i]] for i in by_id} == {
        i: [200, 409] if i in doomed else [200] for i in by_id
    }
    final = {r.id: r for r in await send_requests(line_world)}
    assert {r.status for r in final.values()} == {"sent"}
    # The 409's accepted request id points at the request LINE took before A died.
    assert {i: final[i].accepted_request_id for i in doomed} == {
        i: first_200[keys[i]] for i in doomed
    }
    assert {n.status for n in await all_notices(line_world)} == {"sent"}
    # The only refusals were those 409s ("already accepted"), one per request A had sent.
    line_world.allow_rejections = True
    refused = await line_world.rejected()
    assert sorted(retry_key(r) for r in refused) == sorted(keys[i] for i in doomed)
    assert {r["status"] for r in refused} == {409}


# -- 3. LINE's monthly limit -----------------------------------------------------------------


async def test_send_due_reads_the_budget_first_and_keeps_the_rest_for_the_next_one(
    line_world: LineWorld,
) -> None:
    homes = await add_families(line_world, 10)
    # Deadlines nearest first for the even families: they are the ones the budget covers.
    await record(
        line_world,
        [
            own_notice(h, deadline=date(2026, 12, 10 + i // 2) if i % 2 == 0 else FAR)
            for i, h in enumerate(homes)
        ],
    )
    await configure(line_world, monthly_limit=6)
    reports: list[QuotaReport] = []

    assert await _send_due(line_world, on_quota_exhausted=reports.append) == Counter(sent=6)

    sizes = await chat_sizes(line_world, [h.user_id for h in homes])
    told = {h.user_id for h in homes if sizes[h.user_id] == 1}
    assert len(told) == 6 and set(sizes.values()) == {0, 1}
    assert {h.user_id for h in homes[::2]} <= told  # nearer deadlines went first
    status = await statuses_by_user(line_world, homes)
    assert {u: s for u, s in status.items()} == {
        h.user_id: {("sent", None)} if h.user_id in told else {("pending", None)} for h in homes
    }
    assert reports == []  # nothing was refused: no 429 was ever asked for
    assert all(e["status"] == 200 for e in await sends(line_world))
    assert (await emulator_stats(line_world))["budget"]["used"] == 6


async def _quota_unreadable(world: LineWorld, *, families: int = 10) -> list[Home]:
    """Families with a notice each, a monthly limit of six, and LINE's quota endpoint refusing
    the planner's read (someone else's read took its rate limit just before): the planner
    goes without a budget and plans every family, so the limit is met while sending."""
    homes = await add_families(world, families)
    await record(world, [own_notice(h) for h in homes])
    await configure(world, monthly_limit=6, rate_limits={"quota": 0.001})
    async with world.http.get(
        f"{world.emulator_url}/v2/bot/message/quota",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as response:
        assert response.status == 200
    return homes


QUOTA_REFUSALS = {
    ("/v2/bot/message/quota", "The API rate limit has been exceeded. Try again later."),
    (PUSH, "You have reached your monthly limit."),
}


async def test_send_due_without_a_budget_stops_at_the_monthly_limit_and_tells_once(
    line_world: LineWorld,
) -> None:
    homes = await _quota_unreadable(line_world)
    reports: list[QuotaReport] = []

    counts = await _send_due(line_world, on_quota_exhausted=reports.append, max_attempts=3)

    assert counts["sent"] == 6 and counts["suppressed"] == 4, counts
    sizes = await chat_sizes(line_world, [h.user_id for h in homes])
    told = {u for u, n in sizes.items() if n}
    assert len(told) == 6 and set(sizes.values()) == {0, 1}
    assert await statuses_by_user(line_world, homes) == {
        h.user_id: {("sent", None)} if h.user_id in told else {("suppressed", "quota")}
        for h in homes
    }
    assert len(reports) == 1 and "monthly limit" in reports[0].reason
    tries = statuses_by_key(await sends(line_world))
    assert all(s in ([200], [429]) for s in tries.values()), tries  # a 429 is never retried
    assert (await emulator_stats(line_world))["budget"]["used"] == 6
    line_world.allow_rejections = True
    refused = {(r["path"], r["response"]["message"]) for r in await line_world.rejected()}
    assert refused == QUOTA_REFUSALS


async def test_the_monthly_limit_reached_mid_send_stops_the_rest_for_good(
    line_world: LineWorld,
) -> None:
    notices = line_world.app[NOTICES]
    homes = await _quota_unreadable(line_world)
    assert await jobs.release(notices.job_context(), NOW) == {"planned": 10, "queued": 10}
    reports: list[QuotaReport] = []
    deliver = bind_deliver(
        notices.sessions, notices.channels, clock=lambda: NOW, on_quota_exhausted=reports.append
    )
    worker = Worker(notices.queue, deliver, consumer="worker", concurrency=8, block_ms=0)
    await drain(worker)

    sizes = await chat_sizes(line_world, [h.user_id for h in homes])
    told = {u for u, n in sizes.items() if n}
    assert len(told) == 6 and set(sizes.values()) == {0, 1}
    status = await statuses_by_user(line_world, homes)
    assert status == {
        h.user_id: {("sent", None)} if h.user_id in told else {("suppressed", "quota")}
        for h in homes
    }
    assert (await emulator_stats(line_world))["budget"] == {
        "month": "2026-11",
        "limit": 6,
        "used": 6,
    }
    stored = await send_requests(line_world)
    assert Counter(r.status for r in stored) == Counter(sent=6, suppressed=4)
    # Refused requests were never tried again: each key met LINE's 429 at most once, and
    # a key LINE refused was never accepted.
    tries = statuses_by_key(await sends(line_world))
    assert all(s in ([200], [429]) for s in tries.values()), tries
    refused_keys = {k for k, s in tries.items() if s == [429]}
    assert 1 <= len(refused_keys) <= 4
    assert refused_keys <= {r.retry_key for r in stored if r.status == "suppressed"}
    assert reports, "the operator was not told"
    assert all("monthly limit" in r.reason for r in reports)

    # Later passes and releases send nothing more: the stopped notices stay stopped.
    before = len(await sends(line_world))
    later = NOW + timedelta(minutes=2)
    assert await jobs.release(notices.job_context(), later) == {"planned": 0, "queued": 0}
    await worker.run_once(later, block_ms=0)
    assert len(await sends(line_world)) == before
    assert worker.counts["abandoned"] == 0 and worker.counts["retried"] == 0
    line_world.allow_rejections = True
    refused = {(r["path"], r["response"]["message"]) for r in await line_world.rejected()}
    assert refused == QUOTA_REFUSALS


async def test_the_operator_is_told_once_when_the_monthly_limit_is_reached(
    line_world: LineWorld, caplog: pytest.LogCaptureFixture
) -> None:
    notices = line_world.app[NOTICES]
    await _quota_unreadable(line_world)
    assert await jobs.release(notices.job_context(), NOW) == {"planned": 10, "queued": 10}
    reports: list[QuotaReport] = []
    deliver = bind_deliver(
        notices.sessions, notices.channels, clock=lambda: NOW, on_quota_exhausted=reports.append
    )
    worker = Worker(notices.queue, deliver, consumer="worker", concurrency=8, block_ms=0)
    line_world.allow_rejections = True
    with caplog.at_level("ERROR", logger="notifier.delivering"):
        await drain(worker)
    assert len(reports) == 1, [(r.send_id, r.requests, r.notices) for r in reports]
    logged = [r for r in caplog.records if "monthly limit reached" in r.getMessage()]
    assert len(logged) == 1


async def test_a_second_release_pass_does_not_plan_beyond_the_budget(
    line_world: LineWorld,
) -> None:
    notices = line_world.app[NOTICES]
    await configure(line_world, monthly_limit=6)
    # 12:00: four families are due; the pass plans them within the budget of six.
    first = await add_families(line_world, 4)
    await record(line_world, [own_notice(h) for h in first])
    assert await jobs.release(notices.job_context(), NOW) == {"planned": 4, "queued": 4}
    # 12:01: the worker has not sent them yet; six more families are due. Two fit.
    second = await add_families(line_world, 6, start=4)
    await record(line_world, [own_notice(h) for h in second])
    later = NOW + timedelta(minutes=1)
    summary = await jobs.release(notices.job_context(), later)
    worker = Worker(
        notices.queue,
        bind_deliver(notices.sessions, notices.channels, clock=lambda: NOW),
        consumer="worker",
        block_ms=0,
    )
    line_world.allow_rejections = True  # so that the assertions below say what went wrong
    await drain(worker)

    sizes = await chat_sizes(line_world, [h.user_id for h in first + second])
    assert sorted(sizes.values()) == [0] * 4 + [1] * 6
    status = await statuses_by_user(line_world, first + second)
    assert sorted(s for u, s in status.items() if not sizes[u]) == [{("pending", None)}] * 4
    assert await line_world.rejected() == []  # LINE never had to refuse anything
    assert summary == {"planned": 2, "queued": 2}


# -- 4. blocked and category off ---------------------------------------------------------------


async def test_a_family_that_blocked_and_one_that_turned_the_category_off_get_nothing_of_it(
    line_world: LineWorld,
) -> None:
    blocker = Parent(line_world, "U" + "b1" * 16)
    picky = Parent(line_world, "U" + "c2" * 16)
    await blocker.onboard()
    await picky.onboard()
    others = await add_families(line_world, 5)
    parents = {p.user_id: await home_of(line_world, p.user_id) for p in (blocker, picky)}
    homes = [parents[blocker.user_id], parents[picky.user_id], *others]
    # A new allowance (and, for the picky family, a medical subsidy too) is due for everyone.
    await record(
        line_world,
        [own_notice(h, program=301, name="新しい子育て手当") for h in homes]
        + [
            own_notice(
                parents[picky.user_id], program=302, name="新しい医療費助成", category="medical"
            )
        ],
    )
    # Before it goes out, one parent blocks the account, the other turns allowances off.
    await blocker.unfollow()
    await picky.postback("a=menu.settings")
    await picky.tap("受け取る分野")
    answer = await picky.tap("✓ 手当・給付")
    assert "オフ" in texts_of(answer)
    chats_before = await chat_sizes(line_world, [h.user_id for h in homes])
    sends_before = len(await sends(line_world))

    counts = await _send_due(line_world)

    assert counts == Counter(sent=6)  # the five others and the picky family's medical notice
    chats = await chat_sizes(line_world, [h.user_id for h in homes])
    assert {u: chats[u] - chats_before[u] for u in chats} == {
        h.user_id: 0 if h.user_id == blocker.user_id else 1 for h in homes
    }
    [told] = (await line_world.messages(picky.user_id))[-1:]
    assert "新しい医療費助成" in texts_of([told])
    assert "新しい子育て手当" not in texts_of([told])
    new_sends = (await sends(line_world))[sends_before:]
    assert all(blocker.user_id not in recipients(e) for e in new_sends)
    by_subject = {
        (n.family_id, n.subject): (n.status, n.reason)
        for n in await all_notices(line_world)
        if n.subject in {"program:301", "program:302"}
    }
    blocked_id = parents[blocker.user_id].family_id
    picky_id = parents[picky.user_id].family_id
    assert by_subject == {
        (blocked_id, "program:301"): ("suppressed", "blocked"),
        (picky_id, "program:301"): ("suppressed", "preference"),
        (picky_id, "program:302"): ("sent", None),
        **{(h.family_id, "program:301"): ("sent", None) for h in others},
    }


# -- 5. two schedulers sharing one Redis -------------------------------------------------------


async def test_two_schedulers_sharing_one_redis_send_nothing_twice(
    line_world: LineWorld, redis_for: Callable[[], Any]
) -> None:
    notices = line_world.app[NOTICES]
    own = await add_families(line_world, 10)
    shared = await add_families(line_world, 6, start=100)
    await record(line_world, [own_notice(h) for h in own] + [shared_notice(h) for h in shared])
    ran: list[tuple[str, str]] = []
    async with line_channel(line_world) as line_b:
        contexts = {
            "one": notices.job_context(),
            "two": JobContext(
                sessions=line_world.sessions,
                queue=DeliveryQueue(redis_for()),
                zone=notices.settings.zone,
                quiet_hours=notices.settings.quiet_hours,
                digest_at=notices.settings.digest_at,
                remaining_quota=line_b.remaining_quota,
            ),
        }
        runners = {
            name: SchedulerRunner(
                ctx, redis_for(), holder=name, ttl_s=5, standby_interval_s=0.05, clock=lambda: NOW
            )
            for name, ctx in contexts.items()
        }
        for name, runner in runners.items():

            def listen(event: JobExecutionEvent, name: str = name) -> None:
                ran.append((name, event.job_id))

            runner.scheduler.add_listener(listen, EVENT_JOB_EXECUTED)
        stops = {name: asyncio.Event() for name in runners}
        tasks = {name: asyncio.create_task(r.run(stops[name])) for name, r in runners.items()}
        try:
            await until(lambda: any(r.active for r in runners.values()), 3)
            [leader] = [n for n, r in runners.items() if r.active]
            [standby] = [n for n in runners if n != leader]
            # The minute's release comes due for both; only the lease holder runs it.
            for runner in runners.values():
                runner.scheduler.modify_job("release_due", next_run_time=datetime.now(UTC))
                runner.scheduler.wakeup()
            await until(lambda: (leader, "release_due") in ran, 5)
            assert (standby, "release_due") not in ran
            workers = [
                Worker(
                    DeliveryQueue(redis_for()),
                    bind_deliver(ctx.sessions, channels, clock=lambda: NOW),
                    consumer=f"worker-{name}",
                    batch=4,
                    block_ms=0,
                )
                for (name, ctx), channels in zip(
                    contexts.items(),
                    [notices.channels, {"line": line_b, "app": notices.app}],
                    strict=True,
                )
            ]
            await drain(*workers)
            await assert_each_told_once(line_world, own + shared)

            # The leader stops; the standby takes the lease and runs the release it missed.
            stops[leader].set()
            await tasks[leader]
            await until(lambda: (standby, "release_due") in ran, 5)
            # Both instances run the minute's passes at once (a hand-over while the old
            # leader's pass still runs), and the five-minute recovery pass too.
            summaries = await asyncio.gather(
                *(run_job("release_due", ctx, lambda: NOW) for ctx in contexts.values()),
                *(
                    run_job("recover_stranded", ctx, lambda: NOW + timedelta(minutes=5))
                    for ctx in contexts.values()
                ),
            )
            assert all(s is None or s.get("queued") == 0 for s in summaries), summaries
            await drain(*workers)
        finally:
            for stop in stops.values():
                stop.set()
            await asyncio.gather(*tasks.values())
    await assert_each_told_once(line_world, own + shared)
    assert len(await send_requests(line_world)) == 11  # 10 pushes and one multicast
    assert {n.status for n in await all_notices(line_world)} == {"sent"}


async def test_overlapping_release_passes_of_two_schedulers_plan_each_family_once(
    line_world: LineWorld, redis_for: Callable[[], Any]
) -> None:
    notices = line_world.app[NOTICES]
    # Two notices each: a pass that took half a family's notices would push that family twice.
    homes = await add_families(line_world, 20)
    await record(
        line_world,
        [own_notice(h, program=p, name=f"テスト手当{p}") for h in homes for p in (401, 402)],
    )
    contexts = [
        notices.job_context(),
        JobContext(
            sessions=line_world.sessions,
            queue=DeliveryQueue(redis_for()),
            zone=notices.settings.zone,
            quiet_hours=notices.settings.quiet_hours,
            digest_at=notices.settings.digest_at,
        ),
    ]
    summaries = await asyncio.gather(*(run_job("release_due", c, lambda: NOW) for c in contexts))
    assert all(s is not None for s in summaries), summaries
    worker = Worker(
        DeliveryQueue(redis_for()),
        bind_deliver(notices.sessions, notices.channels, clock=lambda: NOW),
        consumer="worker",
        block_ms=0,
    )
    await drain(worker)
    await assert_each_told_once(line_world, homes)
    # PostgreSQL's row locks let one pass plan all twenty families. SQLite has none: both
    # passes may plan them all, and the requests whose notices the later pass took over
    # find nobody left to tell.
    stored = await send_requests(line_world)
    assert Counter(r.status for r in stored)["sent"] == 20
    assert {r.last_error for r in stored if r.status != "sent"} <= {"no notice left to send"}
    assert {n.status for n in await all_notices(line_world)} == {"sent"}


def _writes(statement: Any) -> bool:
    return isinstance(statement, UpdateBase)  # INSERT, UPDATE or DELETE


class StallsBeforeWriting(AsyncSession):
    """A scheduler's session that reads as usual but stalls before its first write (its event
    loop busy composing a huge send, its process paused) until `info["go"]` is set."""

    async def _stall(self) -> None:
        self.info["stalled"].set()
        await self.info["go"].wait()

    async def flush(self, objects: Any = None) -> None:
        if self.new or self.dirty or self.deleted:
            await self._stall()
        await super().flush(objects)

    async def exec(self, statement: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if _writes(statement):
            await self._stall()
        return await super().exec(statement, *args, **kwargs)

    async def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if _writes(statement):
            await self._stall()
        return await super().execute(statement, *args, **kwargs)

    async def connection(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return _StallingConnection(await super().connection(*args, **kwargs), self)


class _StallingConnection:
    """The session's connection, stalling before a write as the session does."""

    def __init__(self, inner: Any, session: StallsBeforeWriting) -> None:
        self._inner = inner
        self._session = session

    async def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if _writes(statement):
            await self._session._stall()
        return await self._inner.execute(statement, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_a_stalled_release_pass_overlapping_the_next_leaders_tells_nobody_twice(
    line_world: LineWorld, redis_for: Callable[[], Any]
) -> None:
    notices = line_world.app[NOTICES]
    homes = await add_families(line_world, 10)
    await record(line_world, [own_notice(h) for h in homes])
    engine = create_engine(notices.settings.database_url)
    gates = {"stalled": asyncio.Event(), "go": asyncio.Event()}
    old_leader = JobContext(
        sessions=async_sessionmaker(
            engine, class_=StallsBeforeWriting, expire_on_commit=False, info=gates
        ),
        queue=DeliveryQueue(redis_for()),
        zone=notices.settings.zone,
        quiet_hours=notices.settings.quiet_hours,
        digest_at=notices.settings.digest_at,
    )
    worker = Worker(
        DeliveryQueue(redis_for()),
        bind_deliver(notices.sessions, notices.channels, clock=lambda: NOW),
        consumer="worker",
        block_ms=0,
    )
    try:
        # The old leader's release pass has read the due notices and stalls; its lease runs
        # out, the standby takes over and runs the minute's release, and a worker sends it.
        stalled_pass = asyncio.create_task(run_job("release_due", old_leader, lambda: NOW))
        await until(gates["stalled"].is_set)
        assert await run_job("release_due", notices.job_context(), lambda: NOW) is not None
        await drain(worker)
        # The old pass comes back to life and finishes; the worker sends whatever it queued.
        gates["go"].set()
        assert await stalled_pass is not None
        await drain(worker)
    finally:
        gates["go"].set()
        await engine.dispose()
    await assert_each_told_once(line_world, homes)
    assert {n.status for n in await all_notices(line_world)} == {"sent"}


# -- 6. grouping -------------------------------------------------------------------------------


async def test_identical_notices_go_as_one_multicast_and_own_notices_as_pushes(
    line_world: LineWorld,
) -> None:
    shared = await add_families(line_world, 30, start=100)
    english = await add_families(line_world, 3, start=200, language="en")
    own = await add_families(line_world, 8)
    await record(
        line_world,
        [shared_notice(h) for h in shared + english] + [own_notice(h) for h in own],
    )

    assert await _send_due(line_world) == Counter(sent=10)

    logged = await sends(line_world)
    assert all(e["status"] == 200 for e in logged)
    multicasts = sorted((sorted(recipients(e)) for e in logged if e["path"] == MULTICAST), key=len)
    # The same words in Japanese for thirty families, in English for three: one multicast each.
    assert multicasts == [sorted(h.user_id for h in english), sorted(h.user_id for h in shared)]
    assert sorted(recipients(e)[0] for e in logged if e["path"] == PUSH) == sorted(
        h.user_id for h in own
    )
    await assert_each_told_once(line_world, shared + english + own)
    texts = {texts_of(await line_world.messages(h.user_id)) for h in shared}
    assert len(texts) == 1 and "子育て応援キャンペーンのお知らせ" in texts.pop()
    assert {n.status for n in await all_notices(line_world)} == {"sent"}


async def test_more_than_500_families_sharing_a_notice_are_split_into_multicasts_of_500(
    line_world: LineWorld,
) -> None:
    shared = await add_families(line_world, 503, start=1000)
    await record(line_world, [shared_notice(h) for h in shared])

    assert await _send_due(line_world) == Counter(sent=2)

    logged = await sends(line_world)
    assert [e["path"] for e in logged] == [MULTICAST, MULTICAST]
    assert sorted(len(recipients(e)) for e in logged) == [3, 500]
    told = [u for e in logged for u in recipients(e)]
    assert sorted(told) == sorted(h.user_id for h in shared)
    stats = await emulator_stats(line_world)
    assert stats["delivered"]["multicast"] == 503
    assert stats["budget"]["used"] == 503
    assert {n.status for n in await all_notices(line_world)} == {"sent"}
