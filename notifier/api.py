"""The app door of `/api/v1`: app backends register families; families read their inbox.

`/api/v1/app/subscribers...` takes an API key (operator, prefecture or municipality, scoped
to the family's municipality). `/api/v1/app/inbox...` takes the family's subscriber token
instead, which the auth middleware leaves for these handlers to check.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notifier.models import Notice
from notifier.reasons import for_parents
from registry import families
from registry import subscriptions as subs
from registry.api import require_key, require_known_municipality
from registry.auth import can_manage
from registry.db import transaction
from registry.events import FamilyChanged
from registry.http import (
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
from registry.models import ApiKey, AppSubscription, Family, utcnow
from rules.profile import MAX_CHILDREN, ChildInput, Language

log = logging.getLogger(__name__)

routes = RouteTable()

MAX_TOKEN_LENGTH = 200
_CALLBACK_DESCRIPTION = (
    "Where notices for this family are posted: https to a public host (an operator may allow "
    "other hosts with HAGUKUMI_CALLBACK_ALLOW). Each post "
    f"carries `{subs.SIGNATURE_HEADER}`: base64(HMAC-SHA256(secret, raw body))."
)


class SubscriberIn(subs.SubscriberProfile):
    """A family an app backend registers: the profile input, its consent and a callback URL."""

    consented_at: subs.ConsentTime = Field(
        description=(
            "When the parent agreed to the privacy notice in the app (ISO 8601 with a "
            "timezone offset; not in the future)."
        ),
        examples=["2026-11-20T10:00:00+09:00"],
    )
    callback_url: subs.CallbackUrl | None = Field(default=None, description=_CALLBACK_DESCRIPTION)


class SubscriberPatch(BaseModel):
    """Fields to change; absent fields stay as they are. `children` replaces all children."""

    model_config = ConfigDict(extra="forbid")

    # Absent = unchanged; null is refused (a family always has these).
    municipality: str | SkipJsonSchema[None] = Field(
        default=None, description="Local government code of the municipality (6 digits)."
    )
    # The bound sits on the list itself: on the field it would be applied to a null too.
    children: (
        Annotated[list[ChildInput], Field(max_length=MAX_CHILDREN)] | SkipJsonSchema[None]
    ) = Field(default=None, description="Every child (replaces the stored list).")
    pregnant: bool | SkipJsonSchema[None] = Field(
        default=None, description="Someone in the household is pregnant (false clears due_date)."
    )
    due_date: date | None = Field(default=None, description="Expected date of delivery.")
    single_parent: bool | None = Field(default=None, description="Single-parent household.")
    household_income: int | None = Field(
        default=None, ge=0, le=subs.MAX_INT32, description="Household income in yen a year."
    )
    resident_tax_exempt: bool | None = Field(
        default=None, description="Exempt from resident tax (住民税非課税)."
    )
    public_assistance: bool | None = Field(
        default=None, description="Receives public assistance (生活保護)."
    )
    language: Language | SkipJsonSchema[None] = Field(
        default=None, description="Language for notices: ja or en."
    )
    callback_url: subs.CallbackUrl | None = Field(
        default=None, description=_CALLBACK_DESCRIPTION + " null removes it."
    )

    @field_validator("municipality", "children", "pregnant", "language")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null: leave the field out to keep it as it is")
        return value


class SubscriberOut(subs.SubscriberProfile):
    """A registered family as the app backend sees it."""

    id: int = Field(description="The subscription id (use it to change or delete the family).")
    issuer: str = Field(description="Local government code of the key that registered it.")
    state: str = Field(description="Family state: active once registered with consent.")
    consented_at: datetime | None = Field(description="When the parent consented (UTC).")
    callback_url: str | None = Field(description="Where notices are posted, if anywhere.")
    created_at: datetime
    updated_at: datetime


class SubscriberCreated(SubscriberOut):
    """A newly registered family with its credentials, shown this once."""

    token: str = Field(
        description=(
            "The family's inbox token: `Authorization: Bearer TOKEN` on /api/v1/app/inbox. "
            "Stored hashed: it cannot be shown again."
        )
    )
    secret: str = Field(
        description=f"Verifies callbacks: base64(HMAC-SHA256(secret, body)) in "
        f"`{subs.SIGNATURE_HEADER}`."
    )


class InboxQuery(BaseModel):
    """Paging of the inbox."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=20, ge=1, le=100, description="Notices per page (at most 100).")
    offset: int = Field(default=0, ge=0, le=10_000_000, description="Notices to skip.")


class InboxItem(BaseModel):
    """One notice to the family."""

    id: int
    kind: str = Field(description="eligible, deadline-7, deadline-2 or broadcast.")
    created_at: datetime
    read: bool = Field(description="Whether the family marked it read.")
    read_at: datetime | None = None
    status: str = Field(
        description="Delivery status: pending, scheduled, sent, failed or suppressed."
    )
    payload: dict[str, Any] = Field(
        description=(
            "The rendered content: name {ja, en}, summary, deadline, child label, urls, "
            "and reasons {ja: [...], en: [...]} (why the notice fits, in words)."
        )
    )


class Inbox(BaseModel):
    """A page of the family's notices, newest first."""

    items: list[InboxItem]
    total: int = Field(description="All notices of the family.")
    unread: int = Field(description="Notices not yet marked read.")


# ------------------------------------------------------------------------------ subscribers


def _require_family_scope(key: ApiKey, municipality: str | None) -> None:
    if municipality is None or not can_manage(key, municipality):
        raise ApiError(
            403,
            "forbidden",
            f"this {key.role} key (issuer {key.issuer}) may not manage families of "
            f"{municipality or 'no municipality'}",
        )


def _no_unborn(children: Sequence[ChildInput], today: date) -> None:
    unborn = subs.unborn_children(children, today)
    if unborn:
        raise ApiError(
            422,
            "invalid_request",
            "a child's birth date is in the future",
            [
                {
                    "location": f"body.children.{i}.birth_date",
                    "reason": "after today: record an expected child as pregnant/due_date",
                }
                for i in unborn
            ],
        )


async def _out(
    session: AsyncSession, subscription: AppSubscription, family: Family
) -> SubscriberOut:
    profile = await families.profile_of(session, family)
    assert profile is not None and subscription.id is not None
    return SubscriberOut(
        id=subscription.id,
        issuer=subscription.issuer,
        state=family.state,
        consented_at=family.consented_at,
        callback_url=subscription.callback_url,
        created_at=subscription.created_at,
        updated_at=family.updated_at,
        **profile.model_dump(),
    )


async def _load(
    session: AsyncSession, request: web.Request, key: ApiKey, *, lock: bool = False
) -> Any:
    """The subscription of the path and its family, if the key may manage them.

    Another municipality's subscriber gets the very answer of a missing one, so that ids
    cannot be probed for which exist.
    """
    subscription_id = path_int(request, "id")
    subscription = await subs.get(session, subscription_id, lock=lock)
    family = None
    if subscription is not None:
        family = await subs.family_of(session, subscription, lock=lock)
    if family is None or family.municipality is None or not can_manage(key, family.municipality):
        raise ApiError(404, "not_found", f"no subscriber {subscription_id}")
    return subscription, family


def _family_changed(request: web.Request, family_id: int) -> None:
    request.app[EVENTS].publish(FamilyChanged(family_id))


@routes.add(
    "POST",
    "/api/v1/app/subscribers",
    summary="Register a family of a municipality app (returns its inbox token and secret once)",
    tag="app",
    body=SubscriberIn,
    responses={201: SubscriberCreated},
    auth="required",
)
async def create_subscriber(request: web.Request) -> web.Response:
    """Register a consenting family for an app backend."""
    key = require_key(request)
    data: SubscriberIn = await read_json(request, SubscriberIn)
    _require_family_scope(key, data.municipality)
    _no_unborn(data.children, request.app[TODAY]())
    async with transaction(request.app[SESSIONS]) as session:
        await require_known_municipality(session, data.municipality, location="body.municipality")
        family, subscription, token, secret = await subs.create_subscriber(
            session,
            issuer=key.issuer,
            profile=data,
            consented_at=data.consented_at,
            callback_url=data.callback_url,
        )
        out = await _out(session, subscription, family)
    assert family.id is not None
    log.info(
        "app subscriber registered",
        extra={"subscription": out.id, "family": family.id, "issuer": key.issuer},
    )
    _family_changed(request, family.id)
    created = SubscriberCreated(**out.model_dump(), token=token, secret=secret)
    return json_model(created, status=201)


@routes.add(
    "GET",
    "/api/v1/app/subscribers/{id}",
    summary="Read a family registered by an app",
    tag="app",
    responses={200: SubscriberOut},
    auth="required",
)
async def get_subscriber(request: web.Request) -> web.Response:
    """The stored profile of an app family."""
    key = require_key(request)
    async with request.app[SESSIONS]() as session:
        subscription, family = await _load(session, request, key)
        out = await _out(session, subscription, family)
    return json_model(out)


@routes.add(
    "PATCH",
    "/api/v1/app/subscribers/{id}",
    summary="Change an app family's profile, children, language or callback URL",
    tag="app",
    body=SubscriberPatch,
    responses={200: SubscriberOut},
    auth="required",
)
async def patch_subscriber(request: web.Request) -> web.Response:
    """Apply a partial change; the result must still be a valid profile."""
    key = require_key(request)
    patch: SubscriberPatch = await read_json(request, SubscriberPatch)
    changes = patch.model_dump(exclude_unset=True)
    callback_url = changes.pop("callback_url", subs.KEEP)
    async with transaction(request.app[SESSIONS]) as session:
        subscription, family = await _load(session, request, key, lock=True)
        current = await families.profile_of(session, family)
        assert current is not None
        merged = {**current.model_dump(), **changes}
        if changes.get("pregnant") is False and "due_date" not in changes:
            merged["due_date"] = None  # a birth or an end of pregnancy ends the due date
        try:
            profile = subs.SubscriberProfile.model_validate(merged)
        except ValidationError as exc:
            raise ApiError(
                422, "invalid_request", "the changed profile is not valid", validation_details(exc)
            ) from exc
        if profile.municipality != family.municipality:
            _require_family_scope(key, profile.municipality)
            await require_known_municipality(
                session, profile.municipality, location="body.municipality"
            )
        if "children" in changes:
            _no_unborn(profile.children, request.app[TODAY]())
        family = await subs.update_subscriber(
            session,
            subscription,
            fields=subs.household_fields(profile),
            children=profile.children if "children" in changes else None,
            callback_url=callback_url,
        )
        out = await _out(session, subscription, family)
    assert family.id is not None
    _family_changed(request, family.id)
    return json_model(out)


@routes.add(
    "DELETE",
    "/api/v1/app/subscribers/{id}",
    summary="Delete an app family's personal data for good (its token stops working)",
    tag="app",
    responses={204: None},
    auth="required",
)
async def delete_subscriber(request: web.Request) -> web.Response:
    """Erase the family's personal data and the subscription."""
    key = require_key(request)
    async with transaction(request.app[SESSIONS]) as session:
        subscription, family = await _load(session, request, key, lock=True)
        subscription_id = subscription.id
        await subs.delete_subscriber(session, subscription)
    log.info("app subscriber deleted", extra={"subscription": subscription_id})
    return web.Response(status=204)


# ------------------------------------------------------------------------------------ inbox


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


async def _subscriber(session: AsyncSession, request: web.Request) -> AppSubscription:
    header = request.headers.get("Authorization")
    if header is None:
        raise _unauthorized("the family's token is required: send `Authorization: Bearer TOKEN`")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        raise _unauthorized("use `Authorization: Bearer TOKEN`")
    subscription = await subs.find_by_token(session, token)
    if subscription is None:
        raise _unauthorized("unknown subscriber token")
    return subscription


def _item(notice: Notice) -> InboxItem:
    assert notice.id is not None
    return InboxItem(
        id=notice.id,
        kind=notice.kind,
        created_at=notice.created_at,
        read=notice.read_at is not None,
        read_at=notice.read_at,
        status=notice.status,
        payload=for_parents(notice.payload or {}),
    )


@routes.add(
    "GET",
    "/api/v1/app/inbox",
    summary="The family's notices, newest first (authenticated with the subscriber token)",
    tag="app",
    query=InboxQuery,
    responses={200: Inbox},
    auth="required",
)
async def inbox(request: web.Request) -> web.Response:
    """A page of the family's notices with total and unread counts."""
    async with request.app[SESSIONS]() as session:
        subscription = await _subscriber(session, request)
        query: InboxQuery = parse_query(request, InboxQuery)
        mine = col(Notice.family_id) == subscription.family_id
        counts = await session.exec(
            select(func.count(), func.count(col(Notice.read_at))).where(mine)  # type: ignore[call-overload]
        )
        total, read = counts.one()
        rows = await session.exec(
            select(Notice)
            .where(mine)
            .order_by(col(Notice.created_at).desc(), col(Notice.id).desc())
            .offset(query.offset)
            .limit(query.limit)
        )
        items = [_item(n) for n in rows.all()]
    return json_model(Inbox(items=items, total=int(total), unread=int(total) - int(read)))


@routes.add(
    "POST",
    "/api/v1/app/inbox/{id}/read",
    summary="Mark one notice read (authenticated with the subscriber token)",
    tag="app",
    responses={200: InboxItem},
    auth="required",
)
async def mark_read(request: web.Request) -> web.Response:
    """Mark a notice of the family read; marking it again changes nothing."""
    async with transaction(request.app[SESSIONS]) as session:
        subscription = await _subscriber(session, request)
        notice_id = path_int(request, "id")
        notice = await session.get(Notice, notice_id)
        if notice is None or notice.family_id != subscription.family_id:
            raise ApiError(404, "not_found", f"no notice {notice_id} in this inbox")
        if notice.read_at is None:
            notice.read_at = utcnow()
            session.add(notice)
            await session.flush()
        item = _item(notice)
    return json_model(item)
