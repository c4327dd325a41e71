"""Facilities, vacancies and past results inserted directly (the facility API is not needed)."""

from __future__ import annotations

from datetime import date
from typing import Any

from integrations.daycare.models import Facility, PastResult, Vacancy

TOKYO_STATION = (35.681236, 139.767125)
SHINJUKU_STATION = (35.690921, 139.700258)

_counter = iter(range(1, 10_000_000))


def facility(**fields: Any) -> Facility:
    """An active licensed daycare in Chiyoda near Tokyo Station, all classes, 07:00-18:00."""
    n = next(_counter)
    values: dict[str, Any] = {
        "municipality": "131016",
        "facility_id": f"F{n}",
        "name_ja": f"テスト保育園{n}",
        "name_en": f"Test Nursery {n}",
        "name_kana": f"てすとほいくえん{n:05d}",
        "type": "licensed_private",
        "address": "東京都千代田区丸の内1-1",
        "latitude": TOKYO_STATION[0],
        "longitude": TOKYO_STATION[1],
        "station": "東京",
        "walk_minutes": 3,
        "classes": [0, 1, 2, 3, 4, 5],
        "min_age_months": None,
        "opens": "07:00",
        "closes": "18:00",
        "extended_care": True,
        "extended_until": "19:00",
    }
    values.update(fields)
    return Facility(**values)


def vacancy(facility: Facility, class_age: int, month: date, **fields: Any) -> Vacancy:
    """Places in one class for one month (3 by default)."""
    assert facility.id is not None
    values: dict[str, Any] = {"level": "number", "places": 3, "as_of": date(2025, 2, 1)}
    values.update(fields)
    return Vacancy(facility_pk=facility.id, class_age=class_age, entry_month=month, **values)


def past(facility: Facility, class_age: int, year: int, **fields: Any) -> PastResult:
    """A past minimum of admitted points."""
    assert facility.id is not None
    values: dict[str, Any] = {"kind": "min_points", "outcome": "points", "points": 40, "raw": "40"}
    values.update(fields)
    return PastResult(facility_pk=facility.id, class_age=class_age, year=year, **values)


async def insert(sessions: Any, *rows: Any) -> list[Any]:
    """Insert rows in one transaction; returns them with their ids."""
    from registry.db import transaction

    async with transaction(sessions) as session:
        for row in rows:
            session.add(row)
        await session.flush()
    return list(rows)
