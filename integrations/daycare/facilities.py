"""Facilities, their vacancies and past results: the input schema and the repository.

A facility is addressed by (municipality, facility id) — the id is stable within a municipality
(the open-data file's NO, or one the municipality gives) — and keeps its versions like a
program: every change writes a `FacilityVersion`, and saving the same input again writes nothing
(`unchanged`). `Facility.body` holds the full input (`FacilityIn`); the columns are the part that
search reads.

Vacancies are stored per (facility, class age, month of entry). `set_vacancies` reports the
cells whose places went from none (or unknown) to some: what the "seat opened" notices need.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from sqlalchemy import insert
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare.models import (
    CLASS_AGES,
    FACILITY_TYPES,
    Facility,
    FacilityVersion,
    OpenedSeat,
    PastResult,
    Vacancy,
    facility_by_key,
)
from registry.models import utcnow

Outcome = Literal["created", "updated", "unchanged"]
FacilityType = Literal[
    "licensed_public",
    "licensed_private",
    "kodomoen_linked",
    "kodomoen_kindergarten",
    "kodomoen_daycare",
    "kodomoen_local",
    "small_scale",
    "family_daycare",
    "workplace",
    "certified_tokyo",
    "unlicensed",
    "kindergarten",
    "other",
]
assert set(FacilityType.__args__) == set(FACILITY_TYPES)  # type: ignore[attr-defined]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIME_PATTERN = r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$"
"""Clock times as HH:MM, 00:00-24:00 (24:00 closes a facility open around the clock)."""
URL_PATTERN = r"^https?://[^\s]+$"
FACILITY_ID_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z_.:-]{0,63}$"
MAX_PLACES = 999
MAX_POINTS = 1000.0


class FacilityIn(BaseModel):
    """A facility as a municipality (or an import) describes it; `body` of the versions."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name_ja: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    name_kana: str = Field(default="", max_length=200)
    type: FacilityType = "other"
    type_label: str = Field(default="", max_length=64, description="種別 as the source wrote it")
    status: Literal["active", "closed"] = "active"
    address: str = Field(default="", max_length=300)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    station: str = Field(default="", max_length=100)
    walk_minutes: int | None = Field(default=None, ge=0, le=600)
    classes: list[int] = Field(default_factory=list, max_length=6, description="class ages 0-5")
    class_capacity: dict[str, int] = Field(
        default_factory=dict, description='places per class age: {"0": 6, "1": 12}'
    )
    capacity: int | None = Field(default=None, ge=0, le=10_000)
    min_age_months: int | None = Field(default=None, ge=0, le=84)
    min_age_days: int | None = Field(
        default=None,
        ge=0,
        le=2600,
        description="youngest accepted age in days (産休明け = 57, 生後43日 = 43); search "
        "compares it on the 1st of the month of entry",
    )
    days: list[Weekday] = Field(default_factory=list, max_length=7)
    opens: str | None = Field(default=None, pattern=TIME_PATTERN, examples=["07:30"])
    closes: str | None = Field(default=None, pattern=TIME_PATTERN, examples=["18:30"])
    extended_care: bool | None = None
    extended_until: str | None = Field(default=None, pattern=TIME_PATTERN)
    temporary_care: bool | None = None
    meals: str = Field(default="", max_length=200)
    url: str = Field(default="", max_length=1000, pattern=r"^$|" + URL_PATTERN)
    phone: str = Field(default="", max_length=40)
    notes: str = Field(default="", max_length=2000)
    operator_name: str = Field(default="", max_length=200, description="運営者 (団体名)")
    licensed_on: date | None = Field(default=None, description="認可等年月日")
    opened_on: date | None = Field(default=None, description="開設年月")

    @field_validator("classes")
    @classmethod
    def _classes(cls, value: list[int]) -> list[int]:
        bad = [v for v in value if v not in CLASS_AGES]
        if bad:
            raise ValueError(f"class ages are 0-5; got {bad}")
        return sorted(set(value))

    @field_validator("class_capacity")
    @classmethod
    def _class_capacity(cls, value: dict[str, int]) -> dict[str, int]:
        allowed = {str(age) for age in CLASS_AGES}
        bad = [key for key in value if key not in allowed]
        if bad:
            raise ValueError(f'keys are class ages "0".."5"; got {bad[:6]}')
        if any(not 0 <= places <= MAX_PLACES for places in value.values()):
            raise ValueError(f"places per class are 0-{MAX_PLACES}")
        return {key: value[key] for key in sorted(value)}

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        return [day for day in WEEKDAYS if day in value]

    @model_validator(mode="after")
    def _coordinates(self) -> FacilityIn:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self

    def has_coordinates(self) -> bool:
        """Whether the facility has coordinates (search by distance can place it)."""
        return self.latitude is not None and self.longitude is not None


FacilityPatch: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "FacilityPatch",
    __config__=ConfigDict(extra="forbid", strict=True),
    __doc__="Some fields of a facility; the rest stay as they are (null clears a field).",
    **{
        name: (
            cast(Any, field.annotation) | None,
            Field(default=None, description=field.description),
        )
        for name, field in FacilityIn.model_fields.items()
    },
)


class FacilityCreate(FacilityIn):
    """A new facility: where it belongs and its id there, then its fields."""

    municipality: str = Field(pattern=r"^\d{6}$", description="6-digit local government code")
    facility_id: str = Field(
        pattern=FACILITY_ID_PATTERN,
        description="the facility's id, stable within the municipality (the open data's NO)",
    )

    def facility(self) -> FacilityIn:
        """The fields alone."""
        return FacilityIn.model_validate(
            self.model_dump(exclude={"municipality", "facility_id"}), strict=False
        )


class FacilityExists(Exception):
    """A facility with this (municipality, facility id) is already there."""

    def __init__(self, row: Facility) -> None:
        super().__init__(f"facility {row.municipality}/{row.facility_id} exists (id {row.id})")
        self.row = row


# ---------------------------------------------------------------------------- names and ids


def name_key(name: str) -> str:
    """A facility name as matching compares it: NFKC, no spaces, case folded."""
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


def derived_facility_id(name: str) -> str:
    """A stable id for a facility its source gives no id: "n" + 12 hex digits of the SHA-1 of
    its normalised name (`name_key`). The same name gives the same id in every file (Minato's
    facility list and its past results agree); a renamed facility gets a new id."""
    return "n" + hashlib.sha1(name_key(name).encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------- facilities


def _body(data: FacilityIn) -> dict[str, Any]:
    return data.model_dump(mode="json")


def _apply(row: Facility, data: FacilityIn, source: str) -> None:
    for name in (
        "name_ja",
        "name_en",
        "name_kana",
        "type",
        "type_label",
        "status",
        "address",
        "latitude",
        "longitude",
        "station",
        "walk_minutes",
        "classes",
        "class_capacity",
        "capacity",
        "min_age_months",
        "min_age_days",
        "days",
        "opens",
        "closes",
        "extended_care",
        "extended_until",
        "temporary_care",
        "meals",
        "url",
        "phone",
        "notes",
    ):
        setattr(row, name, getattr(data, name))
    row.located = data.has_coordinates()
    row.source = source[:32]
    row.body = _body(data)


async def _add_version(session: AsyncSession, row: Facility) -> None:
    assert row.id is not None
    session.add(FacilityVersion(facility_pk=row.id, version=row.version, body=dict(row.body)))
    await session.flush()


def new_facility(
    municipality: str, facility_id: str, data: FacilityIn, *, source: str = "api"
) -> Facility:
    """A facility row at version 1, not yet added (`add_first_versions` after the flush)."""
    row = Facility(municipality=municipality, facility_id=facility_id, name_ja=data.name_ja)
    _apply(row, data, source)
    return row


async def add_first_versions(session: AsyncSession, rows: Sequence[Facility]) -> None:
    """The version rows of new facilities (flushed, so that they have ids)."""
    for row in rows:
        assert row.id is not None
        session.add(FacilityVersion(facility_pk=row.id, version=row.version, body=dict(row.body)))
    await session.flush()


async def create_facility(
    session: AsyncSession,
    municipality: str,
    facility_id: str,
    data: FacilityIn,
    *,
    source: str = "api",
) -> Facility:
    """A new facility at version 1; FacilityExists when the key is taken."""
    existing = await facility_by_key(session, municipality, facility_id)
    if existing is not None:
        raise FacilityExists(existing)
    row = new_facility(municipality, facility_id, data, source=source)
    session.add(row)
    await session.flush()
    await _add_version(session, row)
    return row


async def replace_facility(
    session: AsyncSession, row: Facility, data: FacilityIn, *, source: str = "api"
) -> tuple[Facility, Outcome]:
    """Make `data` the facility's new version, unless it is what the facility already is."""
    if row.body == _body(data):
        return row, "unchanged"
    _apply(row, data, source)
    row.version += 1
    row.updated_at = utcnow()
    session.add(row)
    await session.flush()
    await _add_version(session, row)
    return row, "updated"


async def upsert_facility(
    session: AsyncSession,
    municipality: str,
    facility_id: str,
    data: FacilityIn,
    *,
    source: str = "api",
    existing: Facility | None = None,
) -> tuple[Facility, Outcome]:
    """Create the facility or give it a new version; the same input again is `unchanged`.

    `existing` spares the lookup when the caller has the row already (importers load a
    municipality's facilities once)."""
    row = existing or await facility_by_key(session, municipality, facility_id)
    if row is None:
        return await create_facility(session, municipality, facility_id, data, source=source), (
            "created"
        )
    return await replace_facility(session, row, data, source=source)


async def patch_facility(
    session: AsyncSession, row: Facility, changes: Mapping[str, Any], *, source: str = "api"
) -> tuple[Facility, Outcome]:
    """Change some fields (JSON values, as `FacilityPatch` gives them); ValidationError when
    the changed facility is not valid."""
    merged = {**row.body, **changes}
    data = FacilityIn.model_validate(merged, strict=False)
    return await replace_facility(session, row, data, source=source)


async def get_facility(session: AsyncSession, pk: int) -> Facility | None:
    """The facility of this database id."""
    return await session.get(Facility, pk)


async def list_facilities(
    session: AsyncSession,
    municipality: str | None = None,
    *,
    status: str | None = None,
    located: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Facility], int]:
    """A page of facilities (of one municipality), in the order they were added; and the total."""
    statement = select(Facility)
    counting = select(func.count()).select_from(Facility)
    if municipality is not None:
        statement = statement.where(Facility.municipality == municipality)
        counting = counting.where(Facility.municipality == municipality)
    if status is not None:
        statement = statement.where(Facility.status == status)
        counting = counting.where(Facility.status == status)
    if located is not None:
        statement = statement.where(Facility.located == located)
        counting = counting.where(Facility.located == located)
    rows = (
        await session.exec(statement.order_by(col(Facility.id)).offset(offset).limit(limit))
    ).all()
    total = (await session.exec(counting)).one()
    return list(rows), int(total)


async def facilities_by_id(session: AsyncSession, municipality: str) -> dict[str, Facility]:
    """Every facility of a municipality by its facility id."""
    rows = (
        await session.exec(select(Facility).where(Facility.municipality == municipality))
    ).all()
    return {row.facility_id: row for row in rows}


async def list_versions(session: AsyncSession, pk: int) -> list[FacilityVersion]:
    """Every version of a facility, oldest first."""
    rows = await session.exec(
        select(FacilityVersion)
        .where(FacilityVersion.facility_pk == pk)
        .order_by(col(FacilityVersion.version))
    )
    return list(rows.all())


# ---------------------------------------------------------------------------- vacancies


class VacancyCell(BaseModel):
    """Places in one class for one month of entry: a number, or only "some"/"none"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    class_age: int = Field(ge=0, le=5)
    entry_month: date
    level: Literal["number", "some", "none"] = "number"
    places: int | None = Field(default=None, ge=0, le=MAX_PLACES)

    @model_validator(mode="after")
    def _consistent(self) -> VacancyCell:
        if (self.level == "number") != (self.places is not None):
            raise ValueError('give places (a number) with level "number", and only then')
        if self.entry_month.day != 1:
            object.__setattr__(self, "entry_month", self.entry_month.replace(day=1))
        return self

    @property
    def open(self) -> bool:
        """Whether places are open."""
        return self.level == "some" or (self.level == "number" and (self.places or 0) > 0)


def _is_open(row: Vacancy | None) -> bool:
    if row is None:
        return False
    return row.level == "some" or (row.level == "number" and (row.places or 0) > 0)


def vacancy_problems(
    facility: Facility, cells: Sequence[VacancyCell], this_month: date
) -> list[tuple[int, str, str]]:
    """(index, field, reason) of each cell that may not be saved: a month of entry already
    past, a class the facility does not offer (when its classes are known)."""
    problems = [
        (index, "entry_month", f"month of entry {cell.entry_month:%Y-%m} has passed")
        for index, cell in enumerate(cells)
        if cell.entry_month < this_month
    ]
    if problems or not facility.classes:
        return problems
    offered = ", ".join(str(age) for age in facility.classes)
    return [
        (
            index,
            "class_age",
            f"the facility has no {cell.class_age}-year class (its classes: {offered})",
        )
        for index, cell in enumerate(cells)
        if cell.class_age not in facility.classes
    ]


async def set_vacancies(
    session: AsyncSession,
    facility: Facility,
    cells: Sequence[VacancyCell],
    as_of: date | None,
    source: str,
    *,
    unchanged: list[int] | None = None,
) -> list[OpenedSeat]:
    """Save each cell (one row per class age and month of entry; cells not given stay as they
    are) and return the seats that opened: cells whose places went from none, 0 or unknown (no
    row yet) to some or a positive number. The caller announces those ("seat opened") after its
    transaction commits. A cell already stored with the same places and as-of date is not
    written again; `unchanged` (a one-item list), when given, counts those.
    """
    return await set_many_vacancies(
        session, [(facility, cells)], as_of, source, unchanged=unchanged
    )


async def set_many_vacancies(
    session: AsyncSession,
    updates: Sequence[tuple[Facility, Sequence[VacancyCell]]],
    as_of: date | None,
    source: str,
    *,
    unchanged: list[int] | None = None,
) -> list[OpenedSeat]:
    """`set_vacancies` for many facilities at once (one read and one write for them all)."""
    pks = [facility.id for facility, cells in updates if cells]
    months = sorted({cell.entry_month for _, cells in updates for cell in cells})
    existing: dict[tuple[int, int, date], Vacancy] = {}
    for start in range(0, len(pks), 500):
        rows = await session.exec(
            select(Vacancy).where(
                col(Vacancy.facility_pk).in_(pks[start : start + 500]),
                col(Vacancy.entry_month).in_(months),
            )
        )
        existing |= {(r.facility_pk, r.class_age, r.entry_month): r for r in rows.all()}
    opened: list[OpenedSeat] = []
    fresh: dict[tuple[int, int, date], dict[str, Any]] = {}
    now = utcnow()
    for facility, cells in updates:
        assert facility.id is not None
        for cell in cells:
            key = (facility.id, cell.class_age, cell.entry_month)
            row = existing.get(key)
            if key in fresh:  # the same cell twice in one call: the last wins
                fresh[key].update(level=cell.level, places=cell.places)
                continue
            if row is not None and (row.level, row.places, row.as_of) == (
                cell.level,
                cell.places,
                as_of,
            ):
                if unchanged is not None:
                    unchanged[0] += 1
                continue
            if cell.open and not _is_open(row):
                opened.append(OpenedSeat(facility.id, cell.class_age, cell.entry_month))
            values = {
                "level": cell.level,
                "places": cell.places,
                "as_of": as_of,
                "source": source[:64],
                "updated_at": now,
            }
            if row is None:
                # New rows go in one executemany below (fast for a whole file of facilities).
                fresh[key] = {
                    "facility_pk": facility.id,
                    "class_age": cell.class_age,
                    "entry_month": cell.entry_month,
                    **values,
                }
                continue
            for name, value in values.items():
                setattr(row, name, value)
            session.add(row)
    await session.flush()
    new_rows = list(fresh.values())
    for start in range(0, len(new_rows), 1000):  # within every database's parameter limit
        await session.exec(insert(Vacancy).values(new_rows[start : start + 1000]))  # type: ignore[call-overload]
    return opened


async def current_vacancies(
    session: AsyncSession, pk: int, *, from_month: date | None = None
) -> list[Vacancy]:
    """A facility's vacancies (from a month of entry on), by month then class."""
    statement = select(Vacancy).where(Vacancy.facility_pk == pk)
    if from_month is not None:
        statement = statement.where(Vacancy.entry_month >= from_month.replace(day=1))
    rows = await session.exec(statement.order_by(col(Vacancy.entry_month), col(Vacancy.class_age)))
    return list(rows.all())


# ---------------------------------------------------------------------------- past results

ResultKind = Literal["min_points", "first_round"]
ResultOutcome = Literal["points", "at_most", "withheld", "vacant", "no_class", "none"]


class PastResultCell(BaseModel):
    """One published fact of an earlier round, for `record_past_results`."""

    model_config = ConfigDict(frozen=True)

    class_age: int = Field(ge=0, le=5)
    year: int = Field(ge=1990, le=2100)
    kind: ResultKind
    outcome: ResultOutcome
    points: float | None = Field(default=None, ge=0, le=MAX_POINTS)
    raw: str = ""
    source: str = ""


async def record_past_result(
    session: AsyncSession,
    facility: Facility,
    *,
    class_age: int,
    year: int,
    kind: ResultKind,
    outcome: ResultOutcome,
    points: float | None = None,
    raw: str = "",
    source: str = "",
) -> Outcome:
    """Save one published fact of an earlier round (per facility, class age, year and kind)."""
    cell = PastResultCell(
        class_age=class_age,
        year=year,
        kind=kind,
        outcome=outcome,
        points=points,
        raw=raw,
        source=source,
    )
    counts = await record_past_results(session, [(facility, cell)])
    return next(outcome for outcome, n in counts.items() if n)


async def record_past_results(
    session: AsyncSession, cells: Sequence[tuple[Facility, PastResultCell]]
) -> dict[Outcome, int]:
    """Save many past results (one read and one write); how many were created, updated,
    unchanged."""
    counts: dict[Outcome, int] = {"created": 0, "updated": 0, "unchanged": 0}
    pks = sorted({facility.id for facility, _ in cells if facility.id is not None})
    existing: dict[tuple[int, int, int, str], PastResult] = {}
    for start in range(0, len(pks), 500):
        rows = await session.exec(
            select(PastResult).where(col(PastResult.facility_pk).in_(pks[start : start + 500]))
        )
        existing |= {(r.facility_pk, r.class_age, r.year, r.kind): r for r in rows.all()}
    now = utcnow()
    for facility, cell in cells:
        assert facility.id is not None
        key = (facility.id, cell.class_age, cell.year, cell.kind)
        row = existing.get(key)
        values = {
            "outcome": cell.outcome,
            "points": cell.points,
            "raw": cell.raw[:32],
            "source": cell.source[:200],
        }
        if row is not None and all(getattr(row, k) == v for k, v in values.items()):
            counts["unchanged"] += 1
            continue
        if row is None:
            row = existing[key] = PastResult(
                facility_pk=facility.id, class_age=cell.class_age, year=cell.year, kind=cell.kind
            )
            counts["created"] += 1
        else:
            counts["updated"] += 1
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = now
        session.add(row)
    await session.flush()
    return counts


async def past_results(session: AsyncSession, pk: int) -> list[PastResult]:
    """A facility's past results, newest year first, then by class."""
    rows = await session.exec(
        select(PastResult)
        .where(PastResult.facility_pk == pk)
        .order_by(col(PastResult.year).desc(), col(PastResult.kind), col(PastResult.class_age))
    )
    return list(rows.all())


__all__ = [
    "FacilityCreate",
    "FacilityExists",
    "FacilityIn",
    "FacilityPatch",
    "ValidationError",
    "add_first_versions",
    "new_facility",
    "VacancyCell",
    "create_facility",
    "current_vacancies",
    "derived_facility_id",
    "facilities_by_id",
    "get_facility",
    "list_facilities",
    "list_versions",
    "name_key",
    "past_results",
    "patch_facility",
    "record_past_result",
    "record_past_results",
    "set_many_vacancies",
    "replace_facility",
    "set_vacancies",
    "upsert_facility",
]
