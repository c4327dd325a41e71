"""Benchmark: notices to 100,000 LINE families through the emulator at LINE's real rate limits.

Runs the LINE platform emulator as its own process (no monthly limit, LINE's documented rate
limits: push 2,000 requests/s, multicast 200 requests/s), fills a temporary SQLite database with
consented LINE families and their pending notices (70 % of the families get notices of their
own, which become pushes; 30 % get one identical municipal notice, which becomes multicasts of
up to 500), then calls `notifier.sending.send_due` in this process against the emulator.

Prints the data set-up time, the planning and sending times, notices delivered per second, API
requests per second, the ratio of the send time to the least time LINE's rate limits allow for
those requests, the messages counted against the monthly budget per family, and duplicates
(deliveries per user beyond what was expected, retry keys accepted more than once), which must
be 0 — also with `--fail-rate 0.3`.
Goal: sending within 1.3× of the rate-limit bound.
Usage: `python benchmarks/delivery.py [--families 100000] [--fail-rate 0] [--concurrency 512]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import notifier.sending as sending  # noqa: E402
from benchmarks.processes import free_port, wait_until_up  # noqa: E402
from hagukumi.seeddata import tokyo_codes  # noqa: E402
from notifier.channels.line import LineChannel  # noqa: E402
from notifier.ledger import NoticeDraft, record_notices  # noqa: E402
from notifier.models import Notice  # noqa: E402
from registry.db import create_engine, session_factory  # noqa: E402
from registry.models import Family  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HAGUKUMI = [sys.executable, "-m", "hagukumi.cli"]
SECRET, TOKEN = "bench-secret", "bench-token"
ZONE = ZoneInfo("Asia/Tokyo")
GOAL = 1.3
PUSH, MULTICAST = "/v2/bot/message/push", "/v2/bot/message/multicast"
SHARED_SHARE = 0.3  # families that get only the one identical (broadcast-like) notice

PROGRAMS = [
    ("児童手当", "Child allowance", "allowance", "0歳から18歳までの子を養育する方に支給"),
    ("児童扶養手当", "Child rearing allowance", "allowance", "ひとり親家庭などに支給"),
    ("出産・子育て応援給付金", "Birth and childcare grant", "grant", "妊娠・出産時に給付"),
    ("子ども医療費助成", "Child medical subsidy", "medical", "子どもの医療費の自己負担を助成"),
    ("一時預かり事業", "Temporary childcare", "childcare", "保護者の急用時に一時的に保育"),
    ("ベビーシッター利用支援", "Babysitter support", "childcare", "ベビーシッター利用料を助成"),
    ("保育所入所申込", "Daycare application", "daycare", "認可保育所の入所申込受付"),
    ("多胎児家庭支援", "Support for multiples", "support", "ふたご・みつごの家庭を支援"),
    ("産後ケア事業", "Postnatal care", "health", "出産後の母子の心身のケア"),
    ("就学援助", "School expenses aid", "education", "学用品費や給食費を援助"),
]
REASONS = [
    {"code": "lives_in", "place": "131130"},
    {"code": "child_age", "unit": "years", "below": 3},
    {"code": "income"},
]


def user_id(index: int, rng: random.Random) -> str:
    """A LINE user id: U and 32 hex digits (random, but unique through the index)."""
    return f"U{index:08x}{rng.getrandbits(96):024x}"


def family_rows(count: int, rng: random.Random, stamp: datetime) -> list[dict[str, Any]]:
    """Consented, active LINE families in Tokyo's municipalities."""
    codes = tokyo_codes()
    return [
        {
            "line_user_id": user_id(i, rng),
            "state": "active",
            "consented_at": stamp,
            "onboarded_at": stamp,
            "municipality": rng.choice(codes),
            "language": "en" if rng.random() < 0.1 else "ja",
            "preferences": {},
            "created_at": stamp,
            "updated_at": stamp,
        }
        for i in range(count)
    ]


def personal_drafts(
    family_id: int, issuer: str, rng: random.Random, today: date, now: datetime
) -> list[NoticeDraft]:
    """One or two program notices of the family's own: each names the child and carries the
    family's own application link, so no two families' messages are the same (→ pushes)."""
    drafts = []
    picks = rng.sample(range(len(PROGRAMS)), 2 if rng.random() < 0.25 else 1)
    birth = today - timedelta(days=rng.randint(0, 12 * 365))
    for pick in picks:
        ja, en, category, summary = PROGRAMS[pick]
        program = 1000 + pick
        deadline = today + timedelta(days=rng.randint(5, 120))
        payload = {
            "program": {"id": program, "version": 1, "issuer": issuer},
            "name": {"ja": ja, "en": en},
            "summary": {"ja": summary, "en": f"{en}: see the details"},
            "benefit": None,
            "reference_url": None,
            "application_url": (
                f"https://apply.example.lg.jp/{issuer}/{program}?ref={family_id:x}{pick}"
            ),
            "category": [category],
            "reasons": rng.sample(REASONS, 2),
            "kind": "eligible",
            "deadline": deadline.isoformat(),
            "child": {
                "ja": f"{birth.year}年{birth.month}月生まれのお子さま",
                "en": f"your child born {birth.strftime('%B')} {birth.year}",
            },
        }
        drafts.append(
            NoticeDraft(
                family_id=family_id,
                subject=f"program:{program}",
                program_id=None,  # no program rows in this database; the payload names it
                child_key=birth.isoformat(),
                kind="eligible",
                cycle=str(today.year),
                issuer=issuer,
                category=category,
                channel="line",
                deadline=deadline,
                due_at=now,
                payload=payload,
            )
        )
    return drafts


def shared_draft(family_id: int, today: date, now: datetime) -> NoticeDraft:
    """The one municipal notice many families share word for word (→ multicasts of 500)."""
    deadline = today + timedelta(days=30)
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
        "category": ["campaign"],
        "reasons": [],
        "kind": "broadcast",
        "deadline": deadline.isoformat(),
        "child": None,
    }
    return NoticeDraft(
        family_id=family_id,
        subject="broadcast:9001",
        program_id=None,
        child_key="",
        kind="broadcast",
        cycle=str(today.year),
        issuer="130001",
        category="campaign",
        channel="line",
        deadline=deadline,
        due_at=now,
        payload=payload,
    )


async def set_up_data(sessions: Any, families: int, now: datetime) -> tuple[int, int, int]:
    """Insert the families and their notices; (families, notices, families sharing one)."""
    rng = random.Random(4)
    stamp = datetime.now(UTC)
    today = now.astimezone(ZONE).date()
    table = Family.__table__  # type: ignore[attr-defined]
    rows = family_rows(families, rng, stamp)
    async with sessions() as session, session.begin():
        connection = await session.connection()
        for start in range(0, len(rows), 5000):
            await connection.execute(table.insert(), rows[start : start + 5000])
        found = (await connection.execute(select(table.c.id, table.c.municipality))).all()
        drafts: list[NoticeDraft] = []
        shared = 0
        for family_id, municipality in found:
            if rng.random() < SHARED_SHARE:
                drafts.append(shared_draft(family_id, today, now))
                shared += 1
            else:
                drafts.extend(personal_drafts(family_id, municipality, rng, today, now))
        notices = await record_notices(session, drafts)
    return len(found), notices, shared


class RequestLog:
    """Reads the emulator's request log as it grows (it keeps only the latest 100,000)."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base
        self.last = 0
        self.lost = 0
        self.by_status: Counter[tuple[str, int]] = Counter()
        self.deliveries: Counter[str] = Counter()  # messages per user id, from 200 answers
        self.keys_accepted: Counter[str] = Counter()  # X-Line-Retry-Key of 200 answers

    async def read(self) -> None:
        """Take in every request logged since the last read."""
        async with self.http.get(
            f"{self.base}/_emulator/requests", params={"since": str(self.last), "compact": "1"}
        ) as response:
            entries = (await response.json())["requests"]
        for entry in entries:
            if entry["seq"] != self.last + 1:
                self.lost += entry["seq"] - self.last - 1
            self.last = entry["seq"]
            path, status = entry["path"], int(entry["status"])
            self.by_status[(path, status)] += 1
            if path not in (PUSH, MULTICAST) or status != 200:
                continue
            to = entry.get("to")
            for user in [to] if isinstance(to, str) else to or []:
                self.deliveries[user] += entry["messages"]
            if entry.get("retry_key"):
                self.keys_accepted[entry["retry_key"]] += 1

    async def follow(self, stop: asyncio.Event, every: float = 1.0) -> None:
        """Read every `every` seconds until stopped (so the log never overflows)."""
        while not stop.is_set():
            await self.read()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
        await self.read()

    def count(self, path: str, *, accepted_only: bool = False) -> int:
        """Requests to `path` (all, or those answered 200)."""
        return sum(
            n
            for (p, status), n in self.by_status.items()
            if p == path and (status == 200 or not accepted_only)
        )

    def gated(self, path: str) -> int:
        """Requests to `path` that took a rate-limit token (everything but 429s)."""
        return sum(n for (p, status), n in self.by_status.items() if p == path and status != 429)


async def run(families: int, fail_rate: float, concurrency: int) -> int:
    """Start the emulator, set up the data, deliver, print the figures."""
    folder = tempfile.mkdtemp(prefix="hagukumi-delivery-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database = f"sqlite:///{folder}/bench.sqlite3"
    env = {**os.environ, "HAGUKUMI_DATABASE_URL": database, "HAGUKUMI_LOG_LEVEL": "WARNING"}
    subprocess.run([*HAGUKUMI, "migrate"], env=env, check=True, cwd=ROOT, capture_output=True)
    logs = open(Path(folder) / "emulator.log", "w")  # noqa: SIM115
    emulator = subprocess.Popen(
        [
            *HAGUKUMI,
            "line-emulator",
            "--port",
            str(port),
            "--channel-secret",
            SECRET,
            "--channel-access-token",
            TOKEN,
        ],
        env=env,
        cwd=ROOT,
        stdout=logs,
        stderr=subprocess.STDOUT,
    )
    engine = create_engine(database)
    sessions = session_factory(engine)
    now = datetime.combine(datetime.now(ZONE).date(), datetime.min.time(), tzinfo=ZONE).replace(
        hour=12
    )  # noon in Tokyo: outside any quiet hours
    try:
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            await wait_until_up(http, f"{base}/_emulator/stats")
            async with http.post(
                f"{base}/_emulator/config", json={"fail_rate": fail_rate, "monthly_limit": None}
            ) as response:
                settings = await response.json()
            if settings.get("rate_limits"):
                raise RuntimeError(f"the emulator's rate limits are not LINE's: {settings}")
            print(
                f"delivery benchmark: {families:,} LINE families, fail rate {fail_rate:g}, "
                f"concurrency {concurrency}, LINE's rate limits (push 2000/s, multicast 200/s)",
                flush=True,
            )

            began = time.perf_counter()
            made, notices, shared = await set_up_data(sessions, families, now)
            setup = time.perf_counter() - began
            print(
                f"  data set-up:      {made:,} families, {notices:,} notices "
                f"({shared:,} families share one notice) in {setup:.1f} s",
                flush=True,
            )

            # Time planning apart from sending: send_due looks `plan` up in its module.
            planned: dict[str, float] = {}
            original_plan = sending.plan

            async def timed_plan(*args: Any, **kwargs: Any) -> list[int]:
                started = time.perf_counter()
                try:
                    return await original_plan(*args, **kwargs)
                finally:
                    planned["start"], planned["end"] = started, time.perf_counter()
                    took = planned["end"] - started
                    print(f"  (planned in {took:.1f} s; sending…)", flush=True)

            log = RequestLog(http, base)
            stop = asyncio.Event()
            follower = asyncio.create_task(log.follow(stop))
            sending.plan = timed_plan  # type: ignore[assignment]
            try:
                async with LineChannel(base, TOKEN) as line:
                    began = time.perf_counter()
                    statuses = await sending.send_due(
                        sessions,
                        {"line": line},
                        now=now,
                        zone=ZONE,
                        quiet_hours="",
                        digest_at="off",
                        concurrency=concurrency,
                        # Short back-off so that injected 500s cost retries, not idle seconds.
                        max_attempts=12,
                        backoff=0.1,
                        max_backoff=2.0,
                    )
                    ended = time.perf_counter()
            finally:
                sending.plan = original_plan  # type: ignore[assignment]
                stop.set()
                await follower
            async with http.get(f"{base}/_emulator/stats") as response:
                stats = await response.json()

        async with engine.connect() as connection:
            table = Notice.__table__  # type: ignore[attr-defined]
            rows = await connection.execute(
                select(table.c.status, func.count()).group_by(table.c.status)
            )
            notice_statuses = dict(rows.all())
            expected_rows = await connection.execute(
                select(Family.line_user_id)  # type: ignore[call-overload]
                .join(Notice, Notice.family_id == Family.id)  # type: ignore[arg-type]
                .distinct()
            )
            expected = {u for (u,) in expected_rows.all()}
    finally:
        await engine.dispose()
        emulator.terminate()
        try:
            emulator.wait(10)
        except subprocess.TimeoutExpired:
            emulator.kill()
        logs.close()

    plan_s = planned["end"] - planned["start"]
    send_s = ended - planned["end"]
    total_s = ended - began
    pushes, multicasts = (
        log.count(PUSH, accepted_only=True),
        log.count(MULTICAST, accepted_only=True),
    )
    requests = log.count(PUSH) + log.count(MULTICAST)
    delivered_notices = notice_statuses.get("sent", 0)
    # The least time LINE allows: push and multicast have separate token buckets (separate
    # limits), so a client may use both at once and the bound is the larger of the two times,
    # not their sum (the sum is printed too). Every request that got past the rate gate took a
    # token, including those the emulator then failed with an injected 500; 429s took none.
    push_s, multicast_s = log.gated(PUSH) / 2000, log.gated(MULTICAST) / 200
    bound = max(push_s, multicast_s)
    # Each family with notices gets exactly one message (its notices in one Flex message).
    duplicates = sum(n - 1 for u, n in log.deliveries.items() if u in expected and n > 1)
    strangers = sum(n for u, n in log.deliveries.items() if u not in expected)
    missing = sum(1 for u in expected if log.deliveries[u] == 0)
    keys_twice = sum(1 for n in log.keys_accepted.values() if n > 1)
    budget = stats["budget"]["used"]
    answers = {
        op: counts for op, counts in stats["requests"].items() if op in ("push", "multicast")
    }

    print(f"  send_due:         {dict(statuses)} (requests by final status)")
    print(f"  notices:          {notice_statuses}")
    print(f"  emulator answers: {answers} (status: count)")
    print(
        f"  time:             plan {plan_s:.1f} s + send {send_s:.1f} s = {total_s:.1f} s "
        f"(set-up {setup:.1f} s not included)"
    )
    print(
        f"  delivered:        {delivered_notices:,} notices to {len(log.deliveries):,} users = "
        f"{delivered_notices / total_s:,.0f} notices/s overall, "
        f"{delivered_notices / send_s:,.0f} notices/s while sending"
    )
    print(
        f"  API requests:     {requests:,} ({pushes:,} pushes and {multicasts:,} multicasts "
        f"accepted) = {requests / send_s:,.0f} requests/s while sending"
    )
    print(
        f"  rate-limit bound: {bound:.2f} s = max(push {push_s:.2f} s, multicast "
        f"{multicast_s:.2f} s) (sum {push_s + multicast_s:.2f} s)"
    )
    ratio, overall = send_s / bound if bound else 0.0, total_s / bound if bound else 0.0
    print(f"  send / bound:     {ratio:.2f}×  (with planning {overall:.2f}×)")
    print(
        f"  LINE budget:      {budget:,} messages = {budget / max(1, len(expected)):.3f} "
        f"per family notified ({len(expected):,} families)"
    )
    print(
        f"  duplicates:       {duplicates} extra deliveries, {keys_twice} retry keys accepted "
        f"twice, {strangers} to unexpected users, {missing} families missed"
        + (f" (request log lost {log.lost} entries!)" if log.lost else "")
    )
    met = ratio <= GOAL and duplicates == 0 and keys_twice == 0
    print(
        f"  goal (send within {GOAL}× of the bound, 0 duplicates): "
        + ("goal met" if met else "goal NOT met")
    )
    return 0


def main() -> int:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--families", type=int, default=100_000)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=512)
    args = parser.parse_args()
    return asyncio.run(run(args.families, args.fail_rate, args.concurrency))


if __name__ == "__main__":
    raise SystemExit(main())
