"""Tour booking under concurrency: the last seat is given once, on both shapes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, func, select

from integrations.daycare.models import TourBooking, TourSlot
from integrations.daycare.tours import TourError, book, cancel, change
from registry.db import transaction
from registry.models import Family
from tests.integrations.daycare.daycare_factories import facility, insert


async def _families(sessions: Any, n: int) -> list[int]:
    rows = [
        Family(state="active", consented_at=datetime.now(UTC), preferences={}) for _ in range(n)
    ]
    await insert(sessions, *rows)
    return [r.id for r in rows]


async def _slot(sessions: Any, capacity: int) -> TourSlot:
    (place,) = await insert(sessions, facility())
    start = datetime.now(UTC) + timedelta(days=7)
    (slot,) = await insert(
        sessions,
        TourSlot(
            facility_pk=place.id,
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            capacity=capacity,
        ),
    )
    return slot


def _is_postgres(sessions: Any) -> bool:
    return sessions.kw["bind"].dialect.name == "postgresql"


async def _state(sessions: Any, slot_id: int) -> tuple[int, int]:
    async with sessions() as session:
        slot = await session.get(TourSlot, slot_id)
        assert slot is not None
        live = await session.exec(
            select(func.count())
            .select_from(TourBooking)
            .where(TourBooking.slot_id == slot_id, TourBooking.status == "booked")
        )
        return slot.booked, live.one()


async def _at_once(sessions: Any, jobs: list[Any]) -> list[Any]:
    """Run each job in its own session and transaction, all at the same time. On PostgreSQL
    every transaction is open before any books (a barrier), so they truly overlap."""
    barrier = asyncio.Barrier(len(jobs)) if _is_postgres(sessions) else None

    async def run(job: Any) -> Any:
        try:
            async with transaction(sessions) as session:
                await session.connection()
                if barrier is not None:
                    await barrier.wait()
                return await job(session)
        except TourError as exc:
            return exc.code

    return await asyncio.gather(*(run(job) for job in jobs))


@pytest.mark.parametrize("capacity", [1, 3])
async def test_many_simultaneous_bookings_fill_exactly_the_capacity(
    sessions: Any, capacity: int
) -> None:
    slot = await _slot(sessions, capacity)
    families = await _families(sessions, 30)

    def booking(family_id: int) -> Any:
        async def job(session: Any) -> str:
            await book(session, slot.id, family_id)
            return "booked"

        return job

    outcomes = await _at_once(sessions, [booking(f) for f in families])
    assert outcomes.count("booked") == capacity
    assert outcomes.count("full") == 30 - capacity
    assert await _state(sessions, slot.id) == (capacity, capacity)


async def test_cancelling_at_once_frees_a_seat_exactly_once(sessions: Any) -> None:
    slot = await _slot(sessions, 3)
    families = await _families(sessions, 3)
    ids = []
    for family_id in families:
        async with transaction(sessions) as session:
            ids.append((await book(session, slot.id, family_id)).booking.id)

    async def cancelling(session: Any) -> bool:
        booking = await session.get(TourBooking, ids[0])
        return await cancel(session, booking)

    outcomes = await _at_once(sessions, [cancelling] * 10)
    assert outcomes.count(True) == 1
    assert await _state(sessions, slot.id) == (2, 2)
    # The freed seat is given once more, and only once.
    others = await _families(sessions, 10)

    def booking(family_id: int) -> Any:
        async def job(session: Any) -> str:
            await book(session, slot.id, family_id)
            return "booked"

        return job

    outcomes = await _at_once(sessions, [booking(f) for f in others])
    assert outcomes.count("booked") == 1
    assert await _state(sessions, slot.id) == (3, 3)


async def test_a_change_moves_the_booking_atomically(sessions: Any) -> None:
    first = await _slot(sessions, 1)
    second = await _slot(sessions, 1)
    mover, *others = await _families(sessions, 11)
    async with transaction(sessions) as session:
        moving = (await book(session, first.id, mover)).booking

    async def moving_job(session: Any) -> str:
        booking = await session.get(TourBooking, moving.id)
        await change(session, booking, second.id)
        return "moved"

    def booking(slot_id: int, family_id: int) -> Any:
        async def job(session: Any) -> str:
            await book(session, slot_id, family_id)
            return f"booked:{slot_id}"

        return job

    jobs = [moving_job] + [
        booking(first.id if n % 2 else second.id, f) for n, f in enumerate(others)
    ]
    outcomes = await _at_once(sessions, jobs)
    for slot in (first, second):
        booked, live = await _state(sessions, slot.id)
        assert booked == live <= 1
    async with sessions() as session:
        mine = (
            await session.exec(
                select(TourBooking).where(
                    TourBooking.family_id == mover, TourBooking.status == "booked"
                )
            )
        ).all()
    assert len(mine) == 1
    expected = second.id if outcomes[0] == "moved" else first.id
    assert mine[0].slot_id == expected
    if outcomes[0] != "moved":
        assert outcomes[0] == "full"
    assert (await _state(sessions, second.id))[0] == 1


async def test_booking_rules(sessions: Any) -> None:
    slot = await _slot(sessions, 2)
    (family,) = await _families(sessions, 1)
    async with transaction(sessions) as session:
        made = await book(session, slot.id, family)
    async with transaction(sessions) as session:
        again = await book(session, slot.id, family)
    assert again.already and again.booking.id == made.booking.id
    assert await _state(sessions, slot.id) == (1, 1)
    async with transaction(sessions) as session:
        booking = await session.get(TourBooking, made.booking.id)
        assert await cancel(session, booking)
        assert not await cancel(session, booking)
    assert await _state(sessions, slot.id) == (0, 0)
    with pytest.raises(TourError) as missing:
        async with transaction(sessions) as session:
            await book(session, 999_999, family)
    assert missing.value.code == "not_found"
    async with transaction(sessions) as session:
        row = await session.get(TourSlot, slot.id)
        row.starts_at = datetime.now(UTC) - timedelta(minutes=1)
        session.add(row)
    with pytest.raises(TourError) as closed:
        async with transaction(sessions) as session:
            await book(session, slot.id, family)
    assert closed.value.code == "closed"
    async with sessions() as session:
        count = await session.exec(
            select(func.count())
            .select_from(TourBooking)
            .where(col(TourBooking.family_id) == family)
        )
        assert count.one() == 1
