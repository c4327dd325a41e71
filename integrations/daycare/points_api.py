"""The daycare points `/api/v1` routes: points rules documents and a family's estimated points.

Uploading a municipality's rules needs an API key that may manage that municipality (as for
facilities). Reading the rules and estimating points are public: families' apps call them
without a key, and nothing a family sends is stored.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

import yaml
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from integrations.daycare import points as repo
from integrations.daycare.api import require_manage
from integrations.daycare.classes import entry_class_age
from integrations.daycare.models import Facility, PointsRules
from registry.api import require_key, require_known_municipality
from registry.db import transaction
from registry.http import (
    MAX_BODY,
    MAX_ID,
    SESSIONS,
    TODAY,
    ApiError,
    RouteTable,
    json_model,
    parse_query,
    read_json,
)
from rules.points import (
    ApplicationFacts,
    PointsDocument,
    PointsRuleError,
    Score,
    run_examples,
    score,
)

routes = RouteTable()
RULES = "/api/v1/daycare/points-rules"
MUNICIPALITY = r"{municipality:\d+}"
YAML_TYPES = {"application/yaml", "text/yaml", "application/x-yaml"}
MAX_WISHES = 30


class ExampleOut(BaseModel):
    """An example household of the document, scored."""

    index: int
    name: str
    expected_points: float
    actual_points: float | None
    passed: bool


class PointsRulesSaved(BaseModel):
    """An uploaded document: its version (new, or the latest when nothing changed)."""

    municipality: str
    version: int
    digest: str
    created: bool = Field(description="false: same digest as the latest version, nothing saved")
    valid_from: date
    valid_to: date | None
    examples: list[ExampleOut]


class PointsRulesMeta(BaseModel):
    """A stored version of a municipality's points rules."""

    municipality: str
    version: int
    title: str
    source_url: str
    valid_from: date
    valid_to: date | None
    digest: str
    created_by: str


class PointsRulesList(BaseModel):
    """Every version, newest first."""

    items: list[PointsRulesMeta]


class PointsRulesOut(PointsRulesMeta):
    """A version with its document."""

    document: PointsDocument


class RulesQuery(BaseModel):
    """Whose rules to list."""

    model_config = ConfigDict(extra="forbid")

    municipality: str = Field(pattern=r"^\d{6}$")


class CurrentQuery(BaseModel):
    """The day the rules must be valid on (default: today)."""

    model_config = ConfigDict(extra="forbid")

    on: date | None = None


class PointsRequest(BaseModel):
    """A family's application facts and wished facilities, to estimate their points."""

    model_config = ConfigDict(extra="forbid")

    municipality: str = Field(pattern=r"^\d{6}$")
    facts: ApplicationFacts
    wishes: list[Annotated[int, Field(ge=1, le=MAX_ID)] | Annotated[str, Field(max_length=64)]] = (
        Field(
            default_factory=list,
            max_length=MAX_WISHES,
            description="Wished facilities: the search's `id` (a number) or the municipality's "
            "`facility_id` (a string, as applications take them).",
        )
    )
    class_age: int | None = Field(default=None, ge=0, le=5, description="Class of entry.")
    birth_date: date | None = Field(default=None, description="With entry_month: gives the class.")
    entry_month: date | None = Field(
        default=None,
        description="The month of entry, YYYY-MM (as elsewhere) or a day of it (YYYY-MM-DD).",
        json_schema_extra={"type": "string", "examples": ["2027-04"]},
    )
    on: date | None = Field(
        default=None,
        description="Rules valid on this day (default: the first day of entry_month when given, "
        "else today).",
    )

    @field_validator("entry_month", mode="before")
    @classmethod
    def _month(cls, value: Any) -> Any:
        # Parsed here into a date: after a "before" validator, strict validation takes date
        # objects only (a string would be refused even when well formed).
        if not isinstance(value, str):
            return value
        try:
            if re.fullmatch(r"\d{4}-\d{2}", value):
                return date(int(value[:4]), int(value[5:]), 1)
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                return date.fromisoformat(value)
        except ValueError:
            pass
        raise ValueError(
            f"entry_month {value[:20]!r} is not a month: write YYYY-MM (e.g. 2027-04)"
        )


class BaseLineOut(BaseModel):
    """A guardian's base points."""

    relation: str
    reason: str
    points: float
    label_ja: str
    label_en: str


class AdjustmentOut(BaseModel):
    """An adjustment that applied."""

    id: str
    label_ja: str
    label_en: str
    points: float


class WishOut(BaseModel):
    """A wished facility beside its latest published minimum points for the class."""

    facility: int | str = Field(description="The wish as given (an id or a facility_id).")
    name: str
    year: int | None = Field(description="Fiscal year of entry of the published result.")
    outcome: Literal[
        "points", "at_most", "withheld", "vacant", "no_class", "none", "unknown", "not_found"
    ]
    min_points: float | None
    comparison_ja: str
    comparison_en: str


class PointsOut(BaseModel):
    """The estimated points, each line explained, and the wished facilities' last minimums."""

    municipality: str
    rules_version: int
    rules_digest: str
    rules_title: str
    source_url: str
    total: float
    combined_base: float
    base: list[BaseLineOut]
    adjustments: list[AdjustmentOut]
    lines_ja: list[str]
    lines_en: list[str]
    priority: list[float]
    priority_labels: list[list[str]]
    class_age: int | None
    wishes: list[WishOut]
    note: str = Field(
        description="An estimate from the published table; the municipality decides."
    )


def _meta(row: PointsRules) -> dict[str, Any]:
    return {
        "municipality": row.municipality,
        "version": row.version,
        "title": row.title,
        "source_url": row.source_url,
        "valid_from": row.valid_from,
        "valid_to": row.valid_to,
        "digest": row.digest,
        "created_by": row.created_by,
    }


def _no_alias_loader() -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            # Aliases can expand a small body into gigabytes ("billion laughs"): refuse them.
            if self.check_event(yaml.AliasEvent):
                raise yaml.YAMLError("YAML aliases (*name) are not accepted")
            return super().compose_node(parent, index)

    return Loader


async def _read_document(request: web.Request) -> Any:
    """The uploaded body as data, parsed as YAML or JSON by its Content-Type."""
    if request.content_type not in YAML_TYPES:
        try:
            return (await read_json(request, PointsDocument)).model_dump(mode="json")
        except ApiError as exc:
            if exc.code == "malformed_json":
                # Most often a YAML file sent without its Content-Type.
                exc.message += " (send YAML with Content-Type: application/yaml)"
            raise
    limit = request.app.get(MAX_BODY, 1_000_000)
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", "request body too large")
    raw = await request.read()
    if len(raw) > limit:
        raise ApiError(413, "body_too_large", "request body too large")
    try:
        return yaml.load(raw.decode("utf-8"), Loader=_no_alias_loader())  # noqa: S506
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ApiError(400, "malformed_yaml", f"the body is not valid YAML: {exc}") from exc
    except RecursionError:
        # PyYAML composes nested collections recursively: "[[[[…" is refused, not a crash.
        raise ApiError(400, "malformed_yaml", "the body is nested too deeply") from None


def _examples(document: PointsDocument) -> list[ExampleOut]:
    return [
        ExampleOut(
            index=o.index,
            name=o.name,
            expected_points=o.expected_points,
            actual_points=o.actual_points,
            passed=o.passed,
        )
        for o in run_examples(document)
    ]


@routes.add(
    "POST",
    RULES,
    summary="Upload a municipality's points rules (JSON or YAML); a new version if changed",
    tag="daycare points",
    body=PointsDocument,
    responses={200: PointsRulesSaved, 201: PointsRulesSaved},
    auth="required",
    errors=frozenset({400, 409, 413, 422, 429}),
)
async def upload_points_rules(request: web.Request) -> web.Response:
    """Validate (schema, expressions, examples) and store; nothing is saved when invalid."""
    key = require_key(request)
    data = await _read_document(request)
    municipality = data.get("municipality") if isinstance(data, dict) else None
    if isinstance(municipality, str):
        # The scope first: another municipality's key learns nothing about the document.
        require_manage(key, municipality)
    try:
        document = repo.parse_document(data)
    except repo.InvalidDocument as exc:
        raise ApiError(422, "invalid_document", exc.message, exc.details) from None
    require_manage(key, document.municipality)
    try:
        async with transaction(request.app[SESSIONS]) as session:
            await require_known_municipality(
                session, document.municipality, location="body.municipality"
            )
            saved = await repo.save_rules(session, document, created_by=key.prefix)
            out = PointsRulesSaved(
                municipality=saved.row.municipality,
                version=saved.row.version,
                digest=saved.row.digest,
                created=saved.created,
                valid_from=saved.row.valid_from,
                valid_to=saved.row.valid_to,
                examples=_examples(document),
            )
    except IntegrityError as exc:
        # Two uploads at once took the same next version number: the later one retries.
        raise ApiError(
            409, "conflict", "another upload of these rules was stored at the same time: retry"
        ) from exc
    return json_model(out, status=201 if saved.created else 200)


@routes.add(
    "GET",
    RULES,
    summary="List the versions of a municipality's points rules, newest first",
    tag="daycare points",
    query=RulesQuery,
    responses={200: PointsRulesList},
)
async def list_points_rules(request: web.Request) -> web.Response:
    """Every version's dates, title, source and digest."""
    query: RulesQuery = parse_query(request, RulesQuery)
    async with request.app[SESSIONS]() as session:
        rows = await repo.list_rules(session, query.municipality)
    return json_model(PointsRulesList(items=[PointsRulesMeta(**_meta(r)) for r in rows]))


def _code(request: web.Request) -> str:
    code = request.match_info["municipality"]
    if len(code) != 6:
        raise ApiError(404, "not_found", f"no points rules for {code}: codes have six digits")
    return code


def _rules_out(row: PointsRules) -> PointsRulesOut:
    return PointsRulesOut(**_meta(row), document=PointsDocument.model_validate(row.body))


@routes.add(
    "GET",
    f"{RULES}/{MUNICIPALITY}/current",
    summary="The points rules valid on a day (`on`, default today)",
    tag="daycare points",
    query=CurrentQuery,
    responses={200: PointsRulesOut},
)
async def current_points_rules(request: web.Request) -> web.Response:
    """The newest version whose dates contain the day."""
    code = _code(request)
    query: CurrentQuery = parse_query(request, CurrentQuery)
    on = query.on or request.app[TODAY]()
    async with request.app[SESSIONS]() as session:
        found = await repo.rules_for(session, code, on)
    if found is None:
        raise ApiError(404, "not_found", f"{code} has no points rules valid on {on}")
    return json_model(_rules_out(found[0]))


@routes.add(
    "GET",
    RULES + "/" + MUNICIPALITY + r"/{version:\d+}",
    summary="One version of a municipality's points rules, with its document",
    tag="daycare points",
    responses={200: PointsRulesOut},
)
async def get_points_rules(request: web.Request) -> web.Response:
    """The stored document of that version."""
    code = _code(request)
    version = int(request.match_info["version"])
    async with request.app[SESSIONS]() as session:
        row = await repo.get_rules(session, code, version) if version < 2**31 else None
    if row is None:
        raise ApiError(404, "not_found", f"{code} has no points rules version {version}")
    return json_model(_rules_out(row))


def _class_age(data: PointsRequest) -> int | None:
    if data.class_age is not None:
        return data.class_age
    if data.birth_date is not None and data.entry_month is not None:
        if data.birth_date > data.entry_month:
            return 0  # born after the month of entry: the 0-year class of that year
        return min(entry_class_age(data.birth_date, data.entry_month), 5)
    return None


def _comparison(
    outcome: str, minimum: float | None, year: int | None, total: float
) -> tuple[str, str]:
    you = _num(total)
    if outcome in ("points", "at_most") and minimum is not None:
        # "22以下" (at_most): the lowest admitted had 22 points or fewer.
        low = _num(minimum) + ("以下" if outcome == "at_most" else "")
        low_en = ("at most " if outcome == "at_most" else "") + _num(minimum)
        verdict_ja = "届いています" if total >= minimum else "届いていません"
        verdict_en = "at or above it" if total >= minimum else "below it"
        return (
            f"{year}年度の最低指数 {low}、あなた {you}（{verdict_ja}）",
            f"Lowest admitted in FY{year}: {low_en}, you: {you} ({verdict_en})",
        )
    words = {
        "withheld": ("非公開", "withheld"),
        "vacant": ("空きあり（全員入所）", "places were left"),
        "no_class": ("そのクラスなし", "no such class"),
        "none": ("入所者なし", "nobody admitted"),
        "unknown": ("過去の結果なし", "no published result"),
        "not_found": ("この自治体の施設ではありません", "not a facility of this municipality"),
    }
    ja, en = words.get(outcome, ("", ""))
    when_ja = f"{year}年度: " if year else ""
    when_en = f"FY{year}: " if year else ""
    return f"{when_ja}{ja}（あなた {you}）", f"{when_en}{en} (you: {you})"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _points_out(
    row: PointsRules, result: Score, class_age: int | None, wishes: list[WishOut]
) -> PointsOut:
    return PointsOut(
        municipality=row.municipality,
        rules_version=row.version,
        rules_digest=row.digest,
        rules_title=row.title,
        source_url=row.source_url,
        total=result.total,
        combined_base=result.combined_base,
        base=[
            BaseLineOut(
                relation=b.relation,
                reason=b.reason,
                points=b.points,
                label_ja=b.label_ja,
                label_en=b.label_en,
            )
            for b in result.base
        ],
        adjustments=[
            AdjustmentOut(id=a.id, label_ja=a.label_ja, label_en=a.label_en, points=a.points)
            for a in result.adjustments
        ],
        lines_ja=result.lines("ja"),
        lines_en=result.lines("en"),
        priority=list(result.priority),
        priority_labels=[list(pair) for pair in result.priority_labels],
        class_age=class_age,
        wishes=wishes,
        note="An estimate from the published table; the municipality's decision may differ.",
    )


@routes.add(
    "POST",
    "/api/v1/daycare/points",
    summary="Estimate a family's points, line by line, beside last year's minimum points",
    tag="daycare points",
    body=PointsRequest,
    responses={200: PointsOut},
)
async def estimate_points(request: web.Request) -> web.Response:
    """Public: the facts are scored and answered, never stored."""
    data: PointsRequest = await read_json(request, PointsRequest)
    # The rules of the month of entry decide an application, not today's.
    on = data.on or (data.entry_month.replace(day=1) if data.entry_month else request.app[TODAY]())
    class_age = _class_age(data)
    async with request.app[SESSIONS]() as session:
        found = await repo.rules_for(session, data.municipality, on)
        if found is None:
            raise ApiError(
                404,
                "no_points_rules",
                f"{data.municipality} has no points rules valid on {on}: the municipality has "
                "not uploaded its 利用調整基準",
            )
        row, document = found
        try:
            result = score(document, data.facts)
        except PointsRuleError as exc:
            raise ApiError(
                422, "cannot_score", f"these facts cannot be scored: {exc.reason}"
            ) from None
        named = [w for w in data.wishes if isinstance(w, str)]
        by_key = {
            f.facility_id: f.id
            for f in (
                await session.exec(
                    select(Facility).where(
                        Facility.municipality == data.municipality,
                        col(Facility.facility_id).in_(named),
                    )
                )
            ).all()
        }
        pks = [w if isinstance(w, int) else (by_key.get(w) or 0) for w in data.wishes]
        minimums = await repo.last_minimums(session, data.municipality, pks, class_age)
    wishes = []
    for pk, minimum in zip(data.wishes, minimums, strict=True):
        outcome = minimum.outcome if minimum is not None else "not_found"
        points = minimum.points if minimum is not None else None
        year = minimum.year if minimum is not None else None
        ja, en = _comparison(outcome, points, year, result.total)
        wishes.append(
            WishOut(
                facility=pk,
                name=minimum.name if minimum is not None else "",
                year=year,
                outcome=outcome,  # type: ignore[arg-type]
                min_points=points,
                comparison_ja=ja,
                comparison_en=en,
            )
        )
    return json_model(_points_out(row, result, class_age, wishes))
