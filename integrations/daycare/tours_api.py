"""Tour (見学) slots and bookings over `/api/v1`.

Facilities (or their municipality) publish slots with a municipality key scoped to the
facility's municipality; anyone may list the upcoming slots that still have seats; the
municipality sees the bookings (JSON or CSV). Parents book in LINE (`integrations.daycare.tours`).
Bookings are shown without LINE user ids or family ids: a family is referred to by the booking id.
Times are answered in Asia/Tokyo (stored in UTC).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare import tours
from integrations.daycare.models import Facility, TourBooking, TourSlot
from registry.api import require_key
from registry.auth import can_manage
from registry.db import transaction
from registry.http import (
    SESSIONS,
    ApiError,
    RouteTable,
    json_model,
    parse_query,
    path_int,
    read_json,
)
from registry.models import ApiKey, utcnow

routes = RouteTable()

TOKYO = ZoneInfo("Asia/Tokyo")
MAX_SLOTS_PER_REQUEST = 100


class SlotIn(BaseModel):
    """A tour slot to publish."""

    model_config = ConfigDict(extra="forbid")

    starts_at: AwareDatetime = Field(description="ISO 8601 with an offset, e.g. +09:00")
    ends_at: AwareDatetime
    capacity: int = Field(default=1, ge=1, le=100, description="families per tour")
    notes: str = Field(default="", max_length=500)


class SlotsIn(BaseModel):
    """Tour slots to publish at once."""

    model_config = ConfigDict(extra="forbid")

    slots: list[SlotIn] = Field(min_length=1, max_length=MAX_SLOTS_PER_REQUEST)


class SlotOut(BaseModel):
    """A tour slot."""

    id: int
    facility: int = Field(description="the facility's id")
    starts_at: datetime = Field(description="Asia/Tokyo")
    ends_at: datetime
    capacity: int
    booked: int
    seats_left: int
    notes: str
    status: str = Field(description="open or cancelled")


class SlotList(BaseModel):
    """Tour slots."""

    items: list[SlotOut]
    count: int


class SlotPatch(BaseModel):
    """A change to a slot: cancel it, or change its capacity or notes."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["cancelled"] | None = None
    capacity: int | None = Field(default=None, ge=1, le=100)
    notes: str | None = Field(default=None, max_length=500)


class SlotChanged(BaseModel):
    """A slot after a change, and the live bookings a cancellation affects."""

    slot: SlotOut
    affected_bookings: list[int] = Field(
        description="ids of the bookings the slot's cancellation cancelled (their families "
        "are sent a tour-cancelled notice)"
    )


class BookingOut(BaseModel):
    """A booking as the facility sees it: no LINE user id, no family id."""

    booking_id: int
    slot_id: int
    slot_starts_at: datetime = Field(description="Asia/Tokyo")
    slot_status: str
    status: str = Field(description="booked or cancelled")
    tour_cancelled: bool = Field(
        default=False, description="cancelled because the facility cancelled the tour"
    )
    people: int
    booked_at: datetime
    cancelled_at: datetime | None


class BookingList(BaseModel):
    """A facility's tour bookings, by slot start."""

    items: list[BookingOut]
    count: int


class BookingsQuery(BaseModel):
    """How to answer the booking list."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["json", "csv"] | None = Field(
        default=None, description="csv for a spreadsheet (or send Accept: text/csv)"
    )


def _tokyo(value: datetime) -> datetime:
    return value.astimezone(TOKYO)


def slot_out(slot: TourSlot) -> SlotOut:
    """A slot as answered."""
    assert slot.id is not None
    return SlotOut(
        id=slot.id,
        facility=slot.facility_pk,
        starts_at=_tokyo(slot.starts_at),
        ends_at=_tokyo(slot.ends_at),
        capacity=slot.capacity,
        booked=slot.booked,
        seats_left=max(slot.capacity - slot.booked, 0) if slot.status == "open" else 0,
        notes=slot.notes,
        status=slot.status,
    )


def _may_manage(key: ApiKey, facility: Facility) -> None:
    if not can_manage(key, facility.municipality):
        raise ApiError(
            403,
            "forbidden",
            f"this {key.role} key (issuer {key.issuer}) may not manage tours of facilities of "
            f"{facility.municipality}",
        )


async def _facility(session: AsyncSession, facility_id: int) -> Facility:
    facility = await session.get(Facility, facility_id)
    if facility is None:
        raise ApiError(404, "not_found", f"no facility {facility_id}")
    return facility


def _invalid(location: str, reason: str, code: str = "invalid_request") -> ApiError:
    return ApiError(
        422,
        code,
        f"the request body is not valid: {reason}",
        [{"location": location, "reason": reason}],
    )


@routes.add(
    "POST",
    "/api/v1/facilities/{id}/tours",
    summary="Publish tour slots of a facility (municipality key of the facility's municipality)",
    tag="daycare",
    body=SlotsIn,
    responses={201: SlotList},
    auth="required",
)
async def create_tour_slots(request: web.Request) -> web.Response:
    """Publish tour slots."""
    key = require_key(request)
    facility_id = path_int(request, "id")
    data: SlotsIn = await read_json(request, SlotsIn)
    async with transaction(request.app[SESSIONS]) as session:
        facility = await _facility(session, facility_id)
        _may_manage(key, facility)
        specs = [
            tours.SlotSpec(s.starts_at, s.ends_at, capacity=s.capacity, notes=s.notes)
            for s in data.slots
        ]
        try:
            rows = await tours.publish_slots(session, facility, specs, now=utcnow())
        except tours.SlotError as exc:
            details = [
                {"location": f"body.slots.{i}.{field}", "reason": reason}
                for i, field, reason in exc.problems
            ]
            if exc.code == "slot_exists":
                raise ApiError(409, exc.code, exc.message, details) from None
            raise ApiError(
                422, exc.code, f"the request body is not valid: {exc.message}", details
            ) from None
        except tours.TourError as exc:
            raise ApiError(409, exc.code, exc.message) from None
        items = [slot_out(r) for r in rows]
    return json_model(SlotList(items=items, count=len(items)), status=201)


@routes.add(
    "GET",
    "/api/v1/facilities/{id}/tours",
    summary="Upcoming tours of a facility that still have seats (public)",
    tag="daycare",
    responses={200: SlotList},
)
async def list_tour_slots(request: web.Request) -> web.Response:
    """Upcoming open slots with seats left, soonest first."""
    facility_id = path_int(request, "id")
    async with request.app[SESSIONS]() as session:
        facility = await _facility(session, facility_id)
        if facility.status != "active":
            raise ApiError(404, "not_found", f"no facility {facility_id}")
        found = await session.exec(
            select(TourSlot)
            .where(
                TourSlot.facility_pk == facility_id,
                TourSlot.status == "open",
                col(TourSlot.starts_at) > utcnow(),
                col(TourSlot.booked) < col(TourSlot.capacity),
            )
            .order_by(col(TourSlot.starts_at), col(TourSlot.id))
            .limit(200)
        )
        items = [slot_out(s) for s in found.all()]
    return json_model(SlotList(items=items, count=len(items)))


async def _slot_for_manager(
    request: web.Request, session: AsyncSession
) -> tuple[TourSlot, Facility]:
    key = require_key(request)
    slot_id = path_int(request, "slot_id")
    slot = await session.get(TourSlot, slot_id)
    if slot is None:
        raise ApiError(404, "not_found", f"no tour slot {slot_id}")
    facility = await _facility(session, slot.facility_pk)
    _may_manage(key, facility)
    return slot, facility


async def _affected(session: AsyncSession, slot: TourSlot) -> list[int]:
    found = await session.exec(
        select(TourBooking).where(TourBooking.slot_id == slot.id).order_by(col(TourBooking.id))
    )
    return [b.id for b in found.all() if b.id is not None and tours.cancelled_with_slot(b, slot)]


async def _cancel_slot(session: AsyncSession, slot: TourSlot, facility: Facility) -> None:
    await tours.cancel_slot_and_tell(session, slot, facility, now=utcnow(), zone=TOKYO)


async def _changed(session: AsyncSession, slot: TourSlot) -> web.Response:
    assert slot.id is not None
    affected = await _affected(session, slot) if slot.status == "cancelled" else []
    return json_model(SlotChanged(slot=slot_out(slot), affected_bookings=affected))


@routes.add(
    "PATCH",
    "/api/v1/tours/{slot_id}",
    summary="Change a tour slot: cancel it, or its capacity or notes (municipality key)",
    tag="daycare",
    body=SlotPatch,
    responses={200: SlotChanged},
    auth="required",
)
async def change_tour_slot(request: web.Request) -> web.Response:
    """Cancel a slot (its bookings are cancelled and the families told; send `notes` with it
    to tell them why) or change its capacity or notes."""
    require_key(request)
    path_int(request, "slot_id")
    data: SlotPatch = await read_json(request, SlotPatch)
    async with transaction(request.app[SESSIONS]) as session:
        slot, facility = await _slot_for_manager(request, session)
        if slot.status == "cancelled" and (data.capacity is not None or data.notes is not None):
            raise ApiError(409, "slot_cancelled", "this tour is cancelled: it cannot change")
        if data.notes is not None:
            slot.notes = data.notes
            slot.updated_at = utcnow()
            session.add(slot)
            await session.flush()
        if data.capacity is not None:
            result = await session.exec(
                update(TourSlot)  # type: ignore[call-overload]
                .where(col(TourSlot.id) == slot.id, col(TourSlot.booked) <= data.capacity)
                .values(capacity=data.capacity, updated_at=utcnow())
            )
            await session.refresh(slot)
            if not result.rowcount:
                raise ApiError(
                    409,
                    "capacity_below_booked",
                    f"{slot.booked} seats are booked: the capacity cannot be {data.capacity}",
                    [{"location": "body.capacity", "reason": f"at least {slot.booked}"}],
                )
        if data.status == "cancelled":
            await _cancel_slot(session, slot, facility)
        return await _changed(session, slot)


@routes.add(
    "DELETE",
    "/api/v1/tours/{slot_id}",
    summary="Cancel a tour slot (its live bookings are cancelled and the families told)",
    tag="daycare",
    responses={200: SlotChanged},
    auth="required",
)
async def cancel_tour_slot(request: web.Request) -> web.Response:
    """Cancel a slot (again: the same answer)."""
    require_key(request)
    path_int(request, "slot_id")
    async with transaction(request.app[SESSIONS]) as session:
        slot, facility = await _slot_for_manager(request, session)
        await _cancel_slot(session, slot, facility)
        return await _changed(session, slot)


CSV_COLUMNS = ("slot_start", "booking_id", "status", "people", "booked_at")


def _csv(items: list[BookingOut]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for b in items:
        status = "tour_cancelled" if b.tour_cancelled else b.status
        writer.writerow(
            [
                b.slot_starts_at.strftime("%Y-%m-%d %H:%M"),
                b.booking_id,
                status,
                b.people,
                b.booked_at.strftime("%Y-%m-%d %H:%M"),
            ]
        )
    # A BOM so that Excel, which municipal offices open CSV with, reads UTF-8 Japanese.
    return "\ufeff" + out.getvalue()


def _wants_csv(request: web.Request, query: BookingsQuery) -> bool:
    if query.format is not None:
        return query.format == "csv"
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


_BOOKING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": BookingOut.model_json_schema()},
        "count": {"type": "integer"},
    },
    "required": ["items", "count"],
}


@routes.add(
    "GET",
    "/api/v1/facilities/{id}/tours/bookings",
    summary="A facility's tour bookings, as JSON or CSV (municipality key)",
    tag="daycare",
    query=BookingsQuery,
    responses={200: None},
    content={
        "application/json": {"schema": _BOOKING_SCHEMA},
        "text/csv": {"schema": {"type": "string"}},
    },
    auth="required",
)
async def list_tour_bookings(request: web.Request) -> web.Response:
    """Every booking of the facility's tours, by slot start; no LINE ids, no family ids."""
    key = require_key(request)
    facility_id = path_int(request, "id")
    query: BookingsQuery = parse_query(request, BookingsQuery)
    async with request.app[SESSIONS]() as session:
        facility = await _facility(session, facility_id)
        _may_manage(key, facility)
        found = await session.exec(
            select(TourBooking, TourSlot)
            .join(TourSlot, col(TourSlot.id) == col(TourBooking.slot_id))
            .where(TourSlot.facility_pk == facility_id)
            .order_by(col(TourSlot.starts_at), col(TourBooking.id))
        )
        rows = found.all()
    items = [
        BookingOut(
            booking_id=b.id or 0,
            slot_id=s.id or 0,
            slot_starts_at=_tokyo(s.starts_at),
            slot_status=s.status,
            status=b.status,
            tour_cancelled=tours.cancelled_with_slot(b, s),
            people=b.people,
            booked_at=_tokyo(b.created_at),
            cancelled_at=None if b.cancelled_at is None else _tokyo(b.cancelled_at),
        )
        for b, s in rows
    ]
    if _wants_csv(request, query):
        return web.Response(
            text=_csv(items),
            content_type="text/csv",
            charset="utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="tour-bookings-{facility_id}.csv"'
            },
        )
    return json_model(BookingList(items=items, count=len(items)))
