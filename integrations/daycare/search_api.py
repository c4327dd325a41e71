"""`GET /api/v1/facilities/search`: the public facility search (no key needed).

Parameters may repeat or be comma lists (`municipality=131016&municipality=131024` or
`municipality=131016,131024`). The class is derived from `birth_date` and `entry_month` (or given
as `class_age`); every result says why it matches and why not, as codes with their words in
Japanese and English (`integrations.daycare.search.describe`).
"""

from __future__ import annotations

import re
import weakref
from datetime import date, datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare.models import FACILITY_TYPES, Facility, PastResult, Vacancy
from integrations.daycare.search import (
    SearchQuery,
    SearchResult,
    describe,
    query_child,
    search,
)
from registry.http import SESSIONS, ApiError, RouteTable, json_model, validation_details
from registry.models import Municipality

routes = RouteTable()

MAX_LIMIT = 50
MAX_RADIUS_M = 100_000
_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _facility_type(value: str) -> str:
    if value not in FACILITY_TYPES:
        raise ValueError(
            f"unknown facility type {value!r}: use one of {', '.join(FACILITY_TYPES)}"
        )
    return value


FacilityType = Annotated[
    str,
    AfterValidator(_facility_type),
    WithJsonSchema({"type": "string", "enum": list(FACILITY_TYPES)}),
]
Code = Annotated[str, Field(pattern=r"^\d{6}$")]


class SearchParams(BaseModel):
    """The search's query parameters."""

    model_config = ConfigDict(extra="forbid")

    municipality: list[Code] = Field(
        default_factory=list,
        max_length=62,
        description="6-digit local government codes (repeat, or a comma list); none = all",
    )
    birth_date: date | None = Field(default=None, description="the child's birth date")
    entry_month: str | None = Field(
        default=None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="month of entry, YYYY-MM"
    )
    class_age: int | None = Field(default=None, ge=0, le=5, description="instead of birth_date")
    lat: float | None = Field(default=None, ge=-90, le=90, allow_inf_nan=False)
    lon: float | None = Field(default=None, ge=-180, le=180, allow_inf_nan=False)
    radius_m: float | None = Field(default=None, gt=0, le=MAX_RADIUS_M, allow_inf_nan=False)
    type: list[FacilityType] = Field(
        default_factory=list, max_length=20, description="facility types (repeat, or a comma list)"
    )
    open_from: str | None = Field(default=None, pattern=_HHMM, description="open by HH:MM")
    open_until: str | None = Field(default=None, pattern=_HHMM, description="open until HH:MM")
    extended_care: bool | None = None
    with_places: bool = False
    include_unmatched: bool = False
    limit: int = Field(default=20, ge=1, le=MAX_LIMIT)


_LISTS = ("municipality", "type")


class Reason(BaseModel):
    """Why a facility matches or not: a code and its words."""

    code: str
    ja: str
    en: str


class Names(BaseModel):
    """A name in Japanese and English."""

    ja: str
    en: str


class FacilitySummary(BaseModel):
    """What a parent sees of a facility in a list."""

    id: int
    municipality: str
    facility_id: str
    name: Names
    name_kana: str
    type: str
    type_name: Names
    address: str
    latitude: float | None
    longitude: float | None
    station: str
    walk_minutes: int | None
    classes: list[int]
    opens: str | None
    closes: str | None
    extended_care: bool | None
    extended_until: str | None
    url: str


class VacancyOut(BaseModel):
    """Places in the child's class for the month of entry."""

    level: str = Field(description="number, some or none")
    places: int | None
    as_of: date | None
    updated_at: datetime


class PastOut(BaseModel):
    """A published result of an earlier admission round in the child's class."""

    year: int
    kind: str
    outcome: str
    points: float | None
    raw: str


class SearchItem(BaseModel):
    """One facility found."""

    facility: FacilitySummary
    distance_m: int | None = Field(description="metres from the point, rounded")
    class_age: int | None
    vacancy: VacancyOut | None
    past: list[PastOut]
    matches: bool
    reasons: list[Reason]
    misses: list[Reason]


class SearchAnswer(BaseModel):
    """The facilities found, matching ones first, nearest first."""

    items: list[SearchItem]
    count: int
    class_age: int | None = Field(description="the child's class at entry, when known")


def _raw_params(request: web.Request) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for name in request.query:
        values = request.query.getall(name)
        if "\x00" in name or any("\x00" in v for v in values):
            raise ApiError(
                422,
                "invalid_query",
                "query parameters are not valid",
                [{"location": "query", "reason": "must not contain the NUL character"}],
            )
        if name in _LISTS:
            raw[name] = [part.strip() for v in values for part in v.split(",") if part.strip()]
        elif len(values) > 1:
            raise ApiError(
                422,
                "invalid_query",
                "query parameters are not valid",
                [{"location": f"query.{name}", "reason": "given more than once"}],
            )
        else:
            raw[name] = values[0]
    return raw


def _invalid(location: str, reason: str, code: str = "invalid_query") -> ApiError:
    return ApiError(
        422,
        code,
        f"query parameters are not valid: {reason}",
        [{"location": location, "reason": reason}],
    )


_KNOWN: weakref.WeakKeyDictionary[Any, frozenset[str]] = weakref.WeakKeyDictionary()


async def known_municipalities(
    sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> frozenset[str]:
    """Codes of the municipalities served (read once per process: they change with releases)."""
    codes = _KNOWN.get(sessions)
    if codes is None:
        rows = (await session.exec(select(Municipality))).all()
        codes = frozenset(m.code for m in rows if m.kind in {"ward", "city", "town", "village"})
        _KNOWN[sessions] = codes
    return codes


def to_query(params: SearchParams, known: frozenset[str]) -> SearchQuery:
    """The search query, or a 422 naming what does not fit together."""
    for code in params.municipality:
        if code not in known:
            raise _invalid(
                "query.municipality",
                f"unknown municipality {code}: not one this service serves",
                "unknown_municipality",
            )
    if (params.lat is None) != (params.lon is None):
        missing = "lon" if params.lon is None else "lat"
        raise _invalid(f"query.{missing}", "lat and lon go together: give both or neither")
    if params.radius_m is not None and params.lat is None:
        raise _invalid("query.radius_m", "radius_m needs a point: give lat and lon")
    month = None
    if params.entry_month is not None:
        found = _MONTH.match(params.entry_month)
        assert found is not None  # the pattern checked it
        year = int(found.group(1))
        if not 1900 <= year <= 2200:
            raise _invalid("query.entry_month", "entry_month must be a month of 1900-2200")
        month = date(year, int(found.group(2)), 1)
    if params.birth_date is not None:
        if month is None:
            raise _invalid(
                "query.entry_month",
                "birth_date needs entry_month (YYYY-MM): the class depends on the month of entry",
            )
        if (params.birth_date.year, params.birth_date.month) > (month.year, month.month):
            raise _invalid(
                "query.birth_date",
                f"birth_date {params.birth_date.isoformat()} is after the month of entry "
                f"{params.entry_month}: a child enters after being born",
                "born_after_entry",
            )
    query = SearchQuery(
        municipalities=tuple(dict.fromkeys(params.municipality)),
        birth_date=params.birth_date,
        entry_month=month,
        class_age=params.class_age,
        near=(params.lat, params.lon)
        if params.lat is not None and params.lon is not None
        else None,
        radius_m=params.radius_m,
        types=tuple(dict.fromkeys(params.type)),
        open_from=params.open_from,
        open_until=params.open_until,
        extended_care=params.extended_care,
        with_places=params.with_places,
        include_unmatched=params.include_unmatched,
        limit=params.limit,
    )
    if params.class_age is not None and params.birth_date is not None and month is not None:
        derived = query_child(SearchQuery(birth_date=params.birth_date, entry_month=month))
        if derived.class_age is not None and derived.class_age != params.class_age:
            raise _invalid(
                "query.class_age",
                f"class_age {params.class_age} contradicts birth_date and entry_month "
                f"(class age {derived.class_age}): give one or the other",
                "class_age_mismatch",
            )
    if params.with_places and (
        month is None or (params.class_age is None and params.birth_date is None)
    ):
        raise _invalid(
            "query.with_places",
            "with_places needs the class and the month: birth_date (or class_age) and entry_month",
        )
    return query


def _reason(code: str) -> Reason:
    return Reason(code=code, ja=describe(code, "ja"), en=describe(code, "en"))


def summary(facility: Facility) -> FacilitySummary:
    """A facility as listed."""
    assert facility.id is not None
    type_ja, type_en = FACILITY_TYPES.get(facility.type, (facility.type, facility.type))
    return FacilitySummary(
        id=facility.id,
        municipality=facility.municipality,
        facility_id=facility.facility_id,
        name=Names(ja=facility.name_ja, en=facility.name_en or facility.name_ja),
        name_kana=facility.name_kana,
        type=facility.type,
        type_name=Names(ja=type_ja, en=type_en),
        address=facility.address,
        latitude=facility.latitude,
        longitude=facility.longitude,
        station=facility.station,
        walk_minutes=facility.walk_minutes,
        classes=sorted(facility.classes or []),
        opens=facility.opens,
        closes=facility.closes,
        extended_care=facility.extended_care,
        extended_until=facility.extended_until,
        url=facility.url,
    )


def _vacancy(v: Vacancy | None) -> VacancyOut | None:
    if v is None:
        return None
    return VacancyOut(level=v.level, places=v.places, as_of=v.as_of, updated_at=v.updated_at)


def _past(p: PastResult) -> PastOut:
    return PastOut(year=p.year, kind=p.kind, outcome=p.outcome, points=p.points, raw=p.raw)


def item(result: SearchResult) -> SearchItem:
    """A search result as the API answers it."""
    return SearchItem(
        facility=summary(result.facility),
        distance_m=None if result.distance_m is None else round(result.distance_m),
        class_age=result.class_age,
        vacancy=_vacancy(result.vacancy),
        past=[_past(p) for p in result.past],
        matches=result.matches,
        reasons=[_reason(c) for c in result.reasons],
        misses=[_reason(c) for c in result.misses],
    )


@routes.add(
    "GET",
    "/api/v1/facilities/search",
    summary="Search daycare facilities by area, child's class at entry, distance, hours, places",
    tag="daycare",
    query=SearchParams,
    responses={200: SearchAnswer},
)
async def search_facilities(request: web.Request) -> web.Response:
    """Facilities for a child entering in a month, matching first, nearest first, with why."""
    raw = _raw_params(request)
    try:
        params = SearchParams.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(
            422,
            "invalid_query",
            "query parameters are not valid",
            validation_details(exc, "query"),
        ) from exc
    sessions = request.app[SESSIONS]
    async with sessions() as session:
        known = await known_municipalities(sessions, session)
        query = to_query(params, known)
        results = await search(session, query)
    child_age = query_child(query).class_age
    items = [item(r) for r in results]
    return json_model(SearchAnswer(items=items, count=len(items), class_age=child_age))
