"""Facility search: which facilities suit a child entering in a month, nearest first.

The service derives the class age from the child's birth date and the month of entry
(`integrations.daycare.classes`); distances are great-circle distances on the sphere (haversine,
mean Earth radius). Every result says why it matches and why not, as reason codes that the API
returns and the bot turns into words with `describe(code, lang)`.

Reason codes are `name` or `name:value`. Why a facility matches (`SearchResult.reasons`):

- `class:A` — it has the A-year class (A = the child's class age at entry)
- `places:N` / `places:some` — places open in that class for the month of entry
- `type:T` — of a wanted type (a `FACILITY_TYPES` key)
- `opens:HH:MM` — open by the wanted drop-off time
- `open_until:HH:MM` — open until the wanted pick-up time (extended care counts)
- `extended_care` — offers extended care (延長保育)

Why not (`SearchResult.misses`; a facility with any miss does not match):

- `not_born_by_entry` — the child is not born by the 1st of the month of entry: no class yet
- `school_age` — class age 6 or more at entry: no daycare class
- `no_class:A` — no A-year class; `classes_unknown` — the facility publishes no classes
- `too_young:M` — it takes children from M months; the child is younger on the day of entry
- `too_young_days:N` — it takes children from N days old (産休明け = 57); the child is younger
  on the 1st of the month of entry (used instead of months when the facility gives days)
- `other_type:T` — of another type than those wanted
- `opens_late:HH:MM`, `closes_early:HH:MM`, `hours_unknown` — opening hours
- `no_extended_care`, `extended_care_unknown`
- `full:A`, `places_unknown:A` — no places, or nothing published, in the A-year class
- `location_unknown` — no coordinates, so not known to be within the radius

Two implementations answer the same question. `search_linear` reads the facilities from the
database and judges each one in Python (the baseline and the test oracle). `search` answers from
a `FacilityIndex`: the active facilities as numpy columns, loaded once per process and database,
judged and ranked with vectorised haversine and `argpartition`, with only the top results turned
into reason codes. The index stays fresh two ways: writes through any SQLAlchemy session of this
process (the facility API, importers, vacancy updates) mark it stale when they commit (session
events, so no caller has to remember), and a search after such a commit never answers from an
index loaded before it (not even while another search is loading: it loads too); writes by other
processes are caught by a cheap signature query (`count`, `max(id)`, `max(updated_at)` of the
three tables) run at most every `FRESHNESS_SECONDS` per process, and while one search runs it
the others answer from the index in hand. Vacancies are loaded per (month of entry, class age)
on first use; a vacancy or past-result change reloads only that part.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import chain
from typing import Any

import numpy as np
from sqlalchemy import event, func
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare.classes import (
    entry_class_age,
    month_start,
    months_old_at_entry,
)
from integrations.daycare.models import (
    CLASS_AGES,
    FACILITY_TYPES,
    Facility,
    PastResult,
    Vacancy,
)

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), metres."""

FRESHNESS_SECONDS = 2.0
"""How stale the index may be for writes made by other processes (this process: never)."""


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


# --- reasons in words -----------------------------------------------------------------------

_WORDS: dict[str, tuple[str, str]] = {
    # code: (Japanese, English); {v} is the value after the first colon
    "class": ("{v}歳児クラスがあります", "has a {v}-year class"),
    "places": ("空きが{v}人分あります", "{v} places open"),
    "places_some": ("空きがあります", "places open"),
    "type": ("{type_ja}", "{type_en}"),
    "opens": ("{v}から開所", "opens at {v}"),
    "open_until": (
        "{v}まで預けられます（延長保育を含む）",
        "open until {v} (extended care included)",
    ),
    "extended_care": ("延長保育があります", "extended care"),
    "not_born_by_entry": (
        "入所月の1日までに生まれていないため、入れるクラスがありません",
        "not born by the 1st of the month of entry: no class yet",
    ),
    "school_age": (
        "入所時に就学年齢のため、保育園のクラスはありません",
        "school age at entry: no daycare class",
    ),
    "no_class": ("{v}歳児クラスがありません", "no {v}-year class"),
    "classes_unknown": ("受け入れクラスが公表されていません", "classes not published"),
    "too_young": (
        "生後{v}か月からの受け入れで、入所時にはまだ月齢が足りません",
        "takes children from {v} months: too young at entry",
    ),
    "too_young_days": (
        "生後{v}日からの受け入れで、入所月の1日にはまだ日齢が足りません",
        "takes children from {v} days old: too young on the 1st of the month of entry",
    ),
    "other_type": ("種別が異なります（{type_ja}）", "another type ({type_en})"),
    "opens_late": ("開所が{v}で、希望より遅いです", "opens only at {v}"),
    "closes_early": ("{v}までで、希望より早く閉まります", "closes at {v}, earlier than wanted"),
    "hours_unknown": ("開所時間が不明です", "opening hours unknown"),
    "no_extended_care": ("延長保育がありません", "no extended care"),
    "extended_care_unknown": ("延長保育の有無が不明です", "extended care unknown"),
    "full": ("{v}歳児クラスに空きがありません", "no places in the {v}-year class"),
    "places_unknown": (
        "{v}歳児クラスの空き状況が公表されていません",
        "places in the {v}-year class not published",
    ),
    "location_unknown": (
        "所在地の座標が不明で、距離がわかりません",
        "location unknown: distance not known",
    ),
}

REASON_CODES: tuple[str, ...] = tuple(k for k in _WORDS if k != "places_some")
"""Every reason code name (the part before the first colon)."""


def describe(reason: str, lang: str = "ja") -> str:
    """A reason code in words for parents, in Japanese (`ja`) or English (anything else).

    `describe("no_class:0", "ja")` → "0歳児クラスがありません"; `"en"` → "no 0-year class".
    An unknown code comes back as it is (a newer server's code is still shown, not lost).
    """
    name, _, value = reason.partition(":")
    if name == "places" and value == "some":
        name = "places_some"
    words = _WORDS.get(name)
    if words is None:
        return reason
    template = words[0] if lang == "ja" else words[1]
    type_ja, type_en = FACILITY_TYPES.get(value, (value, value))
    if name == "places" and value == "1" and lang != "ja":
        return "1 place open"
    return template.format(v=value, type_ja=type_ja, type_en=type_en)


# --- judging one facility (the linear path, and the words of the indexed path's results) ------


def minutes_of(text: str | None) -> int | None:
    """Minutes after midnight of "HH:MM" (also "7:30"); None when absent or unreadable."""
    if not text:
        return None
    hours, sep, minutes = text.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit():
        return None
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True)
class Child:
    """The child's side of a query: class age at entry, months of age, or why no class."""

    class_age: int | None
    months: int | None
    miss: str | None  # "not_born_by_entry", "school_age" or None
    days: int | None = None  # days of age on the 1st of the month of entry


def query_child(query: SearchQuery) -> Child:
    """The class the child enters: given, or derived from birth date and month of entry."""
    if query.birth_date is not None and query.entry_month is not None:
        start = month_start(query.entry_month)
        if query.birth_date > start:
            return Child(None, None, "not_born_by_entry")
        age = entry_class_age(query.birth_date, start)
        months = months_old_at_entry(query.birth_date, start)
        days = (start - query.birth_date).days
        if age not in CLASS_AGES:
            return Child(None, months, "school_age", days)
        if query.class_age is not None and query.class_age != age:
            age = query.class_age  # the caller knows better (the API refuses a mismatch)
        return Child(age, months, None, days)
    if query.class_age is not None:
        return Child(query.class_age, None, None)
    return Child(None, None, None)


def _until(facility: Facility) -> str | None:
    """The latest time a child may stay: closing or the end of extended care."""
    times = [t for t in (facility.closes, facility.extended_until) if minutes_of(t) is not None]
    return max(times, key=lambda t: minutes_of(t) or 0, default=None)


def judge(
    query: SearchQuery,
    child: Child,
    facility: Facility,
    vacancy: Vacancy | None,
    distance: float | None,
) -> tuple[list[str], list[str]]:
    """Why a facility matches the query and why not, as reason codes (see the module doc)."""
    reasons: list[str] = []
    misses: list[str] = []
    age = child.class_age
    if child.miss is not None:
        misses.append(child.miss)
    if age is not None:
        if not facility.classes:
            misses.append("classes_unknown")
        elif age in facility.classes:
            reasons.append(f"class:{age}")
        else:
            misses.append(f"no_class:{age}")
        if facility.min_age_days is not None:
            if child.days is not None and child.days < facility.min_age_days:
                misses.append(f"too_young_days:{facility.min_age_days}")
        elif (
            child.months is not None
            and facility.min_age_months is not None
            and child.months < facility.min_age_months
        ):
            misses.append(f"too_young:{facility.min_age_months}")
    if query.types:
        if facility.type in query.types:
            reasons.append(f"type:{facility.type}")
        else:
            misses.append(f"other_type:{facility.type}")
    if query.open_from is not None:
        opens = minutes_of(facility.opens)
        if opens is None:
            misses.append("hours_unknown")
        elif opens <= (minutes_of(query.open_from) or 0):
            reasons.append(f"opens:{facility.opens}")
        else:
            misses.append(f"opens_late:{facility.opens}")
    if query.open_until is not None:
        until = _until(facility)
        if until is None:
            if "hours_unknown" not in misses:
                misses.append("hours_unknown")
        elif (minutes_of(until) or 0) >= (minutes_of(query.open_until) or 0):
            reasons.append(f"open_until:{until}")
        else:
            misses.append(f"closes_early:{until}")
    if query.extended_care:
        if facility.extended_care:
            reasons.append("extended_care")
        elif facility.extended_care is None:
            misses.append("extended_care_unknown")
        else:
            misses.append("no_extended_care")
    if query.with_places and age is not None:
        if vacancy is None:
            misses.append(f"places_unknown:{age}")
        elif vacancy.level == "none" or (vacancy.level == "number" and not vacancy.places):
            misses.append(f"full:{age}")
        else:
            reasons.append(
                f"places:{vacancy.places}" if vacancy.level == "number" else "places:some"
            )
    if query.near is not None and query.radius_m is not None and distance is None:
        misses.append("location_unknown")
    return reasons, misses


def past_order(p: PastResult) -> tuple[int, str, int]:
    """The order of a facility's past results, for both paths: newest year first, then kind."""
    return (-p.year, p.kind, p.class_age)


def _order_key(r: SearchResult) -> tuple[bool, float, str, int]:
    return (
        not r.matches,
        r.distance_m if r.distance_m is not None else math.inf,
        r.facility.name_kana or r.facility.name_ja,
        r.facility.id or 0,
    )


async def search_linear(session: AsyncSession, query: SearchQuery) -> list[SearchResult]:
    """The plain version: read the facilities and judge each one (baseline and test oracle)."""
    statement = select(Facility).where(Facility.status == "active")
    if query.municipalities:
        statement = statement.where(col(Facility.municipality).in_(list(query.municipalities)))
    facilities = list((await session.exec(statement)).all())
    child = query_child(query)
    age = child.class_age
    vacancies: dict[int, Vacancy] = {}
    if age is not None and query.entry_month is not None and facilities:
        found = await session.exec(
            select(Vacancy).where(
                Vacancy.class_age == age, Vacancy.entry_month == month_start(query.entry_month)
            )
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
        vacancy = vacancies.get(facility.id)
        reasons, misses = judge(query, child, facility, vacancy, distance)
        if misses and not query.include_unmatched:
            continue
        results.append(
            SearchResult(facility, distance, age, vacancy, [], not misses, reasons, misses)
        )
    results.sort(key=_order_key)
    results = results[: max(query.limit, 0)]
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
            r.past = sorted(by_facility.get(r.facility.id, []), key=past_order)
    return results


# --- the index --------------------------------------------------------------------------------

_VAC_UNKNOWN, _VAC_FULL, _VAC_SOME, _VAC_NUMBER = 0, 1, 2, 3
_WATCHED = {
    Facility.__tablename__: "facilities",
    Vacancy.__tablename__: "vacancies",
    PastResult.__tablename__: "past",
}


@dataclass
class _Vacancies:
    """The vacancies of one (month of entry, class age), by index position."""

    level: np.ndarray  # int8: _VAC_*
    rows: dict[int, Vacancy]


class FacilityIndex:
    """The active facilities as numpy columns, for judging and ranking all of them at once."""

    def __init__(self, facilities: Sequence[Facility]) -> None:
        self.facilities = list(facilities)
        n = len(self.facilities)
        self.position = {f.id: i for i, f in enumerate(self.facilities)}
        lat = np.array(
            [f.latitude if f.latitude is not None else np.nan for f in self.facilities],
            dtype=np.float64,
        )
        lon = np.array(
            [f.longitude if f.longitude is not None else np.nan for f in self.facilities],
            dtype=np.float64,
        )
        self.located = ~(np.isnan(lat) | np.isnan(lon))
        self.lat = np.radians(np.where(self.located, lat, 0.0))
        self.lon = np.radians(np.where(self.located, lon, 0.0))
        self.cos_lat = np.cos(self.lat)
        self.municipality = np.array(
            [int(f.municipality) if f.municipality.isdigit() else -1 for f in self.facilities],
            dtype=np.int64,
        )
        self.classes = np.array(
            [
                sum(1 << a for a in set(f.classes or []) if a in CLASS_AGES)
                for f in self.facilities
            ],
            dtype=np.int16,
        )
        self.classes_known = np.array([bool(f.classes) for f in self.facilities], dtype=bool)
        self.type_names = sorted({f.type for f in self.facilities})
        type_codes = {t: i for i, t in enumerate(self.type_names)}
        self.type = np.array([type_codes[f.type] for f in self.facilities], dtype=np.int16)
        self.min_days = np.array(
            [-1 if f.min_age_days is None else f.min_age_days for f in self.facilities],
            dtype=np.int32,
        )
        # Months count only where the facility gives no days.
        self.min_age = np.array(
            [
                -1 if f.min_age_months is None or f.min_age_days is not None else f.min_age_months
                for f in self.facilities
            ],
            dtype=np.int32,
        )
        self.opens = np.array(
            [_or(minutes_of(f.opens), -1) for f in self.facilities], dtype=np.int32
        )
        self.until = np.array(
            [_or(minutes_of(_until(f)), -1) for f in self.facilities], dtype=np.int32
        )
        self.extended = np.array(
            [-1 if f.extended_care is None else int(f.extended_care) for f in self.facilities],
            dtype=np.int8,
        )
        names = sorted(
            range(n),
            key=lambda i: (
                self.facilities[i].name_kana or self.facilities[i].name_ja,
                self.facilities[i].id or 0,
            ),
        )
        self.name_rank = np.empty(n, dtype=np.float64)
        self.name_rank[np.array(names, dtype=np.int64)] = np.arange(n, dtype=np.float64)
        self.vacancies: dict[tuple[date, int], _Vacancies] = {}
        self.past: dict[int, list[PastResult]] = {}

    def set_past(self, rows: Sequence[PastResult]) -> None:
        """Past results by facility, newest year first."""
        past: dict[int, list[PastResult]] = {}
        for row in rows:
            past.setdefault(row.facility_pk, []).append(row)
        for rows_of in past.values():
            rows_of.sort(key=past_order)
        self.past = past

    def vacancy_column(self, rows: Sequence[Vacancy]) -> _Vacancies:
        """A (month, class age)'s vacancies as a column of levels."""
        level = np.zeros(len(self.facilities), dtype=np.int8)
        by_position: dict[int, Vacancy] = {}
        for v in rows:
            i = self.position.get(v.facility_pk)
            if i is None:
                continue
            by_position[i] = v
            if v.level == "none" or (v.level == "number" and not v.places):
                level[i] = _VAC_FULL
            elif v.level == "number":
                level[i] = _VAC_NUMBER
            else:
                level[i] = _VAC_SOME
        return _Vacancies(level, by_position)

    def rank(
        self, query: SearchQuery, child: Child, vacancies: _Vacancies | None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The positions of the results in order, their distances and whether they match."""
        n = len(self.facilities)
        keep = np.ones(n, dtype=bool)
        if query.municipalities:
            wanted = [int(c) for c in query.municipalities if str(c).isdigit()]
            keep &= np.isin(self.municipality, np.array(wanted, dtype=np.int64))
        miss = np.zeros(n, dtype=bool)
        distance: np.ndarray | None = None
        if query.near is not None:
            lat0, lon0 = math.radians(query.near[0]), math.radians(query.near[1])
            h = (
                np.sin((self.lat - lat0) / 2) ** 2
                + math.cos(lat0) * self.cos_lat * np.sin((self.lon - lon0) / 2) ** 2
            )
            distance = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
            if query.radius_m is not None:
                keep &= ~self.located | (distance <= query.radius_m)
                miss |= ~self.located
        if child.miss is not None:
            miss[:] = True
        age = child.class_age
        if age is not None:
            if age in CLASS_AGES:
                miss |= ~self.classes_known | ((self.classes >> age) & 1 == 0)
            else:  # no daycare class has that age
                miss[:] = True
            if child.months is not None:
                miss |= (self.min_age >= 0) & (child.months < self.min_age)
            if child.days is not None:
                miss |= (self.min_days >= 0) & (child.days < self.min_days)
        if query.types:
            codes = [i for i, t in enumerate(self.type_names) if t in query.types]
            miss |= ~np.isin(self.type, np.array(codes, dtype=np.int16))
        if query.open_from is not None:
            want = minutes_of(query.open_from) or 0
            miss |= (self.opens < 0) | (self.opens > want)
        if query.open_until is not None:
            want = minutes_of(query.open_until) or 0
            miss |= (self.until < 0) | (self.until < want)
        if query.extended_care:
            miss |= self.extended != 1
        if query.with_places and age is not None:
            if vacancies is None:
                miss[:] = True
            else:
                miss |= vacancies.level <= _VAC_FULL
        if not query.include_unmatched:
            keep &= ~miss
        candidates = np.flatnonzero(keep)
        limit = max(query.limit, 0)
        if candidates.size == 0 or limit == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, None, np.empty(0, dtype=bool)
        # One float key orders (matches first, nearest, name): distances stay below 2.1e7 m
        # and an unknown one sorts after every known one.
        key = miss[candidates] * 1e9
        if distance is not None:
            d = np.where(self.located[candidates], distance[candidates], 1e8)
            key = key + d + np.where(self.located[candidates], 0.0, self.name_rank[candidates])
        else:
            key = key + self.name_rank[candidates]
        if candidates.size > limit:
            part = np.argpartition(key, limit - 1)[:limit]
            cut = key[part].max()
            part = np.flatnonzero(key <= cut)  # ties at the cut stay in the running
        else:
            part = np.arange(candidates.size)
        chosen = candidates[part]
        order = np.lexsort((self.name_rank[chosen], key[part]))[:limit]
        chosen = chosen[order]
        return chosen, (None if distance is None else distance[chosen]), ~miss[chosen]


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


@dataclass
class _Holder:
    """The index of one database in this process, and what is known to be stale."""

    index: FacilityIndex | None = None
    signature: dict[str, Any] = field(default_factory=dict)
    checked_at: float = 0.0
    stale: set[str] = field(default_factory=set)
    loading: int = 0  # loads in progress
    started: int = 0  # loads begun (a ticket each)
    installed: int = 0  # the ticket of the index in hand
    changes: int = 0  # commits of this process that touched the tables (one count each)
    covered: int = 0  # `changes` when the load of the index in hand began

    def invalidate(self, parts: set[str] | None = None) -> None:
        """Mark parts (facilities, vacancies, past) stale; all when none are named."""
        self.stale |= parts if parts is not None else set(_WATCHED.values())
        self.changes += 1

    def current(self) -> bool:
        """Whether the index in hand holds every change this process committed."""
        return self.index is not None and self.covered == self.changes


_HOLDERS: weakref.WeakKeyDictionary[Engine, _Holder] = weakref.WeakKeyDictionary()
_STALE_KEY = "hagukumi.daycare.stale"


def _engine_of(session: Session) -> Engine | None:
    try:
        bind = session.get_bind()
    except Exception:  # an unbound session has no index to invalidate
        return None
    if isinstance(bind, Connection):
        return bind.engine
    return bind if isinstance(bind, Engine) else None


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    parts: set[str] = session.info.setdefault(_STALE_KEY, set())
    for obj in chain(session.new, session.dirty, session.deleted):
        table = getattr(obj, "__tablename__", None)
        if table in _WATCHED:
            parts.add(_WATCHED[table])


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: Any) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(getattr(state.statement, "table", None), "name", None)
        if table in _WATCHED:
            state.session.info.setdefault(_STALE_KEY, set()).add(_WATCHED[table])


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    parts = session.info.pop(_STALE_KEY, None)
    if parts:
        engine = _engine_of(session)
        holder = _HOLDERS.get(engine) if engine is not None else None
        if holder is not None:
            holder.invalidate(parts)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_STALE_KEY, None)


async def _signature(session: AsyncSession) -> dict[str, Any]:
    """Cheap facts that change when any row of the three tables does (a writer that forgets
    `updated_at` still changes a count, a version or a number of places)."""

    def scalar(expression: Any, model: Any) -> Any:
        return select(expression).select_from(model).scalar_subquery()

    parts = [
        scalar(func.count(), Facility),
        scalar(func.max(Facility.id), Facility),
        scalar(func.max(Facility.updated_at), Facility),
        scalar(func.sum(Facility.version), Facility),
        select(func.count()).where(Facility.status == "active").scalar_subquery(),
        scalar(func.count(), Vacancy),
        scalar(func.max(Vacancy.id), Vacancy),
        scalar(func.max(Vacancy.updated_at), Vacancy),
        scalar(func.sum(Vacancy.places), Vacancy),
        scalar(func.count(), PastResult),
        scalar(func.max(PastResult.id), PastResult),
        scalar(func.max(PastResult.updated_at), PastResult),
    ]
    row = (await session.execute(select(*parts))).one()
    return {
        "facilities": tuple(row[0:5]),
        "vacancies": tuple(row[5:9]),
        "past": tuple(row[9:12]),
    }


LOAD_PARTITION = 200
"""Rows turned into objects between two awaits while (re)loading: a reload of 10,000
facilities never holds the event loop for long (the bot answers LINE meanwhile)."""


async def _load_rows(session: AsyncSession, statement: Any) -> list[Any]:
    """ORM rows read on the caller's connection by a session of their own: the index's
    objects never sit in (nor are expired by) the caller's session. Streamed in partitions."""
    connection = await session.connection()
    loader = AsyncSession(bind=connection, expire_on_commit=False)
    rows: list[Any] = []
    try:
        result = await loader.stream_scalars(statement)
        async for partition in result.partitions(LOAD_PARTITION):
            rows.extend(partition)
            await asyncio.sleep(0)
        loader.expunge_all()
    finally:
        await loader.close()
    return rows


async def facility_index(session: AsyncSession) -> FacilityIndex:
    """The index of the session's database, loaded or refreshed as needed."""
    engine = _engine_of(session.sync_session)
    if engine is None:
        raise RuntimeError("the session is not bound to a database")
    holder = _HOLDERS.get(engine)
    if holder is None:
        holder = _HOLDERS[engine] = _Holder()
    now = time.monotonic()
    if holder.index is not None and holder.current():
        if now - holder.checked_at < FRESHNESS_SECONDS:
            return holder.index
        if holder.loading:
            # Another search is checking for other processes' writes: answer from the index
            # in hand meanwhile (it holds every write of this process).
            return holder.index
    # A write this process committed and the index in hand lacks (even if another search is
    # loading it already): load, so that a parent never sees the answer before the change.
    # No lock: a search waiting for another's load while its own session holds the only
    # SQLite connection would wait for ever; two first loads at once just both load.
    holder.loading += 1
    holder.started += 1
    ticket = holder.started
    covers = holder.changes
    stale = set(holder.stale)
    holder.stale.clear()
    try:
        signature = await _signature(session)
        for part, value in signature.items():
            if holder.signature.get(part) != value:
                stale.add(part)
        index = holder.index
        if index is None:
            stale = set(_WATCHED.values())
        if "facilities" in stale or index is None:
            facilities = await _load_rows(
                session,
                select(Facility).where(Facility.status == "active").order_by(col(Facility.id)),
            )
            # Columns are built in a thread: the event loop keeps answering meanwhile.
            index = await asyncio.to_thread(FacilityIndex, facilities)
            stale |= {"vacancies", "past"}
        if "past" in stale:
            index.set_past(await _load_rows(session, select(PastResult)))
        if "vacancies" in stale:
            index.vacancies = {}
    except BaseException:
        holder.stale |= stale  # still stale: the next search tries again
        raise
    finally:
        holder.loading -= 1
    if ticket > holder.installed:  # a load that began later may have finished first
        holder.index, holder.signature = index, signature
        holder.installed = ticket
        holder.covered = covers
        holder.checked_at = time.monotonic()
    return index


async def _vacancies_of(
    session: AsyncSession, index: FacilityIndex, month: date, age: int
) -> _Vacancies:
    cache = index.vacancies  # replaced, not cleared, when vacancies change
    column = cache.get((month, age))
    if column is None:
        rows = await _load_rows(
            session,
            select(Vacancy).where(Vacancy.class_age == age, Vacancy.entry_month == month),
        )
        column = cache[(month, age)] = await asyncio.to_thread(index.vacancy_column, rows)
    return column


async def search(session: AsyncSession, query: SearchQuery) -> list[SearchResult]:
    """Facilities for the query: matching ones first, nearest first (by name without a point).

    The same answer as `search_linear`, from the process's `FacilityIndex`.
    """
    index = await facility_index(session)
    child = query_child(query)
    age = child.class_age
    vacancies = None
    if age is not None and query.entry_month is not None:
        vacancies = await _vacancies_of(session, index, month_start(query.entry_month), age)
    positions, distances, _matched = index.rank(query, child, vacancies)
    results: list[SearchResult] = []
    for n, i in enumerate(positions.tolist()):
        facility = index.facilities[i]
        distance = None
        if distances is not None and index.located[i]:
            distance = float(distances[n])
        vacancy = vacancies.rows.get(i) if vacancies is not None else None
        reasons, misses = judge(query, child, facility, vacancy, distance)
        past = []
        if age is not None:
            past = [p for p in index.past.get(facility.id or 0, []) if p.class_age == age]
        results.append(
            SearchResult(facility, distance, age, vacancy, past, not misses, reasons, misses)
        )
    return results
