"""The tours API: slots published by the municipality, listed publicly, bookings exported."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col

from integrations.daycare.models import TourSlot
from integrations.daycare.tours import TourError, book
from registry.db import transaction
from registry.models import Family
from tests.integrations.daycare.daycare_factories import facility, insert


def _at(days: int, hour: int = 10) -> str:
    day = datetime.now(UTC).date() + timedelta(days=days)
    return f"{day.isoformat()}T{hour:02d}:00:00+09:00"


async def _published(client: Any, headers: dict[str, str], facility_id: int, **slot: Any) -> Any:
    body = {"slots": [{"starts_at": _at(7), "ends_at": _at(7, 11), "capacity": 2, **slot}]}
    return await client.post(f"/api/v1/facilities/{facility_id}/tours", json=body, headers=headers)


async def test_publish_list_cancel_and_export(client: Any, sessions: Any, make_key: Any) -> None:
    (place,) = await insert(sessions, facility(municipality="131016"))
    headers = await make_key("131016")
    response = await client.post(
        f"/api/v1/facilities/{place.id}/tours",
        json={
            "slots": [
                {"starts_at": _at(7), "ends_at": _at(7, 11), "capacity": 1, "notes": "園庭あり"},
                {"starts_at": _at(8), "ends_at": _at(8, 11), "capacity": 3},
            ]
        },
        headers=headers,
    )
    assert response.status == 201, await response.text()
    created = (await response.json())["items"]
    assert [s["seats_left"] for s in created] == [1, 3]
    assert created[0]["starts_at"].endswith("+09:00") and created[0]["notes"] == "園庭あり"
    families = [Family(state="active", preferences={}) for _ in range(2)]
    await insert(sessions, *families)
    async with transaction(sessions) as session:
        first = await book(session, created[0]["id"], families[0].id)
        second = await book(session, created[1]["id"], families[1].id, people=2)
    listed = await (await client.get(f"/api/v1/facilities/{place.id}/tours")).json()
    assert [(s["id"], s["seats_left"]) for s in listed["items"]] == [(created[1]["id"], 1)]
    # Cancel the second slot: its live booking is cancelled too, listed as affected.
    response = await client.delete(f"/api/v1/tours/{created[1]['id']}", headers=headers)
    assert response.status == 200
    changed = await response.json()
    assert changed["slot"]["status"] == "cancelled"
    assert changed["affected_bookings"] == [second.booking.id]
    late = Family(state="active", preferences={})
    await insert(sessions, late)
    try:
        async with transaction(sessions) as session:
            await book(session, created[1]["id"], late.id)
        raise AssertionError("a cancelled tour was booked")
    except TourError as exc:
        assert exc.code == "closed"
    again = await client.delete(f"/api/v1/tours/{created[1]['id']}", headers=headers)
    assert (await again.json())["affected_bookings"] == [second.booking.id]
    assert (await (await client.get(f"/api/v1/facilities/{place.id}/tours")).json())["items"] == []
    bookings = await client.get(f"/api/v1/facilities/{place.id}/tours/bookings", headers=headers)
    body = await bookings.json()
    assert [(b["booking_id"], b["slot_status"], b["status"]) for b in body["items"]] == [
        (first.booking.id, "open", "booked"),
        (second.booking.id, "cancelled", "cancelled"),
    ]
    assert [b["tour_cancelled"] for b in body["items"]] == [False, True]
    text = await bookings.text()
    assert "line" not in text.lower() and "family" not in text.lower()
    csv_answer = await client.get(
        f"/api/v1/facilities/{place.id}/tours/bookings",
        params={"format": "csv"},
        headers=headers,
    )
    assert csv_answer.status == 200
    assert csv_answer.content_type == "text/csv"
    lines = (await csv_answer.text()).lstrip("\ufeff").splitlines()
    assert lines[0] == "slot_start,booking_id,status,people,booked_at"
    start = datetime.fromisoformat(created[0]["starts_at"]).strftime("%Y-%m-%d %H:%M")
    assert lines[1].startswith(f"{start},{first.booking.id},booked,1,")
    assert lines[2].split(",")[1:4] == [str(second.booking.id), "tour_cancelled", "2"]
    by_accept = await client.get(
        f"/api/v1/facilities/{place.id}/tours/bookings",
        headers={**headers, "Accept": "text/csv"},
    )
    assert by_accept.content_type == "text/csv"


async def test_keys_are_scoped_to_the_facilitys_municipality(
    client: Any, sessions: Any, make_key: Any
) -> None:
    (place,) = await insert(sessions, facility(municipality="131016"))
    response = await _published(client, {}, place.id)
    assert response.status == 401
    other = await make_key("131130")
    response = await _published(client, other, place.id)
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"
    own = await make_key("131016")
    created = (await (await _published(client, own, place.id)).json())["items"][0]
    for method in ("DELETE", "PATCH"):
        response = await client.request(
            method, f"/api/v1/tours/{created['id']}", json={"notes": "x"}, headers=other
        )
        assert response.status == 403
    response = await client.get(f"/api/v1/facilities/{place.id}/tours/bookings", headers=other)
    assert response.status == 403
    response = await client.get(f"/api/v1/facilities/{place.id}/tours/bookings")
    assert response.status == 401


async def test_bad_slots_are_refused(client: Any, sessions: Any, make_key: Any) -> None:
    (place,) = await insert(sessions, facility(municipality="131016"))
    headers = await make_key("131016")
    cases = [
        ({"starts_at": "2030-01-01T10:00:00"}, "invalid_request"),  # naive
        ({"starts_at": _at(-2), "ends_at": _at(-2, 11)}, "starts_in_past"),
        ({"ends_at": _at(7, 10)}, "invalid_request"),  # ends == starts
        ({"ends_at": _at(7, 9)}, "invalid_request"),
        ({"capacity": 0}, "invalid_request"),
        ({"capacity": 101}, "invalid_request"),
        ({"starts_at": _at(900), "ends_at": _at(900, 11)}, "invalid_request"),
        ({"starts_at": "0001-01-01T00:00:00+09:00"}, "starts_in_past"),
    ]
    for slot, code in cases:
        response = await _published(client, headers, place.id, **slot)
        assert response.status == 422, (slot, await response.text())
        assert (await response.json())["error"]["code"] == code, slot
    response = await client.post(
        f"/api/v1/facilities/{place.id}/tours", json={"slots": []}, headers=headers
    )
    assert response.status == 422
    response = await _published(client, headers, 999_999)
    assert response.status == 404
    response = await client.get("/api/v1/facilities/999999/tours")
    assert response.status == 404


async def test_capacity_changes_respect_bookings(
    client: Any, sessions: Any, make_key: Any
) -> None:
    (place,) = await insert(sessions, facility(municipality="131016"))
    headers = await make_key("131016")
    created = (await (await _published(client, headers, place.id, capacity=3)).json())["items"][0]
    families = [Family(state="active", preferences={}) for _ in range(2)]
    await insert(sessions, *families)
    async with transaction(sessions) as session:
        for f in families:
            await book(session, created["id"], f.id)
    url = f"/api/v1/tours/{created['id']}"
    response = await client.patch(url, json={"capacity": 1}, headers=headers)
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "capacity_below_booked"
    response = await client.patch(url, json={"capacity": 2, "notes": "満席"}, headers=headers)
    slot = (await response.json())["slot"]
    assert (slot["capacity"], slot["seats_left"], slot["notes"]) == (2, 0, "満席")
    response = await client.patch(url, json={"status": "cancelled"}, headers=headers)
    assert len((await response.json())["affected_bookings"]) == 2
    response = await client.patch(url, json={"capacity": 5}, headers=headers)
    assert response.status == 409
    response = await client.patch(url, json={"status": "open"}, headers=headers)
    assert response.status == 422
    async with sessions() as session:
        row = await session.get(TourSlot, created["id"])
        assert row is not None and row.status == "cancelled" and row.booked == 2


async def test_tours_are_in_the_openapi_and_odd_paths_are_404(client: Any, make_key: Any) -> None:
    spec = await (await client.get("/openapi.json")).json()
    assert "post" in spec["paths"]["/api/v1/facilities/{id}/tours"]
    assert "security" not in spec["paths"]["/api/v1/facilities/{id}/tours"]["get"]
    assert {"patch", "delete"} <= set(spec["paths"]["/api/v1/tours/{slot_id}"])
    bookings = spec["paths"]["/api/v1/facilities/{id}/tours/bookings"]["get"]
    assert {"application/json", "text/csv"} <= set(bookings["responses"]["200"]["content"])
    for path in ("/api/v1/facilities/abc/tours", "/api/v1/facilities/0/tours"):
        response = await client.get(path)
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"
    headers = await make_key("131016")
    response = await client.get(
        "/api/v1/facilities/1/tours/bookings", params={"format": "xml"}, headers=headers
    )
    assert response.status in (404, 422)


async def test_a_cancelled_slot_cancels_its_bookings_and_tells_the_families(
    client: Any, sessions: Any, make_key: Any
) -> None:
    from zoneinfo import ZoneInfo

    from sqlmodel import select

    from integrations.daycare.models import Facility, TourBooking
    from integrations.daycare.notices import TOUR_CANCELLED, TOUR_REMINDER, remind_if_tomorrow
    from notifier.models import Notice, SendRequest
    from notifier.planning import plan

    tokyo = ZoneInfo("Asia/Tokyo")
    (place,) = await insert(
        sessions, facility(municipality="131016", name_ja="みどり保育園", name_en="Midori")
    )
    headers = await make_key("131016")
    today = datetime.now(tokyo).date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    body = {
        "slots": [
            {
                "starts_at": f"{tomorrow}T10:00:00+09:00",
                "ends_at": f"{tomorrow}T11:00:00+09:00",
                "capacity": 3,
            }
        ]
    }
    answer = await client.post(f"/api/v1/facilities/{place.id}/tours", json=body, headers=headers)
    slot_id = (await answer.json())["items"][0]["id"]
    stamp = datetime.now(UTC)
    families = [
        Family(
            line_user_id=f"U{n:032x}",
            state="active",
            consented_at=stamp,
            onboarded_at=stamp,
            municipality="131016",
            language=lang,
            preferences={},
        )
        for n, lang in ((1, "ja"), (2, "en"), (3, "ja"))
    ]
    await insert(sessions, *families)
    async with transaction(sessions) as session:
        made = [await book(session, slot_id, f.id) for f in families]
        # The third family cancelled on its own before the facility did.
        from integrations.daycare.tours import cancel

        await cancel(session, made[2].booking)
        # The tour is tomorrow: the first family's reminder was recorded when it booked.
        noon = datetime.combine(today, datetime.min.time(), tzinfo=tokyo).replace(hour=12)
        row = await session.get(Facility, place.id)
        assert row is not None
        assert await remind_if_tomorrow(session, made[0].booking, made[0].slot, row, now=noon)

    url = f"/api/v1/tours/{slot_id}"
    response = await client.patch(
        url, json={"status": "cancelled", "notes": "園内行事のため"}, headers=headers
    )
    assert response.status == 200, await response.text()
    live = [made[0].booking.id, made[1].booking.id]
    assert (await response.json())["affected_bookings"] == live
    again = await client.delete(url, headers=headers)
    assert (await again.json())["affected_bookings"] == live

    # The clerk's list: both cancelled with the tour; the third cancelled by the family.
    listed = await client.get(f"/api/v1/facilities/{place.id}/tours/bookings", headers=headers)
    items = (await listed.json())["items"]
    assert [(b["status"], b["tour_cancelled"]) for b in items] == [
        ("cancelled", True),
        ("cancelled", True),
        ("cancelled", False),
    ]
    async with sessions() as session:
        statuses = (await session.exec(select(TourBooking.status))).all()
        notices = (await session.exec(select(Notice).order_by(col(Notice.id)))).all()
    assert set(statuses) == {"cancelled"}
    # No reminder of a cancelled tour; one tour-cancelled notice per family that was booked.
    assert [n.kind for n in notices] == [TOUR_CANCELLED, TOUR_CANCELLED]
    assert TOUR_REMINDER not in {n.kind for n in notices}
    assert [n.subject for n in notices] == [f"tour:{i}" for i in live]
    assert {(n.cycle, n.status) for n in notices} == {(tomorrow, "pending")}

    # The notifier's release sends them now (quiet hours off: no test hangs on the clock).
    sent = await plan(
        sessions,
        now=datetime.now(UTC),
        zone=tokyo,
        quiet_hours="off",
        digest_at="off",
        max_requests=None,
    )
    assert len(sent) == 2
    async with sessions() as session:
        requests = [await session.get(SendRequest, i) for i in sent]
    said = {json.dumps(r.body, ensure_ascii=False) for r in requests if r is not None}
    ja = next(s for s in said if "見学が中止になりました" in s)
    en = next(s for s in said if "Your tour was cancelled" in s)
    assert "みどり保育園" in ja and "園内行事のため" in ja and "別の日時を選ぶ" in ja
    assert "Midori" in en and "Pick another time" in en


async def test_the_same_slot_is_published_once(client: Any, sessions: Any, make_key: Any) -> None:
    (place,) = await insert(sessions, facility(municipality="131016"))
    headers = await make_key("131016")
    first = await _published(client, headers, place.id)
    assert first.status == 201
    slot_id = (await first.json())["items"][0]["id"]
    again = await _published(client, headers, place.id)
    assert again.status == 409
    error = (await again.json())["error"]
    assert error["code"] == "slot_exists"
    assert error["details"] == [
        {"location": "body.slots.0.starts_at", "reason": f"slot {slot_id} starts then already"}
    ]
    # The same start twice in one request: nothing is published.
    slot = {"starts_at": _at(3), "ends_at": _at(3, 11), "capacity": 2}
    twice = await client.post(
        f"/api/v1/facilities/{place.id}/tours", json={"slots": [slot, slot]}, headers=headers
    )
    assert twice.status == 409
    assert (await twice.json())["error"]["details"][0]["location"] == "body.slots.1.starts_at"
    listed = await (await client.get(f"/api/v1/facilities/{place.id}/tours")).json()
    assert [s["id"] for s in listed["items"]] == [slot_id]
    # A cancelled slot's time may be published again.
    await client.delete(f"/api/v1/tours/{slot_id}", headers=headers)
    assert (await _published(client, headers, place.id)).status == 201


async def test_listing_facilities_of_an_unknown_municipality_is_422(client: Any) -> None:
    answer = await client.get("/api/v1/facilities", params={"municipality": "999999"})
    assert answer.status == 422
    assert (await answer.json())["error"]["code"] == "unknown_municipality"
    search = await client.get("/api/v1/facilities/search", params={"municipality": "999999"})
    assert search.status == 422
    assert (
        await client.get("/api/v1/facilities", params={"municipality": "131016"})
    ).status == 200
