"""Facility search: which facilities suit a child entering in a month, nearest first.

The service derives the class age from the child's birth date and the month of entry
(`integrations.daycare.classes`); distances are great-circle distances on the sphere (haversine,
mean Earth radius). Every result says why it matches and why not, as reason codes that the API
returns and the bot turns into words.

This first version scans the municipalities' facilities in hand; `search` is the interface the
API and the bot call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare.classes import entry_class, month_start, months_old_at_entry
from integrations.daycare.models import Facility, PastResult, Vacancy

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), metres."""


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two points given in degrees (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class SearchQuery:
    """What a parent (or an app) searches for. All filters are optional."""

    municipalities: Sequence[str] = ()
    birth_date: date | None = None
    entry_month: date | None = None
    class_age: int | None = None  # given directly instead of birth date + month
    near: tuple[float, float] | None = None  # (latitude, longitude)
    radius_m: float | None = None
    types: Sequence[str] = ()
    open_from: str | None = None  # "07:30": open by then (drop-off)
    open_until: str | None = None  # "19:00": open until then, extended care counts
    extended_care: bool | None = None
    with_places: bool = False
    include_unmatched: bool = False  # also return facilities that do not match, with why not
    limit: int = 20


@dataclass
class SearchResult:
    """One facility, how far, its place in the child's class, and why it matches or not."""

    facility: Facility
    distance_m: float | None
    class_age: int | None
    vacancy: Vacancy | None
    past: list[PastResult] = field(default_factory=list)
    matches: bool = True
    reasons: list[str] = field(default_factory=list)  # codes: "class:1", "places:3", ...
    misses: list[str] = field(default_factory=list)  # codes: "no_class:0", "full:1", ...


def query_class_age(query: SearchQuery) -> int | None:
    """The class the child enters: given, or derived from birth date and month of entry."""
    if query.class_age is not None:
        return query.class_age
    if query.birth_date is not None and query.entry_month is not None:
        return entry_class(query.birth_date, query.entry_month)
    return None


def _judge(
    query: SearchQuery, facility: Facility, age: int | None, vacancy: Vacancy | None
) -> tuple[list[str], list[str]]:
    reasons: list[str] = []
    misses: list[str] = []
    if query.birth_date is not None and query.entry_month is not None and age is None:
        misses.append("no_class_for_age")
    if age is not None:
        if age in facility.classes:
            reasons.append(f"class:{age}")
        else:
            misses.append(f"no_class:{age}")
        if (
            query.birth_date is not None
            and query.entry_month is not None
            and facility.min_age_months is not None
        ):
            months = months_old_at_entry(query.birth_date, query.entry_month)
            if months is not None and months < facility.min_age_months:
                misses.append(f"too_young:{facility.min_age_months}")
    if query.types:
        (reasons if facility.type in query.types else misses).append(f"type:{facility.type}")
    if query.open_from is not None:
        if facility.opens is None:
            misses.append("hours_unknown")
        elif facility.opens <= query.open_from:
            reasons.append(f"opens:{facility.opens}")
        else:
            misses.append(f"opens_late:{facility.opens}")
    if query.open_until is not None:
        until = max(filter(None, [facility.closes, facility.extended_until]), default=None)
        if until is None:
            misses.append("hours_unknown")
        elif until >= query.open_until:
            reasons.append(f"open_until:{until}")
        else:
            misses.append(f"closes_early:{until}")
    if query.extended_care:
        (reasons if facility.extended_care else misses).append(
            "extended_care" if facility.extended_care else "no_extended_care"
        )
    if query.with_places and age is not None:
        if vacancy is None:
            misses.append(f"places_unknown:{age}")
        elif vacancy.level == "none" or (vacancy.level == "number" and not vacancy.places):
            misses.append(f"full:{age}")
        else:
            reasons.append(
                f"places:{vacancy.places}" if vacancy.level == "number" else "places:some"
            )
    return reasons, misses


async def search(session: AsyncSession, query: SearchQuery) -> list[SearchResult]:
    """Facilities for the query: matching ones first, nearest first (by name without a point)."""
    statement = select(Facility).where(Facility.status == "active")
    if query.municipalities:
        statement = statement.where(col(Facility.municipality).in_(list(query.municipalities)))
    facilities = list((await session.exec(statement)).all())
    age = query_class_age(query)
    month = month_start(query.entry_month) if query.entry_month else None
    vacancies: dict[int, Vacancy] = {}
    if age is not None and month is not None and facilities:
        found = await session.exec(
            select(Vacancy).where(Vacancy.class_age == age, Vacancy.entry_month == month)
        )
        vacancies = {v.facility_pk: v for v in found.all()}
    results: list[SearchResult] = []
    for facility in facilities:
        assert facility.id is not None
        distance = None
        if query.near is not None and facility.latitude is not None:
            assert facility.longitude is not None
            distance = distance_m(*query.near, facility.latitude, facility.longitude)
            if query.radius_m is not None and distance > query.radius_m:
                continue
        elif query.near is not None and query.radius_m is not None:
            continue
        vacancy = vacancies.get(facility.id)
        reasons, misses = _judge(query, facility, age, vacancy)
        if misses and not query.include_unmatched:
            continue
        results.append(
            SearchResult(facility, distance, age, vacancy, [], not misses, reasons, misses)
        )
    results.sort(
        key=lambda r: (
            not r.matches,
            r.distance_m if r.distance_m is not None else math.inf,
            r.facility.name_kana or r.facility.name_ja,
        )
    )
    results = results[: query.limit]
    if age is not None and results:
        ids = [r.facility.id for r in results]
        found_past = await session.exec(
            select(PastResult).where(
                col(PastResult.facility_pk).in_(ids), PastResult.class_age == age
            )
        )
        by_facility: dict[int, list[PastResult]] = {}
        for past in found_past.all():
            by_facility.setdefault(past.facility_pk, []).append(past)
        for r in results:
            assert r.facility.id is not None
            r.past = sorted(by_facility.get(r.facility.id, []), key=lambda p: -p.year)
    return results
