"""Tour (見学) bookings: the last seat is given once, on SQLite and on PostgreSQL alike.

A booking raises the slot's `booked` with one conditional UPDATE (`booked < capacity`); the
database serialises concurrent updates of one row, so of many simultaneous bookings of the last
seat exactly one sees a changed row. Cancelling lowers it again, in the same transaction as the
booking's status change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.daycare.models import Facility, TourBooking, TourSlot
from registry.models import utcnow


class TourError(Exception):
    """A booking that cannot be made; `code` says why (for the API and the bot)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Booked:
    """A booking made (or found already made: `already` is true)."""

    booking: TourBooking
    slot: TourSlot
    already: bool = False


async def _take_seat(session: AsyncSession, slot_id: int, people: int) -> bool:
    result = await session.exec(
        update(TourSlot)  # type: ignore[call-overload]
        .where(
            col(TourSlot.id) == slot_id,
            col(TourSlot.status) == "open",
            col(TourSlot.booked) + people <= col(TourSlot.capacity),
        )
        .values(booked=col(TourSlot.booked) + people, updated_at=utcnow())
    )
    return bool(result.rowcount)


async def _give_back(session: AsyncSession, slot_id: int, people: int) -> None:
    await session.exec(
        update(TourSlot)  # type: ignore[call-overload]
        .where(col(TourSlot.id) == slot_id, col(TourSlot.booked) >= people)
        .values(booked=col(TourSlot.booked) - people, updated_at=utcnow())
    )


async def book(
    session: AsyncSession,
    slot_id: int,
    family_id: int,
    *,
    child_id: int | None = None,
    people: int = 1,
    now: datetime | None = None,
) -> Booked:
    """Book a seat of a slot for a family (the caller commits). Booking the same slot again is
    not a second seat: the existing booking is returned (`already`). Raises TourError
    `not_found`, `closed` (cancelled or already started), `full`, or `already_booked` (the
    same family booking the same slot at the same moment twice: the transaction is spoilt,
    roll it back). `now` is the caller's clock (a tour that has started is closed)."""
    now = now or utcnow()
    slot = await session.get(TourSlot, slot_id)
    if slot is None:
        raise TourError("not_found", f"no tour slot {slot_id}")
    if slot.status != "open" or slot.starts_at <= now:
        raise TourError("closed", "this tour is no longer open for booking")
    found = await session.exec(
        select(TourBooking).where(
            TourBooking.slot_id == slot_id, TourBooking.family_id == family_id
        )
    )
    existing = found.first()
    if existing is not None and existing.status == "booked":
        return Booked(existing, slot, already=True)
    if not await _take_seat(session, slot_id, people):
        raise TourError("full", "this tour is full")
    if existing is None:
        booking = TourBooking(
            slot_id=slot_id, family_id=family_id, child_id=child_id, people=people
        )
    else:
        booking = existing
        booking.status, booking.people, booking.child_id = "booked", people, child_id
        booking.cancelled_at, booking.updated_at = None, now
    session.add(booking)
    try:
        await session.flush()
    except IntegrityError as exc:
        # The same family booking the same slot twice at the same moment: the second
        # transaction is rolled back by the caller, seat and all.
        raise TourError("already_booked", "this tour is already booked by this family") from exc
    await session.refresh(slot)
    return Booked(booking, slot)


async def cancel(
    session: AsyncSession, booking: TourBooking, *, now: datetime | None = None
) -> bool:
    """Cancel a live booking and give its seats back; False when it was not live.

    The status changes with one conditional UPDATE (`status = 'booked'`), so of two
    simultaneous cancellations of one booking only one gives the seats back.
    """
    if booking.status != "booked":
        return False
    now = now or utcnow()  # the caller's clock (the bot's turn), else the wall clock
    result = await session.exec(
        update(TourBooking)  # type: ignore[call-overload]
        .where(col(TourBooking.id) == booking.id, col(TourBooking.status) == "booked")
        .values(status="cancelled", cancelled_at=now, updated_at=now)
    )
    if not result.rowcount:
        await session.refresh(booking)
        return False
    await _give_back(session, booking.slot_id, booking.people)
    await session.refresh(booking)
    # Its reminder, if recorded and not sent yet, goes too (whichever door cancelled).
    from integrations.daycare.notices import forget_tour_reminders  # it imports this module

    assert booking.id is not None
    await forget_tour_reminders(session, booking.id)
    return True


async def change(
    session: AsyncSession,
    booking: TourBooking,
    new_slot_id: int,
    *,
    now: datetime | None = None,
) -> Booked:
    """Move a live booking to another slot: the new seat is taken before the old one is given
    back, so a failed change leaves the old booking as it was (the caller rolls back)."""
    if booking.status != "booked":
        raise TourError("not_booked", "this booking is not live")
    if booking.slot_id == new_slot_id:
        slot = await session.get(TourSlot, new_slot_id)
        assert slot is not None
        return Booked(booking, slot, already=True)
    made = await book(
        session,
        new_slot_id,
        booking.family_id,
        child_id=booking.child_id,
        people=booking.people,
        now=now,
    )
    if not await cancel(session, booking, now=now):
        # Cancelled meanwhile by another request: the caller rolls the new seat back.
        raise TourError("not_booked", "this booking is not live")
    return made


async def cancel_slot(
    session: AsyncSession, slot: TourSlot, *, now: datetime
) -> list[TourBooking]:
    """The facility cancels a slot: the slot closes (one conditional UPDATE, so a booking
    racing it either got its seat before, and is cancelled here, or finds the slot closed) and
    each live booking is cancelled with `cancelled_at` = the slot's `updated_at` (how the
    bookings the slot's cancellation took are told apart), its unsent reminder removed. The
    slot keeps its `booked` count (what was booked when it was cancelled). The bookings
    cancelled now; none when the slot was cancelled already."""
    result = await session.exec(
        update(TourSlot)  # type: ignore[call-overload]
        .where(col(TourSlot.id) == slot.id, col(TourSlot.status) == "open")
        .values(status="cancelled", updated_at=now)
    )
    await session.refresh(slot)
    if not result.rowcount:
        return []
    from integrations.daycare.notices import forget_tour_reminders  # it imports this module

    live = await session.exec(
        select(TourBooking)
        .where(TourBooking.slot_id == slot.id, TourBooking.status == "booked")
        .order_by(col(TourBooking.id))
    )
    cancelled = []
    for booking in live.all():
        changed = await session.exec(
            update(TourBooking)  # type: ignore[call-overload]
            .where(col(TourBooking.id) == booking.id, col(TourBooking.status) == "booked")
            .values(status="cancelled", cancelled_at=now, updated_at=now)
        )
        await session.refresh(booking)
        if changed.rowcount:
            assert booking.id is not None
            await forget_tour_reminders(session, booking.id)
            cancelled.append(booking)
    return cancelled


def cancelled_with_slot(booking: TourBooking, slot: TourSlot) -> bool:
    """Whether the booking was cancelled by the facility cancelling its slot (or is still
    live on a cancelled slot, as bookings of slots cancelled before this rule are)."""
    if slot.status != "cancelled":
        return False
    if booking.status == "booked":
        return True
    return booking.cancelled_at is not None and booking.cancelled_at >= slot.updated_at


async def release_family_bookings(session: AsyncSession, family_id: int) -> None:
    """A deleted family's bookings go; the seats of live future ones are given back."""
    found = await session.exec(select(TourBooking).where(TourBooking.family_id == family_id))
    for booking in found.all():
        if booking.status == "booked":
            await _give_back(session, booking.slot_id, booking.people)
        await session.delete(booking)
    await session.flush()


MAX_TOUR_HOURS = 12
MAX_DAYS_AHEAD = 731
TOKYO = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True)
class SlotSpec:
    """A tour slot to publish (aware datetimes)."""

    starts_at: datetime
    ends_at: datetime
    capacity: int = 1
    notes: str = ""


class SlotError(TourError):
    """Slots that cannot be published: `problems` are (index, field, reason); nothing saved."""

    def __init__(self, code: str, message: str, problems: list[tuple[int, str, str]]) -> None:
        super().__init__(code, message)
        self.problems = problems


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _check_slot(index: int, slot: SlotSpec, now: datetime) -> None:
    def bad(field: str, reason: str, code: str = "invalid_request") -> SlotError:
        return SlotError(code, reason, [(index, field, reason)])

    if slot.starts_at <= now:
        raise bad("starts_at", "the tour starts in the past", "starts_in_past")
    if slot.starts_at - now > timedelta(days=MAX_DAYS_AHEAD):
        raise bad("starts_at", "tours are published at most two years ahead")
    if slot.ends_at <= slot.starts_at:
        raise bad("ends_at", "ends_at must be after starts_at")
    if slot.ends_at - slot.starts_at > timedelta(hours=MAX_TOUR_HOURS):
        raise bad("ends_at", f"a tour lasts at most {MAX_TOUR_HOURS} hours")


async def publish_slots(
    session: AsyncSession, facility: Facility, slots: list[SlotSpec], *, now: datetime
) -> list[TourSlot]:
    """Publish tour slots of an active facility (the API's and the console's way): each starts
    in the future (at most two years ahead) and lasts at most MAX_TOUR_HOURS; none may start
    when an open slot of the facility already does, nor twice in one request (`slot_exists`).
    SlotError (or TourError `facility_closed`) and nothing saved otherwise."""
    if facility.status != "active":
        raise TourError("facility_closed", f"facility {facility.id} is closed")
    for index, slot in enumerate(slots):
        _check_slot(index, slot, now)
    starts = [s.starts_at.astimezone(UTC) for s in slots]
    existing = {
        _utc(row.starts_at): row.id
        for row in (
            await session.exec(
                select(TourSlot).where(
                    TourSlot.facility_pk == facility.id,
                    TourSlot.status == "open",
                    col(TourSlot.starts_at).in_(starts),
                )
            )
        ).all()
    }
    problems: list[tuple[int, str, str]] = []
    seen: set[datetime] = set()
    for index, start in enumerate(starts):
        if start in existing:
            problems.append((index, "starts_at", f"slot {existing[start]} starts then already"))
        elif start in seen:
            problems.append((index, "starts_at", "this start is given twice"))
        seen.add(start)
    if problems:
        raise SlotError(
            "slot_exists",
            "a tour of this facility already starts then: nothing was published",
            problems,
        )
    assert facility.id is not None
    rows = [
        TourSlot(
            facility_pk=facility.id,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            capacity=s.capacity,
            notes=s.notes,
        )
        for s in slots
    ]
    session.add_all(rows)
    await session.flush()
    return rows


async def cancel_slot_and_tell(
    session: AsyncSession,
    slot: TourSlot,
    facility: Facility,
    *,
    now: datetime,
    zone: tzinfo = TOKYO,
) -> list[TourBooking]:
    """The facility cancels a slot and the families of its live bookings are told, in the
    caller's transaction (the slot, its bookings, their reminders and the notices change
    together or not at all). The bookings cancelled now."""
    from integrations.daycare.notices import tell_tour_cancelled  # it imports this module

    cancelled = await cancel_slot(session, slot, now=now)
    if cancelled:
        await tell_tour_cancelled(session, cancelled, slot, facility, now=now, zone=zone)
    return cancelled
