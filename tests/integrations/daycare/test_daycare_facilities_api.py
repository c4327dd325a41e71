"""The facilities API: scoped writes, public reads, versions, vacancies, and 4xx for bad input."""

from __future__ import annotations

import asyncio
from typing import Any

from integrations.daycare.facilities import PastResultCell, get_facility, record_past_results
from registry.db import transaction

SHIBUYA, CHIYODA = "131130", "131016"


def facility(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "municipality": SHIBUYA,
        "facility_id": "101",
        "name_ja": "渋谷はぐくみ保育園",
        "type": "licensed_private",
        "latitude": 35.6618,
        "longitude": 139.698,
        "classes": [0, 1, 2, 3, 4, 5],
        "class_capacity": {"0": 6, "1": 12},
        "opens": "07:30",
        "closes": "18:30",
        "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
        "url": "https://example.jp/hoikuen",
    }
    body.update(changes)
    return body


async def test_create_read_replace_patch_and_versions(client: Any, make_key: Any) -> None:
    headers = await make_key(SHIBUYA)
    created = await client.post("/api/v1/facilities", json=facility(), headers=headers)
    assert created.status == 201
    body = await created.json()
    pk = body["id"]
    assert body["version"] == 1 and body["located"] is True and body["facility_id"] == "101"

    again = await client.post("/api/v1/facilities", json=facility(), headers=headers)
    assert again.status == 409 and (await again.json())["error"]["code"] == "exists"

    replaced = await client.put(
        f"/api/v1/facilities/{pk}",
        json={"name_ja": "渋谷はぐくみ保育園", "classes": [0, 1, 2]},
        headers=headers,
    )
    body = await replaced.json()
    assert replaced.status == 200 and body["version"] == 2 and body["located"] is False
    assert body["opens"] is None  # a full replacement: left out means default

    patched = await client.patch(
        f"/api/v1/facilities/{pk}", json={"latitude": 35.66, "longitude": 139.7}, headers=headers
    )
    assert patched.status == 200 and (await patched.json())["version"] == 3
    same = await client.patch(
        f"/api/v1/facilities/{pk}", json={"latitude": 35.66}, headers=headers
    )
    assert (await same.json())["version"] == 3  # nothing changed: no new version

    versions = await (await client.get(f"/api/v1/facilities/{pk}/versions")).json()
    assert [v["version"] for v in versions["items"]] == [1, 2, 3]
    assert versions["items"][0]["facility"]["opens"] == "07:30"

    listed = await (await client.get(f"/api/v1/facilities?municipality={SHIBUYA}")).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == pk
    other = await (await client.get(f"/api/v1/facilities?municipality={CHIYODA}")).json()
    assert other["total"] == 0
    unplaced = await (await client.get("/api/v1/facilities?located=false")).json()
    assert unplaced["total"] == 0  # it has coordinates again
    await client.post(
        "/api/v1/facilities",
        json=facility(facility_id="102", latitude=None, longitude=None),
        headers=headers,
    )
    unplaced = await (await client.get("/api/v1/facilities?located=false")).json()
    assert [f["facility_id"] for f in unplaced["items"]] == ["102"]
    page = await (
        await client.get(f"/api/v1/facilities?municipality={SHIBUYA}&limit=1&offset=1")
    ).json()
    assert page["total"] == 2 and [f["facility_id"] for f in page["items"]] == ["102"]


async def test_vacancies_and_past_results_beside_the_facility(
    client: Any, make_key: Any, sessions: Any
) -> None:
    headers = await make_key(SHIBUYA)
    pk = (
        await (await client.post("/api/v1/facilities", json=facility(), headers=headers)).json()
    )["id"]
    put = await client.put(
        f"/api/v1/facilities/{pk}/vacancies",
        json={
            "as_of": "2027-02-01",
            "items": [
                {"class_age": 0, "entry_month": "2027-04", "places": 3},
                {"class_age": 1, "entry_month": "2027-04", "places": 0},
                {"class_age": 2, "entry_month": "2027-04", "level": "some"},
            ],
        },
        headers=headers,
    )
    assert put.status == 200
    body = await put.json()
    assert body["opened"] == [
        {"class_age": 0, "entry_month": "2027-04"},
        {"class_age": 2, "entry_month": "2027-04"},
    ]
    again = await client.put(
        f"/api/v1/facilities/{pk}/vacancies",
        json={"items": [{"class_age": 1, "entry_month": "2027-04", "places": 2}]},
        headers=headers,
    )
    assert (await again.json())["opened"] == [{"class_age": 1, "entry_month": "2027-04"}]

    async with transaction(sessions) as session:
        row = await get_facility(session, pk)
        assert row is not None
        cell = PastResultCell(
            class_age=0, year=2026, kind="min_points", outcome="points", points=40
        )
        await record_past_results(session, [(row, cell)])
    detail = await (await client.get(f"/api/v1/facilities/{pk}")).json()
    assert {(v["class_age"], v["level"], v["places"]) for v in detail["vacancies"]} == {
        (0, "number", 3),
        (1, "number", 2),
        (2, "some", None),
    }
    assert detail["past_results"] == [
        {
            "class_age": 0,
            "year": 2026,
            "kind": "min_points",
            "outcome": "points",
            "points": 40.0,
            "raw": "",
        }
    ]


async def test_writes_are_scoped_to_the_municipality(client: Any, make_key: Any) -> None:
    shibuya, chiyoda = await make_key(SHIBUYA), await make_key(CHIYODA)
    operator = await make_key("000000", role="operator")
    anonymous = await client.post("/api/v1/facilities", json=facility())
    assert anonymous.status == 401
    foreign = await client.post("/api/v1/facilities", json=facility(), headers=chiyoda)
    assert foreign.status == 403
    pk = (
        await (await client.post("/api/v1/facilities", json=facility(), headers=operator)).json()
    )["id"]
    for method, path, body in [
        ("PUT", f"/api/v1/facilities/{pk}", {"name_ja": "x"}),
        ("PATCH", f"/api/v1/facilities/{pk}", {"name_ja": "x"}),
        (
            "PUT",
            f"/api/v1/facilities/{pk}/vacancies",
            {"items": [{"class_age": 0, "entry_month": "2027-04", "places": 1}]},
        ),
    ]:
        answer = await client.request(method, path, json=body, headers=chiyoda)
        assert answer.status == 403, (method, path)
        assert (await answer.json())["error"]["code"] == "forbidden"
    ok = await client.patch(
        f"/api/v1/facilities/{pk}", json={"name_ja": "新しい名前"}, headers=shibuya
    )
    assert ok.status == 200
    missing = await client.patch(
        "/api/v1/facilities/999999", json={"name_ja": "x"}, headers=shibuya
    )
    assert missing.status == 404
    words = await client.get("/api/v1/facilities/abc")
    assert words.status == 404


async def test_bad_input_is_4xx_with_details(client: Any, make_key: Any) -> None:
    headers = await make_key(SHIBUYA)
    operator = await make_key("000000", role="operator")
    cases = [
        facility(name_ja=None),
        facility(name_ja=""),
        facility(latitude=91.0),
        facility(longitude=-181),
        facility(latitude=35.0, longitude=None),
        facility(latitude="35.0"),
        facility(classes=[6]),
        facility(class_capacity={"6": 3}),
        facility(opens="7:30"),
        facility(closes="25:00"),
        facility(url="javascript:alert(1)"),
        facility(type="castle"),
        facility(days=["monday"]),
        facility(facility_id="a b/c"),
        facility(municipality="13113"),
        facility(unknown_field=1),
        facility(capacity=-1),
        facility(licensed_on=20200101),
    ]
    for body in cases:
        answer = await client.post("/api/v1/facilities", json=body, headers=headers)
        assert answer.status == 422, body
        error = (await answer.json())["error"]
        assert error["code"] == "invalid_request" and error["details"], body
    unknown = await client.post(
        "/api/v1/facilities", json=facility(municipality="011002"), headers=operator
    )
    assert unknown.status == 422
    assert (await unknown.json())["error"]["code"] == "unknown_municipality"
    huge = await client.post(
        "/api/v1/facilities", json=facility(notes="あ" * 2_000_000), headers=headers
    )
    assert huge.status == 413
    malformed = await client.post("/api/v1/facilities", data=b"{nope", headers=headers)
    assert malformed.status == 400

    pk = (
        await (await client.post("/api/v1/facilities", json=facility(), headers=headers)).json()
    )["id"]
    bad_patches = [{"name_ja": None}, {"latitude": None}, {"classes": "0,1"}, {"status": "gone"}]
    for body in bad_patches:
        answer = await client.patch(f"/api/v1/facilities/{pk}", json=body, headers=headers)
        assert answer.status == 422, body
    bad_vacancies = [
        {"items": []},
        {"items": [{"class_age": 0, "entry_month": "2027-4", "places": 1}]},
        {"items": [{"class_age": 6, "entry_month": "2027-04", "places": 1}]},
        {"items": [{"class_age": 0, "entry_month": "2027-04"}]},
        {"items": [{"class_age": 0, "entry_month": "2027-04", "places": 1, "level": "some"}]},
        {"items": [{"class_age": 0, "entry_month": "2027-04", "places": -1}]},
        {"items": [{"class_age": 0, "entry_month": "2027-04", "level": "many"}]},
        {"items": [{"class_age": 0, "entry_month": "2027-04", "places": 1}] * 2},
        {"as_of": "yesterday", "items": [{"class_age": 0, "entry_month": "2027-04", "places": 1}]},
        [],
        {"items": None},
    ]
    for body in bad_vacancies:
        answer = await client.put(f"/api/v1/facilities/{pk}/vacancies", json=body, headers=headers)
        assert answer.status == 422, body
    query = await client.get("/api/v1/facilities?limit=0")
    assert query.status == 422
    query = await client.get("/api/v1/facilities?municipality=abc")
    assert query.status == 422


async def test_simultaneous_writes_are_201_or_409_never_500(client: Any, make_key: Any) -> None:
    headers = await make_key(SHIBUYA)
    answers = await asyncio.gather(
        *[client.post("/api/v1/facilities", json=facility(), headers=headers) for _ in range(8)]
    )
    statuses = sorted(a.status for a in answers)
    assert statuses.count(201) == 1 and set(statuses) <= {201, 409}
    winner = next(a for a in answers if a.status == 201)
    pk = (await winner.json())["id"]
    cells = {"items": [{"class_age": 0, "entry_month": "2027-04", "places": 2}]}
    answers = await asyncio.gather(
        *[
            client.put(f"/api/v1/facilities/{pk}/vacancies", json=cells, headers=headers)
            for _ in range(6)
        ]
    )
    assert {a.status for a in answers} <= {200, 409} and 200 in {a.status for a in answers}
    opened = [len((await a.json())["opened"]) for a in answers if a.status == 200]
    assert sum(opened) == 1  # the seat opened once, whoever won


async def test_vacancies_for_a_past_month_or_a_class_not_offered_are_422(
    client: Any, make_key: Any
) -> None:
    headers = await make_key(SHIBUYA)
    body = facility(classes=[1, 2, 3, 4, 5], class_capacity={})
    pk = (await (await client.post("/api/v1/facilities", json=body, headers=headers)).json())["id"]
    path = f"/api/v1/facilities/{pk}/vacancies"
    # Today is 2026-11-26 (Asia/Tokyo): October has passed, November has not.
    past = {"items": [{"class_age": 1, "entry_month": "2026-10", "places": 1}]}
    answer = await client.put(path, json=past, headers=headers)
    assert answer.status == 422
    assert (await answer.json())["error"]["details"][0]["location"] == "body.items.0.entry_month"
    no_class = {"items": [{"class_age": 0, "entry_month": "2027-04", "places": 3}]}
    answer = await client.put(path, json=no_class, headers=headers)
    assert answer.status == 422
    assert "no 0-year class" in (await answer.json())["error"]["details"][0]["reason"]
    fine = {"items": [{"class_age": 1, "entry_month": "2026-11", "places": 1}]}
    assert (await client.put(path, json=fine, headers=headers)).status == 200
