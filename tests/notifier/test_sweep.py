"""The daily sweep: who is told what, once, and what a dry run reports."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import select

from hagukumi.demo import demo_programs
from notifier.compose import MAX_PAYLOAD, size
from notifier.ledger import notices_of
from notifier.models import Notice
from notifier.sweep import sweep
from registry import families as fam
from registry import programs as repo
from registry.db import transaction
from registry.models import AppSubscription, ProgramAction
from registry.schemas import ProgramIn
from rules.profile import ChildInput
from tests.conftest import TODAY
from tests.factories import program_body

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=TOKYO)
SHIBUYA, HACHIOJI = "131130", "132012"


async def add_program(sessions: Any, data: ProgramIn | None = None, **overrides: Any) -> int:
    """A published program (the factory's Shibuya per-child one unless given)."""
    data = data or ProgramIn.model_validate(program_body(examples=[], **overrides))
    async with transaction(sessions) as session:
        row = await repo.create_program(session, data)
        await repo.set_status(session, row, "published")
        assert row.id is not None
        return row.id


async def add_family(
    sessions: Any,
    user: str,
    municipality: str = SHIBUYA,
    births: tuple[date, ...] = (),
    *,
    consent: bool = True,
    preferences: dict[str, Any] | None = None,
    **fields: Any,
) -> int:
    """A LINE family with a profile (consented unless told otherwise)."""
    async with transaction(sessions) as session:
        family = await fam.get_or_create_line_family(session, user)
        if consent:
            await fam.record_consent(session, family)
            await fam.update_profile(session, family, municipality=municipality, **fields)
            await fam.replace_children(session, family, [ChildInput(birth_date=b) for b in births])
            if preferences:
                await fam.update_preferences(session, family, **preferences)
        assert family.id is not None
        return family.id


async def notices(sessions: Any, family_id: int) -> list[Notice]:
    async with sessions() as session:
        return await notices_of(session, family_id)


async def count_notices(sessions: Any) -> int:
    async with sessions() as session:
        return (await session.exec(select(func.count()).select_from(Notice))).one()


async def test_a_sweep_run_twice_creates_each_notice_once(sessions: Any) -> None:
    program = await add_program(sessions)
    family = await add_family(sessions, "U1", births=(date(2025, 6, 15),))

    first = await sweep(sessions, now=NOW, zone=TOKYO)
    second = await sweep(sessions, now=NOW, zone=TOKYO)

    assert (first.new, second.new) == (1, 0)
    assert second.matches == 1
    [notice] = await notices(sessions, family)
    assert (notice.subject, notice.program_id, notice.kind, notice.cycle) == (
        f"program:{program}",
        program,
        "eligible",
        "2026",
    )
    assert (notice.status, notice.channel, notice.issuer) == ("pending", "line", SHIBUYA)
    assert notice.due_at == NOW
    assert notice.payload["name"]["ja"] == "テスト乳幼児手当"
    assert notice.payload["deadline"] == "2027-03-31"
    assert notice.payload["reasons"] == [
        {"code": "lives_in", "place": "131130"},
        {"code": "child_age", "unit": "years", "below": 3},
    ]
    assert "why" not in notice.payload
    assert size(notice.payload) <= MAX_PAYLOAD


async def test_per_child_notices_name_each_qualifying_child(sessions: Any) -> None:
    await add_program(sessions)
    family = await add_family(
        sessions, "U1", births=(date(2025, 6, 15), date(2024, 2, 29), date(2019, 1, 1))
    )

    await sweep(sessions, now=NOW, zone=TOKYO)

    found = {n.child_key: n.payload["child"] for n in await notices(sessions, family)}
    assert found == {
        "2025-06-15": {"ja": "2025年6月生まれのお子さま", "en": "your child born Jun 2025"},
        "2024-02-29": {"ja": "2024年2月生まれのお子さま", "en": "your child born Feb 2024"},
    }


async def test_twins_share_one_notice(sessions: Any) -> None:
    await add_program(sessions)
    family = await add_family(sessions, "U1", births=(date(2025, 6, 15), date(2025, 6, 15)))

    report = await sweep(sessions, now=NOW, zone=TOKYO)

    assert report.matches == 2
    assert [n.child_key for n in await notices(sessions, family)] == ["2025-06-15"]


async def test_families_without_consent_blocked_or_deleted_get_nothing(sessions: Any) -> None:
    await add_program(sessions, eligibility='municipality == "131130"', per_child=False)
    told = await add_family(sessions, "U-active")
    silent = await add_family(sessions, "U-new", consent=False)
    blocked = await add_family(sessions, "U-blocked")
    deleted = await add_family(sessions, "U-deleted")
    async with transaction(sessions) as session:
        await fam.mark_blocked(session, await session.get(fam.Family, blocked))
        await fam.delete_personal_data(session, await session.get(fam.Family, deleted))

    report = await sweep(sessions, now=NOW, zone=TOKYO)

    assert report.families_scanned == 1
    assert len(await notices(sessions, told)) == 1
    for family in (silent, blocked, deleted):
        assert await notices(sessions, family) == []


async def test_a_category_turned_off_is_recorded_as_suppressed(sessions: Any) -> None:
    await add_program(sessions, category=["allowance", "medical"])
    family = await add_family(
        sessions,
        "U1",
        births=(date(2025, 6, 15),),
        preferences={"categories_off": ["medical"]},
    )

    report = await sweep(sessions, now=NOW, zone=TOKYO)

    [notice] = await notices(sessions, family)
    assert (notice.status, notice.reason) == ("suppressed", "preference")
    assert (report.new, report.suppressed) == (1, 1)
    assert next(iter(report.programs.values())).families == 0


async def test_channel_is_app_for_app_families(sessions: Any) -> None:
    await add_program(sessions)
    by_pref = await add_family(
        sessions, "U1", births=(date(2025, 6, 15),), preferences={"channel": "app"}
    )
    by_sub = await add_family(sessions, "U2", births=(date(2025, 6, 15),))
    async with transaction(sessions) as session:
        session.add(
            AppSubscription(family_id=by_sub, issuer=SHIBUYA, token_hash="h" * 64, secret="s")
        )

    await sweep(sessions, now=NOW, zone=TOKYO)

    for family in (by_pref, by_sub):
        assert [n.channel for n in await notices(sessions, family)] == ["app"]


async def test_programs_reach_only_their_issuers_scope(sessions: Any) -> None:
    shibuya = await add_program(sessions, eligibility="child.age < 3")
    tokyo = await add_program(sessions, issuer="130001", eligibility="child.age < 3")
    nation = await add_program(sessions, issuer="000000", eligibility="child.age < 3")
    chiyoda = await add_program(sessions, issuer="131016", eligibility="child.age < 3")
    in_shibuya = await add_family(sessions, "U1", births=(date(2025, 6, 15),))
    in_hachioji = await add_family(sessions, "U2", HACHIOJI, births=(date(2025, 6, 15),))

    await sweep(sessions, now=NOW, zone=TOKYO)

    assert {n.program_id for n in await notices(sessions, in_shibuya)} == {shibuya, tokyo, nation}
    assert {n.program_id for n in await notices(sessions, in_hachioji)} == {tokyo, nation}
    assert chiyoda not in {n.program_id for n in await notices(sessions, in_shibuya)}


async def test_programs_out_of_force_or_past_their_deadline_are_skipped(sessions: Any) -> None:
    await add_program(sessions, valid_from="2027-04-01")
    await add_program(sessions, valid_from="2020-04-01", valid_to="2026-03-31")
    await add_program(sessions, application={"deadline": "2026-11-25"})
    family = await add_family(sessions, "U1", births=(date(2025, 6, 15),))

    report = await sweep(sessions, now=NOW, zone=TOKYO)

    assert report.programs == {}
    assert await notices(sessions, family) == []


async def test_fixed_deadline_reminders_7_and_2_days_before(sessions: Any) -> None:
    deadline = TODAY + timedelta(days=7)
    await add_program(sessions, application={"deadline": deadline.isoformat()})
    family = await add_family(sessions, "U1", births=(date(2025, 6, 15),))

    await sweep(sessions, now=NOW, zone=TOKYO)
    # A missed day still reminds: 6 days left is within the 7-day window, but it is the same
    # reminder (cycle = the deadline), so nothing new.
    again = await sweep(sessions, now=NOW + timedelta(days=1), zone=TOKYO)
    await sweep(sessions, now=NOW + timedelta(days=5), zone=TOKYO)
    late = await sweep(sessions, now=NOW + timedelta(days=6), zone=TOKYO)
    past = await sweep(sessions, now=NOW + timedelta(days=8), zone=TOKYO)

    found = sorted((n.kind, n.cycle, n.deadline) for n in await notices(sessions, family))
    assert found == [
        ("deadline-2", deadline.isoformat(), deadline),
        ("deadline-7", deadline.isoformat(), deadline),
        ("eligible", "2026", deadline),
    ]
    assert (again.new, late.new, past.new) == (0, 0, 0)
    assert past.programs == {}


async def test_no_reminders_after_i_applied(sessions: Any) -> None:
    deadline = TODAY + timedelta(days=7)
    program = await add_program(sessions, application={"deadline": deadline.isoformat()})
    family = await add_family(sessions, "U1", births=(date(2025, 6, 15),))
    async with transaction(sessions) as session:
        await fam.mark_applied(session, await session.get(fam.Family, family), program)

    await sweep(sessions, now=NOW, zone=TOKYO)
    await sweep(sessions, now=NOW + timedelta(days=5), zone=TOKYO)

    assert [n.kind for n in await notices(sessions, family)] == ["eligible"]


async def test_birth_deadline_reminders_for_the_child_allowance(sessions: Any) -> None:
    [allowance] = [p for p in demo_programs() if p.name.ja == "児童手当"]
    assert allowance.application.deadline_days_after_birth == 15
    await add_program(sessions, allowance)
    week_left = TODAY - timedelta(days=8)
    two_days_left = TODAY - timedelta(days=13)
    older = date(2020, 5, 5)
    family = await add_family(sessions, "U1", births=(week_left, older))
    other = await add_family(sessions, "U2", HACHIOJI, births=(two_days_left,))

    await sweep(sessions, now=NOW, zone=TOKYO)

    reminders = [n for n in await notices(sessions, family) if n.kind != "eligible"]
    assert [(n.kind, n.child_key, n.deadline) for n in reminders] == [
        ("deadline-7", week_left.isoformat(), TODAY + timedelta(days=7))
    ]
    assert reminders[0].payload["child"]["ja"] == "2026年11月生まれのお子さま"
    eligible = {n.child_key: n.payload["deadline"] for n in await notices(sessions, family)}
    assert eligible[older.isoformat()] is None
    kinds = {(n.kind, n.deadline) for n in await notices(sessions, other)}
    assert ("deadline-2", TODAY + timedelta(days=2)) in kinds


async def test_i_applied_covers_children_born_before_it_only(sessions: Any) -> None:
    [allowance] = [p for p in demo_programs() if p.name.ja == "児童手当"]
    program = await add_program(sessions, allowance)
    newborn = TODAY - timedelta(days=8)
    earlier = await add_family(sessions, "U1", births=(TODAY - timedelta(days=400), newborn))
    after_birth = await add_family(sessions, "U2", births=(newborn,))
    async with transaction(sessions) as session:
        for family, days_ago in ((earlier, 390), (after_birth, 1)):
            at = NOW - timedelta(days=days_ago)
            session.add(ProgramAction(family_id=family, program_id=program, created_at=at))

    await sweep(sessions, now=NOW, zone=TOKYO)

    def reminded(found: list[Notice]) -> list[str]:
        return [n.child_key for n in found if n.kind != "eligible"]

    # Applied for the first child more than a year ago: the newborn needs its own claim.
    assert reminded(await notices(sessions, earlier)) == [newborn.isoformat()]
    assert reminded(await notices(sessions, after_birth)) == []


async def test_a_new_fiscal_year_brings_a_new_eligible_notice(sessions: Any) -> None:
    await add_program(sessions, application={})
    family = await add_family(sessions, "U1", births=(date(2025, 6, 15),))
    march_31 = datetime(2027, 3, 31, 23, 59, tzinfo=TOKYO)

    await sweep(sessions, now=march_31, zone=TOKYO)
    await sweep(sessions, now=march_31 + timedelta(hours=1), zone=TOKYO)  # April 1 in Tokyo

    assert [n.cycle for n in await notices(sessions, family)] == ["2026", "2027"]


async def test_today_is_the_date_in_tokyo(sessions: Any) -> None:
    await add_program(sessions, application={})
    family = await add_family(sessions, "U1", births=(date(2025, 6, 15),))
    # 2027-03-31T16:00Z is already April 1 in Tokyo: fiscal year 2027.
    await sweep(sessions, now=datetime(2027, 3, 31, 16, 0, tzinfo=ZoneInfo("UTC")), zone=TOKYO)

    assert [n.cycle for n in await notices(sessions, family)] == ["2027"]


async def test_dry_run_writes_nothing_and_reports_counts(sessions: Any) -> None:
    program = await add_program(sessions)
    for i in range(5):
        await add_family(sessions, f"U{i}", births=(date(2025, 6, 15),))
    lines: list[str] = []

    report = await sweep(sessions, now=NOW, zone=TOKYO, dry_run=True, progress=lines.append)

    assert await count_notices(sessions) == 0
    tally = report.programs[program]
    assert (tally.matches, tally.new, tally.families) == (5, 5, 5)
    assert len(tally.samples) == 3
    assert tally.samples[0]["child"] == "2025年6月生まれのお子さま"
    text = report.render()
    assert "dry run" in text and "テスト乳幼児手当" in text
    assert "2025-06-15" not in text and "U0" not in text
    assert lines and lines[-1].startswith("families 5/5")

    await sweep(sessions, now=NOW, zone=TOKYO)
    assert (await sweep(sessions, now=NOW, zone=TOKYO, dry_run=True)).new == 0


async def test_progress_every_batch_and_skipped_families(sessions: Any) -> None:
    await add_program(sessions)
    for i in range(5):
        await add_family(sessions, f"U{i}", births=(date(2025, 6, 15),))
    await add_family(sessions, "U-future", births=(date(2026, 12, 1),))
    lines: list[str] = []

    report = await sweep(sessions, now=NOW, zone=TOKYO, batch_size=2, progress=lines.append)

    assert (report.families_scanned, report.families_skipped, report.new) == (6, 1, 5)
    assert [line.split(" …")[0] for line in lines[1:]] == [
        "families 2/6",
        "families 4/6",
        "families 6/6",
    ]


async def test_demo_programs_over_a_few_families(sessions: Any) -> None:
    async with transaction(sessions) as session:
        for data in demo_programs():
            row = await repo.create_program(session, data, source="demo")
            await repo.set_status(session, row, "published")
    newborn = await add_family(sessions, "U1", births=(TODAY - timedelta(days=8),))
    await add_family(sessions, "U2", HACHIOJI, births=(date(2019, 6, 1), date(2024, 5, 1)))
    await add_family(sessions, "U3", pregnant=True, due_date=date(2027, 3, 1), single_parent=True)

    first = await sweep(sessions, now=NOW, zone=TOKYO)
    second = await sweep(sessions, now=NOW, zone=TOKYO)

    assert first.new > 10 and second.new == 0
    names = {n.payload["name"]["ja"] for n in await notices(sessions, newborn)}
    assert {"児童手当", "018サポート", "BCG予防接種（定期接種）"} <= names
    async with sessions() as session:
        rows = (await session.exec(select(Notice))).all()
    assert all(size(n.payload) <= MAX_PAYLOAD for n in rows)


async def test_small_batches_find_the_same_notices(sessions: Any) -> None:
    async with transaction(sessions) as session:
        for data in demo_programs():
            row = await repo.create_program(session, data, source="demo")
            await repo.set_status(session, row, "published")
    for i in range(6):
        births = (TODAY - timedelta(days=8 + 200 * i), date(2015 + i, 4, 2))
        await add_family(sessions, f"U{i}", (SHIBUYA, HACHIOJI)[i % 2], births=births)

    here = await sweep(sessions, now=NOW, zone=TOKYO, dry_run=True)
    spread = await sweep(sessions, now=NOW, zone=TOKYO, batch_size=4)

    assert spread.new == here.new > 0
    assert {t.id: t.new for t in spread.programs.values()} == {
        t.id: t.new for t in here.programs.values()
    }
