"""Staff routes of `/api/v1`: broadcasts to a segment of families, and delivery statistics."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier import broadcasts, stats
from registry.api import now_utc, require_key, require_scope
from registry.auth import can_manage
from registry.db import transaction
from registry.http import SESSIONS, TODAY, ApiError, RouteTable, json_model, parse_query, read_json
from registry.models import Municipality
from rules.language import RuleError, compile_rule
from rules.lgcode import NATION, is_prefecture_code, is_valid_lgcode

routes = RouteTable()

MAX_TEXT = 1000
MAX_TITLE = 200
MAX_AHEAD = timedelta(days=90)
PAST_TOLERANCE = timedelta(minutes=5)
STATS_DAYS = 30
MAX_STATS_DAYS = 366
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _has_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class BroadcastText(BaseModel):
    """A text for parents in Japanese (required) and English (optional)."""

    model_config = ConfigDict(extra="forbid")

    ja: str = Field(min_length=1, max_length=MAX_TEXT)
    en: str | None = Field(default=None, max_length=MAX_TEXT)

    _nul = field_validator("ja", "en")(classmethod(lambda cls, v: _no_nul(v)))
    _blank = field_validator("ja")(classmethod(lambda cls, v: _has_text(v)))


class BroadcastTitle(BroadcastText):
    """A short title in Japanese (required) and English (optional)."""

    ja: str = Field(min_length=1, max_length=MAX_TITLE)
    en: str | None = Field(default=None, max_length=MAX_TITLE)


class BroadcastIn(BaseModel):
    """A message to the families of one municipality that match a segment."""

    model_config = ConfigDict(extra="forbid")

    issuer: str | None = Field(
        default=None,
        pattern=r"^\d{6}$",
        description="The municipality sending it; defaults to a municipality key's own.",
    )
    message: BroadcastText = Field(description=f"The text, at most {MAX_TEXT} characters each.")
    title: BroadcastTitle | None = None
    segment: str = Field(
        default="true",
        min_length=1,
        max_length=4000,
        description="Rule over household fields choosing the families (default: all).",
    )
    send_at: AwareDatetime | None = Field(
        default=None, description="When to send (ISO 8601 with offset); default now, ≤ 90 days."
    )
    dry_run: bool = Field(default=False, description="Only count the recipients; store nothing.")

    _nul = field_validator("segment")(classmethod(lambda cls, v: _no_nul(v)))


class BroadcastOut(BaseModel):
    """A stored broadcast, or the count of a dry run (id null)."""

    id: int | None
    issuer: str
    recipients: int = Field(description="Families that match the segment.")
    send_at: datetime
    status: Literal["scheduled", "dry_run"]
    dry_run: bool


class StatsQuery(BaseModel):
    """The days to count (Asia/Tokyo dates, inclusive; default the last 30 days)."""

    model_config = ConfigDict(extra="forbid")

    since: date | None = Field(default=None, ge=EARLIEST, le=LATEST)
    until: date | None = Field(default=None, ge=EARLIEST, le=LATEST)


class DeliveryStat(BaseModel):
    """Notices created on one day about one subject, by channel and status."""

    day: date
    subject: str = Field(description="program:<id> or broadcast:<id>.")
    channel: str
    status: str
    count: int


class DeliveryStats(BaseModel):
    """Delivery counts (no personal data)."""

    items: list[DeliveryStat]
    total: int


def _issuer_of(data: BroadcastIn, role: str, own: str) -> str:
    if data.issuer is not None:
        return data.issuer
    if role == "municipality":
        return own
    raise ApiError(
        422,
        "invalid_request",
        f"{'an' if role[0] in 'aeiou' else 'a'} {role} key must name the municipality it acts"
        " for (body.issuer)",
        [{"location": "body.issuer", "reason": "required for prefecture and operator keys"}],
    )


async def _municipality(session: AsyncSession, issuer: str) -> None:
    if (
        not is_valid_lgcode(issuer)
        or issuer == NATION
        or is_prefecture_code(issuer)
        or await session.get(Municipality, issuer) is None
    ):
        raise ApiError(
            422,
            "unknown_municipality",
            f"{issuer} is not a municipality this service serves",
            [{"location": "body.issuer", "reason": "not a served municipality code"}],
        )


def _send_at(value: datetime | None, now: datetime) -> datetime:
    if value is None:
        return now
    if value > now + MAX_AHEAD:
        raise ApiError(
            422,
            "invalid_request",
            "send_at is more than 90 days ahead",
            [{"location": "body.send_at", "reason": "at most 90 days ahead"}],
        )
    if value < now - PAST_TOLERANCE:
        raise ApiError(
            422,
            "invalid_request",
            "send_at is in the past",
            [{"location": "body.send_at", "reason": "must not be in the past"}],
        )
    return value.astimezone(UTC)


@routes.add(
    "POST",
    "/api/v1/broadcasts",
    summary="Send a message to the families of a municipality that match a segment",
    tag="broadcasts",
    body=BroadcastIn,
    responses={201: BroadcastOut, 200: BroadcastOut},
    auth="required",
)
async def create_broadcast(request: web.Request) -> web.Response:
    """Store a broadcast and its notices (201), or count its recipients (dry run, 200)."""
    key = require_key(request)
    data: BroadcastIn = await read_json(request, BroadcastIn)
    issuer = _issuer_of(data, key.role, key.issuer)
    require_scope(key, issuer)
    try:
        rule = compile_rule(data.segment, per_child=False)
    except RuleError as exc:
        details = [{**d, "location": "body.segment"} for d in exc.details]
        raise ApiError(
            422, "invalid_rule", f"the segment is not valid: {exc.message}", details
        ) from None
    now = now_utc()
    send_at = _send_at(data.send_at, now)
    async with transaction(request.app[SESSIONS]) as session:
        await _municipality(session, issuer)
        result = await broadcasts.create_broadcast(
            session,
            issuer=issuer,
            title=data.title.model_dump() if data.title is not None else None,
            text=data.message.model_dump(),
            segment=data.segment,
            rule=rule,
            send_at=send_at,
            now=now,
            today=request.app[TODAY](),
            dry_run=data.dry_run,
        )
    out = BroadcastOut(
        id=result.id,
        issuer=issuer,
        recipients=result.recipients,
        send_at=send_at,
        status="dry_run" if data.dry_run else "scheduled",
        dry_run=data.dry_run,
    )
    return json_model(out, status=200 if data.dry_run else 201)


@routes.add(
    "GET",
    "/api/v1/stats/deliveries",
    summary="Notices by day, subject, channel and status (of the issuers the key may manage)",
    tag="stats",
    query=StatsQuery,
    responses={200: DeliveryStats},
    auth="required",
)
async def delivery_stats(request: web.Request) -> web.Response:
    """Counts of notices created in a range of days; no family is named."""
    key = require_key(request)
    query: StatsQuery = parse_query(request, StatsQuery)
    until = query.until or request.app[TODAY]()
    since = query.since or until - timedelta(days=STATS_DAYS - 1)
    if since > until or (until - since).days >= MAX_STATS_DAYS:
        raise ApiError(
            422,
            "invalid_query",
            f"since must be on or before until, at most {MAX_STATS_DAYS} days apart",
            [{"location": "query.since", "reason": "out of range"}],
        )
    async with request.app[SESSIONS]() as session:
        issuers: list[str] | None = None
        if key.role != "operator":
            codes = (await session.exec(select(Municipality.code))).all()
            issuers = [code for code in codes if can_manage(key, code)]
        counts = await stats.delivery_counts(session, since=since, until=until, issuers=issuers)
    items = [
        DeliveryStat(
            day=c.day, subject=c.subject, channel=c.channel, status=c.status, count=c.count
        )
        for c in counts
    ]
    return json_model(DeliveryStats(items=items, total=sum(i.count for i in items)))
