"""Facility search: class ages at entry, distances on the sphere, reasons, the index."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest

from integrations.daycare import search as s
from integrations.daycare.search import (
    REASON_CODES,
    SearchQuery,
    describe,
    distance_m,
    search,
    search_linear,
)
from registry.db import transaction
from tests.integrations.daycare.daycare_factories import (
    SHINJUKU_STATION,
    TOKYO_STATION,
    facility,
    insert,
    past,
    vacancy,
)

APRIL_2025 = date(2025, 4, 1)


def test_distance_between_known_points() -> None:
    assert distance_m(*TOKYO_STATION, *SHINJUKU_STATION) == pytest.approx(6_100, abs=150)
    assert distance_m(*TOKYO_STATION, *TOKYO_STATION) == 0
    antipode = (-TOKYO_STATION[0], TOKYO_STATION[1] - 180)
    half_circumference = 3.141592653589793 * s.EARTH_RADIUS_M
    assert distance_m(*TOKYO_STATION, *antipode) == pytest.approx(half_circumference, rel=1e-9)
    # One degree of latitude is about 111.2 km everywhere on the sphere.
    assert distance_m(0, 0, 1, 0) == pytest.approx(111_195, abs=5)


def test_reason_codes_in_words() -> None:
    assert describe("no_class:0", "ja") == "0歳児クラスがありません"
    assert describe("no_class:0", "en") == "no 0-year class"
    assert describe("places:1", "en") == "1 place open"
    assert describe("places:some", "ja") == "空きがあります"
    assert describe("other_type:certified_tokyo", "ja") == "種別が異なります（認証保育所）"
    assert describe("opens:07:30", "en") == "opens at 07:30"
    assert describe("something_new:3", "en") == "something_new:3"
    for code in REASON_CODES:
        assert describe(f"{code}:1", "ja") != f"{code}:1"
        assert describe(f"{code}:1", "en") != f"{code}:1"


async def _search_both(sessions: Any, query: SearchQuery) -> list[s.SearchResult]:
    async with sessions() as session:
        fast = await search(session, query)
        slow = await search_linear(session, query)
    assert [(r.facility.id, r.matches, r.reasons, r.misses) for r in fast] == [
        (r.facility.id, r.matches, r.reasons, r.misses) for r in slow
    ]
    return fast


@pytest.mark.parametrize(
    ("born", "expected_class", "expected_miss"),
    [
        (date(2024, 4, 1), 1, None),  # April 1 belongs to the earlier grade
        (date(2024, 4, 2), 0, None),
        (date(2025, 4, 1), 0, None),  # born on the day of entry: 0-year class
        (date(2025, 4, 2), None, "not_born_by_entry"),
        (date(2019, 4, 2), 5, None),
        (date(2019, 4, 1), None, "school_age"),
    ],
)
async def test_class_age_at_entry_boundaries(
    sessions: Any, born: date, expected_class: int | None, expected_miss: str | None
) -> None:
    await insert(sessions, facility(classes=[0, 1, 2, 3, 4, 5]))
    query = SearchQuery(birth_date=born, entry_month=APRIL_2025, include_unmatched=True)
    [result] = await _search_both(sessions, query)
    assert result.class_age == expected_class
    if expected_miss is None:
        assert result.matches and result.reasons == [f"class:{expected_class}"]
    else:
        assert not result.matches and result.misses == [expected_miss]
        assert (
            await _search_both(sessions, SearchQuery(birth_date=born, entry_month=APRIL_2025))
            == []
        )


async def test_no_class_and_too_young_are_misses(sessions: Any) -> None:
    no_zero, from_six_months, fine = await insert(
        sessions,
        facility(name_kana="あ", classes=[1, 2, 3, 4, 5]),
        facility(name_kana="い", min_age_months=6),
        facility(name_kana="う", min_age_months=2),
    )
    born = date(2025, 1, 10)  # 2 months old on 2025-04-01
    query = SearchQuery(birth_date=born, entry_month=APRIL_2025, include_unmatched=True)
    results = await _search_both(sessions, query)
    by_id = {r.facility.id: r for r in results}
    assert by_id[no_zero.id].misses == ["no_class:0"]
    assert describe(by_id[no_zero.id].misses[0], "en") == "no 0-year class"
    assert by_id[from_six_months.id].misses == ["too_young:6"]
    assert by_id[fine.id].matches
    assert [r.facility.id for r in results][0] == fine.id  # matches come first
    matching = await _search_both(sessions, SearchQuery(birth_date=born, entry_month=APRIL_2025))
    assert [r.facility.id for r in matching] == [fine.id]


async def test_nearest_first_with_radius_and_places(sessions: Any) -> None:
    tokyo, shinjuku, unlocated, full = await insert(
        sessions,
        facility(name_kana="とうきょう"),
        facility(
            name_kana="しんじゅく", latitude=SHINJUKU_STATION[0], longitude=SHINJUKU_STATION[1]
        ),
        facility(name_kana="ふめい", latitude=None, longitude=None, located=False),
        facility(name_kana="まんいん", latitude=35.6813, longitude=139.7600),
    )
    await insert(
        sessions,
        vacancy(tokyo, 0, APRIL_2025, places=2),
        vacancy(shinjuku, 0, APRIL_2025, level="some", places=None),
        vacancy(full, 0, APRIL_2025, places=0),
        past(tokyo, 0, 2024, points=42, raw="42"),
        past(tokyo, 0, 2023, points=38, raw="38"),
        past(tokyo, 1, 2024),
    )
    near = (35.6895, 139.6917)  # Shinjuku, west exit side
    base = dict(birth_date=date(2024, 6, 1), entry_month=date(2025, 4, 20), near=near)
    results = await _search_both(sessions, SearchQuery(**base))  # type: ignore[arg-type]
    assert [r.facility.id for r in results] == [shinjuku.id, full.id, tokyo.id, unlocated.id]
    assert results[0].distance_m == pytest.approx(distance_m(*near, *SHINJUKU_STATION), rel=1e-9)
    assert results[-1].distance_m is None
    with_places = await _search_both(
        sessions,
        SearchQuery(**base, with_places=True),  # type: ignore[arg-type]
    )
    assert [r.facility.id for r in with_places] == [shinjuku.id, tokyo.id]
    assert with_places[0].reasons == ["class:0", "places:some"]
    assert with_places[1].reasons == ["class:0", "places:2"]
    assert [(p.year, p.points) for p in with_places[1].past] == [(2024, 42), (2023, 38)]
    radius = await _search_both(
        sessions,
        SearchQuery(**base, radius_m=5_000, include_unmatched=True),  # type: ignore[arg-type]
    )
    assert [(r.facility.id, r.misses) for r in radius] == [
        (shinjuku.id, []),
        (unlocated.id, ["location_unknown"]),
    ]


async def test_hours_type_and_extended_care(sessions: Any) -> None:
    early, late, unknown, certified = await insert(
        sessions,
        facility(name_kana="あ", opens="07:00", closes="18:00", extended_until="20:00"),
        facility(
            name_kana="い", opens="8:30", closes="17:00", extended_care=False, extended_until=None
        ),
        facility(name_kana="う", opens=None, closes=None, extended_care=None, extended_until=None),
        facility(name_kana="え", type="certified_tokyo", opens="07:30", closes="19:30"),
    )
    query = SearchQuery(
        open_from="07:30",
        open_until="19:30",
        extended_care=True,
        types=["licensed_private", "licensed_public"],
        include_unmatched=True,
    )
    by_id = {r.facility.id: r for r in await _search_both(sessions, query)}
    assert by_id[early.id].reasons == [
        "type:licensed_private",
        "opens:07:00",
        "open_until:20:00",
        "extended_care",
    ]
    assert by_id[late.id].misses == ["opens_late:8:30", "closes_early:17:00", "no_extended_care"]
    assert by_id[unknown.id].misses == ["hours_unknown", "extended_care_unknown"]
    assert by_id[certified.id].misses == ["other_type:certified_tokyo"]


async def test_index_follows_writes_of_this_process(sessions: Any) -> None:
    (first,) = await insert(sessions, facility())
    query = SearchQuery(class_age=0, entry_month=APRIL_2025, with_places=True)
    async with sessions() as session:
        assert await search(session, query) == []
    await insert(sessions, vacancy(first, 0, APRIL_2025))
    async with sessions() as session:
        assert [r.facility.id for r in await search(session, query)] == [first.id]
    async with transaction(sessions) as session:
        row = await session.get(s.Facility, first.id)
        assert row is not None
        row.status = "closed"
        session.add(row)
    async with sessions() as session:
        assert await search(session, query) == []


async def test_index_catches_writes_of_other_processes(sessions: Any, monkeypatch: Any) -> None:
    from sqlalchemy import text

    monkeypatch.setattr(s, "FRESHNESS_SECONDS", 3600.0)
    await insert(sessions, facility())
    async with sessions() as session:
        assert len(await search(session, SearchQuery())) == 1
    # A write that no session of this process saw (another process, a raw import).
    async with sessions() as session:
        conn = await session.connection()
        await conn.execute(text("UPDATE daycare_facility SET status = 'closed'"))
        await session.commit()
    async with sessions() as session:
        found = await search(session, SearchQuery())
    assert len(found) == 1  # within FRESHNESS_SECONDS: the answer of the index in hand
    monkeypatch.setattr(s, "FRESHNESS_SECONDS", 0.0)
    async with sessions() as session:
        assert await search(session, SearchQuery()) == []


async def test_index_answers_like_the_linear_search(sessions: Any) -> None:
    rng = random.Random(7)
    rows = []
    for _ in range(300):
        located = rng.random() > 0.05
        rows.append(
            facility(
                municipality=rng.choice(["131016", "131024", "131130"]),
                name_kana=f"な{rng.randint(0, 50):03d}",
                latitude=rng.uniform(35.6, 35.75) if located else None,
                longitude=rng.uniform(139.6, 139.8) if located else None,
                located=located,
                type=rng.choice(["licensed_private", "small_scale", "certified_tokyo"]),
                classes=sorted(rng.sample(range(6), rng.randint(0, 6))),
                min_age_months=rng.choice([None, 2, 6, 12]),
                opens=rng.choice([None, "07:00", "07:30", "08:00"]),
                closes=rng.choice([None, "18:00", "18:30"]),
                extended_care=rng.choice([None, True, False]),
                extended_until=rng.choice([None, "19:00", "20:00"]),
            )
        )
    await insert(sessions, *rows)
    vacancies = []
    for row in rows:
        for age in range(6):
            if rng.random() < 0.6:
                level = rng.choice(["number", "some", "none"])
                places = rng.randint(0, 3) if level == "number" else None
                vacancies.append(vacancy(row, age, APRIL_2025, level=level, places=places))
    await insert(sessions, *vacancies)
    for _ in range(60):
        query = SearchQuery(
            municipalities=rng.choice([(), ("131016",), ("131024", "131130")]),
            birth_date=rng.choice([None, date(2024, 4, 1), date(2024, 4, 2), date(2022, 9, 9)]),
            entry_month=rng.choice([None, APRIL_2025]),
            near=rng.choice([None, (35.68, 139.7)]),
            radius_m=rng.choice([None, 3_000.0, 8_000.0]),
            types=rng.choice([(), ("small_scale",)]),
            open_from=rng.choice([None, "07:30"]),
            open_until=rng.choice([None, "18:30", "19:30"]),
            extended_care=rng.choice([None, True]),
            with_places=rng.choice([False, True]),
            include_unmatched=rng.choice([False, True]),
            limit=rng.choice([1, 10, 50]),
        )
        await _search_both(sessions, query)


async def test_index_follows_bulk_statements_of_this_process(sessions: Any) -> None:
    from sqlalchemy import update

    first, second = await insert(sessions, facility(name_kana="あ"), facility(name_kana="い"))
    await insert(sessions, vacancy(first, 0, APRIL_2025), vacancy(second, 0, APRIL_2025))
    query = SearchQuery(class_age=0, entry_month=APRIL_2025, with_places=True)
    async with sessions() as session:
        assert [r.facility.id for r in await search(session, query)] == [first.id, second.id]
    async with transaction(sessions) as session:
        await session.exec(
            update(s.Vacancy).where(s.Vacancy.facility_pk == first.id).values(places=0)  # type: ignore[arg-type]
        )
    async with sessions() as session:
        [only] = await search(session, query)
    assert only.facility.id == second.id and only.reasons == ["class:0", "places:3"]


async def test_searches_at_once_while_the_index_loads(sessions: Any) -> None:
    import asyncio

    from sqlmodel import select

    await insert(sessions, *[facility() for _ in range(20)])

    async def one() -> int:
        async with sessions() as session:
            return len(await search(session, SearchQuery(limit=50)))

    async with sessions() as holding:
        # This session holds its connection (SQLite's only one) while another search starts
        # loading the index: neither may wait for the other.
        await holding.exec(select(s.Facility.id))
        others = asyncio.gather(*(one() for _ in range(4)))
        await asyncio.sleep(0.05)
        mine = await asyncio.wait_for(search(holding, SearchQuery(limit=50)), 20)
    assert len(mine) == 20
    assert await asyncio.wait_for(others, 20) == [20] * 4


async def test_the_youngest_age_in_days_counts_on_the_first_of_the_month_of_entry(
    sessions: Any,
) -> None:
    (after_leave,) = await insert(
        sessions, facility(name_kana="あ", min_age_months=2, min_age_days=57)
    )
    # Born 2 February 2025: 58 days old on 1 April (not yet 2 months): 産休明け takes it.
    query = SearchQuery(birth_date=date(2025, 2, 2), entry_month=APRIL_2025)
    [result] = await _search_both(sessions, query)
    assert result.facility.id == after_leave.id and result.matches
    # Born 10 February: 50 days old on 1 April: too young.
    query = SearchQuery(
        birth_date=date(2025, 2, 10), entry_month=APRIL_2025, include_unmatched=True
    )
    [result] = await _search_both(sessions, query)
    assert result.misses == ["too_young_days:57"]
    assert describe("too_young_days:57", "ja") == (
        "生後57日からの受け入れで、入所月の1日にはまだ日齢が足りません"
    )
    assert describe("too_young_days:57", "en") == (
        "takes children from 57 days old: too young on the 1st of the month of entry"
    )


async def test_a_commit_of_this_process_is_seen_even_while_another_search_loads(
    sessions: Any,
) -> None:
    (first,) = await insert(sessions, facility(name_kana="あ"))
    async with sessions() as session:
        assert [r.facility.id for r in await search(session, SearchQuery())] == [first.id]
        engine = s._engine_of(session.sync_session)
    assert engine is not None
    holder = s._HOLDERS[engine]
    (second,) = await insert(sessions, facility(name_kana="い"))
    # Another search has begun loading (and taken the stale parts) but not finished.
    holder.loading += 1
    holder.started += 1
    holder.stale.clear()
    try:
        async with sessions() as session:
            found = [r.facility.id for r in await search(session, SearchQuery())]
    finally:
        holder.loading -= 1
    assert found == [first.id, second.id]


async def test_past_results_in_one_order_on_both_paths(sessions: Any) -> None:
    (place,) = await insert(sessions, facility())
    await insert(
        sessions,
        past(place, 0, 2023, points=38, raw="38"),
        past(place, 0, 2024, kind="min_points", points=42, raw="42"),
        past(place, 0, 2024, kind="first_round", points=45, raw="45"),
    )
    query = SearchQuery(class_age=0)
    async with sessions() as session:
        [fast] = await search(session, query)
        [slow] = await search_linear(session, query)
    order = [(p.year, p.kind) for p in fast.past]
    assert order == [(p.year, p.kind) for p in slow.past]
    assert order == [(2024, "first_round"), (2024, "min_points"), (2023, "min_points")]
