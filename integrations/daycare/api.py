"""The daycare facilities' `/api/v1` routes: facilities, their versions and vacancies.

Reading is public. Writing needs an API key that may manage the facility's municipality (a
municipality key its own, a prefecture key its municipalities', an operator key all), as for
programs. Path ids are the database ids (`{id:\\d+}`), so `/api/v1/facilities/search` and other
words never reach these routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare import facilities as repo
from integrations.daycare.facilities import (
    FacilityCreate,
    FacilityIn,
    FacilityPatch,
    VacancyCell,
)
from integrations.daycare.models import Facility, FacilityVersion, PastResult, Vacancy
from integrations.daycare.notices import seats_opened
from registry.api import require_key, require_known_municipality
from registry.auth import can_manage
from registry.db import transaction
from registry.http import (
    SESSIONS,
    TODAY,
    ApiError,
    RouteTable,
    json_model,
    parse_query,
    path_int,
    read_json,
    validation_details,
)
from registry.models import ApiKey

routes = RouteTable()
FACILITY = r"/api/v1/facilities/{id:\d+}"
MAX_VACANCY_CELLS = 6 * 24  # six classes, two years of months


class FacilityOut(FacilityIn):
    """A facility as stored: its fields, where it belongs, its version."""

    model_config = ConfigDict(extra="ignore", strict=False)

    id: int
    municipality: str
    facility_id: str
    version: int
    source: str
    located: bool = Field(description="false: no coordinates (to be found by address)")
    created_at: datetime
    updated_at: datetime


class VacancyOut(BaseModel):
    """Places in one class for one month of entry."""

    class_age: int
    entry_month: str = Field(description="YYYY-MM")
    level: Literal["number", "some", "none"]
    places: int | None
    as_of: date | None
    source: str
    updated_at: datetime


class PastResultOut(BaseModel):
    """A published fact of an earlier admission round."""

    class_age: int
    year: int
    kind: Literal["min_points", "first_round"]
    outcome: Literal["points", "at_most", "withheld", "vacant", "no_class", "none"]
    points: float | None
    raw: str


class FacilityDetail(FacilityOut):
    """A facility with its vacancies (from this month on) and its past results."""

    vacancies: list[VacancyOut]
    past_results: list[PastResultOut]


class FacilityList(BaseModel):
    """A page of facilities."""

    items: list[FacilityOut]
    total: int
    limit: int
    offset: int


class FacilityVersionOut(BaseModel):
    """A frozen version of a facility."""

    id: int
    version: int
    created_at: datetime
    facility: FacilityIn


class FacilityVersionList(BaseModel):
    """Every version, oldest first."""

    items: list[FacilityVersionOut]


class FacilityQuery(BaseModel):
    """Filters and paging of the facility list."""

    model_config = ConfigDict(extra="forbid")

    municipality: str | None = Field(default=None, pattern=r"^\d{6}$")
    status: Literal["active", "closed", "all"] = "all"
    located: bool | None = Field(
        default=None, description="false: only those without coordinates (to place by address)"
    )
    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class VacancyIn(BaseModel):
    """Places in one class for one month of entry: `places` (a number) or `level`."""

    model_config = ConfigDict(extra="forbid")

    class_age: int = Field(ge=0, le=5)
    entry_month: str = Field(pattern=r"^20\d\d-(0[1-9]|1[0-2])$", examples=["2027-04"])
    places: int | None = Field(default=None, ge=0, le=repo.MAX_PLACES)
    level: Literal["some", "none"] | None = Field(
        default=None, description="where only some/none is published"
    )

    @model_validator(mode="after")
    def _one_of(self) -> VacancyIn:
        if (self.places is None) == (self.level is None):
            raise ValueError("give either places (a number) or level (some/none)")
        return self

    def cell(self) -> VacancyCell:
        """As the repository stores it."""
        year, month = (int(part) for part in self.entry_month.split("-"))
        if self.places is not None:
            return VacancyCell(
                class_age=self.class_age,
                entry_month=date(year, month, 1),
                level="number",
                places=self.places,
            )
        assert self.level is not None
        return VacancyCell(
            class_age=self.class_age, entry_month=date(year, month, 1), level=self.level
        )


class VacanciesIn(BaseModel):
    """Vacancies of a facility; cells not given stay as they are."""

    model_config = ConfigDict(extra="forbid")

    as_of: date | None = Field(default=None, description="the date the figures describe")
    items: list[VacancyIn] = Field(min_length=1, max_length=MAX_VACANCY_CELLS)


class OpenedOut(BaseModel):
    """A class whose places opened (none or unknown before)."""

    class_age: int
    entry_month: str


class VacanciesOut(BaseModel):
    """The facility's vacancies after the change, and the seats that opened."""

    items: list[VacancyOut]
    opened: list[OpenedOut]


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def facility_out(row: Facility) -> FacilityOut:
    """The stored facility as the API shows it."""
    return FacilityOut.model_validate(
        {
            **row.body,
            "id": row.id,
            "municipality": row.municipality,
            "facility_id": row.facility_id,
            "version": row.version,
            "source": row.source,
            "located": row.located,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


def vacancy_out(row: Vacancy) -> VacancyOut:
    """A stored vacancy as the API shows it."""
    return VacancyOut(
        class_age=row.class_age,
        entry_month=_month(row.entry_month),
        level=row.level,  # type: ignore[arg-type]
        places=row.places,
        as_of=row.as_of,
        source=row.source,
        updated_at=row.updated_at,
    )


def past_result_out(row: PastResult) -> PastResultOut:
    """A stored past result as the API shows it."""
    return PastResultOut.model_validate(row, from_attributes=True)


def _version_out(row: FacilityVersion) -> FacilityVersionOut:
    return FacilityVersionOut(
        id=row.facility_pk,
        version=row.version,
        created_at=row.created_at,
        facility=FacilityIn.model_validate(row.body, strict=False),
    )


def require_manage(key: ApiKey, municipality: str) -> None:
    """403 unless the key may manage facilities of `municipality`."""
    if not can_manage(key, municipality):
        raise ApiError(
            403,
            "forbidden",
            f"this {key.role} key (issuer {key.issuer}) may not manage facilities of "
            f"{municipality}",
        )


async def _load(session: AsyncSession, request: web.Request, *, lock: bool = False) -> Facility:
    pk = path_int(request, "id")
    row = await session.get(Facility, pk, with_for_update=lock)
    if row is None:
        raise ApiError(404, "not_found", f"no facility {pk}")
    return row


async def _load_managed(session: AsyncSession, request: web.Request) -> Facility:
    """The facility of the path, locked for the change, if the key may manage it."""
    key = require_key(request)
    row = await _load(session, request, lock=True)
    require_manage(key, row.municipality)
    return row


@asynccontextmanager
async def _write(request: web.Request) -> AsyncIterator[AsyncSession]:
    """A transaction whose lost race (two requests creating the same row) is a 409, not a 500."""
    try:
        async with transaction(request.app[SESSIONS]) as session:
            yield session
    except IntegrityError as exc:
        raise ApiError(
            409, "conflict", "another request changed this facility at the same time: retry"
        ) from exc


def _invalid(exc: ValidationError) -> ApiError:
    return ApiError(
        422, "invalid_request", "the changed facility is not valid", validation_details(exc)
    )


@routes.add(
    "POST",
    "/api/v1/facilities",
    summary="Register a facility (409 when its municipality already has that facility id)",
    tag="facilities",
    body=FacilityCreate,
    responses={201: FacilityOut},
    auth="required",
    errors=frozenset({400, 409, 413, 422, 429}),
)
async def create_facility(request: web.Request) -> web.Response:
    """A new facility of a municipality the key may manage."""
    key = require_key(request)
    data: FacilityCreate = await read_json(request, FacilityCreate)
    require_manage(key, data.municipality)
    async with _write(request) as session:
        await require_known_municipality(session, data.municipality, location="body.municipality")
        try:
            row = await repo.create_facility(
                session, data.municipality, data.facility_id, data.facility(), source="api"
            )
        except repo.FacilityExists as exc:
            raise ApiError(
                409,
                "exists",
                f"{data.municipality} already has facility {data.facility_id} (id {exc.row.id}): "
                f"PUT /api/v1/facilities/{exc.row.id} replaces it",
                [{"location": "body.facility_id", "reason": "taken in this municipality"}],
            ) from None
        out = facility_out(row)
    return json_model(out, status=201)


@routes.add(
    "GET",
    "/api/v1/facilities",
    summary="List facilities (of a municipality), in the order they were added",
    tag="facilities",
    query=FacilityQuery,
    responses={200: FacilityList},
)
async def list_facilities(request: web.Request) -> web.Response:
    """A page of facilities."""
    query: FacilityQuery = parse_query(request, FacilityQuery)
    async with request.app[SESSIONS]() as session:
        if query.municipality is not None:
            # As the search does: an unknown code is a mistake, not an empty list.
            await require_known_municipality(
                session, query.municipality, location="query.municipality"
            )
        rows, total = await repo.list_facilities(
            session,
            query.municipality,
            status=None if query.status == "all" else query.status,
            located=query.located,
            limit=query.limit,
            offset=query.offset,
        )
    return json_model(
        FacilityList(
            items=[facility_out(r) for r in rows],
            total=total,
            limit=query.limit,
            offset=query.offset,
        )
    )


@routes.add(
    "GET",
    FACILITY,
    summary="Read a facility, with its vacancies from this month on and its past results",
    tag="facilities",
    responses={200: FacilityDetail},
)
async def get_facility(request: web.Request) -> web.Response:
    """One facility and what parents look at beside it."""
    today: date = request.app[TODAY]()
    async with request.app[SESSIONS]() as session:
        row = await _load(session, request)
        assert row.id is not None
        vacancies = await repo.current_vacancies(session, row.id, from_month=today)
        results = await repo.past_results(session, row.id)
        out = FacilityDetail(
            **facility_out(row).model_dump(),
            vacancies=[vacancy_out(v) for v in vacancies],
            past_results=[past_result_out(r) for r in results],
        )
    return json_model(out)


@routes.add(
    "PUT",
    FACILITY,
    summary="Replace a facility's fields (a new version unless nothing changed)",
    tag="facilities",
    body=FacilityIn,
    responses={200: FacilityOut},
    auth="required",
    errors=frozenset({400, 404, 409, 413, 422, 429}),
)
async def replace_facility(request: web.Request) -> web.Response:
    """Full replacement: fields left out take their defaults."""
    require_key(request)
    data: FacilityIn = await read_json(request, FacilityIn)
    async with _write(request) as session:
        row = await _load_managed(session, request)
        row, _ = await repo.replace_facility(session, row, data, source="api")
        out = facility_out(row)
    return json_model(out)


@routes.add(
    "PATCH",
    FACILITY,
    summary="Change some of a facility's fields (a new version unless nothing changed)",
    tag="facilities",
    body=FacilityPatch,
    responses={200: FacilityOut},
    auth="required",
)
async def patch_facility(request: web.Request) -> web.Response:
    """Partial change; null clears a field that may be empty."""
    require_key(request)
    patch: Any = await read_json(request, FacilityPatch)
    changes = patch.model_dump(mode="json", exclude_unset=True)
    async with _write(request) as session:
        row = await _load_managed(session, request)
        try:
            row, _ = await repo.patch_facility(session, row, changes, source="api")
        except ValidationError as exc:
            raise _invalid(exc) from exc
        out = facility_out(row)
    return json_model(out)


@routes.add(
    "GET",
    FACILITY + "/versions",
    summary="Every version of a facility",
    tag="facilities",
    responses={200: FacilityVersionList},
)
async def list_versions(request: web.Request) -> web.Response:
    """Every version, oldest first."""
    async with request.app[SESSIONS]() as session:
        row = await _load(session, request)
        assert row.id is not None
        versions = await repo.list_versions(session, row.id)
    return json_model(FacilityVersionList(items=[_version_out(v) for v in versions]))


@routes.add(
    "PUT",
    FACILITY + "/vacancies",
    summary="Set a facility's vacancies per class and month of entry (municipality key)",
    tag="facilities",
    body=VacanciesIn,
    responses={200: VacanciesOut},
    auth="required",
    errors=frozenset({400, 404, 409, 413, 422, 429}),
)
async def put_vacancies(request: web.Request) -> web.Response:
    """Save the cells given; answers every vacancy of the facility and the seats that opened."""
    require_key(request)
    data: VacanciesIn = await read_json(request, VacanciesIn)
    keys = [(item.class_age, item.entry_month) for item in data.items]
    if len(set(keys)) != len(keys):
        raise ApiError(
            422,
            "invalid_request",
            "each class and month of entry may appear once",
            [{"location": "body.items", "reason": "a (class_age, entry_month) pair is repeated"}],
        )
    this_month = request.app[TODAY]().replace(day=1)
    cells = [item.cell() for item in data.items]
    async with _write(request) as session:
        row = await _load_managed(session, request)
        assert row.id is not None
        problems = repo.vacancy_problems(row, cells, this_month)
        if problems:
            past = problems[0][1] == "entry_month"
            raise ApiError(
                422,
                "invalid_request",
                "a month of entry has passed"
                if past
                else "the facility does not offer that class",
                [
                    {"location": f"body.items.{index}.{field}", "reason": reason}
                    for index, field, reason in problems
                ],
            )
        opened = await repo.set_vacancies(session, row, cells, data.as_of, "api")
        # Families that saved the facility for a child of that class are told, once each.
        await seats_opened(session, opened)
        items = await repo.current_vacancies(session, row.id)
        out = VacanciesOut(
            items=[vacancy_out(v) for v in items],
            opened=[
                OpenedOut(class_age=o.class_age, entry_month=_month(o.entry_month)) for o in opened
            ],
        )
    return json_model(out)
