"""The sweep on columns tells exactly what the per-family path tells (dry run and real)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete
from sqlmodel import col, select

from hagukumi.demo import demo_programs
from notifier.models import Notice
from notifier.sweep import SweepReport, sweep
from registry import programs as repo
from registry.db import transaction
from registry.models import AppSubscription, Child, Family, ProgramAction
from registry.schemas import ProgramIn
from tests.conftest import TODAY
from tests.factories import program_body

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=TOKYO)
CODES = ("131130", "131130", "132012", "132012", "131016", "141003")
"""Shibuya and Hachioji (programs of their own), Chiyoda (Tokyo's only), Yokohama (nation's)."""
CATEGORIES = ("allowance", "vaccination", "medical", "birth", "health-checkup")

BROKEN = (
    ("municipality", "131131"),  # a wrong check digit
    ("municipality", "130001"),  # Tokyo itself, not a municipality
    ("municipality", "000000"),
    ("language", "fr"),
    ("household_income", -1),
)
"""Values the database holds but a profile rejects."""

EXTRA = (
    # Not vectorised (`%`): evaluated per family, over its scope only.
    {"issuer": "131130", "per_child": False, "eligibility": "(household_income ?? 1) % 2 == 0"},
    {"issuer": "130001", "per_child": True, "eligibility": "child.age % 2 == 1"},
    # A fixed deadline 5 days ahead: reminders per child.
    {
        "issuer": "000000",
        "per_child": True,
        "eligibility": "child.age < 6 and not (single_parent ?? false)",
        "application": {"url": "https://example.jp/", "deadline": "2026-12-01"},
    },
    # A household program with a birth deadline: every birth starts a clock.
    {
        "issuer": "132012",
        "per_child": False,
        "eligibility": "child_count >= 1 and household_income < 8000000",
        "application": {"url": "https://example.jp/", "deadline_days_after_birth": 14},
    },
)


def _birth(rng: random.Random) -> date:
    pick = rng.random()
    if pick < 0.15:  # newborns: birth-deadline reminders
        return TODAY - timedelta(days=rng.randint(0, 20))
    if pick < 0.3:  # April 1/2 and leap days: class-age edges
        year = rng.randint(2008, 2026)
        return rng.choice(
            [date(year, 4, 1), date(year, 4, 2), date(2024, 2, 29), date(2020, 2, 29)]
        )
    return TODAY - timedelta(days=rng.randint(0, 19 * 366))


async def _population(sessions: Any, rng: random.Random, size: int, programs: list[int]) -> None:
    async with transaction(sessions) as session:
        for i in range(size):
            pregnant = rng.random() < 0.1
            prefs: dict[str, Any] = {}
            if rng.random() < 0.2:
                prefs["categories_off"] = rng.sample(CATEGORIES, rng.randint(1, 2))
            if rng.random() < 0.1:
                prefs["channel"] = "app"
            family = Family(
                line_user_id=f"U{i:032x}",
                state=rng.choice(["active"] * 8 + ["blocked", "new"]),
                consented_at=None if rng.random() < 0.05 else datetime(2026, 1, 1, tzinfo=UTC),
                municipality=rng.choice(CODES),
                pregnant=pregnant,
                due_date=TODAY + timedelta(days=rng.randint(5, 200)) if pregnant else None,
                single_parent=rng.choice([True, False, None]),
                household_income=rng.choice([None, rng.randint(0, 12_000_000)]),
                resident_tax_exempt=rng.choice([True, False, None]),
                public_assistance=rng.choice([True, False, False, None]),
                language=rng.choice(["ja", "en"]),
                preferences=prefs,
            )
            broken = rng.random() < 0.05  # a profile that no longer derives: skipped
            if broken:
                field, value = rng.choice(BROKEN)
                setattr(family, field, value)
            session.add(family)
            await session.flush()
            assert family.id is not None
            births = [_birth(rng) for _ in range(rng.choices([0, 1, 2, 3], [2, 4, 3, 1])[0])]
            if births and rng.random() < 0.1:
                births.append(births[0])  # twins
            if broken and rng.random() < 0.5:  # born after today, or more than 20 children
                births += rng.choice([[TODAY + timedelta(days=3)], [date(2020, 5, 5)] * 21])
            daycare = ["none", "applying", "enrolled"] + (["at granny's"] if broken else [])
            for birth in births:
                session.add(
                    Child(
                        family_id=family.id,
                        birth_date=birth,
                        disability=rng.random() < 0.1,
                        daycare=rng.choice(daycare),
                    )
                )
            if rng.random() < 0.05:
                session.add(
                    AppSubscription(
                        family_id=family.id, issuer="131130", token_hash=f"{i:064x}", secret="s"
                    )
                )
            for program in rng.sample(programs, 2) if rng.random() < 0.2 else []:
                applied = TODAY - timedelta(days=rng.randint(0, 400))
                session.add(
                    ProgramAction(
                        family_id=family.id,
                        program_id=program,
                        created_at=datetime.combine(applied, datetime.min.time(), TOKYO),
                    )
                )


async def _broken_families(sessions: Any) -> None:
    """One reachable family for each way a stored profile can fail to derive."""
    consented = datetime(2026, 1, 1, tzinfo=UTC)
    cases: list[tuple[dict[str, Any], list[tuple[date, str]]]] = [
        ({field: value}, [(date(2025, 5, 5), "none")]) for field, value in BROKEN
    ]
    cases += [
        ({}, [(date(2025, 5, 5), "none"), (TODAY + timedelta(days=3), "none")]),
        ({}, [(date(2020, 5, 5), "none")] * 21),
        ({}, [(date(2025, 5, 5), "at granny's")]),
        ({}, [(date(2025, 5, 5), "none")] * 20),  # the most children a profile may have
    ]
    async with transaction(sessions) as session:
        for i, (fields, children) in enumerate(cases):
            family = Family(
                line_user_id=f"B{i:032x}",
                state="active",
                consented_at=consented,
                **{"municipality": "131130", **fields},
            )
            session.add(family)
            await session.flush()
            assert family.id is not None
            for birth, daycare in children:
                session.add(Child(family_id=family.id, birth_date=birth, daycare=daycare))


async def _programs(sessions: Any) -> list[int]:
    ids = []
    extras = [ProgramIn.model_validate(program_body(examples=[], **e)) for e in EXTRA]
    async with transaction(sessions) as session:
        for data in [*demo_programs(), *extras]:
            row = await repo.create_program(session, data, source="demo")
            await repo.set_status(session, row, "published")
            assert row.id is not None
            ids.append(row.id)
    return ids


def _figures(report: SweepReport) -> dict[str, Any]:
    return {
        "scanned": report.families_scanned,
        "skipped": report.families_skipped,
        "programs": {
            t.id: (t.matches, t.reminders, t.new, t.suppressed, t.families, t.samples)
            for t in report.programs.values()
        },
    }


async def _notices(sessions: Any) -> list[tuple[Any, ...]]:
    async with sessions() as session:
        # In the ledger's key order: the order of insertion is no part of what was told.
        rows = (
            await session.exec(
                select(Notice).order_by(
                    col(Notice.family_id),
                    col(Notice.subject),
                    col(Notice.child_key),
                    col(Notice.kind),
                    col(Notice.cycle),
                )
            )
        ).all()
    return [
        tuple(
            getattr(n, name)
            for name in (
                "family_id",
                "subject",
                "program_id",
                "child_key",
                "kind",
                "cycle",
                "issuer",
                "category",
                "status",
                "reason",
                "channel",
                "deadline",
                "due_at",
                "payload",
            )
        )
        for n in rows
    ]


async def test_columns_and_per_family_tell_the_same(sessions: Any) -> None:
    rng = random.Random(13)
    programs = await _programs(sessions)
    await _population(sessions, rng, 300, programs)
    await _broken_families(sessions)

    dry = await sweep(sessions, now=NOW, zone=TOKYO, dry_run=True, batch_size=70)
    dry_reference = await sweep(
        sessions, now=NOW, zone=TOKYO, dry_run=True, batch_size=70, per_family=True
    )
    assert _figures(dry) == _figures(dry_reference)
    assert dry.families_skipped > 0 and dry.reminders > 0 and dry.suppressed > 0

    reference = await sweep(sessions, now=NOW, zone=TOKYO, batch_size=70, per_family=True)
    told_reference = await _notices(sessions)
    async with transaction(sessions) as session:
        await session.exec(delete(Notice))  # type: ignore[call-overload]
    real = await sweep(sessions, now=NOW, zone=TOKYO, batch_size=70)
    told = await _notices(sessions)

    assert told == told_reference
    assert _figures(real) == _figures(reference)
    assert {n[4] for n in told} == {"eligible", "deadline-7", "deadline-2"}
    assert {n[10] for n in told} == {"line", "app"}
    assert real.new == dry.new == len(told)

    # A ledger that holds some of it (a day later, a family erased, …): both ways find the
    # same missing notices, in a dry run and for real, and a repeat finds nothing.
    gone = await _forget_some(sessions, rng)
    dry = await sweep(sessions, now=NOW, zone=TOKYO, dry_run=True, batch_size=70)
    dry_reference = await sweep(
        sessions, now=NOW, zone=TOKYO, dry_run=True, batch_size=70, per_family=True
    )
    assert _figures(dry) == _figures(dry_reference)
    assert dry.new == len(gone) and dry.matches == real.matches
    again = await sweep(sessions, now=NOW, zone=TOKYO, batch_size=70)
    assert await _notices(sessions) == told
    await _forget(sessions, gone)
    again_reference = await sweep(sessions, now=NOW, zone=TOKYO, batch_size=70, per_family=True)
    assert await _notices(sessions) == told
    assert _figures(again) == _figures(again_reference)
    assert (await sweep(sessions, now=NOW, zone=TOKYO, batch_size=70)).new == 0


async def _forget_some(sessions: Any, rng: random.Random) -> list[tuple[Any, ...]]:
    """Delete about a third of the notices, reminders and twins' included; their keys."""
    async with sessions() as session:
        keys = [
            tuple(r)
            for r in (
                await session.exec(
                    select(  # type: ignore[call-overload]
                        Notice.family_id,
                        Notice.subject,
                        Notice.child_key,
                        Notice.kind,
                        Notice.cycle,
                    )
                )
            ).all()
        ]
    gone = sorted(rng.sample(keys, len(keys) // 3))
    await _forget(sessions, gone)
    return gone


async def _forget(sessions: Any, keys: list[tuple[Any, ...]]) -> None:
    async with transaction(sessions) as session:
        for family_id, subject, child, kind, cycle in keys:
            await session.exec(
                delete(Notice).where(  # type: ignore[call-overload]
                    col(Notice.family_id) == family_id,
                    col(Notice.subject) == subject,
                    col(Notice.child_key) == child,
                    col(Notice.kind) == kind,
                    col(Notice.cycle) == cycle,
                )
            )


async def test_the_report_names_rules_evaluated_per_family(sessions: Any) -> None:
    programs = await _programs(sessions)
    await _population(sessions, random.Random(5), 60, programs)

    report = await sweep(sessions, now=NOW, zone=TOKYO, dry_run=True, batch_size=25)

    slow = {t.id: t for t in report.programs.values() if t.fallback}
    assert set(slow) == set(programs[-4:-2])
    assert all(t.fallback_evaluations > 0 for t in slow.values())
    # The Shibuya rule is evaluated over Shibuya's families only, the Tokyo one over Tokyo's.
    assert slow[programs[-4]].fallback_evaluations < slow[programs[-3]].fallback_evaluations
    line = report.fallback_line()
    assert line.startswith("rules per family: 2, ")
    assert f"{programs[-4]} テスト乳幼児手当 (" in line
    assert line in report.render()


async def test_the_report_says_when_every_rule_ran_on_columns(sessions: Any) -> None:
    async with transaction(sessions) as session:
        for data in demo_programs():
            row = await repo.create_program(session, data, source="demo")
            await repo.set_status(session, row, "published")

    report = await sweep(sessions, now=NOW, zone=TOKYO, dry_run=True)

    assert "rules per family: none" in report.render()


async def test_a_page_beyond_the_columns_is_derived_family_by_family(sessions: Any) -> None:
    async with sessions() as session:
        if session.bind.dialect.name != "sqlite":
            pytest.skip("only SQLite stores an income beyond 2**53 (PostgreSQL: integer)")
    programs = await _programs(sessions)
    await _population(sessions, random.Random(7), 40, programs)
    async with transaction(sessions) as session:
        rich = Family(
            line_user_id="R" * 33,
            state="active",
            consented_at=datetime(2026, 1, 1, tzinfo=UTC),
            municipality="131130",
            household_income=2**60,
        )
        session.add(rich)
        await session.flush()
        assert rich.id is not None
        session.add(Child(family_id=rich.id, birth_date=date(2025, 5, 5)))

    report = await sweep(sessions, now=NOW, zone=TOKYO, dry_run=True, batch_size=15)
    reference = await sweep(
        sessions, now=NOW, zone=TOKYO, dry_run=True, batch_size=15, per_family=True
    )

    assert _figures(report) == _figures(reference)
    assert report.programs[programs[0]].matches > 0
