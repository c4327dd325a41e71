"""Event triggers: a published program touches only itself, a changed family only itself."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import select

from notifier.models import Notice
from notifier.triggers import on_family_changed, on_program_published
from registry import families as fam
from registry import programs as repo
from registry.db import transaction
from registry.models import Family
from registry.schemas import ProgramIn
from rules.profile import ChildInput
from tests.factories import program_body

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=TOKYO)
BABY = date(2025, 6, 15)


async def add_program(sessions: Any, *, publish: bool = True, **overrides: Any) -> int:
    data = ProgramIn.model_validate(program_body(examples=[], **overrides))
    async with transaction(sessions) as session:
        row = await repo.create_program(session, data)
        if publish:
            await repo.set_status(session, row, "published")
        assert row.id is not None
        return row.id


async def add_family(
    sessions: Any, user: str, municipality: str = "131130", *, consent: bool = True
) -> int:
    async with transaction(sessions) as session:
        family = await fam.get_or_create_line_family(session, user)
        if consent:
            await fam.record_consent(session, family)
            await fam.update_profile(session, family, municipality=municipality)
            await fam.replace_children(session, family, [ChildInput(birth_date=BABY)])
        assert family.id is not None
        return family.id


async def ledger(sessions: Any) -> set[tuple[int, int | None, str]]:
    async with sessions() as session:
        rows = (await session.exec(select(Notice))).all()
    return {(n.family_id, n.program_id, n.child_key) for n in rows}


async def test_on_program_published_touches_only_that_program(sessions: Any) -> None:
    first = await add_program(sessions)
    second = await add_program(sessions, issuer="130001", eligibility="child.age < 3")
    shibuya = await add_family(sessions, "U1")
    hachioji = await add_family(sessions, "U2", "132012")

    assert await on_program_published(sessions, second, now=NOW, zone=TOKYO) == 2
    assert await on_program_published(sessions, second, now=NOW, zone=TOKYO) == 0
    assert await ledger(sessions) == {
        (shibuya, second, BABY.isoformat()),
        (hachioji, second, BABY.isoformat()),
    }
    assert await on_program_published(sessions, first, now=NOW, zone=TOKYO) == 1
    assert (hachioji, first, BABY.isoformat()) not in await ledger(sessions)


async def test_on_program_published_ignores_drafts_and_unknown_programs(sessions: Any) -> None:
    draft = await add_program(sessions, publish=False)
    await add_family(sessions, "U1")

    assert await on_program_published(sessions, draft, now=NOW, zone=TOKYO) == 0
    assert await on_program_published(sessions, 9999, now=NOW, zone=TOKYO) == 0
    assert await ledger(sessions) == set()


async def test_a_changed_program_tells_only_families_it_newly_matches(sessions: Any) -> None:
    program = await add_program(sessions)
    told = await add_family(sessions, "U1")
    await on_program_published(sessions, program, now=NOW, zone=TOKYO)
    older = await add_family(sessions, "U2")
    async with transaction(sessions) as session:
        row = await session.get(Family, older)
        assert row is not None
        await fam.replace_children(session, row, [ChildInput(birth_date=date(2021, 1, 1))])
        program_row = await repo.get_program(session, program)
        assert program_row is not None
        wider = ProgramIn.model_validate(
            program_body(examples=[], eligibility='municipality == "131130" and child.age < 6')
        )
        await repo.update_program(session, program_row, wider)

    assert await on_program_published(sessions, program, now=NOW, zone=TOKYO) == 1
    assert await ledger(sessions) == {
        (told, program, BABY.isoformat()),
        (older, program, "2021-01-01"),
    }


async def test_on_family_changed_touches_only_that_family(sessions: Any) -> None:
    program = await add_program(sessions)
    tokyo = await add_program(sessions, issuer="130001", eligibility="child.age < 3")
    changed = await add_family(sessions, "U1")
    await add_family(sessions, "U2")

    assert await on_family_changed(sessions, changed, now=NOW, zone=TOKYO) == 2
    assert await on_family_changed(sessions, changed, now=NOW, zone=TOKYO) == 0
    assert await ledger(sessions) == {
        (changed, program, BABY.isoformat()),
        (changed, tokyo, BABY.isoformat()),
    }

    newborn = date(2026, 11, 1)
    async with transaction(sessions) as session:
        row = await session.get(Family, changed)
        assert row is not None
        await fam.add_child(session, row, newborn)
    assert await on_family_changed(sessions, changed, now=NOW, zone=TOKYO) == 2
    assert {k for f, _, k in await ledger(sessions) if f == changed} == {
        BABY.isoformat(),
        newborn.isoformat(),
    }


async def test_on_family_changed_tells_nobody_without_consent(sessions: Any) -> None:
    await add_program(sessions)
    new = await add_family(sessions, "U1", consent=False)
    blocked = await add_family(sessions, "U2")
    async with transaction(sessions) as session:
        row = await session.get(Family, blocked)
        assert row is not None
        await fam.mark_blocked(session, row)

    assert await on_family_changed(sessions, new, now=NOW, zone=TOKYO) == 0
    assert await on_family_changed(sessions, blocked, now=NOW, zone=TOKYO) == 0
    assert await on_family_changed(sessions, 9999, now=NOW, zone=TOKYO) == 0
    assert await ledger(sessions) == set()
