"""Intake rounds and daycare applications (入所申込) over `/api/v1`.

Rounds are created and changed with a key that may manage their municipality, and read by
anyone (families' apps need the open ones; a round holds no personal data). App backends apply
for the families they registered (`/api/v1/app/subscribers`), with the same scoping as those
routes; the municipality lists, exports, checks and corrects its own applications. Another
municipality's application ids answer 404, as missing ones do, so that none can be probed.
Times are answered in Asia/Tokyo (stored in UTC). Birth dates are the municipality's applicant
data and are answered to its key, never logged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare import applications as apps
from integrations.daycare.applications import ApplicationError
from integrations.daycare.applications_csv import CSV_COLUMNS, column_problems, render_csv
from integrations.daycare.classes import entry_class
from integrations.daycare.models import (
    APPLICATION_STATUSES,
    MAX_WISHES,
    Application,
    Facility,
    IntakeRound,
)
from integrations.daycare.rounds import RoundError, change_round, new_round
from registry import families
from registry import subscriptions as subs
from registry.api import request_key, require_key, require_known_municipality
from registry.auth import can_manage
from registry.db import transaction
from registry.http import (
    CLOCK,
    MAX_ID,
    SESSIONS,
    ApiError,
    RouteTable,
    json_model,
    parse_query,
    path_int,
    read_json,
)
from registry.models import ApiKey, AppSubscription, Child, Family
from rules.points import ApplicationFacts
from rules.profile import MAX_CHILDREN

routes = RouteTable()

TOKYO = ZoneInfo("Asia/Tokyo")
ROUND = r"/api/v1/daycare/rounds/{id:\d+}"
APPLICATION = r"/api/v1/daycare/applications/{id:\d+}"
MONTH_PATTERN = r"^20\d\d-(0[1-9]|1[0-2])$"
DOCUMENT_KEY = r"[a-z_]+(:[0-9]+)?"
MAX_PAGE = 1000
MAX_OPEN_DAYS = 731

FacilityKey = Annotated[str, Field(min_length=1, max_length=64)]
"""A facility's id within its municipality (`facility_id`), as the facilities API names it."""

Status = Literal["received", "under_review", "offered", "waitlisted", "withdrawn"]


# ---------------------------------------------------------------------------------- models


class RoundIn(BaseModel):
    """An intake round to open for a month of entry."""

    model_config = ConfigDict(extra="forbid")

    municipality: str = Field(pattern=r"^\d{6}$", description="Local government code.")
    name: str = Field(min_length=1, max_length=200, examples=["令和9年4月 一次選考"])
    entry_month: str = Field(pattern=MONTH_PATTERN, examples=["2027-04"])
    deadline: AwareDatetime = Field(
        description="Applications are taken until then (ISO 8601 with an offset); before the "
        "first day of the month of entry."
    )
    opens_at: AwareDatetime | None = Field(
        default=None, description="Applications are taken from then (default: now)."
    )
    seed: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="The published lottery seed for ties (generated when absent).",
    )
    export_columns: list[str] | None = Field(
        default=None,
        max_length=len(CSV_COLUMNS),
        description="The municipality's column order for the CSV export (default: all).",
    )


class RoundPatch(BaseModel):
    """A change to a round; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    # Absent = unchanged; null is refused (a round always has these), so the schema omits it.
    # The bounds sit on the types themselves: on the fields they would be applied to a null.
    name: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    deadline: AwareDatetime | SkipJsonSchema[None] = None
    opens_at: AwareDatetime | None = Field(default=None, description="null: open from now")
    status: Literal["open", "closed"] | SkipJsonSchema[None] = Field(
        default=None, description="closed: no more applications; open: take them again."
    )
    export_columns: (
        Annotated[list[str], Field(max_length=len(CSV_COLUMNS))] | SkipJsonSchema[None]
    ) = Field(default=None, description="[] restores the default order.")


class RoundOut(BaseModel):
    """An intake round (no personal data)."""

    id: int
    municipality: str
    name: str
    entry_month: str = Field(description="YYYY-MM")
    opens_at: datetime | None = Field(description="Asia/Tokyo")
    deadline: datetime = Field(description="Asia/Tokyo")
    status: str = Field(description="open, closed or confirmed")
    accepting: bool = Field(description="Whether it takes applications now.")
    seed: str | None = Field(
        description="The lottery seed: null to others than the municipality's staff until the "
        "deadline (known earlier, it would let an applicant time a submission by its draw); "
        "its sha256 is public from the start, so anyone can check the seed later."
    )
    seed_sha256: str = Field(description="sha256 of the seed (hex), public from the start")
    rules_version: int | None
    export_columns: list[str] = Field(description="The CSV export's columns, in order.")
    confirmed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class RoundList(BaseModel):
    """Intake rounds, the latest month of entry first."""

    items: list[RoundOut]
    total: int


class RoundQuery(BaseModel):
    """Filters of the round list."""

    model_config = ConfigDict(extra="forbid")

    municipality: str | None = Field(default=None, pattern=r"^\d{6}$")
    status: Literal["open", "closed", "confirmed"] | None = None
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class ApplicationIn(BaseModel):
    """An application an app backend submits for one child of a family it registered."""

    model_config = ConfigDict(extra="forbid")

    round_id: int = Field(ge=1, le=MAX_ID)
    subscriber_id: int = Field(ge=1, le=MAX_ID, description="/api/v1/app/subscribers id")
    child: int = Field(
        ge=0,
        lt=MAX_CHILDREN,
        description="Index of the child in the subscriber's children, as "
        "GET /api/v1/app/subscribers/{id} lists them (oldest first).",
    )
    wishes: list[FacilityKey] = Field(
        min_length=1,
        max_length=MAX_WISHES,
        description="Facility ids (`facility_id` within the round's municipality), best first.",
    )
    facts: ApplicationFacts
    external_ref: str = Field(default="", max_length=100, description="The app's reference.")


class WishesIn(BaseModel):
    """New wished facilities, best first (replaces the list)."""

    model_config = ConfigDict(extra="forbid")

    wishes: list[FacilityKey] = Field(min_length=1, max_length=MAX_WISHES)


class DocumentIn(BaseModel):
    """A document checked (or the check undone) by staff."""

    model_config = ConfigDict(extra="forbid")

    checked: bool


class CorrectionIn(BaseModel):
    """Staff corrections of facts (top-level fact names), with the reason (audited)."""

    model_config = ConfigDict(extra="forbid")

    changes: dict[str, Any] = Field(min_length=1, max_length=20)
    reason: str = Field(max_length=500, description="Why (kept in the audit trail).")


class WishOut(BaseModel):
    """A wished facility."""

    rank: int
    id: int = Field(description="The facility's id (/api/v1/facilities/{id}).")
    facility_id: str
    name_ja: str
    name_en: str


class DocumentOut(BaseModel):
    """A document the application needs, and whether staff checked it."""

    key: str
    ja: str
    en: str
    checked: bool
    checked_at: str | None


class NeededOut(BaseModel):
    """A document still needed."""

    key: str
    ja: str
    en: str


class ApplicationOut(BaseModel):
    """An application."""

    id: int
    round_id: int
    municipality: str
    subscriber_id: int | None = Field(description="The app subscriber, if an app applied.")
    child_birth_date: date
    class_age: int = Field(description="Class age at the month of entry.")
    status: str
    status_ja: str
    status_en: str
    channel: str
    external_ref: str
    wishes: list[WishOut]
    facts: ApplicationFacts
    documents: list[DocumentOut]
    documents_needed: list[NeededOut] = Field(description="Not checked yet.")
    points: float | None
    result: dict[str, Any]
    deadline: datetime = Field(description="The round's deadline (Asia/Tokyo).")
    changeable: bool = Field(description="The family may still change or withdraw it.")
    submitted_at: datetime
    updated_at: datetime
    withdrawn_at: datetime | None


class ApplicationSubmitted(ApplicationOut):
    """A submitted application and what changed since the family's last one."""

    replaced: bool = Field(description="It replaced this child's open application.")
    changed: list[str] = Field(
        description="Fact names that differ from the family's last application (none the "
        "first time)."
    )


class ApplicationList(BaseModel):
    """A page of a round's applications, in order of submission."""

    items: list[ApplicationOut]
    total: int
    limit: int
    offset: int


class ChildOut(BaseModel):
    """The child an application is for."""

    index: int
    birth_date: date
    class_age: int | None = Field(description="null: no daycare class that month.")


class PrefillOut(BaseModel):
    """What the service already knows of an application's facts; ask only the rest."""

    round_id: int
    subscriber_id: int
    child: ChildOut
    known: dict[str, Any] = Field(
        description="Facts already known (ApplicationFacts names), from the profile and the "
        "family's last application."
    )
    ask: list[str] = Field(description="Fact names the service does not know yet.")
    application_id: int | None = Field(
        description="This child's application in the round, if any (submitting replaces it)."
    )


class AuditOut(BaseModel):
    """One change to an application."""

    at: datetime = Field(description="Asia/Tokyo")
    actor: str = Field(description="family, staff:<key prefix> or system")
    action: str
    field: str
    old: Any
    new: Any
    reason: str


class AuditList(BaseModel):
    """An application's audit trail, oldest first."""

    items: list[AuditOut]


class ApplicationQuery(BaseModel):
    """Filters and paging of a round's applications."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    class_age: int | None = Field(default=None, ge=0, le=5)
    facility: str | None = Field(
        default=None, max_length=64, description="facility_id wished at any rank"
    )
    first_wish: str | None = Field(default=None, max_length=64, description="facility_id")
    documents: Literal["missing", "complete"] | None = None
    channel: Literal["line", "api"] | None = None
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=10_000_000)


class ExportQuery(BaseModel):
    """Filters and the shape of the CSV export."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    class_age: int | None = Field(default=None, ge=0, le=5)
    facility: str | None = Field(default=None, max_length=64)
    first_wish: str | None = Field(default=None, max_length=64)
    documents: Literal["missing", "complete"] | None = None
    channel: Literal["line", "api"] | None = None
    columns: str | None = Field(
        default=None,
        max_length=4000,
        description="Comma-separated column names (default: the round's export_columns).",
    )
    headers: Literal["en", "ja"] = Field(default="en", description="ja: Japanese headers")


class FamilyApplicationsQuery(BaseModel):
    """Whose applications to list."""

    model_config = ConfigDict(extra="forbid")

    subscriber_id: int = Field(ge=1, le=MAX_ID, description="/api/v1/app/subscribers id")


class FamilyApplications(BaseModel):
    """A family's applications, newest first."""

    items: list[ApplicationOut]


class PrefillQuery(BaseModel):
    """Which round, family and child to pre-fill."""

    model_config = ConfigDict(extra="forbid")

    round_id: int = Field(ge=1, le=MAX_ID)
    subscriber_id: int = Field(ge=1, le=MAX_ID)
    child: int = Field(ge=0, lt=MAX_CHILDREN)


# --------------------------------------------------------------------------------- helpers


def _tokyo(value: datetime) -> datetime:
    return value.astimezone(TOKYO)


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _parse_month(text: str) -> date:
    year, month = (int(part) for part in text.split("-"))
    return date(year, month, 1)


def _invalid(location: str, reason: str, code: str = "invalid_request") -> ApiError:
    return ApiError(422, code, reason, [{"location": location, "reason": reason}])


def round_out(row: IntakeRound, now: datetime, *, reveal: bool = True) -> RoundOut:
    """A round as answered (its seed only when `reveal`)."""
    assert row.id is not None
    accepting = (
        row.status == "open"
        and row.deadline > now
        and (row.opens_at is None or row.opens_at <= now)
    )
    return RoundOut(
        id=row.id,
        municipality=row.municipality,
        name=row.name,
        entry_month=_month(row.entry_month),
        opens_at=None if row.opens_at is None else _tokyo(row.opens_at),
        deadline=_tokyo(row.deadline),
        status=row.status,
        accepting=accepting,
        seed=row.seed if reveal else None,
        seed_sha256=hashlib.sha256(row.seed.encode()).hexdigest(),
        rules_version=row.rules_version,
        export_columns=list(row.export_columns or CSV_COLUMNS),
        confirmed_at=None if row.confirmed_at is None else _tokyo(row.confirmed_at),
        created_at=_tokyo(row.created_at),
        updated_at=_tokyo(row.updated_at),
    )


def _reveal_seed(request: web.Request, row: IntakeRound, now: datetime) -> bool:
    """Whether a public read shows the round's seed: once applications are over, or to a key
    that manages the round."""
    if row.status != "open" or row.deadline <= now:
        return True
    key = request_key(request)
    return key is not None and can_manage(key, row.municipality)


def _round_invalid(exc: RoundError) -> ApiError:
    if exc.code == "round_confirmed":
        return ApiError(409, exc.code, exc.message)
    where = exc.details[0]["location"] if exc.details else "body"
    return _invalid(f"body.{where}", exc.message, exc.code)


def _require_manage(key: ApiKey, municipality: str) -> None:
    if not can_manage(key, municipality):
        raise ApiError(
            403,
            "forbidden",
            f"this {key.role} key (issuer {key.issuer}) may not manage intake rounds of "
            f"{municipality}",
        )


@asynccontextmanager
async def _write(request: web.Request) -> AsyncIterator[AsyncSession]:
    """A transaction whose lost race (two submissions of one child) is a 409, not a 500."""
    try:
        async with transaction(request.app[SESSIONS]) as session:
            yield session
    except IntegrityError as exc:
        raise ApiError(
            409, "conflict", "another request changed this application at the same time: retry"
        ) from exc


async def _round(session: AsyncSession, round_id: int) -> IntakeRound:
    row = await session.get(IntakeRound, round_id)
    if row is None:
        raise ApiError(404, "not_found", f"no intake round {round_id}")
    return row


_CONFLICTS = {"round_closed", "round_not_open", "not_changeable", "already_decided"}


def _location(location: str | None, corrections: bool = False) -> str | None:
    """A domain location (`wishes[2]`, `facts.guardians.0.reason`) as a request location."""
    if location is None:
        return None
    dotted = re.sub(r"\[(\d+)\]", r".\1", location)
    if dotted == "birth_date":
        return "body.child"
    if corrections and dotted.startswith("facts."):
        dotted = "changes." + dotted.removeprefix("facts.")
    return f"body.{dotted}"


def _api_error(exc: ApplicationError, corrections: bool = False) -> ApiError:
    if exc.code in _CONFLICTS:
        return ApiError(409, exc.code, exc.message)
    if exc.code == "unknown_document":
        return ApiError(404, "not_found", exc.message)
    where = _location(exc.location, corrections)
    details = [{"location": where, "reason": exc.message}] if where else []
    return ApiError(422, exc.code, exc.message, details)


async def _wish_pks(session: AsyncSession, municipality: str, wishes: list[str]) -> list[int]:
    """The facility row ids of the wished facility ids of the municipality, in order."""
    found = await session.exec(
        select(Facility).where(
            Facility.municipality == municipality, col(Facility.facility_id).in_(set(wishes))
        )
    )
    by_key = {f.facility_id: f for f in found.all()}
    pks = []
    for index, key in enumerate(wishes):
        facility = by_key.get(key)
        if facility is None or facility.id is None:
            raise _invalid(
                f"body.wishes.{index}",
                f"{municipality} has no facility {key[:64]!r}",
                "unknown_facility",
            )
        pks.append(facility.id)
    return pks


async def _facilities(session: AsyncSession, pks: Iterable[int]) -> dict[int, Facility]:
    return await apps.facilities_of(session, pks)


async def _subscriber_ids(session: AsyncSession, family_ids: Iterable[int]) -> dict[int, int]:
    wanted = set(family_ids)
    if not wanted:
        return {}
    found = await session.exec(
        select(AppSubscription).where(col(AppSubscription.family_id).in_(wanted))
    )
    return {s.family_id: s.id for s in found.all() if s.id is not None}


def _check_columns(names: list[str], location: str) -> None:
    problems = column_problems(names)
    if problems:
        raise ApiError(
            422,
            "unknown_column",
            "unknown or repeated CSV column names",
            [{"location": f"{location}.{i}", "reason": reason} for i, reason in problems],
        )


def _application_out(
    row: Application,
    round_: IntakeRound,
    facilities: dict[int, Facility],
    subscriber_id: int | None,
    now: datetime,
) -> ApplicationOut:
    assert row.id is not None
    words = APPLICATION_STATUSES.get(row.status, (row.status, row.status))
    wishes = []
    for rank, pk in enumerate(row.wishes, start=1):
        facility = facilities.get(pk)
        wishes.append(
            WishOut(
                rank=rank,
                id=pk,
                facility_id=facility.facility_id if facility else "",
                name_ja=facility.name_ja if facility else "",
                name_en=facility.name_en if facility else "",
            )
        )
    documents = [
        DocumentOut(
            key=key,
            ja=str(value.get("ja", key)),
            en=str(value.get("en", key)),
            checked=bool(value.get("checked")),
            checked_at=value.get("checked_at"),
        )
        for key, value in row.documents.items()
    ]
    changeable = (
        row.status in apps.OPEN_STATUSES and round_.status == "open" and round_.deadline > now
    )
    return ApplicationOut(
        id=row.id,
        round_id=row.round_id,
        municipality=row.municipality,
        subscriber_id=subscriber_id,
        child_birth_date=row.child_birth_date,
        class_age=row.class_age,
        status=row.status,
        status_ja=words[0],
        status_en=words[1],
        channel=row.channel,
        external_ref=row.external_ref,
        wishes=wishes,
        facts=ApplicationFacts.model_validate(row.facts),
        documents=documents,
        documents_needed=[NeededOut(**d) for d in apps.documents_missing(row)],
        points=row.points,
        result=row.result,
        deadline=_tokyo(round_.deadline),
        changeable=changeable,
        submitted_at=_tokyo(row.submitted_at),
        updated_at=_tokyo(row.updated_at),
        withdrawn_at=None if row.withdrawn_at is None else _tokyo(row.withdrawn_at),
    )


async def _out(
    session: AsyncSession, row: Application, round_: IntakeRound, now: datetime
) -> ApplicationOut:
    facilities = await _facilities(session, row.wishes)
    subscribers = await _subscriber_ids(session, [row.family_id])
    return _application_out(row, round_, facilities, subscribers.get(row.family_id), now)


async def _application(session: AsyncSession, key: ApiKey, application_id: int) -> Application:
    """The application, if the key may manage its municipality; 404 otherwise (no probing)."""
    row = await session.get(Application, application_id)
    if row is None or not can_manage(key, row.municipality):
        raise ApiError(404, "not_found", f"no application {application_id}")
    return row


async def _family_actor(session: AsyncSession, key: ApiKey, row: Application) -> str:
    # An app backend acts for its family; staff acting on a parent's word (a call, a paper
    # form) are named by their key, so the trail says who really changed it.
    if await subs.has_subscription(session, row.family_id):
        return "family"
    return f"staff:{key.prefix}"


async def _subscriber_family(
    session: AsyncSession, key: ApiKey, subscriber_id: int, location: str
) -> Family:
    """The subscriber's family, with the scoping of /api/v1/app/subscribers/{id}."""
    subscription = await subs.get(session, subscriber_id)
    family = None if subscription is None else await subs.family_of(session, subscription)
    if family is None or family.municipality is None or not can_manage(key, family.municipality):
        raise ApiError(
            404,
            "not_found",
            f"no subscriber {subscriber_id}",
            [{"location": location, "reason": "no such subscriber for this key"}],
        )
    return family


async def _round_for_family(
    session: AsyncSession, key: ApiKey, round_id: int, location: str
) -> IntakeRound:
    row = await session.get(IntakeRound, round_id)
    if row is None or not can_manage(key, row.municipality):
        raise ApiError(
            404,
            "not_found",
            f"no intake round {round_id} for this key",
            [{"location": location, "reason": "no such round of the key's municipality"}],
        )
    return row


async def _child(
    session: AsyncSession, family: Family, index: int, location: str
) -> tuple[Child, list[Child]]:
    assert family.id is not None
    children = await families.children_of(session, family.id)
    if index >= len(children):
        raise _invalid(
            location, f"the family has {len(children)} children: use an index from 0", "no_child"
        )
    return children[index], children


async def _application_of_child(
    session: AsyncSession, round_id: int, family_id: int, child: Child, children: list[Child]
) -> Application | None:
    """This child's application in the round, if any.

    An app backend that sends the children again (PATCH subscribers) gives them new rows: an
    application whose child row is gone is the same child's when the birth date matches and no
    other such application could be (twins are told apart by their rows only).
    """
    found = await session.exec(
        select(Application).where(
            Application.round_id == round_id, Application.family_id == family_id
        )
    )
    rows = list(found.all())
    for row in rows:
        if row.child_id == child.id:
            return row
    current = {c.id for c in children}
    stale = sorted(
        (r for r in rows if r.child_id not in current and r.child_birth_date == child.birth_date),
        key=lambda r: (r.child_id or 0, r.id or 0),
    )
    # Twins sent again: pair the children still without an application with the stale ones in
    # order (both rows keep their order), rather than make the same child a second application.
    claimed = {r.child_id for r in rows}
    unmatched = [c for c in children if c.birth_date == child.birth_date and c.id not in claimed]
    if child in unmatched and unmatched.index(child) < len(stale):
        return stale[unmatched.index(child)]
    return None


# ---------------------------------------------------------------------------------- rounds


@routes.add(
    "POST",
    "/api/v1/daycare/rounds",
    summary="Open an intake round for a month of entry (municipality key)",
    tag="daycare-applications",
    body=RoundIn,
    responses={201: RoundOut},
    auth="required",
)
async def create_round(request: web.Request) -> web.Response:
    """A new intake round; its lottery seed is generated unless given (and published)."""
    key = require_key(request)
    data: RoundIn = await read_json(request, RoundIn)
    _require_manage(key, data.municipality)
    now = request.app[CLOCK]()
    if data.export_columns is not None:
        _check_columns(data.export_columns, "body.export_columns")
    try:
        row = new_round(
            municipality=data.municipality,
            name=data.name,
            entry_month=_parse_month(data.entry_month),
            deadline=data.deadline,
            opens_at=data.opens_at,
            seed=data.seed,
            export_columns=data.export_columns,
            now=now,
        )
    except RoundError as exc:
        raise _round_invalid(exc) from None
    async with transaction(request.app[SESSIONS]) as session:
        await require_known_municipality(session, data.municipality, location="body.municipality")
        session.add(row)
        await session.flush()
        out = round_out(row, now, reveal=True)
    return json_model(out, status=201)


@routes.add(
    "GET",
    "/api/v1/daycare/rounds",
    summary="List intake rounds (public: no personal data)",
    tag="daycare-applications",
    query=RoundQuery,
    responses={200: RoundList},
)
async def list_rounds(request: web.Request) -> web.Response:
    """Rounds, the latest month of entry first."""
    query: RoundQuery = parse_query(request, RoundQuery)
    async with request.app[SESSIONS]() as session:
        if query.municipality is not None:
            await require_known_municipality(
                session, query.municipality, location="query.municipality"
            )
        statement = select(IntakeRound)
        if query.municipality is not None:
            statement = statement.where(IntakeRound.municipality == query.municipality)
        if query.status is not None:
            statement = statement.where(IntakeRound.status == query.status)
        rows = list(
            (
                await session.exec(
                    statement.order_by(
                        col(IntakeRound.entry_month).desc(),
                        col(IntakeRound.deadline),
                        col(IntakeRound.id),
                    )
                )
            ).all()
        )
    now = request.app[CLOCK]()
    page = rows[query.offset : query.offset + query.limit]
    items = [round_out(r, now, reveal=_reveal_seed(request, r, now)) for r in page]
    return json_model(RoundList(items=items, total=len(rows)))


@routes.add(
    "GET",
    ROUND,
    summary="Read an intake round (public)",
    tag="daycare-applications",
    responses={200: RoundOut},
)
async def get_round(request: web.Request) -> web.Response:
    """One round."""
    round_id = path_int(request, "id")
    async with request.app[SESSIONS]() as session:
        row = await _round(session, round_id)
    now = request.app[CLOCK]()
    return json_model(round_out(row, now, reveal=_reveal_seed(request, row, now)))


@routes.add(
    "PATCH",
    ROUND,
    summary="Change an intake round: name, deadline, opening, status, CSV columns (409 once "
    "confirmed)",
    tag="daycare-applications",
    body=RoundPatch,
    responses={200: RoundOut},
    auth="required",
)
async def patch_round(request: web.Request) -> web.Response:
    """Change a round that is not confirmed yet."""
    key = require_key(request)
    round_id = path_int(request, "id")
    data: RoundPatch = await read_json(request, RoundPatch)
    changes = data.model_dump(exclude_unset=True)
    async with transaction(request.app[SESSIONS]) as session:
        row = await session.get(IntakeRound, round_id, with_for_update=True)
        if row is None:
            raise ApiError(404, "not_found", f"no intake round {round_id}")
        _require_manage(key, row.municipality)
        if row.status == "confirmed":
            raise ApiError(409, "round_confirmed", f"round {round_id} is confirmed: it is final")
        now = request.app[CLOCK]()
        for name in ("name", "deadline", "status", "export_columns"):
            if changes.get(name, ...) is None:
                raise _invalid(f"body.{name}", "must not be null: leave it out to keep it")
        if "export_columns" in changes:
            _check_columns(changes["export_columns"], "body.export_columns")
        try:
            change_round(row, changes, now)
        except RoundError as exc:
            raise _round_invalid(exc) from None
        session.add(row)
        await session.flush()
        out = round_out(row, now, reveal=True)
    return json_model(out)


# ------------------------------------------------------------------ applications (app side)


@routes.add(
    "GET",
    "/api/v1/daycare/applications/prefill",
    summary="What the service already knows of an application's facts (app backends)",
    tag="daycare-applications",
    query=PrefillQuery,
    responses={200: PrefillOut},
    auth="required",
)
async def prefill_application(request: web.Request) -> web.Response:
    """Known facts from the household profile and the family's last application; ask the rest."""
    key = require_key(request)
    query: PrefillQuery = parse_query(request, PrefillQuery)
    async with request.app[SESSIONS]() as session:
        round_ = await _round_for_family(session, key, query.round_id, "query.round_id")
        family = await _subscriber_family(session, key, query.subscriber_id, "query.subscriber_id")
        assert family.id is not None and round_.id is not None
        child, children = await _child(session, family, query.child, "query.child")
        last = await apps.last_facts(session, family.id, municipality=round_.municipality)
        existing = await _application_of_child(session, round_.id, family.id, child, children)
    known = apps.prefill_facts(
        single_parent=family.single_parent,
        public_assistance=family.public_assistance,
        resident_tax_exempt=family.resident_tax_exempt,
        child_disability=child.disability,
        last=last,
    )
    return json_model(
        PrefillOut(
            round_id=query.round_id,
            subscriber_id=query.subscriber_id,
            child=ChildOut(
                index=query.child,
                birth_date=child.birth_date,
                class_age=entry_class(child.birth_date, round_.entry_month),
            ),
            known=known,
            ask=[name for name in ApplicationFacts.model_fields if name not in known],
            application_id=None if existing is None else existing.id,
        )
    )


@routes.add(
    "POST",
    "/api/v1/daycare/applications",
    summary="Submit a daycare application for a child of an app family (200 when it replaced "
    "the child's open application)",
    tag="daycare-applications",
    body=ApplicationIn,
    responses={201: ApplicationSubmitted, 200: ApplicationSubmitted},
    auth="required",
    errors=frozenset({400, 404, 409, 413, 422, 429}),
)
async def submit_application(request: web.Request) -> web.Response:
    """Submit once: a second submission for the child in the round replaces the first."""
    key = require_key(request)
    data: ApplicationIn = await read_json(request, ApplicationIn)
    now = request.app[CLOCK]()
    async with _write(request) as session:
        round_ = await _round_for_family(session, key, data.round_id, "body.round_id")
        family = await _subscriber_family(session, key, data.subscriber_id, "body.subscriber_id")
        assert family.id is not None and round_.id is not None
        child, children = await _child(session, family, data.child, "body.child")
        existing = await _application_of_child(session, round_.id, family.id, child, children)
        wishes = await _wish_pks(session, round_.municipality, data.wishes)
        last = await apps.last_facts(session, family.id, municipality=round_.municipality)
        try:
            row, created = await apps.submit(
                session,
                round_=round_,
                family_id=family.id,
                child_id=existing.child_id if existing is not None else child.id,
                birth_date=child.birth_date,
                wishes=wishes,
                facts=data.facts,
                now=now,
                channel="api",
                external_ref=data.external_ref,
                actor="family",
            )
        except ApplicationError as exc:
            raise _api_error(exc) from None
        if row.child_id != child.id:
            row.child_id = child.id
            session.add(row)
        await session.flush()
        out = await _out(session, row, round_, now)
    submitted = ApplicationSubmitted(
        **out.model_dump(),
        replaced=not created,
        changed=apps.facts_changes(last, data.facts),
    )
    return json_model(submitted, status=201 if created else 200)


@routes.add(
    "GET",
    "/api/v1/daycare/applications",
    summary="An app family's applications, newest first (app backends)",
    tag="daycare-applications",
    query=FamilyApplicationsQuery,
    responses={200: FamilyApplications},
    auth="required",
)
async def list_family_applications(request: web.Request) -> web.Response:
    """Every application of the subscriber's family, in every round, with its status."""
    key = require_key(request)
    query: FamilyApplicationsQuery = parse_query(request, FamilyApplicationsQuery)
    async with request.app[SESSIONS]() as session:
        family = await _subscriber_family(session, key, query.subscriber_id, "query.subscriber_id")
        assert family.id is not None
        rows = [
            r
            for r in await apps.applications_of_family(session, family.id)
            if can_manage(key, r.municipality)
        ]
        rounds = {r.round_id: await _round(session, r.round_id) for r in rows}
        facilities = await _facilities(session, (pk for r in rows for pk in r.wishes))
    now = request.app[CLOCK]()
    items = [
        _application_out(r, rounds[r.round_id], facilities, query.subscriber_id, now) for r in rows
    ]
    return json_model(FamilyApplications(items=items))


@routes.add(
    "GET",
    APPLICATION,
    summary="Read an application (the key of its municipality: the app backend or staff)",
    tag="daycare-applications",
    responses={200: ApplicationOut},
    auth="required",
)
async def get_application(request: web.Request) -> web.Response:
    """One application with its wishes, facts and the documents still needed."""
    key = require_key(request)
    application_id = path_int(request, "id")
    async with request.app[SESSIONS]() as session:
        row = await _application(session, key, application_id)
        out = await _out(session, row, await apps.round_of(session, row), request.app[CLOCK]())
    return json_model(out)


@routes.add(
    "PATCH",
    APPLICATION,
    summary="Change the wished facilities before the deadline (409 after it)",
    tag="daycare-applications",
    body=WishesIn,
    responses={200: ApplicationOut},
    auth="required",
)
async def change_application_wishes(request: web.Request) -> web.Response:
    """Replace the wished facilities (order counts)."""
    key = require_key(request)
    application_id = path_int(request, "id")
    data: WishesIn = await read_json(request, WishesIn)
    async with _write(request) as session:
        row = await _application(session, key, application_id)
        round_ = await apps.round_of(session, row)
        wishes = await _wish_pks(session, row.municipality, data.wishes)
        try:
            await apps.change_wishes(
                session,
                row,
                wishes,
                now=request.app[CLOCK](),
                actor=await _family_actor(session, key, row),
            )
        except ApplicationError as exc:
            raise _api_error(exc) from None
        await session.flush()
        out = await _out(session, row, round_, request.app[CLOCK]())
    return json_model(out)


@routes.add(
    "POST",
    APPLICATION + "/withdraw",
    summary="Withdraw an application (取下げ) before the deadline (409 after it)",
    tag="daycare-applications",
    responses={200: ApplicationOut},
    auth="required",
)
async def withdraw_application(request: web.Request) -> web.Response:
    """Withdraw; submitting again before the deadline brings it back."""
    key = require_key(request)
    application_id = path_int(request, "id")
    async with _write(request) as session:
        row = await _application(session, key, application_id)
        round_ = await apps.round_of(session, row)
        try:
            await apps.withdraw(
                session,
                row,
                now=request.app[CLOCK](),
                actor=await _family_actor(session, key, row),
            )
        except ApplicationError as exc:
            raise _api_error(exc) from None
        await session.flush()
        out = await _out(session, row, round_, request.app[CLOCK]())
    return json_model(out)


# ----------------------------------------------------------- applications (municipality side)


async def _managed_round(session: AsyncSession, request: web.Request) -> IntakeRound:
    key = require_key(request)
    row = await _round(session, path_int(request, "id"))
    _require_manage(key, row.municipality)
    return row


async def _filtered(
    session: AsyncSession, round_: IntakeRound, query: ApplicationQuery | ExportQuery
) -> tuple[list[Application], dict[int, Facility]]:
    """The round's applications matching the filters, in order of submission."""
    return await apps.filter_applications(
        session,
        round_,
        apps.ApplicationFilter(
            status=query.status,
            class_age=query.class_age,
            channel=query.channel,
            facility=query.facility,
            first_wish=query.first_wish,
            documents=query.documents,
        ),
    )


@routes.add(
    "GET",
    ROUND + "/applications",
    summary="A round's applications with filters (municipality key)",
    tag="daycare-applications",
    query=ApplicationQuery,
    responses={200: ApplicationList},
    auth="required",
)
async def list_applications(request: web.Request) -> web.Response:
    """A page of the round's applications, in order of submission, and their total."""
    query: ApplicationQuery = parse_query(request, ApplicationQuery)
    async with request.app[SESSIONS]() as session:
        round_ = await _managed_round(session, request)
        rows, facilities = await _filtered(session, round_, query)
        page = rows[query.offset : query.offset + query.limit]
        subscribers = await _subscriber_ids(session, (r.family_id for r in page))
    now = request.app[CLOCK]()
    items = [
        _application_out(r, round_, facilities, subscribers.get(r.family_id), now) for r in page
    ]
    return json_model(
        ApplicationList(items=items, total=len(rows), limit=query.limit, offset=query.offset)
    )


@routes.add(
    "GET",
    ROUND + "/applications.csv",
    summary="A round's applications as CSV, in the municipality's column order",
    tag="daycare-applications",
    query=ExportQuery,
    responses={200: None},
    content={"text/csv": {"schema": {"type": "string"}}},
    auth="required",
)
async def export_applications(request: web.Request) -> web.Response:
    """UTF-8 CSV with a BOM (for Excel); columns as the round says, or `?columns=`."""
    query: ExportQuery = parse_query(request, ExportQuery)
    async with request.app[SESSIONS]() as session:
        round_ = await _managed_round(session, request)
        if query.columns is not None:
            columns = [c.strip() for c in query.columns.split(",") if c.strip()]
            if not columns:
                raise _invalid("query.columns", "name at least one column")
            _check_columns(columns, "query.columns")
        else:
            columns = list(round_.export_columns or CSV_COLUMNS)
        rows, facilities = await _filtered(session, round_, query)
    return web.Response(
        text=render_csv(rows, facilities, columns, query.headers == "ja"),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="applications-round-{round_.id}.csv"'
        },
    )


@routes.add(
    "POST",
    APPLICATION + "/documents/{key:" + DOCUMENT_KEY + "}",
    summary="Mark a document of an application checked, or not (municipality key)",
    tag="daycare-applications",
    body=DocumentIn,
    responses={200: ApplicationOut},
    auth="required",
)
async def check_application_document(request: web.Request) -> web.Response:
    """The first checked document puts a received application under review."""
    key = require_key(request)
    application_id = path_int(request, "id")
    data: DocumentIn = await read_json(request, DocumentIn)
    async with _write(request) as session:
        row = await _application(session, key, application_id)
        try:
            await apps.check_document(
                session,
                row,
                request.match_info["key"],
                checked=data.checked,
                actor=f"staff:{key.prefix}",
                now=request.app[CLOCK](),
            )
        except ApplicationError as exc:
            raise _api_error(exc) from None
        await session.flush()
        out = await _out(session, row, await apps.round_of(session, row), request.app[CLOCK]())
    return json_model(out)


@routes.add(
    "POST",
    APPLICATION + "/corrections",
    summary="Correct facts of an application, with the reason (audited; municipality key)",
    tag="daycare-applications",
    body=CorrectionIn,
    responses={200: ApplicationOut},
    auth="required",
)
async def correct_application(request: web.Request) -> web.Response:
    """Staff corrections: each changed fact is audited with who, when, old, new and why."""
    key = require_key(request)
    application_id = path_int(request, "id")
    data: CorrectionIn = await read_json(request, CorrectionIn)
    async with _write(request) as session:
        row = await _application(session, key, application_id)
        try:
            await apps.correct_facts(
                session,
                row,
                data.changes,
                reason=data.reason,
                actor=f"staff:{key.prefix}",
                now=request.app[CLOCK](),
            )
        except ApplicationError as exc:
            raise _api_error(exc, corrections=True) from None
        await session.flush()
        out = await _out(session, row, await apps.round_of(session, row), request.app[CLOCK]())
    return json_model(out)


@routes.add(
    "GET",
    APPLICATION + "/audit",
    summary="An application's audit trail: who changed what, when and why",
    tag="daycare-applications",
    responses={200: AuditList},
    auth="required",
)
async def application_audit(request: web.Request) -> web.Response:
    """Every change, oldest first."""
    key = require_key(request)
    application_id = path_int(request, "id")
    async with request.app[SESSIONS]() as session:
        await _application(session, key, application_id)
        trail = await apps.audit_trail(session, application_id)
    items = [
        AuditOut(
            at=_tokyo(a.at),
            actor=a.actor,
            action=a.action,
            field=a.field,
            old=a.old,
            new=a.new,
            reason=a.reason,
        )
        for a in trail
    ]
    return json_model(AuditList(items=items))
