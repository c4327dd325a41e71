"""The program registry's `/api/v1` routes: municipalities, programs, eligibility."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from registry import programs as repo
from registry.auth import can_manage
from registry.db import transaction
from registry.eligibility import (
    EligibilityRequest,
    EligibilityResponse,
    evaluate,
)
from registry.events import ProgramChanged
from registry.http import (
    API_KEY,
    CATALOG,
    EVENTS,
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
from registry.models import ApiKey, Municipality, Program
from registry.rule_checks import RuleChecker, RuleChecksBusy
from registry.schemas import (
    ProgramFields,
    ProgramIn,
    ProgramList,
    ProgramOut,
    ProgramVersionList,
    ProgramVersionOut,
    ValidationReport,
)
from rules.cost import MAX_EXAMPLES
from rules.language import RuleTooCostly

RULE_CHECKER: web.AppKey[RuleChecker] = web.AppKey("rule_checker", RuleChecker)


def program_changed(request: web.Request, program_id: int) -> None:
    """Announce (after commit) that a program was published or its published version changed."""
    request.app[EVENTS].publish(ProgramChanged(program_id))


routes = RouteTable()


def request_key(request: web.Request) -> ApiKey | None:
    """The API key the auth middleware found (None for anonymous requests)."""
    return request.get(API_KEY)


def require_key(request: web.Request) -> ApiKey:
    """The API key, or 401."""
    key = request_key(request)
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            "an API key is required: send `Authorization: Bearer KEY`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key


def require_scope(key: ApiKey, issuer: str) -> None:
    """403 unless the key may manage programs of `issuer`."""
    if not can_manage(key, issuer):
        raise ApiError(
            403,
            "forbidden",
            f"this {key.role} key (issuer {key.issuer}) may not manage programs of {issuer}",
        )


class MunicipalityOut(BaseModel):
    """A local government."""

    code: str
    name_ja: str
    name_en: str
    kind: str
    prefecture: str | None


class MunicipalityList(BaseModel):
    """Every local government the service knows."""

    items: list[MunicipalityOut]
    total: int


class ProgramQuery(BaseModel):
    """Filters and paging of the program list."""

    model_config = ConfigDict(extra="forbid")

    issuer: str | None = Field(default=None, pattern=r"^\d{6}$")
    category: str | None = Field(default=None, max_length=64)
    status: Literal["draft", "published", "archived", "all"] = "published"
    source: Literal["api", "registry-import", "demo"] | None = None
    q: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=10_000_000)


@routes.add(
    "GET",
    "/api/v1/municipalities",
    summary="List the local governments (Tokyo's 62, Tokyo, the nation)",
    tag="municipalities",
    responses={200: MunicipalityList},
)
async def list_municipalities(request: web.Request) -> web.Response:
    """Every known local government."""
    async with request.app[SESSIONS]() as session:
        rows = (await session.exec(select(Municipality).order_by(col(Municipality.code)))).all()
    items = [MunicipalityOut.model_validate(r, from_attributes=True) for r in rows]
    return json_model(MunicipalityList(items=items, total=len(items)))


async def require_known_municipality(session: AsyncSession, code: str, *, location: str) -> None:
    """422 unless `code` is one of the local governments this service serves."""
    if await session.get(Municipality, code) is None:
        raise ApiError(
            422,
            "unknown_municipality",
            f"unknown local government {code}: not one this service serves",
            [{"location": location, "reason": "unknown local government code"}],
        )


async def check_program(request: web.Request, data: ProgramIn) -> ValidationReport:
    """Compile the rule and run the examples in a rule worker, with its time limit.

    422 `rule_too_costly` naming the clause when the rule could hold the server; 503 when every
    worker is busy.
    """
    if len(data.examples) > MAX_EXAMPLES:
        raise ApiError(
            422,
            "too_many_examples",
            f"a program is checked with at most {MAX_EXAMPLES} examples; "
            f"this one has {len(data.examples)}",
            [{"location": "body.examples", "reason": f"at most {MAX_EXAMPLES} examples"}],
        )
    try:
        return await request.app[RULE_CHECKER].check(data)
    except RuleTooCostly as exc:
        detail = {
            "location": "eligibility",
            "clause": exc.clause,
            "reason": exc.reason,
            "suggestion": exc.suggestion,
        }
        raise ApiError(422, "rule_too_costly", exc.message, [detail]) from None
    except RuleChecksBusy:
        raise ApiError(
            503,
            "busy",
            "every rule checker is busy: retry in a few seconds",
            headers={"Retry-After": "2"},
        ) from None


@contextmanager
def refusals() -> Iterator[None]:
    """A program change the domain refuses (`registry.programs.ProgramRefused`) as an API error."""
    try:
        yield
    except repo.ProgramRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.details) from None


@routes.add(
    "POST",
    "/api/v1/programs",
    summary="Register a program (stored as a draft)",
    tag="programs",
    body=ProgramIn,
    responses={201: ProgramOut},
    auth="required",
)
async def create_program(request: web.Request) -> web.Response:
    """Register a new draft program after checking its rule."""
    key = require_key(request)
    data: ProgramIn = await read_json(request, ProgramIn)
    require_scope(key, data.issuer)
    report = await check_program(request, data)
    with refusals():
        repo.require_rule(report)  # before the issuer is looked up, as ever
    async with transaction(request.app[SESSIONS]) as session:
        await require_known_municipality(session, data.issuer, location="body.issuer")
        with refusals():
            # A push policy written in the request is the issuer's own choice.
            row = await repo.create_checked(
                session, data, report, push_explicit="push" in data.model_fields_set
            )
        out = repo.to_out(row)
    return json_model(out, status=201)


@routes.add(
    "GET",
    "/api/v1/programs",
    summary="List programs (published without a key; drafts and archived with one)",
    tag="programs",
    query=ProgramQuery,
    responses={200: ProgramList},
    auth="optional",
)
async def list_programs(request: web.Request) -> web.Response:
    """A filtered page of programs."""
    query: ProgramQuery = parse_query(request, ProgramQuery)
    key = request_key(request)
    async with request.app[SESSIONS]() as session:
        visible = await _visible_issuers(session, key)
        rows, total = await repo.list_programs(
            session,
            visible_issuers=visible,
            issuer=query.issuer,
            category=query.category,
            status=query.status,
            source=query.source,
            q=query.q,
            limit=query.limit,
            offset=query.offset,
        )
    return json_model(ProgramList(items=[repo.to_out(r) for r in rows], total=total))


async def _visible_issuers(session: AsyncSession, key: ApiKey | None) -> list[str] | None:
    if key is None:
        return []
    if key.role == "operator":
        return None
    codes = (await session.exec(select(Municipality.code))).all()
    return [code for code in codes if can_manage(key, code)]


@routes.add(
    "POST",
    "/api/v1/programs/validate",
    summary="Check a program (rule and examples) without saving it",
    tag="programs",
    body=ProgramIn,
    responses={200: ValidationReport},
    auth="required",
)
async def validate(request: web.Request) -> web.Response:
    """Compile the rule and run the examples, saving nothing."""
    require_key(request)
    data: ProgramIn = await read_json(request, ProgramIn)
    report = await check_program(request, data)
    async with request.app[SESSIONS]() as session:
        if await session.get(Municipality, data.issuer) is None:
            report.valid = False
            report.errors.append(
                {"location": "body.issuer", "reason": f"unknown local government {data.issuer}"}
            )
    return json_model(report)


async def _load_managed(session: AsyncSession, request: web.Request) -> Program:
    """The program of the path, locked, if the request's key may manage it (else 401/403/404)."""
    key = require_key(request)
    row = await _load_visible(session, request, lock=True)
    require_scope(key, row.issuer)
    return row


async def _load_visible(
    session: AsyncSession, request: web.Request, *, lock: bool = False
) -> Program:
    program_id = path_int(request, "id")
    row = await repo.get_program(session, program_id, lock=lock)
    key = request_key(request)
    if row is None or (
        row.status != "published" and (key is None or not can_manage(key, row.issuer))
    ):
        raise ApiError(404, "not_found", f"no program {program_id}")
    return row


@routes.add(
    "GET",
    "/api/v1/programs/{id}",
    summary="Read a program",
    tag="programs",
    responses={200: ProgramOut},
    auth="optional",
)
async def get_program(request: web.Request) -> web.Response:
    """One program (drafts and archived ones need a key that may manage them)."""
    async with request.app[SESSIONS]() as session:
        row = await _load_visible(session, request)
        return json_model(repo.to_out(row))


@routes.add(
    "PATCH",
    "/api/v1/programs/{id}",
    summary="Change a program (a published one gets a new version)",
    tag="programs",
    body=ProgramFields,
    responses={200: ProgramOut},
    auth="required",
)
async def patch_program(request: web.Request) -> web.Response:
    """Apply a partial change; a published program must still pass its examples."""
    require_key(request)
    patch: ProgramFields = await read_json(request, ProgramFields)
    async with transaction(request.app[SESSIONS]) as session:
        row = await _load_managed(session, request)
        with refusals():
            repo.require_changeable(row)
        merged = {**row.body, **patch.model_dump(mode="json", exclude_unset=True)}
        try:
            data = ProgramIn.model_validate(merged)
        except ValidationError as exc:
            raise ApiError(
                422, "invalid_request", "the changed program is not valid", validation_details(exc)
            ) from exc
        report = await check_program(request, data)
        with refusals():
            row = await repo.change_checked(
                session, row, data, report, push_explicit=patch.push is not None
            )
        out = repo.to_out(row)
    if out.status == "published":
        program_changed(request, out.id)
    return json_model(out)


@routes.add(
    "DELETE",
    "/api/v1/programs/{id}",
    summary="Delete a draft or archived program (archive a published one first)",
    tag="programs",
    responses={204: None},
    auth="required",
)
async def delete_program(request: web.Request) -> web.Response:
    """Delete a program that is not published."""
    async with transaction(request.app[SESSIONS]) as session:
        row = await _load_managed(session, request)
        with refusals():
            await repo.delete_checked(session, row)
    return web.Response(status=204)


@routes.add(
    "POST",
    "/api/v1/programs/{id}/publish",
    summary="Publish a program after running its examples",
    tag="programs",
    responses={200: ProgramOut},
    auth="required",
)
async def publish_program(request: web.Request) -> web.Response:
    """Publish: refused with 422 naming the failing example when one does not hold."""
    async with transaction(request.app[SESSIONS]) as session:
        row = await _load_managed(session, request)
        data = repo.program_in(row)
        report = await check_program(request, data)
        with refusals():
            row, newly = await repo.publish_checked(session, row, report)
        out = repo.to_out(row)
    if newly:
        program_changed(request, out.id)
    return json_model(out)


@routes.add(
    "POST",
    "/api/v1/programs/{id}/archive",
    summary="Archive a program (no longer offered)",
    tag="programs",
    responses={200: ProgramOut},
    auth="required",
)
async def archive_program(request: web.Request) -> web.Response:
    """Archive a program."""
    async with transaction(request.app[SESSIONS]) as session:
        row = await _load_managed(session, request)
        row = await repo.archive(session, row)
        out = repo.to_out(row)
    return json_model(out)


@routes.add(
    "GET",
    "/api/v1/programs/{id}/versions",
    summary="Every version of a program",
    tag="programs",
    responses={200: ProgramVersionList},
    auth="optional",
)
async def list_versions(request: web.Request) -> web.Response:
    """Every version, oldest first."""
    async with request.app[SESSIONS]() as session:
        row = await _load_visible(session, request)
        assert row.id is not None
        versions = await repo.list_versions(session, row.id)
    return json_model(ProgramVersionList(items=[_version_out(v) for v in versions]))


def _version_out(version: Any) -> ProgramVersionOut:
    return ProgramVersionOut(
        program_id=version.program_id,
        version=version.version,
        status=version.status,
        created_at=version.created_at,
        program=ProgramIn.model_validate(version.body),
    )


@routes.add(
    "GET",
    "/api/v1/programs/{id}/versions/{version}",
    summary="One version of a program",
    tag="programs",
    responses={200: ProgramVersionOut},
    auth="optional",
)
async def get_version(request: web.Request) -> web.Response:
    """One frozen version."""
    number = path_int(request, "version")
    async with request.app[SESSIONS]() as session:
        row = await _load_visible(session, request)
        assert row.id is not None
        for version in await repo.list_versions(session, row.id):
            if version.version == number:
                return json_model(_version_out(version))
    raise ApiError(404, "not_found", f"program {row.id} has no version {number}")


@routes.add(
    "POST",
    "/api/v1/eligibility",
    summary="The published programs a family can get on a date, and why (nothing is stored)",
    tag="eligibility",
    body=EligibilityRequest,
    responses={200: EligibilityResponse},
)
async def eligibility(request: web.Request) -> web.Response:
    """Evaluate a family profile against every program that applies to it."""
    payload: EligibilityRequest = await read_json(request, EligibilityRequest)
    on = payload.date or request.app[TODAY]()
    async with request.app[SESSIONS]() as session:
        await require_known_municipality(
            session, payload.family.municipality, location="body.family.municipality"
        )
        entries = await request.app[CATALOG].entries(session)
    try:
        answer = evaluate(entries, payload.family, on)
    except ValueError as exc:
        raise ApiError(
            422, "invalid_family", str(exc), [{"location": "body.family", "reason": str(exc)}]
        ) from exc
    return json_model(answer)


def now_utc() -> datetime:
    """Now, for handlers."""
    from registry.models import utcnow

    return utcnow()
