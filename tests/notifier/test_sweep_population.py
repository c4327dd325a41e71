"""Families kept between sweeps (`notifier.sweep.Population`): the next sweep re-reads only the
families that changed, and tells exactly what a sweep reading everyone tells."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from notifier import sweep as sweep_module
from notifier.jobs import JobContext, daily_sweep
from notifier.models import Notice
from notifier.sweep import Population, load_plans, reachable, read_columns, sweep
from registry import families as registry
from registry import programs as repo
from registry.db import transaction
from registry.models import Child, Family
from registry.schemas import ProgramIn
from rules.profile import ChildInput
from tests.conftest import TODAY
from tests.factories import program_body
from tests.notifier.test_sweep_columns import (
    NOW,
    TOKYO,
    _broken_families,
    _figures,
    _population,
    _programs,
)

LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


async def _settled(sessions: Any) -> None:
    """Every family last changed long ago (as after a day without changes)."""
    async with transaction(sessions) as session:
        await session.exec(update(Family).values(updated_at=LONG_AGO))  # type: ignore[call-overload]


async def _families(sessions: Any, state: str) -> list[int]:
    async with sessions() as session:
        return list(
            (
                await session.exec(
                    select(Family.id).where(Family.state == state).order_by(col(Family.id))
                )
            ).all()
        )


async def _change_some(sessions: Any, rng: random.Random) -> set[int]:
    """What a day brings, through the registry's own functions: new incomes and children,
    a birth, blocks, an erasure, a topic switched off, a consent, a new family. The ids
    changed."""
    active = await _families(sessions, "active")
    waiting = await _families(sessions, "new")
    picks = rng.sample(active, 16)
    changed: set[int] = set()
    async with transaction(sessions) as session:

        async def family(fid: int) -> Family:
            found = await session.get(Family, fid)
            assert found is not None
            changed.add(fid)
            return found

        for fid in picks[:3]:
            await registry.update_profile(
                session, await family(fid), household_income=rng.randint(0, 3_000_000)
            )
        for fid in picks[3:6]:  # a newborn: eligibility and a birth deadline
            await registry.add_child(session, await family(fid), TODAY - timedelta(days=3))
        for fid in picks[6:8]:
            await registry.replace_children(
                session,
                await family(fid),
                [ChildInput(birth_date=date(2023, 4, 2)), ChildInput(birth_date=date(2019, 4, 1))],
            )
        for fid in picks[8:10]:
            await registry.mark_blocked(session, await family(fid))
        await registry.delete_personal_data(session, await family(picks[10]))
        for fid in picks[11:13]:
            await registry.update_preferences(
                session, await family(fid), categories_off=["allowance", "medical"]
            )
        for fid in picks[13:14]:
            kids = (await session.exec(select(Child.id).where(Child.family_id == fid))).all()
            if kids:
                await registry.remove_child(session, await family(fid), kids[0])
        for fid in waiting[:2]:
            await registry.record_consent(session, await family(fid))
        newcomer = Family(line_user_id="Unewcomer", state="new", municipality="131130")
        session.add(newcomer)
        await session.flush()
        await registry.record_consent(session, newcomer)
        await registry.add_child(session, newcomer, TODAY - timedelta(days=40))
        assert newcomer.id is not None
        changed.add(newcomer.id)
    return changed


async def test_a_kept_population_tells_what_reading_everyone_tells(sessions: Any) -> None:
    rng = random.Random(21)
    programs = await _programs(sessions)
    await _population(sessions, rng, 240, programs)
    await _broken_families(sessions)
    await _settled(sessions)
    population = Population()

    first = await sweep(sessions, now=NOW, zone=TOKYO, batch_size=40, population=population)
    assert first.families_kept == 0 and first.families_read == first.families_scanned > 150

    changed = await _change_some(sessions, rng)
    tomorrow = NOW + timedelta(days=1)
    kept = await sweep(
        sessions, now=tomorrow, zone=TOKYO, dry_run=True, batch_size=40, population=population
    )
    everyone = await sweep(sessions, now=tomorrow, zone=TOKYO, dry_run=True, batch_size=40)
    assert _figures(kept) == _figures(everyone)
    assert kept.new > 0
    # Only the changed families were read again (those that left, blocked or erased, are
    # gone); the rest came from the kept pages.
    assert 0 < kept.families_read <= len(changed)
    assert kept.families_kept + kept.families_read == kept.families_scanned
    assert kept.families_kept >= first.families_scanned - len(changed)
    assert "kept from the last sweep" in kept.render()

    recorded = await sweep(
        sessions, now=tomorrow, zone=TOKYO, batch_size=40, population=population
    )
    assert recorded.new == everyone.new
    # Nothing was missed: reading everyone finds nothing left to tell.
    assert (await sweep(sessions, now=tomorrow, zone=TOKYO, dry_run=True)).new == 0
    # A day without changes reads nobody again.
    await _settled(sessions)
    quiet = await sweep(
        sessions, now=tomorrow, zone=TOKYO, dry_run=True, batch_size=40, population=population
    )
    assert quiet.families_read == 0 and quiet.families_kept == quiet.families_scanned


async def _swept_in_pages_of_five(sessions: Any) -> Population:
    """Sixty families told once, settled, and their pages kept."""
    programs = await _programs(sessions)
    await _population(sessions, random.Random(3), 60, programs)
    await _settled(sessions)
    population = Population()
    await sweep(sessions, now=NOW, zone=TOKYO, batch_size=5, population=population)
    return population


async def test_a_page_whose_families_all_left_is_passed_over(sessions: Any) -> None:
    population = await _swept_in_pages_of_five(sessions)
    active = await _families(sessions, "active")
    async with transaction(sessions) as session:
        for fid in active[5:10]:  # the whole second page
            family = await session.get(Family, fid)
            assert family is not None
            await registry.mark_blocked(session, family)
    kept = await sweep(
        sessions, now=NOW, zone=TOKYO, dry_run=True, batch_size=5, population=population
    )
    everyone = await sweep(sessions, now=NOW, zone=TOKYO, dry_run=True, batch_size=5)
    assert _figures(kept) == _figures(everyone)
    assert kept.families_kept > 0 and kept.families_read == 0


async def test_other_programs_scope_starts_over(sessions: Any) -> None:
    programs = await _programs(sessions)
    await _population(sessions, random.Random(8), 40, programs)
    await _settled(sessions)
    population = Population()
    await sweep(sessions, now=NOW, zone=TOKYO, population=population)
    assert (await sweep(sessions, now=NOW, zone=TOKYO, population=population)).families_read == 0
    # Every program is archived but one of Hachioji's: the scope is Hachioji's families only.
    async with transaction(sessions) as session:
        hachioji = ProgramIn.model_validate(
            program_body(examples=[], issuer="132012", eligibility="child_count >= 1")
        )
        row = await repo.create_program(session, hachioji, source="test")
        await repo.set_status(session, row, "published")
        for program_id in programs:
            stored = await repo.get_program(session, program_id)
            assert stored is not None
            await repo.set_status(session, stored, "archived")
    narrowed = await sweep(sessions, now=NOW, zone=TOKYO, dry_run=True, population=population)
    assert narrowed.families_kept == 0
    assert narrowed.families_read == narrowed.families_scanned
    everyone = await sweep(sessions, now=NOW, zone=TOKYO, dry_run=True)
    assert _figures(narrowed) == _figures(everyone)


async def test_the_scheduler_keeps_the_population_between_daily_sweeps(sessions: Any) -> None:
    programs = await _programs(sessions)
    await _population(sessions, random.Random(4), 30, programs)
    await _settled(sessions)
    context = JobContext(
        sessions=sessions,
        queue=_NoQueue(),  # type: ignore[arg-type]
        zone=TOKYO,
        plan=_plan_nothing,  # delivery is not what this test is about
    )
    await daily_sweep(context, NOW.astimezone(UTC))
    assert isinstance(context.population, Population)
    second = await daily_sweep(context, (NOW + timedelta(days=1)).astimezone(UTC))
    assert second["families_kept"] == second["families_scanned"] > 0


async def _plan_nothing(*args: Any, **kwargs: Any) -> list[int]:
    return []


class _NoQueue:
    """The delivery queue of a test with nothing to deliver."""

    async def enqueue(self, ids: list[int]) -> int:
        return len(ids)


async def test_a_sweep_cut_short_leaves_the_pages_it_did_not_reach_to_the_next(
    sessions: Any, monkeypatch: Any
) -> None:
    population = await _swept_in_pages_of_five(sessions)
    for page in population.pages.values():
        page.read_at -= timedelta(days=1)  # that sweep ran yesterday at 06:00
    late = (await _families(sessions, "active"))[-1]  # in the last page
    async with transaction(sessions) as session:
        family = await session.get(Family, late)
        assert family is not None
        await registry.add_child(session, family, TODAY - timedelta(days=3))  # a newborn
        family.updated_at = datetime.now(UTC) - timedelta(hours=3)  # told us yesterday
        session.add(family)
    # Today's sweep fails on its second page (a dropped connection, a deadlock, …).
    real = sweep_module._Run.batch
    calls = 0

    async def flaky(self: Any, session: Any, batch: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("server closed the connection")
        await real(self, session, batch)

    monkeypatch.setattr(sweep_module._Run, "batch", flaky)
    with pytest.raises(ConnectionError):
        await sweep(sessions, now=NOW, zone=TOKYO, batch_size=5, population=population)
    monkeypatch.setattr(sweep_module._Run, "batch", real)
    kept = await sweep(
        sessions, now=NOW, zone=TOKYO, dry_run=True, batch_size=5, population=population
    )
    everyone = await sweep(sessions, now=NOW, zone=TOKYO, dry_run=True, batch_size=5)
    assert _figures(kept) == _figures(everyone)
    assert kept.families_read >= 1


async def test_an_erasure_during_the_sweep_is_seen_by_the_pages_read_after_it(
    sessions: Any, monkeypatch: Any
) -> None:
    population = await _swept_in_pages_of_five(sessions)
    async with sessions() as session:
        told = set(
            (await session.exec(select(Notice.family_id).where(Notice.child_key != ""))).all()
        )
    erased = next(f for f in reversed(await _families(sessions, "active")) if f in told)
    real = sweep_module.transaction
    pages = 0

    @contextlib.asynccontextmanager
    async def erasing(factory: Any) -> AsyncIterator[Any]:
        # The family has its data erased while the next day's sweep runs, after a page.
        nonlocal pages
        pages += 1
        if pages == 2:
            async with real(factory) as other:
                family = await other.get(Family, erased)
                assert family is not None
                await registry.delete_personal_data(other, family)
        async with real(factory) as session:
            yield session

    monkeypatch.setattr(sweep_module, "transaction", erasing)
    await sweep(
        sessions, now=NOW + timedelta(days=1), zone=TOKYO, batch_size=5, population=population
    )
    async with sessions() as session:
        keys = (
            await session.exec(select(Notice.child_key).where(Notice.family_id == erased))
        ).all()
    assert keys and all(k == "" or k.startswith("deleted:") for k in keys), keys


async def test_a_family_joining_between_the_page_queries_keeps_its_children(
    sessions: Any, monkeypatch: Any
) -> None:
    programs = await _programs(sessions)
    await _population(sessions, random.Random(5), 30, programs)
    active = await _families(sessions, "active")
    joiner, neighbour = active[10], active[11]
    async with transaction(sessions) as session:
        family = await session.get(Family, joiner)
        assert family is not None
        await registry.add_child(session, family, date(2025, 5, 5))
        await registry.mark_blocked(session, family)
    real = sweep_module._child_rows

    async def racing(connection: Any, where: Any, within: Any) -> Any:
        # The family follows again (another transaction commits) between the two queries:
        # READ COMMITTED on PostgreSQL, no snapshot across statements on SQLite.
        await connection.execute(update(Family).where(Family.id == joiner).values(state="active"))
        return await real(connection, where, within)

    monkeypatch.setattr(sweep_module, "_child_rows", racing)
    async with sessions() as session:
        plans = await load_plans(session, TODAY)
        batch = await read_columns(
            session, reachable(None, plans), after=0, limit=1000, today=TODAY, zone=TOKYO
        )
        await session.rollback()
    by_id = {f.id: f for f in batch.families}
    assert joiner not in by_id
    assert date(2025, 5, 5) not in by_id[neighbour].births
    assert by_id[neighbour].births == sorted(by_id[neighbour].births)
