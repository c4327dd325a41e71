"""The demo's daycare data: a new user of `make serve` finds facilities with places next April
and tours to book."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from hagukumi.demo import (
    HACHIOJI_STATION,
    load_demo_facilities,
    load_demo_tours,
    nearest,
    next_april,
)
from integrations.daycare.facilities import facilities_by_id
from integrations.daycare.models import Facility, PastResult, TourSlot, Vacancy
from integrations.daycare.tours import book
from registry.db import transaction
from registry.models import Family
from tests.conftest import TODAY, shared_path

TOKYO = ZoneInfo("Asia/Tokyo")


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


THURSDAY_NOON = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo


async def demo_slots(sessions: Any) -> list[TourSlot]:
    async with sessions() as session:
        return list((await session.exec(select(TourSlot))).all())


async def test_demo_tours_can_be_booked_and_are_loaded_once(sessions: Any) -> None:
    await load_demo_facilities(sessions, None, today=TODAY, progress=lambda _: None)
    added = await load_demo_tours(sessions, now=THURSDAY_NOON, progress=lambda _: None)
    slots = await demo_slots(sessions)
    # The five generated facilities with a place on the map, 10 weekdays, 2 a day.
    assert added == len(slots) == 5 * 10 * 2
    starts = sorted({s.starts_at.astimezone(TOKYO) for s in slots})
    assert starts[0] == datetime(2026, 11, 27, 10, 0, tzinfo=TOKYO)  # tomorrow, Friday
    assert starts[-1] == datetime(2026, 12, 10, 14, 0, tzinfo=TOKYO)
    assert {s.weekday() for s in starts} <= {0, 1, 2, 3, 4}
    assert {(s.starts_at.astimezone(TOKYO).hour, s.capacity) for s in slots} == {(10, 3), (14, 3)}
    assert all(s.ends_at - s.starts_at == timedelta(hours=1) for s in slots)
    assert all(s.notes and s.status == "open" for s in slots)

    # A restart: nothing twice; the next day only the day that came into reach (and
    # Saturday's 10:00 tour near the station, tomorrow's from Friday).
    assert await load_demo_tours(sessions, now=THURSDAY_NOON, progress=lambda _: None) == 0
    friday = THURSDAY_NOON + timedelta(days=1)
    assert await load_demo_tours(sessions, now=friday, progress=lambda _: None) == 5 * 2 + 1
    async with sessions() as session:
        rows = (await session.exec(select(TourSlot.facility_pk, TourSlot.starts_at))).all()
    assert len(rows) == len(set(rows))

    # A parent books one (the tours of the bot and the API are these rows).
    family = Family(state="active", preferences={})
    async with transaction(sessions) as session:
        session.add(family)
        await session.flush()
        assert family.id is not None
        made = await book(session, slots[0].id or 0, family.id, now=THURSDAY_NOON)
    assert made.slot.booked == 1 and not made.already


async def test_tomorrows_tour_near_the_station_even_before_a_weekend(sessions: Any) -> None:
    await load_demo_facilities(sessions, None, today=TODAY, progress=lambda _: None)
    friday_evening = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # 21:00 in Tokyo
    await load_demo_tours(sessions, now=friday_evening, progress=lambda _: None)
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=TOKYO)
    async with sessions() as session:
        found = await facilities_by_id(session, "132012")
    nearest_station = nearest(list(found.values()), HACHIOJI_STATION, 1)[0]
    assert nearest_station.station == "八王子駅"
    slots = await demo_slots(sessions)
    on_saturday = [s for s in slots if s.starts_at == saturday]
    assert [s.facility_pk for s in on_saturday] == [nearest_station.id]


async def test_demo_tours_with_the_real_files(sessions: Any) -> None:
    folder = shared_path("data", "facilities")
    await load_demo_facilities(sessions, folder, today=TODAY, progress=lambda _: None)
    await load_demo_tours(sessions, now=THURSDAY_NOON, progress=lambda _: None)
    async with sessions() as session:
        rows = (
            await session.exec(
                select(Facility.municipality, TourSlot.facility_pk).join(
                    TourSlot, col(TourSlot.facility_pk) == col(Facility.id)
                )
            )
        ).all()
    by_city: dict[str, set[int]] = {}
    for code, pk in rows:
        by_city.setdefault(code, set()).add(pk)
    assert {code: len(pks) for code, pks in by_city.items()} == {"132012": 10, "131032": 5}
    assert len(rows) == 15 * 20


async def test_a_restart_of_the_demo_keeps_one_slot_per_facility_and_start(
    sessions: Any, tmp_path: Any
) -> None:
    from hagukumi.demo import load_demo

    quiet = {"key_file": tmp_path / "key.txt", "registry_dir": None, "progress": lambda _: None}
    assert await load_demo(sessions, **quiet, today=TODAY, now=THURSDAY_NOON)
    first = len(await demo_slots(sessions))
    assert first > 0
    assert not await load_demo(sessions, **quiet, today=TODAY, now=THURSDAY_NOON)
    assert len(await demo_slots(sessions)) == first
