"""Review: the public points estimate answers 422, not 500, for a facility id no database holds."""

from __future__ import annotations

from typing import Any

from tests.integrations.daycare.test_points_api import HACHIOJI, RULES, hachioji_yaml

FACTS = {"guardians": [{"relation": "mother", "reason": "work", "hours_per_week": 40}]}


async def test_points_estimate_refuses_out_of_range_facility_ids(
    client: Any, make_key: Any
) -> None:
    headers = {**(await make_key(HACHIOJI)), "Content-Type": "text/yaml"}
    uploaded = await client.post(RULES, data=hachioji_yaml().encode(), headers=headers)
    assert uploaded.status == 201, await uploaded.text()
    body = {"municipality": HACHIOJI, "facts": FACTS, "class_age": 1, "on": "2025-11-26"}
    ok = await client.post("/api/v1/daycare/points", json={**body, "wishes": [12345]})
    assert ok.status == 200, await ok.text()
    for wish in (2**70, 2**31, 0):
        response = await client.post("/api/v1/daycare/points", json={**body, "wishes": [wish]})
        assert response.status == 422, await response.text()
        location = (await response.json())["error"]["details"][0]["location"]
        assert location.startswith("body.wishes"), location
