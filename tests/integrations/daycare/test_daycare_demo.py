"""The demo's daycare data: a new user of `make serve` finds facilities with places next April."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import select

from hagukumi.demo import load_demo_facilities, next_april
from integrations.daycare.facilities import facilities_by_id
from integrations.daycare.models import PastResult, Vacancy
from tests.conftest import TODAY, shared_path


def test_next_april() -> None:
    assert next_april(date(2026, 11, 26)) == date(2027, 4, 1)
    assert next_april(date(2027, 3, 31)) == date(2027, 4, 1)
    assert next_april(date(2027, 4, 1)) == date(2028, 4, 1)


async def vacancies(sessions: Any) -> list[Vacancy]:
    async with sessions() as session:
        return list((await session.exec(select(Vacancy))).all())


async def test_generated_facilities_without_the_shared_data(sessions: Any) -> None:
    await load_demo_facilities(sessions, None, today=TODAY, progress=lambda _: None)
    async with sessions() as session:
        found = await facilities_by_id(session, "132012")
    assert len(found) == 6
    cells = await vacancies(sessions)
    assert {c.entry_month for c in cells} == {date(2027, 4, 1)}
    assert len(cells) == sum(len(f.classes) for f in found.values())
    open_ = [c for c in cells if c.level == "some" or (c.places or 0) > 0]
    full = [c for c in cells if c.level == "number" and c.places == 0]
    assert open_ and full  # some classes with places, some full


async def test_real_files_when_the_shared_data_is_there(sessions: Any) -> None:
    folder = shared_path("data", "facilities")
    await load_demo_facilities(sessions, folder, today=TODAY, progress=lambda _: None)
    async with sessions() as session:
        hachioji = await facilities_by_id(session, "132012")
        minato = await facilities_by_id(session, "131032")
        results = (await session.exec(select(PastResult))).all()
    assert len(hachioji) == 172 and len(minato) == 111
    assert results and {r.year for r in results} == {2021}
    cells = await vacancies(sessions)
    assert {c.entry_month for c in cells} == {date(2027, 4, 1)}
    with_places = {c.facility_pk for c in cells if c.level == "some" or (c.places or 0) > 0}
    assert len(with_places) > 100
