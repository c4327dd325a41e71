"""The points API: upload rules (YAML or JSON), scoping, versions, current, and the estimate."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

import yaml

from integrations.daycare.facilities import PastResultCell, get_facility, record_past_results
from registry.db import transaction

HACHIOJI, SHIBUYA = "132012", "131130"
RULES = "/api/v1/daycare/points-rules"


def hachioji_yaml() -> str:
    folder = files("integrations.daycare") / "points_rules"
    return (folder / "hachioji_132012.yaml").read_text(encoding="utf-8")


def hachioji() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(hachioji_yaml())
    return yaml.safe_load(yaml.safe_dump(data, default_flow_style=False))


def as_json(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for field in ("valid_from", "valid_to"):
        out[field] = str(out[field])
    return out


async def test_upload_yaml_then_json_versions_and_current(client: Any, make_key: Any) -> None:
    headers = await make_key(HACHIOJI)
    created = await client.post(
        RULES, data=hachioji_yaml().encode(), headers={**headers, "Content-Type": "text/yaml"}
    )
    body = await created.json()
    assert created.status == 201, body
    assert body["version"] == 1 and body["created"] is True
    assert all(e["passed"] for e in body["examples"]) and len(body["examples"]) >= 3

    same = await client.post(RULES, json=as_json(hachioji()), headers=headers)
    assert same.status == 200 and (await same.json())["version"] == 1  # same digest

    changed = as_json(hachioji())
    changed["title"] = "八王子市 令和8年度"
    changed["valid_from"], changed["valid_to"] = "2026-04-01", None
    second = await client.post(RULES, json=changed, headers=headers)
    assert second.status == 201 and (await second.json())["version"] == 2

    listed = await (await client.get(RULES, params={"municipality": HACHIOJI})).json()
    assert [item["version"] for item in listed["items"]] == [2, 1]
    one = await (await client.get(f"{RULES}/{HACHIOJI}/1")).json()
    assert one["document"]["base"]["work"][0]["points"] == 10
    old = await client.get(f"{RULES}/{HACHIOJI}/current", params={"on": "2025-06-01"})
    assert (await old.json())["version"] == 1
    now = await (await client.get(f"{RULES}/{HACHIOJI}/current")).json()
    assert now["version"] == 2 and now["title"] == "八王子市 令和8年度"
    missing = await client.get(f"{RULES}/{HACHIOJI}/current", params={"on": "2020-01-01"})
    assert missing.status == 404
    assert (await client.get(f"{RULES}/{HACHIOJI}/9")).status == 404


async def test_failing_example_or_condition_is_422_with_location_and_nothing_saved(
    client: Any, make_key: Any
) -> None:
    headers = await make_key(HACHIOJI)
    data = as_json(hachioji())
    data["examples"][1]["expected_points"] = 18
    failing = await client.post(RULES, json=data, headers=headers)
    error = (await failing.json())["error"]
    assert failing.status == 422 and error["details"][0]["location"] == "examples[1]"
    assert "expected 18 points, the rules give 17" in error["details"][0]["reason"]

    data = as_json(hachioji())
    data["adjustments"] = [
        {
            "id": "sp",
            "label_ja": "ひとり親",
            "label_en": "Single",
            "points": 5,
            "condition": "singel_parent",
        }
    ]
    broken = await client.post(RULES, json=data, headers=headers)
    detail = (await broken.json())["error"]["details"][0]
    assert detail["location"] == "adjustments[0].condition"
    assert detail["suggestion"] == "did you mean 'single_parent'?"
    listed = await (await client.get(RULES, params={"municipality": HACHIOJI})).json()
    assert listed["items"] == []


async def test_another_municipality_key_may_not_upload(client: Any, make_key: Any) -> None:
    other = await make_key(SHIBUYA)
    refused = await client.post(RULES, json=as_json(hachioji()), headers=other)
    assert refused.status == 403
    assert (await client.post(RULES, json=as_json(hachioji()))).status == 401


async def test_points_estimate_beside_last_years_minimum(
    client: Any, make_key: Any, sessions: Any
) -> None:
    family = {
        "guardians": [
            {"relation": "mother", "reason": "work", "hours_per_week": 28},
            {"relation": "father", "reason": "work", "hours_per_week": 40},
        ]
    }
    none = await client.post(
        "/api/v1/daycare/points", json={"municipality": HACHIOJI, "facts": family}
    )
    assert none.status == 404 and "no points rules" in (await none.json())["error"]["message"]

    headers = await make_key(HACHIOJI)
    await client.post(RULES, json=as_json(hachioji()), headers=headers)
    made = await client.post(
        "/api/v1/facilities",
        json={
            "municipality": HACHIOJI,
            "facility_id": "h1",
            "name_ja": "はちおうじ保育園",
            "type": "licensed_private",
            "classes": [0, 1, 2],
        },
        headers=headers,
    )
    pk = (await made.json())["id"]
    async with transaction(sessions) as session:
        row = await get_facility(session, pk)
        assert row is not None
        await record_past_results(
            session,
            [
                (
                    row,
                    PastResultCell(
                        class_age=1, year=2024, kind="min_points", outcome="points", points=19
                    ),
                ),
                (
                    row,
                    PastResultCell(
                        class_age=1, year=2025, kind="min_points", outcome="points", points=16
                    ),
                ),
                (
                    row,
                    PastResultCell(class_age=0, year=2025, kind="min_points", outcome="withheld"),
                ),
            ],
        )
    answer = await client.post(
        "/api/v1/daycare/points",
        json={
            "municipality": HACHIOJI,
            "facts": family,
            "wishes": [pk, 999999],
            "birth_date": "2024-03-10",
            "entry_month": "2025-10-01",
            "on": "2025-10-01",
        },
    )
    body = await answer.json()
    assert answer.status == 200, body
    assert body["total"] == 17 and body["class_age"] == 1 and body["rules_version"] == 1
    assert body["lines_ja"][:2] == ["母: 就労 週25時間以上 = 7点", "父: 就労 週40時間以上 = 10点"]
    assert body["lines_en"][-1] == "Total 17 points"
    first, unknown = body["wishes"]
    assert first["min_points"] == 16 and first["year"] == 2025 and first["outcome"] == "points"
    assert first["comparison_en"] == "Lowest admitted in FY2025: 16, you: 17 (at or above it)"
    assert unknown["outcome"] == "not_found"

    withheld = await client.post(
        "/api/v1/daycare/points",
        json={
            "municipality": HACHIOJI,
            "facts": family,
            "wishes": [pk],
            "class_age": 0,
            "on": "2025-10-01",
        },
    )
    wish = (await withheld.json())["wishes"][0]
    assert wish["outcome"] == "withheld" and wish["comparison_ja"].startswith("2025年度: 非公開")

    # Without `on`, the rules of the month of entry count (today's may differ), and the month
    # is written YYYY-MM as elsewhere in the API.
    by_month = await client.post(
        "/api/v1/daycare/points",
        json={
            "municipality": HACHIOJI,
            "facts": family,
            "birth_date": "2024-03-10",
            "entry_month": "2025-10",
        },
    )
    assert by_month.status == 200, await by_month.text()
    assert (await by_month.json())["total"] == 17
    # The municipality's facility_id says the same as the search's id.
    by_key = await client.post(
        "/api/v1/daycare/points",
        json={
            "municipality": HACHIOJI,
            "facts": family,
            "wishes": ["h1", "nope"],
            "class_age": 1,
            "on": "2025-10-01",
        },
    )
    named, missing = (await by_key.json())["wishes"]
    assert named["facility"] == "h1" and named["min_points"] == 16
    assert missing["outcome"] == "not_found"
    bad = await client.post(
        "/api/v1/daycare/points",
        json={"municipality": HACHIOJI, "facts": family, "entry_month": "2025-13"},
    )
    assert bad.status == 422


async def test_demo_loads_the_shipped_tables_once(client: Any, sessions: Any) -> None:
    from datetime import date

    from hagukumi.demo import load_demo_points_rules
    from integrations.daycare.points import rules_for

    lines: list[str] = []
    await load_demo_points_rules(sessions, progress=lines.append)
    await load_demo_points_rules(sessions, progress=lines.append)
    assert "demo: points rules 132012 version 1" in lines
    async with sessions() as session:
        found = await rules_for(session, HACHIOJI, date(2025, 10, 1))
        assert found is not None and found[0].version == 1  # the second load changed nothing
        assert await rules_for(session, HACHIOJI, date(2026, 10, 1)) is None


async def test_openapi_shows_the_document_schema(client: Any) -> None:
    spec = await (await client.get("/openapi.json")).json()
    upload = spec["paths"][RULES]["post"]["requestBody"]["content"]["application/json"]
    assert upload["schema"] == {"$ref": "#/components/schemas/PointsDocument"}
    document = spec["components"]["schemas"]["PointsDocument"]
    assert {"base", "combine", "adjustments", "tie_breaks", "examples"} <= set(
        document["properties"]
    )
    assert "/api/v1/daycare/points-rules/{municipality}/current" in spec["paths"]


async def test_yaml_aliases_and_broken_yaml_are_refused(client: Any, make_key: Any) -> None:
    headers = {**(await make_key(HACHIOJI)), "Content-Type": "application/yaml"}
    bomb = b"a: &a [1, 2]\nb: [*a, *a]\n"
    refused = await client.post(RULES, data=bomb, headers=headers)
    assert refused.status == 400 and "aliases" in (await refused.json())["error"]["message"]
    broken = await client.post(RULES, data=b"municipality: [\n", headers=headers)
    assert broken.status == 400
    assert (await broken.json())["error"]["code"] == "malformed_yaml"
    # YAML sent without its Content-Type: the JSON error says what to send.
    plain = {"Authorization": headers["Authorization"]}
    untyped = await client.post(RULES, data=b"municipality: '132012'\n", headers=plain)
    assert untyped.status == 400
    assert "Content-Type: application/yaml" in (await untyped.json())["error"]["message"]
