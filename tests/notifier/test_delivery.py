"""Planning and delivering notices: preferences, quiet hours, the digest, bundling, multicast,
retries with the same key, LINE's monthly limit, permanent failures, and the app channel.

LINE is the project's emulator on a real port; the app backend is a tiny aiohttp server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlmodel import col, select

from integrations.line_emulator import EMULATOR, Emulator, EmulatorConfig, create_emulator_app
from notifier.channels.app import AppChannel
from notifier.channels.base import Channel, RetryableSendError, SendOutcome
from notifier.channels.line import LineChannel
from notifier.delivering import QuotaReport, deliver
from notifier.models import Notice, SendRequest
from notifier.planning import plan
from notifier.sending import send_due
from registry.db import transaction
from registry.models import AppSubscription, Family
from registry.urls import UrlPolicy
from tests.conftest import SHARED, TODAY

JST = ZoneInfo("Asia/Tokyo")
TOKEN = "delivery-test-token"
SECRET = "delivery-test-secret"
QUIET = "20:00-08:00"
DIGEST = "09:00"
FAR = date(2027, 3, 31)


def at(hour: int, minute: int = 0, day: date = TODAY) -> datetime:
    """A moment in Tokyo."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=JST)


def user(index: int) -> str:
    return f"U{index:032x}"


@dataclass
class World:
    """The database, the emulator playing LINE, and the channels."""

    sessions: Any
    emulator: Emulator
    line: LineChannel
    channels: dict[str, Channel] = field(default_factory=dict)

    async def send_due(self, now: datetime, **options: Any) -> Counter[str]:
        settings = {"quiet_hours": QUIET, "digest_at": DIGEST, "backoff": 0.0, **options}
        return await send_due(self.sessions, self.channels, now=now, zone=JST, **settings)

    async def plan(self, now: datetime, **options: Any) -> list[int]:
        settings = {"quiet_hours": QUIET, "digest_at": DIGEST, **options}
        return await plan(self.sessions, now=now, zone="Asia/Tokyo", **settings)

    async def notices(self, family_id: int | None = None) -> list[Notice]:
        async with self.sessions() as session:
            statement = select(Notice).order_by(col(Notice.id))
            if family_id is not None:
                statement = statement.where(Notice.family_id == family_id)
            return list((await session.exec(statement)).all())

    async def requests(self) -> list[SendRequest]:
        async with self.sessions() as session:
            rows = await session.exec(select(SendRequest).order_by(col(SendRequest.id)))
            return list(rows.all())

    def delivered(self, index: int) -> list[dict[str, Any]]:
        return [entry["message"] for entry in self.emulator.messages_for(user(index))]

    def refused(self) -> list[dict[str, Any]]:
        return [r for r in self.emulator.requests() if 400 <= r["status"] < 500]


@pytest.fixture
async def world(sessions: Any) -> AsyncIterator[World]:
    spec = SHARED / "line-openapi" / "messaging-api.yml"
    app = create_emulator_app(
        EmulatorConfig(
            channel_access_token=TOKEN,
            channel_secret=SECRET,
            spec_path=spec if spec.exists() else None,
            seed=5,
        )
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    line = LineChannel(str(server.make_url("")), TOKEN, timeout=5)
    app_channel = AppChannel(None, sessions, timeout=2, policy=UrlPolicy.parse("127.0.0.1"))
    await line.open()
    await app_channel.open()
    try:
        yield World(sessions, app[EMULATOR], line, {"line": line, "app": app_channel})
    finally:
        await app_channel.close()
        await line.close()
        await server.close()


def payload(
    program: int, *, child: str | None = "2025年6月", deadline: date | None = FAR
) -> dict[str, Any]:
    """A payload shaped like the ledger's (notifier.compose.payload)."""
    return {
        "program": {"id": program, "version": 1, "issuer": "131130"},
        "name": {"ja": f"テスト手当{program}", "en": f"Test allowance {program}"},
        "summary": {"ja": "3歳未満の子がいる家庭に", "en": "For families with a child under 3"},
        "benefit": "月額5,000円",
        "reference_url": "https://www.city.shibuya.tokyo.jp/",
        "application_url": None,
        "category": ["allowance"],
        "why": ["渋谷区にお住まい"],
        "kind": "eligible",
        "deadline": deadline.isoformat() if deadline else None,
        "child": {"ja": f"{child}生まれのお子さま", "en": f"your child born {child}"}
        if child
        else None,
    }


async def add_family(
    world: World,
    index: int,
    *,
    language: str = "ja",
    state: str = "active",
    consented: bool = True,
    line_user_id: str | None = None,
    **preferences: Any,
) -> int:
    async with transaction(world.sessions) as session:
        family = Family(
            line_user_id=line_user_id or user(index),
            state=state,
            consented_at=datetime(2026, 11, 1, tzinfo=UTC) if consented else None,
            language=language,
            municipality="131130",
            preferences=preferences,
        )
        session.add(family)
        await session.flush()
        assert family.id is not None
        return family.id


async def add_notice(
    world: World,
    family_id: int,
    program: int,
    *,
    deadline: date | None = FAR,
    category: str = "allowance",
    child: str | None = "2025年6月",
    kind: str = "eligible",
) -> int:
    async with transaction(world.sessions) as session:
        notice = Notice(
            family_id=family_id,
            subject=f"program:{program}",
            child_key="2025-06-01" if child else "",
            kind=kind,
            cycle="2026",
            issuer="131130",
            category=category,
            channel="line",
            deadline=deadline,
            payload=payload(program, child=child, deadline=deadline),
            due_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
        session.add(notice)
        await session.flush()
        assert notice.id is not None
        return notice.id


def bubbles(message: dict[str, Any]) -> list[dict[str, Any]]:
    contents = message["contents"]
    return contents["contents"] if contents["type"] == "carousel" else [contents]


# -- timing -------------------------------------------------------------------------------------


async def test_quiet_hours_hold_and_release_after(world: World) -> None:
    family = await add_family(world, 1)
    await add_notice(world, family, 1)
    assert await world.send_due(at(21, 0), digest_at="off") == Counter()
    [held] = await world.notices()
    assert held.status == "scheduled" and held.send_id is None
    assert held.due_at == at(8, 0, TODAY + timedelta(days=1))
    assert world.delivered(1) == []

    assert await world.send_due(at(7, 59, TODAY + timedelta(days=1)), digest_at="off") == Counter()
    assert await world.send_due(at(8, 0, TODAY + timedelta(days=1)), digest_at="off") == Counter(
        sent=1
    )
    assert len(world.delivered(1)) == 1
    [sent] = await world.notices()
    assert sent.status == "sent" and sent.sent_at == at(8, 0, TODAY + timedelta(days=1))


async def test_a_familys_own_quiet_hours_win(world: World) -> None:
    night_owl = await add_family(world, 1, quiet_hours="none")
    early = await add_family(world, 2, quiet_hours="22:00-07:00")
    await add_notice(world, night_owl, 1)
    await add_notice(world, early, 1)
    # Identical bodies: one multicast reaches both.
    assert await world.send_due(at(21, 0), digest_at="off") == Counter(sent=1)
    assert len(world.delivered(1)) == len(world.delivered(2)) == 1
    assert await world.send_due(at(23, 0), quiet_hours="", digest_at="off") == Counter()


async def test_quiet_hours_then_the_digest(world: World) -> None:
    family = await add_family(world, 1)
    await add_notice(world, family, 1)
    tomorrow = TODAY + timedelta(days=1)
    await world.send_due(at(21, 0))
    await world.send_due(at(8, 0, tomorrow))
    [held] = await world.notices()
    assert held.status == "scheduled" and held.due_at == at(9, 0, tomorrow)
    assert world.delivered(1) == []
    assert await world.send_due(at(9, 0, tomorrow)) == Counter(sent=1)
    assert len(world.delivered(1)) == 1


async def test_digest_holds_until_nine_then_releases(world: World) -> None:
    family = await add_family(world, 1)
    await add_notice(world, family, 1)
    await add_notice(world, family, 2)
    assert await world.send_due(at(6, 30), quiet_hours="") == Counter()
    assert {n.due_at for n in await world.notices()} == {at(9, 0)}
    assert await world.send_due(at(8, 59), quiet_hours="") == Counter()
    assert await world.send_due(at(9, 0), quiet_hours="") == Counter(sent=1)
    [message] = world.delivered(1)
    assert len(bubbles(message)) == 2


async def test_after_digest_time_a_family_not_yet_pushed_gets_it_now(world: World) -> None:
    family = await add_family(world, 1)
    await add_notice(world, family, 1)
    assert await world.send_due(at(15, 0)) == Counter(sent=1)


async def test_near_deadline_is_not_held_for_the_digest(world: World) -> None:
    family = await add_family(world, 1)
    await add_notice(world, family, 1, deadline=TODAY + timedelta(days=2))
    await add_notice(world, family, 2)
    assert await world.send_due(at(6, 30), quiet_hours="") == Counter(sent=1)
    [message] = world.delivered(1)
    # The ordinary notice rides along: the family is pushed today anyway, once.
    assert len(bubbles(message)) == 2
    assert "あと2日" in json.dumps(bubbles(message)[0], ensure_ascii=False)


async def test_near_deadline_waits_only_for_the_end_of_quiet_hours(world: World) -> None:
    family = await add_family(world, 1)
    await add_notice(world, family, 1, deadline=TODAY + timedelta(days=1))
    tomorrow = TODAY + timedelta(days=1)
    assert await world.send_due(at(22, 0)) == Counter()
    assert await world.send_due(at(8, 0, tomorrow)) == Counter(sent=1)


async def test_one_push_a_day_bundles_the_days_notices(world: World) -> None:
    family = await add_family(world, 1)
    for program in (1, 2, 3):
        await add_notice(world, family, program)
    assert await world.send_due(at(12, 0)) == Counter(sent=1)
    [message] = world.delivered(1)
    assert message["contents"]["type"] == "carousel"
    assert len(bubbles(message)) == 3
    assert len(await world.requests()) == 1

    later = await add_notice(world, family, 4)
    assert await world.send_due(at(15, 0)) == Counter()
    [held] = [n for n in await world.notices() if n.id == later]
    assert held.status == "scheduled"
    assert held.due_at == at(9, 0, TODAY + timedelta(days=1))

    # A near deadline is the exception to one push a day, and takes the held notice along.
    await add_notice(world, family, 5, deadline=TODAY + timedelta(days=2))
    assert await world.send_due(at(16, 0)) == Counter(sent=1)
    assert [len(bubbles(m)) for m in world.delivered(1)] == [3, 2]
    assert await world.send_due(at(9, 0, TODAY + timedelta(days=1))) == Counter()
    assert {n.status for n in await world.notices()} == {"sent"}


async def test_a_program_and_child_make_one_card_showing_the_most_urgent_notice(
    world: World,
) -> None:
    family = await add_family(world, 1)
    soon = TODAY + timedelta(days=6)
    await add_notice(world, family, 1, deadline=soon)
    await add_notice(world, family, 1, deadline=soon, kind="deadline-7")
    await add_notice(world, family, 2)
    assert await world.send_due(at(12, 0)) == Counter(sent=1)
    [message] = world.delivered(1)
    cards = [json.dumps(card, ensure_ascii=False) for card in bubbles(message)]
    assert len(cards) == 2
    assert sum("テスト手当1" in card for card in cards) == 1
    assert "締切まで1週間" in cards[0] and "受けられる支援" not in cards[0]
    assert message["altText"].count("テスト手当1") == 1
    assert {n.status for n in await world.notices()} == {"sent"}


async def test_fifteen_notices_make_one_carousel_of_twelve(world: World) -> None:
    family = await add_family(world, 1)
    for program in range(1, 16):
        await add_notice(world, family, program, deadline=date(2026, 12, program))
    assert await world.send_due(at(12, 0)) == Counter(sent=1)
    [message] = world.delivered(1)
    cards = bubbles(message)
    assert len(cards) == 12
    assert "ほかに4件のお知らせ" in json.dumps(cards[-1], ensure_ascii=False)
    assert world.refused() == []
    notices = await world.notices()
    assert len({n.send_id for n in notices}) == 1 and {n.status for n in notices} == {"sent"}


# -- who gets what --------------------------------------------------------------------------


async def test_preferences_consent_and_expiry_suppress(world: World) -> None:
    blocked = await add_family(world, 1, state="blocked")
    stranger = await add_family(world, 2, state="new", consented=False)
    picky = await add_family(world, 3, categories_off=["medical"])
    await add_notice(world, blocked, 1)
    await add_notice(world, stranger, 1)
    await add_notice(world, picky, 1, category="medical")
    await add_notice(world, picky, 2, deadline=TODAY - timedelta(days=1))
    kept = await add_notice(world, picky, 3)
    assert await world.send_due(at(12, 0)) == Counter(sent=1)
    found = {(n.family_id, n.payload["program"]["id"]): n for n in await world.notices()}
    assert (found[blocked, 1].status, found[blocked, 1].reason) == ("suppressed", "blocked")
    assert (found[stranger, 1].status, found[stranger, 1].reason) == ("suppressed", "blocked")
    assert (found[picky, 1].status, found[picky, 1].reason) == ("suppressed", "preference")
    assert (found[picky, 2].status, found[picky, 2].reason) == ("suppressed", "expired")
    assert found[picky, 3].id == kept and found[picky, 3].status == "sent"
    assert world.delivered(1) == [] and world.delivered(2) == []
    assert len(bubbles(world.delivered(3)[0])) == 1


async def test_english_family_gets_english(world: World) -> None:
    family = await add_family(world, 1, language="en")
    await add_notice(world, family, 1)
    await world.send_due(at(12, 0))
    [message] = world.delivered(1)
    assert message["altText"].startswith("Hagukumi: 1 notice:")
    assert "your child born 2025年6月" in json.dumps(message, ensure_ascii=False)


# -- requests -----------------------------------------------------------------------------------


async def test_identical_payloads_become_multicasts_of_at_most_500(world: World) -> None:
    async with transaction(world.sessions) as session:
        families = [
            Family(
                line_user_id=user(i),
                state="active",
                consented_at=datetime(2026, 11, 1, tzinfo=UTC),
                municipality="131130",
            )
            for i in range(1, 601)
        ]
        session.add_all(families)
        await session.flush()
        session.add_all(
            Notice(
                family_id=f.id,  # type: ignore[arg-type]
                subject="program:7",
                kind="eligible",
                cycle="2026",
                issuer="131130",
                category="allowance",
                deadline=FAR,
                payload=payload(7, child=None),
            )
            for f in families
        )
    english = await add_family(world, 601, language="en")
    await add_notice(world, english, 7, child=None)

    ids = await world.plan(at(12, 0))
    requests = {r.id: r for r in await world.requests()}
    kinds = sorted((requests[i].body["kind"], len(_to(requests[i].body))) for i in ids)
    assert kinds == [("multicast", 100), ("multicast", 500), ("push", 1)]
    statuses = [await deliver(world.sessions, i, world.channels, now=at(12, 0)) for i in ids]
    assert statuses == ["sent"] * 3
    assert all(len(world.delivered(i)) == 1 for i in range(1, 602))
    assert world.emulator.stats()["requests"]["multicast"] == {"200": 2}
    assert {n.status for n in await world.notices()} == {"sent"}


def _to(body: dict[str, Any]) -> list[str]:
    return body["to"] if isinstance(body["to"], list) else [body["to"]]


async def test_every_request_is_stored_with_its_key_before_it_is_sent(world: World) -> None:
    family = await add_family(world, 1)
    await add_notice(world, family, 1)
    [send_id] = await world.plan(at(12, 0))
    assert world.emulator.requests() == []
    [stored] = await world.requests()
    assert stored.id == send_id and stored.status == "pending"
    assert uuid.UUID(stored.retry_key).version == 4
    assert stored.body["kind"] == "push" and stored.body["to"] == user(1)
    [notice] = await world.notices()
    assert (notice.status, notice.send_id, notice.retry_key) == (
        "scheduled",
        send_id,
        stored.retry_key,
    )
    assert await world.plan(at(12, 1)) == []  # planned once only


async def test_max_requests_takes_nearest_deadlines_first(world: World) -> None:
    for index, days in ((1, 30), (2, 5), (3, 60)):
        family = await add_family(world, index)
        await add_notice(world, family, index, deadline=TODAY + timedelta(days=days))
    ids = await world.plan(at(12, 0), max_requests=1)
    [request] = await world.requests()
    assert ids == [request.id] and request.body["to"] == user(2)
    assert sorted(n.status for n in await world.notices()) == ["pending", "pending", "scheduled"]


async def test_faults_still_deliver_every_notice_exactly_once(world: World) -> None:
    world.emulator.configure(fail_rate=0.3)
    for index in range(1, 31):
        family = await add_family(world, index)
        # Children born in different years: every family's carousel differs (a push each).
        await add_notice(world, family, 1, child=f"{1990 + index}年4月")
        await add_notice(world, family, 2, child=f"{1990 + index}年5月")
    for index in range(31, 51):
        family = await add_family(world, index)
        await add_notice(world, family, 3, child=None)
    statuses = await world.send_due(at(12, 0), max_attempts=30)
    assert statuses == Counter(sent=31)  # 30 pushes and one multicast of 20
    assert all(len(world.delivered(i)) == 1 for i in range(1, 51))
    logged = [r for r in world.emulator.requests() if r["operation"] in {"push", "multicast"}]
    assert any(r["status"] == 500 for r in logged)
    bodies: dict[str, set[str]] = {}
    for entry in logged:
        key = entry["headers"]["X-Line-Retry-Key"]
        bodies.setdefault(key, set()).add(json.dumps(entry["body"], sort_keys=True))
    stored = {r.retry_key: r for r in await world.requests()}
    assert set(bodies) == set(stored)
    assert all(len(b) == 1 for b in bodies.values()), "a retry changed its body"
    assert all(r.status == "sent" for r in stored.values())
    assert max(r.attempts for r in stored.values()) > 1


class LosesFirstAnswer(Channel):
    """LINE takes the request but the answer is lost once (a time-out after acceptance)."""

    name = "line"

    def __init__(self, inner: Channel) -> None:
        self.inner = inner
        self.lost = 0

    async def send(self, request: SendRequest) -> SendOutcome:
        outcome = await self.inner.send(request)
        if self.lost == 0:
            self.lost += 1
            raise RetryableSendError("read timed out")
        return outcome


async def test_a_409_on_retry_counts_as_sent(world: World) -> None:
    family = await add_family(world, 1)
    await add_notice(world, family, 1)
    [send_id] = await world.plan(at(12, 0))
    channels: dict[str, Channel] = {"line": LosesFirstAnswer(world.line)}
    with pytest.raises(RetryableSendError):
        await deliver(world.sessions, send_id, channels, now=at(12, 0))
    [pending] = await world.requests()
    assert (pending.status, pending.attempts, pending.last_error) == (
        "pending",
        1,
        "read timed out",
    )
    assert await deliver(world.sessions, send_id, channels, now=at(12, 1)) == "sent"
    statuses = [r["status"] for r in world.emulator.requests(path="/v2/bot/message/push")]
    assert statuses == [200, 409]
    [sent] = await world.requests()
    first_id = world.emulator.requests(path="/v2/bot/message/push")[0]["requestId"]
    assert (sent.status, sent.attempts, sent.accepted_request_id) == ("sent", 2, first_id)
    assert len(world.delivered(1)) == 1
    # A worker that re-delivers after a crash does nothing twice.
    assert await deliver(world.sessions, send_id, channels, now=at(12, 2)) == "sent"
    assert len(world.emulator.requests()) == 2


async def test_monthly_limit_mid_send_suppresses_the_rest_and_tells_the_operator(
    world: World,
) -> None:
    world.emulator.configure(monthly_limit=2)
    for index in range(1, 6):
        family = await add_family(world, index)
        await add_notice(world, family, 1, deadline=TODAY + timedelta(days=10 + index))
    ids = await world.plan(at(12, 0))
    reports: list[QuotaReport] = []

    async def hook(report: QuotaReport) -> None:
        reports.append(report)

    statuses = [
        await deliver(world.sessions, i, world.channels, now=at(12, 0), on_quota_exhausted=hook)
        for i in ids
    ]
    assert statuses == ["sent", "sent", "suppressed", "suppressed", "suppressed"]
    assert len(reports) == 1
    assert (reports[0].send_id, reports[0].requests, reports[0].notices) == (ids[2], 3, 3)
    assert "monthly limit" in reports[0].reason
    notices = sorted(await world.notices(), key=lambda n: n.deadline or FAR)
    assert [(n.status, n.reason) for n in notices] == [("sent", None)] * 2 + [
        ("suppressed", "quota")
    ] * 3
    assert [r["status"] for r in world.emulator.requests(path="/v2/bot/message/push")] == [
        200,
        200,
        429,
    ]


async def test_the_budget_is_read_first_and_nearer_deadlines_go_first(world: World) -> None:
    world.emulator.configure(monthly_limit=2)
    for index, days in ((1, 40), (2, 3), (3, 20), (4, 90)):
        family = await add_family(world, index)
        await add_notice(world, family, 1, deadline=TODAY + timedelta(days=days))
    reports: list[QuotaReport] = []
    assert await world.send_due(at(12, 0), on_quota_exhausted=reports.append) == Counter(sent=2)
    assert [len(world.delivered(i)) for i in (1, 2, 3, 4)] == [0, 1, 1, 0]
    assert reports == []  # nothing was refused: the rest waits, pending, for the next budget
    statuses = {n.family_id: n.status for n in await world.notices()}
    assert sorted(statuses.values()) == ["pending", "pending", "sent", "sent"]
    paths = [r["path"] for r in world.emulator.requests()]
    assert paths[:2] == ["/v2/bot/message/quota", "/v2/bot/message/quota/consumption"]


async def test_a_permanent_refusal_fails_the_notice_with_lines_reason(world: World) -> None:
    family = await add_family(world, 1, line_user_id="Unot-a-line-user")
    await add_notice(world, family, 1)
    assert await world.send_due(at(12, 0)) == Counter(failed=1)
    [notice] = await world.notices()
    assert notice.status == "failed"
    assert notice.reason is not None and notice.reason.startswith("400 The request body has")
    assert "to: must be a valid user ID" in notice.reason
    [request] = await world.requests()
    assert (request.status, request.attempts) == ("failed", 1)


async def test_messages_are_within_lines_limits(world: World) -> None:
    long = "長" * 120
    for index in range(1, 4):
        family = await add_family(world, index, language="en" if index == 2 else "ja")
        for program in range(1, 14):
            notice_id = await add_notice(world, family, program, child=f"{2020 + index}年1月")
            async with transaction(world.sessions) as session:
                notice = await session.get(Notice, notice_id)
                assert notice is not None
                notice.payload = {
                    **notice.payload,
                    "why": [long] * 5,
                    "summary": {"ja": long, "en": "x" * 120},
                    "benefit": long,
                }
    assert await world.send_due(at(12, 0)) == Counter(sent=3)
    assert world.refused() == []


# -- the app channel ----------------------------------------------------------------------------


@dataclass
class Backend:
    """An app backend that checks signatures and fails its first answer."""

    secret: str
    answers: list[int] = field(default_factory=lambda: [500])
    received: list[tuple[bool, dict[str, Any]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        digest = hmac.new(self.secret.encode(), raw, hashlib.sha256).digest()
        valid = request.headers.get("x-hagukumi-signature") == base64.b64encode(digest).decode()
        self.received.append((valid, json.loads(raw)))
        return web.json_response({}, status=self.answers.pop(0) if self.answers else 204)


async def test_app_families_get_signed_callbacks_retried_and_the_inbox(world: World) -> None:
    backend = Backend(secret="app-secret")
    app = web.Application()
    app.router.add_post("/notices", backend.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        with_callback = await add_family(world, 1, channel="app")
        inbox_only = await add_family(world, 2, channel="app")
        async with transaction(world.sessions) as session:
            for family_id, url in (
                (with_callback, str(server.make_url("/notices"))),
                (inbox_only, None),
            ):
                session.add(
                    AppSubscription(
                        family_id=family_id,
                        issuer="131130",
                        token_hash=uuid.uuid4().hex,
                        secret=backend.secret,
                        callback_url=url,
                    )
                )
        await add_notice(world, with_callback, 1)
        await add_notice(world, with_callback, 2)
        await add_notice(world, inbox_only, 1)
        assert await world.send_due(at(12, 0)) == Counter(sent=3)
    finally:
        await server.close()
    assert len(backend.received) == 3  # one 500, then both notices
    assert all(valid for valid, _ in backend.received)
    assert sorted(b["content"]["program"]["id"] for _, b in backend.received[1:]) == [1, 2]
    assert {r.body["kind"] for r in await world.requests()} == {"app"}
    assert {n.status for n in await world.notices()} == {"sent"}
    assert world.emulator.requests() == [] or all(
        "quota" in r["path"] for r in world.emulator.requests()
    )


async def test_a_family_that_chose_the_app_without_one_registered_is_reached_on_line(
    world: World,
) -> None:
    """Saved `channel: app` before the bot checked for an app: LINE, not a failed notice."""
    family = await add_family(world, 1, channel="app")
    await add_notice(world, family, 1)
    assert await world.send_due(at(12, 0)) == Counter(sent=1)
    assert {r.body["kind"] for r in await world.requests()} != {"app"}
    assert {n.status for n in await world.notices()} == {"sent"}
    assert any("/message/push" in r["path"] for r in world.emulator.requests())
