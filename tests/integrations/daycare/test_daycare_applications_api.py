"""The applications API: rounds, an app backend applying for its family, the municipality's
list, CSV export, document checks and corrections, and what another municipality sees."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update

from integrations.daycare import applications as apps
from integrations.daycare.models import IntakeRound, Vacancy
from integrations.daycare.points import save_rules
from registry.db import transaction
from registry.models import Family
from rules.points import ApplicationFacts, PointsDocument
from tests.integrations.daycare.daycare_factories import facility, insert

CHIYODA, SHIBUYA = "131016", "131130"
TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime.now(UTC)
# April of next year: its deadline a month from now always falls before it.
ENTRY = date(NOW.year + 1, 4, 1)
BORN_CLASS_1 = date(ENTRY.year - 2, 6, 10)  # class age 1 in April of ENTRY's year
BORN_CLASS_3 = date(ENTRY.year - 4, 5, 1)  # class age 3
WORKING = {
    "guardians": [
        {"relation": "mother", "reason": "work", "hours_per_week": 40},
        {"relation": "father", "reason": "work", "hours_per_week": 45},
    ]
}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _round_body(**fields: Any) -> dict[str, Any]:
    body = {
        "municipality": CHIYODA,
        "name": f"{ENTRY.year}年4月 一次選考",
        "entry_month": f"{ENTRY.year}-04",
        "deadline": _iso(NOW + timedelta(days=30)),
    }
    body.update(fields)
    return body


async def _round(client: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/daycare/rounds", json=_round_body(**fields), headers=headers
    )
    assert response.status == 201, await response.text()
    return await response.json()


async def _subscriber(client: Any, headers: dict[str, str], *births: date, **fields: Any) -> int:
    body = {
        "municipality": CHIYODA,
        "children": [{"birth_date": b.isoformat()} for b in births or (BORN_CLASS_1,)],
        "consented_at": "2026-11-20T10:00:00+09:00",
        **fields,
    }
    response = await client.post("/api/v1/app/subscribers", json=body, headers=headers)
    assert response.status == 201, await response.text()
    return int((await response.json())["id"])


async def _places(sessions: Any, *fields: dict[str, Any]) -> list[Any]:
    return await insert(sessions, *(facility(municipality=CHIYODA, **f) for f in fields))


async def _apply(client: Any, headers: dict[str, str], **body: Any) -> Any:
    return await client.post("/api/v1/daycare/applications", json=body, headers=headers)


def _prefix(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")[:10]


async def _past_deadline(sessions: Any, round_id: int) -> None:
    async with transaction(sessions) as session:
        await session.exec(
            update(IntakeRound)  # type: ignore[call-overload]
            .where(IntakeRound.id == round_id)
            .values(deadline=NOW - timedelta(minutes=1))
        )


# -------------------------------------------------------------------------------- rounds


async def test_rounds_are_opened_read_changed_and_validated(client: Any, make_key: Any) -> None:
    own = await make_key(CHIYODA)
    created = await _round(client, own, export_columns=["application_id", "wish_1", "status"])
    assert created["status"] == "open" and created["accepting"]
    assert len(created["seed"]) == 32  # generated and published
    assert created["entry_month"] == f"{ENTRY.year}-04"
    assert created["deadline"].endswith("+09:00")
    assert created["export_columns"] == ["application_id", "wish_1", "status"]
    seeded = await _round(client, own, seed="published-seed-1")
    assert seeded["seed"] == "published-seed-1"
    assert len((await _round(client, own, seed=None))["export_columns"]) > 50  # the default

    # The seed is public only as its hash while families can still apply (nobody can work out
    # the lottery in advance); its staff see it.
    public = await (await client.get(f"/api/v1/daycare/rounds/{seeded['id']}")).json()
    assert public["seed"] is None
    assert public["seed_sha256"] == hashlib.sha256(b"published-seed-1").hexdigest()
    staff = await client.get(f"/api/v1/daycare/rounds/{seeded['id']}", headers=own)
    assert (await staff.json())["seed"] == "published-seed-1"

    # Families' apps read rounds without a key.
    listed = await (
        await client.get("/api/v1/daycare/rounds", params={"municipality": CHIYODA})
    ).json()
    assert listed["total"] == 3
    one = await (await client.get(f"/api/v1/daycare/rounds/{created['id']}")).json()
    assert one["name"] == created["name"]

    new_deadline = NOW + timedelta(days=40)
    response = await client.patch(
        f"/api/v1/daycare/rounds/{created['id']}",
        json={"name": "一次選考（延長）", "deadline": _iso(new_deadline), "export_columns": []},
        headers=own,
    )
    assert response.status == 200, await response.text()
    changed = await response.json()
    assert changed["name"] == "一次選考（延長）"
    assert abs(datetime.fromisoformat(changed["deadline"]) - new_deadline) < timedelta(seconds=1)
    assert changed["export_columns"][0] == "application_id"
    closed = await client.patch(
        f"/api/v1/daycare/rounds/{created['id']}", json={"status": "closed"}, headers=own
    )
    assert (await closed.json())["status"] == "closed"
    assert not (await closed.json())["accepting"]
    listed = await (
        await client.get(
            "/api/v1/daycare/rounds", params={"municipality": CHIYODA, "status": "open"}
        )
    ).json()
    assert created["id"] not in [r["id"] for r in listed["items"]] and listed["total"] == 2


async def test_bad_rounds_are_refused(client: Any, sessions: Any, make_key: Any) -> None:
    own = await make_key(CHIYODA)
    cases = [
        ({"deadline": _iso(NOW - timedelta(hours=1))}, "deadline_in_past", "body.deadline"),
        (
            {"deadline": f"{ENTRY.year}-04-01T00:00:00+09:00"},
            "deadline_after_entry",
            "body.deadline",
        ),
        ({"entry_month": f"{ENTRY.year}-13"}, "invalid_request", "body.entry_month"),
        (
            {"export_columns": ["application_id", "shoe_size"]},
            "unknown_column",
            "body.export_columns.1",
        ),
        ({"deadline": "2027-01-10T10:00:00"}, "invalid_request", "body.deadline"),
        ({"opens_at": "0001-01-01T00:00:00+23:59"}, "invalid_request", "body.opens_at"),
        ({"opens_at": _iso(NOW + timedelta(days=31))}, "invalid_request", "body.opens_at"),
    ]
    for fields, code, location in cases:
        response = await client.post(
            "/api/v1/daycare/rounds", json=_round_body(**fields), headers=own
        )
        assert response.status == 422, fields
        error = (await response.json())["error"]
        assert error["code"] == code, error
        assert error["details"][0]["location"] == location
    other = await make_key(SHIBUYA)
    response = await client.post("/api/v1/daycare/rounds", json=_round_body(), headers=other)
    assert response.status == 403
    assert (await client.post("/api/v1/daycare/rounds", json=_round_body())).status == 401

    created = await _round(client, own)
    path = f"/api/v1/daycare/rounds/{created['id']}"
    assert (await client.patch(path, json={"name": "x"}, headers=other)).status == 403
    response = await client.patch(path, json={"name": None}, headers=own)
    assert response.status == 422
    response = await client.patch(path, json={"export_columns": ["nope"]}, headers=own)
    assert (await response.json())["error"]["code"] == "unknown_column"
    async with transaction(sessions) as session:
        await session.exec(
            update(IntakeRound)  # type: ignore[call-overload]
            .where(IntakeRound.id == created["id"])
            .values(status="confirmed")
        )
    response = await client.patch(path, json={"name": "after"}, headers=own)
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "round_confirmed"
    assert (await client.get("/api/v1/daycare/rounds/999999")).status == 404


# ---------------------------------------------------------------------- app backend side


async def test_an_app_family_applies_once_changes_and_withdraws(
    client: Any, sessions: Any, make_key: Any
) -> None:
    key = await make_key(CHIYODA)
    places = await _places(sessions, {}, {}, {"classes": [3, 4, 5]})
    round_ = await _round(client, key)
    subscriber = await _subscriber(client, key, BORN_CLASS_1, single_parent=False)

    prefill = await client.get(
        "/api/v1/daycare/applications/prefill",
        params={"round_id": round_["id"], "subscriber_id": subscriber, "child": 0},
        headers=key,
    )
    assert prefill.status == 200, await prefill.text()
    known = await prefill.json()
    assert known["child"] == {"index": 0, "birth_date": BORN_CLASS_1.isoformat(), "class_age": 1}
    assert known["known"] == {"single_parent": False}  # the profile says so: not asked again
    assert "guardians" in known["ask"] and "single_parent" not in known["ask"]
    assert known["application_id"] is None

    wishes = [places[1].facility_id, places[0].facility_id]
    facts = {**WORKING, "single_parent": False}
    response = await _apply(
        client,
        key,
        round_id=round_["id"],
        subscriber_id=subscriber,
        child=0,
        wishes=wishes,
        facts=facts,
        external_ref="app-42",
    )
    assert response.status == 201, await response.text()
    first = await response.json()
    assert first["status"] == "received" and first["status_ja"] == "受付"
    assert first["class_age"] == 1 and first["channel"] == "api"
    assert first["subscriber_id"] == subscriber and first["external_ref"] == "app-42"
    assert [(w["rank"], w["facility_id"]) for w in first["wishes"]] == [
        (1, places[1].facility_id),
        (2, places[0].facility_id),
    ]
    assert first["wishes"][0]["name_ja"] == places[1].name_ja
    assert [d["ja"] for d in first["documents_needed"]] == ["就労証明書（母）", "就労証明書（父）"]
    assert first["changeable"] and not first["replaced"]
    assert first["changed"] == []  # a first application: nothing to compare with

    # Next time the service knows the facts: only what changed is listed.
    again = await client.get(
        "/api/v1/daycare/applications/prefill",
        params={"round_id": round_["id"], "subscriber_id": subscriber, "child": 0},
        headers=key,
    )
    again_body = await again.json()
    assert again_body["ask"] == [] and again_body["application_id"] == first["id"]
    assert again_body["known"]["guardians"][0]["hours_per_week"] == 40
    mother_on_leave = {
        "guardians": [
            {"relation": "mother", "reason": "work", "hours_per_week": 40, "on_leave": True},
            WORKING["guardians"][1],
        ]
    }
    response = await _apply(
        client,
        key,
        round_id=round_["id"],
        subscriber_id=subscriber,
        child=0,
        wishes=wishes,
        facts=mother_on_leave,
    )
    assert response.status == 200, await response.text()
    second = await response.json()
    assert second["id"] == first["id"] and second["replaced"]
    assert second["changed"] == ["guardians"]
    assert "育児休業取得（予定）証明書（母）" in [d["ja"] for d in second["documents_needed"]]

    path = f"/api/v1/daycare/applications/{first['id']}"
    response = await client.patch(path, json={"wishes": [places[0].facility_id]}, headers=key)
    assert response.status == 200, await response.text()
    assert [w["facility_id"] for w in (await response.json())["wishes"]] == [places[0].facility_id]
    read = await (await client.get(path, headers=key)).json()
    assert read["wishes"][0]["facility_id"] == places[0].facility_id
    assert read["child_birth_date"] == BORN_CLASS_1.isoformat()

    mine = await client.get(
        "/api/v1/daycare/applications", params={"subscriber_id": subscriber}, headers=key
    )
    assert [a["id"] for a in (await mine.json())["items"]] == [first["id"]]
    response = await client.post(f"{path}/withdraw", headers=key)
    assert response.status == 200
    withdrawn = await response.json()
    assert withdrawn["status"] == "withdrawn" and withdrawn["status_ja"] == "取下げ"
    assert not withdrawn["changeable"]
    response = await client.patch(path, json={"wishes": [places[1].facility_id]}, headers=key)
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "not_changeable"
    trail = await (await client.get(f"{path}/audit", headers=key)).json()
    assert [a["action"] for a in trail["items"]] == [
        "submitted",
        "changed",
        "changed",
        "withdrawn",
    ]
    assert {a["actor"] for a in trail["items"]} == {"family"}


async def test_children_sent_again_still_replace_the_same_application(
    client: Any, sessions: Any, make_key: Any
) -> None:
    key = await make_key(CHIYODA)
    (place,) = await _places(sessions, {})
    round_ = await _round(client, key)
    subscriber = await _subscriber(client, key, BORN_CLASS_1)
    body = {
        "round_id": round_["id"],
        "subscriber_id": subscriber,
        "child": 0,
        "wishes": [place.facility_id],
        "facts": WORKING,
    }
    first = await (await _apply(client, key, **body)).json()
    # The app sends the whole profile again (new child rows), then re-submits.
    response = await client.patch(
        f"/api/v1/app/subscribers/{subscriber}",
        json={"children": [{"birth_date": BORN_CLASS_1.isoformat()}], "single_parent": False},
        headers=key,
    )
    assert response.status == 200
    response = await _apply(client, key, **body)
    assert response.status == 200
    assert (await response.json())["id"] == first["id"]


async def test_after_the_deadline_nothing_changes(
    client: Any, sessions: Any, make_key: Any
) -> None:
    key = await make_key(CHIYODA)
    places = await _places(sessions, {}, {})
    round_ = await _round(client, key)
    subscriber = await _subscriber(client, key, BORN_CLASS_1, BORN_CLASS_3)
    body = {
        "round_id": round_["id"],
        "subscriber_id": subscriber,
        "child": 0,
        "wishes": [places[0].facility_id],
        "facts": WORKING,
    }
    created = await (await _apply(client, key, **body)).json()
    await _past_deadline(sessions, round_["id"])
    path = f"/api/v1/daycare/applications/{created['id']}"
    answers = [
        await _apply(client, key, **{**body, "child": 1}),
        await client.patch(path, json={"wishes": [places[1].facility_id]}, headers=key),
        await client.post(f"{path}/withdraw", headers=key),
    ]
    for response in answers:
        assert response.status == 409
        assert (await response.json())["error"]["code"] == "round_closed"
    read = await (await client.get(path, headers=key)).json()
    assert read["status"] == "received" and not read["changeable"]


async def test_bad_applications_say_where(client: Any, sessions: Any, make_key: Any) -> None:
    key = await make_key(CHIYODA)
    small, elsewhere = await insert(
        sessions,
        facility(municipality=CHIYODA, classes=[0, 1, 2]),
        facility(municipality=SHIBUYA),
    )
    older_only = (await _places(sessions, {"classes": [3, 4, 5]}))[0]
    round_ = await _round(client, key)
    subscriber = await _subscriber(client, key, BORN_CLASS_1)
    base = {"round_id": round_["id"], "subscriber_id": subscriber, "child": 0, "facts": WORKING}
    cases = [
        ({"wishes": [small.facility_id, "NO-SUCH"]}, "unknown_facility", "body.wishes.1"),
        ({"wishes": [small.facility_id, elsewhere.facility_id]}, "unknown_facility", None),
        ({"wishes": [small.facility_id, small.facility_id]}, "duplicate_wish", "body.wishes.1"),
        ({"wishes": [older_only.facility_id]}, "class_not_offered", "body.wishes.0"),
        ({"wishes": [small.facility_id], "child": 3}, "no_child", "body.child"),
        (
            {
                "wishes": [small.facility_id],
                "facts": {"guardians": [{"relation": "mother", "reason": "work"}]},
            },
            "invalid_request",
            "body.facts.guardians.0",
        ),
        ({"wishes": [str(n) for n in range(21)]}, "invalid_request", "body.wishes"),
    ]
    for fields, code, location in cases:
        response = await _apply(client, key, **{**base, **fields})
        assert response.status == 422, (fields, await response.text())
        error = (await response.json())["error"]
        assert error["code"] == code, error
        if location is not None:
            assert error["details"][0]["location"] == location, error
    response = await _apply(
        client, key, **{**base, "round_id": 999_999, "wishes": [small.facility_id]}
    )
    assert response.status == 404


async def test_another_municipality_sees_nothing(
    client: Any, sessions: Any, make_key: Any
) -> None:
    own, other = await make_key(CHIYODA), await make_key(SHIBUYA)
    (place,) = await _places(sessions, {})
    round_ = await _round(client, own)
    subscriber = await _subscriber(client, own, BORN_CLASS_1)
    created = await (
        await _apply(
            client,
            own,
            round_id=round_["id"],
            subscriber_id=subscriber,
            child=0,
            wishes=[place.facility_id],
            facts=WORKING,
        )
    ).json()
    path = f"/api/v1/daycare/applications/{created['id']}"
    answers = [
        await client.get(path, headers=other),
        await client.patch(path, json={"wishes": [place.facility_id]}, headers=other),
        await client.post(f"{path}/withdraw", headers=other),
        await client.get(f"{path}/audit", headers=other),
        await client.post(
            f"{path}/documents/employment_certificate:0", json={"checked": True}, headers=other
        ),
        await client.post(
            f"{path}/corrections",
            json={"changes": {"single_parent": True}, "reason": "x"},
            headers=other,
        ),
        await client.get("/api/v1/daycare/applications/999999", headers=own),
    ]
    for response in answers:
        assert response.status == 404
        assert BORN_CLASS_1.isoformat() not in await response.text()
    # Its own subscriber is unknown to another municipality's key, as is its round.
    response = await _apply(
        client,
        other,
        round_id=round_["id"],
        subscriber_id=subscriber,
        child=0,
        wishes=[place.facility_id],
        facts=WORKING,
    )
    assert response.status == 404
    response = await client.get(
        "/api/v1/daycare/applications", params={"subscriber_id": subscriber}, headers=other
    )
    assert response.status == 404
    listing = f"/api/v1/daycare/rounds/{round_['id']}/applications"
    assert (await client.get(listing, headers=other)).status == 403
    assert (await client.get(listing + ".csv", headers=other)).status == 403
    assert (await client.get(listing)).status == 401
    response = await client.get(
        "/api/v1/daycare/applications/prefill",
        params={"round_id": round_["id"], "subscriber_id": subscriber, "child": 0},
        headers=other,
    )
    assert response.status == 404
    assert (await client.get(path, headers=own)).status == 200


# --------------------------------------------------------------------- municipality side


async def _line_application(sessions: Any, round_id: int, wishes: list[int], born: date) -> int:
    """An application made in LINE (the bot's door), for the channel filter."""
    (family,) = await insert(sessions, Family(state="active", municipality=CHIYODA))
    async with transaction(sessions) as session:
        round_ = await session.get(IntakeRound, round_id)
        assert round_ is not None
        application, _ = await apps.submit(
            session,
            round_=round_,
            family_id=family.id,
            child_id=None,
            birth_date=born,
            wishes=wishes,
            facts=ApplicationFacts.model_validate(
                {"guardians": [{"reason": "job_seeking"}], "single_parent": True}
            ),
            now=datetime.now(UTC),
        )
        assert application.id is not None
        return application.id


async def _three_applications(
    client: Any, sessions: Any, key: dict[str, str], **round_fields: Any
) -> tuple[dict[str, Any], list[Any], list[int]]:
    places = await _places(sessions, {}, {}, {})
    round_ = await _round(client, key, **round_fields)
    subscriber = await _subscriber(client, key, BORN_CLASS_1, BORN_CLASS_3)
    ids = []
    # Children are indexed as the subscriber lists them: oldest first.
    for child, wishes in ((1, [places[0], places[1]]), (0, [places[1]])):
        response = await _apply(
            client,
            key,
            round_id=round_["id"],
            subscriber_id=subscriber,
            child=child,
            wishes=[p.facility_id for p in wishes],
            facts=WORKING,
        )
        assert response.status == 201, await response.text()
        ids.append((await response.json())["id"])
    ids.append(await _line_application(sessions, round_["id"], [places[2].id], BORN_CLASS_1))
    return round_, places, ids


async def test_the_municipality_lists_with_each_filter(
    client: Any, sessions: Any, make_key: Any
) -> None:
    key = await make_key(CHIYODA)
    round_, places, (a, b, line) = await _three_applications(client, sessions, key)
    await client.post(
        f"/api/v1/daycare/applications/{a}/documents/employment_certificate:0",
        json={"checked": True},
        headers=key,
    )
    await client.post(
        f"/api/v1/daycare/applications/{a}/documents/employment_certificate:1",
        json={"checked": True},
        headers=key,
    )
    path = f"/api/v1/daycare/rounds/{round_['id']}/applications"

    async def ids(**params: Any) -> list[int]:
        response = await client.get(path, params=params, headers=key)
        assert response.status == 200, await response.text()
        body = await response.json()
        assert body["total"] >= len(body["items"])
        return [item["id"] for item in body["items"]]

    assert await ids() == [a, b, line]
    assert await ids(status="under_review") == [a]
    assert await ids(status="received") == [b, line]
    assert await ids(class_age=3) == [b]
    assert await ids(facility=places[1].facility_id) == [a, b]
    assert await ids(first_wish=places[1].facility_id) == [b]
    assert await ids(facility="NO-SUCH") == []
    assert await ids(documents="complete") == [a]
    assert await ids(documents="missing") == [b, line]
    assert await ids(channel="line") == [line]
    assert await ids(channel="api", limit=1, offset=1) == [b]
    page = await (await client.get(path, params={"limit": 1}, headers=key)).json()
    assert page["total"] == 3
    item = page["items"][0]
    assert item["child_birth_date"] == BORN_CLASS_1.isoformat()
    assert item["points"] is None and item["facts"]["guardians"][0]["hours_per_week"] == 40
    response = await client.get(path, params={"documents": "some"}, headers=key)
    assert response.status == 422


async def test_csv_export_follows_the_municipalitys_column_order(
    client: Any, sessions: Any, make_key: Any
) -> None:
    key = await make_key(CHIYODA)
    columns = ["application_id", "wish_1", "wish_1_name", "class_age", "submitted_at", "status"]
    round_, places, (a, b, line) = await _three_applications(
        client, sessions, key, export_columns=columns
    )
    path = f"/api/v1/daycare/rounds/{round_['id']}/applications.csv"
    response = await client.get(path, headers=key)
    assert response.status == 200
    assert response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    raw = await response.read()
    assert raw.startswith("\ufeff".encode())  # Excel reads UTF-8 Japanese with a BOM
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == columns
    assert [r[0] for r in rows[1:]] == [str(a), str(b), str(line)]
    assert rows[1][1:4] == [places[0].facility_id, places[0].name_ja, "1"]
    assert rows[2][3] == "3"
    submitted = datetime.strptime(rows[1][4], "%Y-%m-%d %H:%M").replace(tzinfo=TOKYO)
    assert abs(submitted - datetime.now(UTC)) < timedelta(minutes=5)  # Asia/Tokyo time
    assert rows[3][5] == "received"

    response = await client.get(
        path,
        params={"columns": "status_ja,guardian_1_reason_ja,single_parent", "headers": "ja"},
        headers=key,
    )
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows[0] == ["状況", "保護者1_事由", "ひとり親"]
    assert rows[1:] == [["受付", "就労", "0"], ["受付", "就労", "0"], ["受付", "求職中", "1"]]
    hours = await client.get(path, params={"columns": "guardian_1_hours"}, headers=key)
    cells = list(csv.reader(io.StringIO((await hours.read()).decode("utf-8-sig"))))
    assert all("." not in row[0] for row in cells[1:] if row[0])  # 40, not 40.0
    # A reference typed in an app that looks like a formula stays text in the office's Excel.
    subscriber = await _subscriber(client, key, BORN_CLASS_1)
    response = await _apply(
        client,
        key,
        round_id=round_["id"],
        subscriber_id=subscriber,
        child=0,
        wishes=[places[0].facility_id],
        facts=WORKING,
        external_ref='=HYPERLINK("http://evil.example","x")',
    )
    assert response.status == 201
    response = await client.get(path, params={"columns": "external_ref"}, headers=key)
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows[-1] == ['\'=HYPERLINK("http://evil.example","x")']
    response = await client.get(path, params={"columns": "application_id,bogus"}, headers=key)
    assert response.status == 422
    assert (await response.json())["error"]["details"][0]["location"] == "query.columns.1"


async def test_staff_check_documents_and_correct_facts_with_a_reason(
    client: Any, sessions: Any, make_key: Any
) -> None:
    key = await make_key(CHIYODA)
    round_, _places_, (a, _b, _line) = await _three_applications(client, sessions, key)
    path = f"/api/v1/daycare/applications/{a}"
    response = await client.post(
        f"{path}/documents/employment_certificate:1", json={"checked": True}, headers=key
    )
    assert response.status == 200, await response.text()
    checked = await response.json()
    assert checked["status"] == "under_review" and checked["status_ja"] == "審査中"
    assert [d["key"] for d in checked["documents_needed"]] == ["employment_certificate:0"]
    response = await client.post(
        f"{path}/documents/birth_certificate", json={"checked": True}, headers=key
    )
    assert response.status == 404

    response = await client.post(
        f"{path}/corrections",
        json={
            "changes": {"single_parent": True, "guardians": [WORKING["guardians"][0]]},
            "reason": "児童扶養手当の受給を確認",
        },
        headers=key,
    )
    assert response.status == 200, await response.text()
    corrected = await response.json()
    assert corrected["facts"]["single_parent"] is True
    assert len(corrected["facts"]["guardians"]) == 1
    assert [d["key"] for d in corrected["documents_needed"]] == [
        "employment_certificate:0",
        "single_parent",
    ]
    missing = await client.post(
        f"{path}/corrections", json={"changes": {"single_parent": False}}, headers=key
    )
    assert missing.status == 422
    assert (await missing.json())["error"]["details"][0]["location"] == "body.reason"
    blank = await client.post(
        f"{path}/corrections",
        json={"changes": {"single_parent": False}, "reason": "  "},
        headers=key,
    )
    assert blank.status == 422
    assert (await blank.json())["error"]["code"] == "reason_required"
    unknown = await client.post(
        f"{path}/corrections", json={"changes": {"shoe_size": 20}, "reason": "x"}, headers=key
    )
    assert (await unknown.json())["error"]["details"][0]["location"] == "body.changes.shoe_size"

    trail = (await (await client.get(f"{path}/audit", headers=key)).json())["items"]
    corrections = [t for t in trail if t["action"] == "corrected"]
    assert [(t["field"], t["old"], t["new"]) for t in corrections][0] == (
        "facts.single_parent",
        False,
        True,
    )
    assert {t["actor"] for t in corrections} == {f"staff:{_prefix(key)}"}
    assert {t["reason"] for t in corrections} == {"児童扶養手当の受給を確認"}
    assert all(t["at"].endswith("+09:00") for t in trail)
    checks = [t for t in trail if t["action"] == "document_checked"]
    assert checks[0]["field"] == "documents.employment_certificate:1"


async def test_the_routes_are_in_the_openapi(client: Any) -> None:
    spec = await (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path, method in [
        ("/api/v1/daycare/rounds", "post"),
        ("/api/v1/daycare/rounds", "get"),
        ("/api/v1/daycare/rounds/{id}", "patch"),
        ("/api/v1/daycare/rounds/{id}/applications", "get"),
        ("/api/v1/daycare/rounds/{id}/applications.csv", "get"),
        ("/api/v1/daycare/applications", "post"),
        ("/api/v1/daycare/applications", "get"),
        ("/api/v1/daycare/applications/prefill", "get"),
        ("/api/v1/daycare/applications/{id}", "patch"),
        ("/api/v1/daycare/applications/{id}/withdraw", "post"),
        ("/api/v1/daycare/applications/{id}/documents/{key}", "post"),
        ("/api/v1/daycare/applications/{id}/corrections", "post"),
        ("/api/v1/daycare/applications/{id}/audit", "get"),
    ]:
        assert method in paths[path], (path, method)
    submit = paths["/api/v1/daycare/applications"]["post"]
    assert {"200", "201", "409", "422"} <= set(submit["responses"])
    key_param = paths["/api/v1/daycare/applications/{id}/documents/{key}"]["post"]["parameters"]
    assert key_param[1]["schema"]["type"] == "string"
    assert "ApplicationFacts" in spec["components"]["schemas"]
    csv_answer = paths["/api/v1/daycare/rounds/{id}/applications.csv"]["get"]["responses"]
    assert "text/csv" in csv_answer["200"]["content"]


async def test_corrected_guardians_rename_their_documents(
    client: Any, sessions: Any, make_key: Any
) -> None:
    key = await make_key(CHIYODA)
    (place,) = await _places(sessions, {})
    round_ = await _round(client, key)
    subscriber = await _subscriber(client, key, BORN_CLASS_1)
    created = await (
        await _apply(
            client,
            key,
            round_id=round_["id"],
            subscriber_id=subscriber,
            child=0,
            wishes=[place.facility_id],
            facts=WORKING,
        )
    ).json()
    path = f"/api/v1/daycare/applications/{created['id']}"
    await client.post(
        f"{path}/documents/employment_certificate:0", json={"checked": True}, headers=key
    )
    swapped = [
        {**WORKING["guardians"][0], "relation": "father"},
        {**WORKING["guardians"][1], "relation": "mother"},
    ]
    response = await client.post(
        f"{path}/corrections",
        json={"changes": {"guardians": swapped}, "reason": "続柄の入力誤り"},
        headers=key,
    )
    assert response.status == 200, await response.text()
    documents = (await response.json())["documents"]
    assert [(d["ja"], d["checked"]) for d in documents] == [
        ("就労証明書（父）", True),
        ("就労証明書（母）", False),
    ]


async def test_an_app_family_reads_its_place_after_the_round_is_confirmed(
    client: Any, sessions: Any, make_key: Any
) -> None:
    hachioji = "132012"
    rules = PointsDocument.model_validate(
        {
            "municipality": hachioji,
            "title": "テスト基準",
            "source_url": "https://example.org/kijun",
            "valid_from": "2026-04-01",
            "base": {"work": [{"min_hours": 0, "points": 10}]},
        }
    )
    key = await make_key(hachioji)
    (place,) = await insert(sessions, facility(municipality=hachioji, facility_id="A"))
    await insert(sessions, Vacancy(facility_pk=place.id, class_age=1, entry_month=ENTRY, places=1))
    async with transaction(sessions) as session:
        await save_rules(session, rules, "test")
    round_ = await _round(client, key, municipality=hachioji)
    subscriber = await _subscriber(client, key, BORN_CLASS_1, municipality=hachioji)
    created = await (
        await _apply(
            client,
            key,
            round_id=round_["id"],
            subscriber_id=subscriber,
            child=0,
            wishes=["A"],
            facts=WORKING,
        )
    ).json()
    url = f"/api/v1/daycare/rounds/{round_['id']}"
    dry = await (await client.post(f"{url}/allocate", json={}, headers=key)).json()
    await client.patch(url, json={"status": "closed"}, headers=key)
    response = await client.post(
        f"{url}/confirm", json={"input_hash": dry["input_hash"]}, headers=key
    )
    assert response.status == 200, await response.text()

    path = f"/api/v1/daycare/applications/{created['id']}"
    placed = await (await client.get(path, headers=key)).json()
    assert placed["status"] == "offered" and placed["status_ja"] == "内定"
    assert not placed["changeable"] and placed["result"]
    response = await client.patch(path, json={"wishes": ["A"]}, headers=key)
    assert response.status == 409
    response = await client.patch(url, json={"name": "later"}, headers=key)
    assert (await response.json())["error"]["code"] == "round_confirmed"
    listed = await (
        await client.get(f"{url}/applications", params={"status": "offered"}, headers=key)
    ).json()
    assert [a["id"] for a in listed["items"]] == [created["id"]]
